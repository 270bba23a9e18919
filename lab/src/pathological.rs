//! Pathological operator files: the shapes of text that have taken readers down (a bad merge
//! or a paste leaving an unterminated string before a run of braces, stray closing braces,
//! runs of `=`, broken raw and multi-line strings, nested comments, slashdash chains, invalid
//! UTF-8, NUL, CR line ends, very long lines and names), each at sizes from a few kilobytes to
//! ten megabytes. Tests feed every case to every reader (`cvlanctl check` and `fmt`, the
//! daemon's file and git sources, the schema proptests) and assert a diagnostic, never an
//! abort; the fuzz corpus is seeded from the small ones.

/// One pathological input.
#[derive(Debug, Clone)]
pub struct Case {
    /// What the input is, as a file-name-safe word (`unterminated-string-braces-1500`).
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A small valid network file that pathological text is appended to or spliced into.
pub const VALID: &str = "network \"n\" { overlay \"100.64.0.0/24\" }\n\
node \"a\" { public-key \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" }\n";

/// Fragments that each open or close something a recursive reader counts on; repeated `n`
/// times they make the deep and unbalanced inputs.
const REPEATED: &[(&str, &str)] = &[
    ("open-braces", "{"),
    ("open-braces-spaced", "{ "),
    ("node-braces", "a {"),
    ("close-braces", "}"),
    ("equals", "= "),
    ("parens", "("),
    ("type-annotations", "(t)"),
    ("slashdash", "/-"),
    ("slashdash-nodes", "/- a "),
    ("comment-opens", "/*"),
    ("comment-closes", "*/"),
    ("quotes", "\""),
    ("raw-opens", "#\""),
    ("hashes", "#"),
    ("semicolons", ";"),
    ("backslashes", "\\"),
    ("line-continuations", "\\\n"),
    ("glued-strings", "a\"b\""),
    ("crs", "a {\r"),
];

/// Prefixes that leave the reader inside something (a string, a comment) when the repeated
/// fragment begins.
const PREFIXES: &[(&str, &str)] = &[
    ("", ""),
    ("unterminated-string", "node \"a\" { tags \"x"),
    ("unterminated-string-newline", "node \"a\" { tags \"x\n"),
    ("unterminated-raw", "node #\"a"),
    ("unterminated-multiline", "node \"\"\"\n  a\n"),
    ("misindented-multiline", "node \"\"\"\n  a\n b\n  \"\"\"\n"),
    ("unterminated-comment", "/* "),
    ("quote-glued", "a\"x "),
    ("after-valid", VALID),
];

/// Whole inputs that are not a repetition: encodings, control characters, huge tokens.
fn singles() -> Vec<Case> {
    let mut out = vec![
        case("empty", Vec::new()),
        case(
            "nul",
            b"network \"n\0\" { overlay \"100.64.0.0/24\" }\n".to_vec(),
        ),
        case("nuls", vec![0; 64 * 1024]),
        case("invalid-utf8", b"network \"\xff\xfe\" { }\n".to_vec()),
        case(
            "invalid-utf8-bom",
            [b"\xef\xbb\xbf\xc3\x28".as_slice(), VALID.as_bytes()].concat(),
        ),
        case(
            "utf16",
            "network \"n\"\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        case("crlf", VALID.replace('\n', "\r\n").into_bytes()),
        case("cr-only", VALID.replace('\n', "\r").into_bytes()),
        case(
            "delete-char",
            format!("node \"a\u{7f}\"\n{VALID}").into_bytes(),
        ),
        case(
            "bidi-override",
            format!("node \"a\u{202e}b\"\n{VALID}").into_bytes(),
        ),
        case("bad-merge", bad_merge().into_bytes()),
    ];
    for (name, len) in [("10k", 10_000), ("1m", 1_000_000), ("10m", 10_000_000)] {
        out.push(case(
            &format!("long-line-{name}"),
            format!("// {}\n{VALID}", "x".repeat(len)).into_bytes(),
        ));
        out.push(case(
            &format!("long-name-{name}"),
            format!("node \"{}\" {{ }}\n", "n".repeat(len)).into_bytes(),
        ));
        out.push(case(
            &format!("long-bare-word-{name}"),
            format!("{} {{ }}\n", "w".repeat(len)).into_bytes(),
        ));
        out.push(case(
            &format!("long-number-{name}"),
            format!("node \"a\" {{ listen-port {} }}\n", "9".repeat(len)).into_bytes(),
        ));
        out.push(case(
            &format!("many-nodes-{name}"),
            many_nodes(len).into_bytes(),
        ));
    }
    out
}

/// A file that has been through a merge that went wrong: conflict markers and a half-pasted
/// copy of itself.
fn bad_merge() -> String {
    let half = &VALID[..VALID.len() / 2];
    format!(
        "<<<<<<< HEAD\n{VALID}=======\n{half}{{{{{{{{\n>>>>>>> branch\n{}",
        "{".repeat(1500)
    )
}

/// Valid-looking nodes until the text is about `len` bytes (all with one key, so the checker
/// has work to do and many diagnostics to cap).
fn many_nodes(len: usize) -> String {
    let mut text = String::from(VALID);
    let mut i = 0;
    while text.len() < len {
        text.push_str(&format!(
            "node \"n{i}\" {{ public-key \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" }}\n"
        ));
        i += 1;
    }
    text
}

fn case(name: &str, bytes: Vec<u8>) -> Case {
    Case {
        name: name.to_owned(),
        bytes,
    }
}

/// How many times a fragment repeats: one count under the nesting limit's neighbourhood, one
/// that overflowed kdl's stack on a tokio worker, one that makes a file of about a megabyte.
const COUNTS: &[usize] = &[40, 1_500, 100_000];

/// The size of the small cases: fuzz seeds and proptest splices.
pub const SMALL: usize = 64 * 1024;

/// Every case of at most `max_bytes` (`usize::MAX` for all, up to ten megabytes), smallest
/// first within each family.
pub fn cases(max_bytes: usize) -> Vec<Case> {
    let mut out = Vec::new();
    for (prefix_name, prefix) in PREFIXES {
        for (name, fragment) in REPEATED {
            for &n in COUNTS {
                let same_line = format!("{prefix}{}", fragment.repeat(n));
                let next_line = format!("{prefix}\n{}\n", fragment.repeat(n));
                let stem = if prefix_name.is_empty() {
                    format!("{name}-{n}")
                } else {
                    format!("{prefix_name}-{name}-{n}")
                };
                out.push(case(&stem, same_line.into_bytes()));
                if !prefix_name.is_empty() {
                    out.push(case(&format!("{stem}-next-line"), next_line.into_bytes()));
                }
            }
        }
    }
    out.extend(singles());
    out.retain(|c| c.bytes.len() <= max_bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_file_names_and_sizes_span_ten_megabytes() {
        let all = cases(usize::MAX);
        let mut names: Vec<_> = all.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate case names");
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        );
        let largest = all.iter().map(|c| c.bytes.len()).max().unwrap();
        assert!(largest >= 10_000_000, "{largest}");
        let small = cases(SMALL);
        assert!(small.iter().all(|c| c.bytes.len() <= SMALL));
        assert!(small.len() > 100 && small.len() < all.len());
    }
}
