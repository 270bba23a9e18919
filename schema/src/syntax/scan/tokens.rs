//! Values: bare identifiers and numbers, `#` keywords, and quoted, raw and multi-line strings,
//! each checked to the end so that no parser ever has to recover inside one.

use super::chars::{describe, is_newline, is_space, is_word, newline_len};
use super::{Scanner, Step};

/// What a value turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A string of any form: may name a node or a property.
    Str,
    /// A number or a keyword.
    Other,
}

const ESCAPES: &str = "escapes are \\n \\r \\t \\\\ \\\" \\b \\f \\s and \\u{…}";

impl Scanner<'_> {
    /// One value and what may follow it.
    pub(super) fn value(&mut self) -> Step<Kind> {
        let start = self.pos;
        let kind = match self.peek() {
            Some('"') => {
                self.quoted()?;
                Kind::Str
            }
            Some('#') => self.hashed()?,
            Some(c) if is_word(c) => self.word()?,
            _ => {
                return Err(self.fail(
                    start,
                    self.peek().map_or(0, char::len_utf8),
                    "a value (a string, a number or a keyword such as #true) should stand here",
                    "expected a value",
                    "quote text that is meant as a string",
                ));
            }
        };
        self.value_end(start)?;
        Ok(kind)
    }

    /// What may follow a value: space, a newline, `;`, a brace, `=`, `)`, a comment or `\`.
    fn value_end(&mut self, start: usize) -> Step {
        let Some(c) = self.peek() else {
            return Ok(());
        };
        let fine = is_space(c)
            || is_newline(c)
            || matches!(c, ';' | '{' | '}' | '=' | ')' | '\\')
            || self.at("//")
            || self.at("/*");
        if fine {
            return Ok(());
        }
        let (message, help) = match c {
            '"' | '#' => (
                "a string cannot follow another value directly".to_owned(),
                "put a space between the two, or quote the whole text",
            ),
            '/' if self.at("/-") => (
                "`/-` cannot follow a value directly".to_owned(),
                "put a space before `/-`",
            ),
            _ => (
                format!("{} cannot follow this value directly", describe(c)),
                "put a space between the two, or quote the whole text",
            ),
        };
        let end = self.pos;
        Err(self.fail_with(
            end,
            c.len_utf8(),
            message,
            "here",
            help,
            Some((start, end - start, "this value")),
        ))
    }

    /// A bare identifier or number, checked as KDL 2.0 reads it.
    fn word(&mut self) -> Step<Kind> {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| is_word(c)) {
            self.pos += c.len_utf8();
        }
        let word = &self.text[start..self.pos];
        let unsigned = word.strip_prefix(['+', '-']).unwrap_or(word);
        if unsigned.starts_with(|c: char| c.is_ascii_digit()) {
            if is_number(unsigned) {
                return Ok(Kind::Other);
            }
            return Err(self.fail(
                start,
                word.len(),
                format!("`{word}` is not a number"),
                "not a number",
                "numbers look like 42, -7, 1_000, 0.5, 1e6, 0xff, 0o17 or 0b101; quote text that starts with a digit",
            ));
        }
        if unsigned.starts_with('.') && unsigned[1..].starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.fail(
                start,
                word.len(),
                format!("`{word}` is neither a number nor a name"),
                "here",
                "write a number with a digit before the point (0.5), or quote the text",
            ));
        }
        if matches!(word, "true" | "false" | "null" | "inf" | "nan") {
            return Err(self.fail(
                start,
                word.len(),
                format!("`{word}` is a keyword in KDL 2.0, not a name"),
                "bare keyword",
                format!("write `#{word}` for the keyword, or `\"{word}\"` for the text"),
            ));
        }
        Ok(Kind::Str)
    }

    /// A `#` keyword or a raw string (`#"…"#`, `##"…"##`, `#"""` … `"""#`).
    fn hashed(&mut self) -> Step<Kind> {
        let start = self.pos;
        let hashes = self.rest().bytes().take_while(|&b| b == b'#').count();
        if self.rest()[hashes..].starts_with('"') {
            self.raw(start, hashes)?;
            return Ok(Kind::Str);
        }
        self.pos += 1;
        while let Some(c) = self.peek().filter(|&c| is_word(c)) {
            self.pos += c.len_utf8();
        }
        let word = &self.text[start..self.pos];
        if matches!(
            word,
            "#true" | "#false" | "#null" | "#inf" | "#-inf" | "#nan"
        ) {
            return Ok(Kind::Other);
        }
        Err(self.fail(
            start,
            word.len().max(1),
            format!("`{word}` is not a KDL keyword"),
            "unknown keyword",
            "keywords are #true, #false, #null, #inf, #-inf and #nan; raw strings look like #\"…\"#",
        ))
    }

    /// A quoted string, single-line or multi-line.
    fn quoted(&mut self) -> Step {
        let start = self.pos;
        if self.at("\"\"\"") {
            return self.multiline(start, 0);
        }
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.unclosed(start, 1, "close it with `\"`")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\') => self.escape(false)?,
                Some(c) if is_newline(c) => {
                    let len = self.pos - start;
                    return Err(self.fail(
                        start,
                        len,
                        "this string is not closed before the end of its line",
                        "this string",
                        "close it with `\"` on the same line, or use `\"\"\"` for text over several lines",
                    ));
                }
                Some(c) => self.plain(c)?,
            }
        }
    }

    /// A raw string after its `hashes` hashes: no escapes, ends at `"` and as many hashes.
    fn raw(&mut self, start: usize, hashes: usize) -> Step {
        self.pos += hashes;
        if self.at("\"\"\"") && newline_len(&self.rest()[3..]).is_some() {
            return self.multiline(start, hashes);
        }
        self.pos += 1;
        let body = self.pos;
        loop {
            match self.peek() {
                None => {
                    return Err(self.unclosed(
                        start,
                        hashes + 1,
                        "close it with `\"` and its `#`s",
                    ));
                }
                Some('"') if self.closes_raw(hashes) => {
                    let single_quote = &self.text[body..self.pos] == "\"";
                    self.pos += 1 + hashes;
                    if single_quote {
                        return Err(self.fail(
                            start,
                            self.pos - start,
                            "a single-line raw string cannot look like a multi-line one",
                            "raw string",
                            "write a lone quote as \"\\\"\"",
                        ));
                    }
                    return Ok(());
                }
                Some(c) if is_newline(c) => {
                    let len = self.pos - start;
                    return Err(self.fail(
                        start,
                        len,
                        "this raw string is not closed before the end of its line",
                        "this raw string",
                        "close it on the same line, or use `#\"\"\"` for text over several lines",
                    ));
                }
                Some(c) => self.plain(c)?,
            }
        }
    }

    /// True when the `"` at the cursor is followed by `hashes` hashes.
    fn closes_raw(&self, hashes: usize) -> bool {
        let after = &self.rest()[1..];
        after.len() >= hashes && after.bytes().take(hashes).all(|b| b == b'#')
    }

    /// A multi-line string (`"""`, raw when `hashes > 0`): its lines must all start with the
    /// spaces that stand before the closing quotes.
    fn multiline(&mut self, start: usize, hashes: usize) -> Step {
        let open = hashes + 3;
        self.pos += 3;
        if !self.newline() {
            return Err(self.fail(
                start,
                open,
                "`\"\"\"` opens a multi-line string and must end its line",
                "opens here",
                "start the text on the next line, or use `\"` for a single-line string",
            ));
        }
        let close = format!("\"\"\"{}", "#".repeat(hashes));
        let mut lines: Vec<(usize, usize)> = Vec::new();
        // An error inside the string is recorded and the scan goes on to its closing quotes,
        // so that the text after them is not read as nodes.
        let mut failed = false;
        loop {
            let line = self.pos;
            while let Some(c) = self.peek().filter(|&c| is_space(c)) {
                self.pos += c.len_utf8();
            }
            if self.at(&close) {
                let prefix = &self.text[line..self.pos];
                self.pos += close.len();
                if failed {
                    return Err(super::Stop { fatal: false });
                }
                return self.check_indent(&lines, prefix);
            }
            loop {
                match self.peek() {
                    None => {
                        return Err(self.unclosed(
                            start,
                            open,
                            "close it with `\"\"\"` on a line of its own",
                        ));
                    }
                    Some(_) if newline_len(self.rest()).is_some() => {
                        lines.push((line, self.pos));
                        self.newline();
                        break;
                    }
                    Some('\\') if hashes == 0 => {
                        // A failed escape leaves the cursor after its `\\`. One error per
                        // string: a broken string would otherwise report every line.
                        let before = self.diagnostics.len();
                        if self.escape(true).is_err() {
                            if failed {
                                self.diagnostics.truncate(before);
                            }
                            failed = true;
                        }
                    }
                    Some('"') if self.at(&close) => {
                        return Err(self.fail(
                            self.pos,
                            close.len(),
                            "the closing `\"\"\"` of a multi-line string must stand on a line of its own",
                            "here",
                            "move it to the next line, or escape a quote inside the text as `\\\"`",
                        ));
                    }
                    Some(c) => {
                        let before = self.diagnostics.len();
                        if self.plain(c).is_err() {
                            if failed {
                                self.diagnostics.truncate(before);
                            }
                            failed = true;
                            self.pos += c.len_utf8();
                        }
                    }
                }
            }
        }
    }

    fn check_indent(&mut self, lines: &[(usize, usize)], prefix: &str) -> Step {
        for &(from, to) in lines {
            let line = &self.text[from..to];
            if !line.chars().all(is_space) && !line.starts_with(prefix) {
                return Err(self.fail(
                    from,
                    to - from,
                    "this line of a multi-line string is not indented like its closing `\"\"\"`",
                    "this line",
                    "indent every line with at least the spaces that stand before the closing quotes",
                ));
            }
        }
        Ok(())
    }

    /// An escape in a quoted string; line continuations (`\` and spaces or newlines) only in
    /// single-line ones.
    fn escape(&mut self, multiline: bool) -> Step {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some('"' | '\\' | 'b' | 'f' | 'n' | 'r' | 't' | 's') => {
                self.pos += 1;
                Ok(())
            }
            Some('u') => self.unicode_escape(start),
            Some(c) if (is_space(c) || is_newline(c)) && !multiline => {
                while let Some(c) = self.peek().filter(|&c| is_space(c) || is_newline(c)) {
                    self.pos += c.len_utf8();
                }
                Ok(())
            }
            Some(c) if is_space(c) || is_newline(c) => Err(self.fail(
                start,
                1,
                "a `\\` line continuation inside a multi-line string is not supported",
                "here",
                "keep the line whole, or use a single-line string with `\\` continuations",
            )),
            Some(c) => Err(self.fail(
                start,
                1 + c.len_utf8(),
                format!("`\\{c}` is not an escape"),
                "unknown escape",
                format!("{ESCAPES}; write a backslash as `\\\\`"),
            )),
            None => Err(self.unclosed(start, 1, "close the string with `\"`")),
        }
    }

    fn unicode_escape(&mut self, start: usize) -> Step {
        let rest = &self.rest()[1..];
        let digits = rest
            .strip_prefix('{')
            .map(|r| r.bytes().take_while(u8::is_ascii_hexdigit).count());
        let valid = digits.filter(|&n| (1..=6).contains(&n)).and_then(|n| {
            let hex = &rest[1..1 + n];
            rest[1 + n..].starts_with('}').then_some(())?;
            char::from_u32(u32::from_str_radix(hex, 16).ok()?).map(|_| n)
        });
        match valid {
            Some(n) => {
                self.pos += 1 + 1 + n + 1;
                Ok(())
            }
            None => Err(self.fail(
                start,
                2,
                "`\\u` must be followed by `{`, one to six hex digits naming a Unicode scalar value, and `}`",
                "unicode escape",
                "for example \\u{e9} or \\u{1F600}",
            )),
        }
    }

    fn unclosed(&mut self, start: usize, len: usize, help: &str) -> super::Stop {
        self.fail(
            start,
            len,
            "this string is never closed",
            "this string",
            help,
        )
    }
}

