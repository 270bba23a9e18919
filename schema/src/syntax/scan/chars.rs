//! KDL 2.0's character classes: newlines, spaces, the code points no document may hold, and
//! what may stand in a bare identifier.

/// The code points KDL 2.0 forbids anywhere in a document (a byte-order mark only at its
/// start), plus U+007F DELETE, which the specification lists but kdl 6.7 lets through.
pub fn is_disallowed(c: char) -> bool {
    matches!(c,
        '\u{0000}'..='\u{0008}'
        | '\u{000E}'..='\u{001F}'
        | '\u{007F}'
        | '\u{200E}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
}

/// Unicode spaces (`unicode-space`), tab included; newlines are not spaces.
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\u{0009}' | '\u{0020}' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Newline code points (`newline`); CR LF counts as one newline, see [`newline_len`].
pub fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\u{0085}' | '\u{000B}' | '\u{000C}' | '\u{2028}' | '\u{2029}'
    )
}

/// The length in bytes of the newline at the start of `rest`, if one starts there.
pub fn newline_len(rest: &str) -> Option<usize> {
    if rest.starts_with("\r\n") {
        return Some(2);
    }
    let c = rest.chars().next()?;
    is_newline(c).then(|| c.len_utf8())
}

/// True when `c` may stand in a bare identifier or number (`identifier-char`).
pub fn is_word(c: char) -> bool {
    !(is_space(c) || is_newline(c) || is_disallowed(c) || "\\/(){};[]\"#=".contains(c))
}

/// A short, printable name for `c` in a message: the character itself when visible, else its
/// code point.
pub fn describe(c: char) -> String {
    if c.is_control() || is_disallowed(c) || is_space(c) || is_newline(c) {
        format!("U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_specification() {
        assert!(is_disallowed('\0') && is_disallowed('\u{7f}') && is_disallowed('\u{202e}'));
        assert!(!is_disallowed('\t') && !is_disallowed('\n') && !is_disallowed('é'));
        assert!(is_space('\t') && is_space('\u{3000}') && !is_space('\n'));
        assert_eq!(newline_len("\r\nx"), Some(2));
        assert_eq!(newline_len("\u{2028}"), Some(3));
        assert_eq!(newline_len("x"), None);
        assert!(is_word('a') && is_word('-') && is_word('ü') && is_word('*'));
        assert!(!is_word('"') && !is_word('=') && !is_word('/') && !is_word(' '));
        assert_eq!(describe('\0'), "U+0000");
        assert_eq!(describe('x'), "`x`");
    }
}