/// True when `s` (without its sign) is a KDL 2.0 number: decimal with optional fraction and
/// exponent, or `0x`/`0o`/`0b` digits, each allowing `_` after the first digit.
fn is_number(s: &str) -> bool {
    let digits = |s: &str, ok: fn(&u8) -> bool| -> bool {
        s.as_bytes().first().is_some_and(ok) && s.bytes().all(|b| b == b'_' || ok(&b))
    };
    if let Some(h) = s.strip_prefix("0x") {
        return digits(h, u8::is_ascii_hexdigit);
    }
    if let Some(o) = s.strip_prefix("0o") {
        return digits(o, |b| (b'0'..=b'7').contains(b));
    }
    if let Some(b) = s.strip_prefix("0b") {
        return digits(b, |b| *b == b'0' || *b == b'1');
    }
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, fraction) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let decimal = |s: &str| digits(s, u8::is_ascii_digit);
    decimal(int)
        && fraction.is_none_or(decimal)
        && exponent.is_none_or(|e| decimal(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

#[cfg(test)]
mod tests {
    use super::is_number;

    #[test]
    fn numbers_follow_kdl() {
        for ok in [
            "0", "42", "1_000", "1_", "0.5", "1.0e5", "1e-3", "1E+3", "0xff", "0xF_F", "0o17",
            "0b101",
        ] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in [
            "1.", "1..2", "1.5.5", "0x", "0x_ff", "1e_5", "1e", "1a", "0b2", "0o8", "1.e5", "1._5",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
