//! `format`: canonical, idempotent, keeps comments, never changes the parsed model.

use std::path::{Path, PathBuf};

use cvlan_schema::{format, parse_network};
use proptest::prelude::*;

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    for sub in [dir.clone(), dir.join("multi-site"), dir.join("host")] {
        for entry in std::fs::read_dir(&sub).into_iter().flatten() {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "kdl") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The Debug form of what a text means: the model without spans, and the diagnostics'
/// codes and messages.
fn meaning(text: &str) -> String {
    let checked = parse_network("x.kdl", text);
    let mut diags: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    diags.sort();
    strip_spans(&format!("{:?}\n{diags:?}", checked.network))
}

fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span {") {
        out.push_str(&rest[..at]);
        let close = rest[at..].find('}').map_or(rest.len(), |c| at + c + 1);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn examples_are_canonical() {
    let files = example_files();
    assert!(files.len() >= 5);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let formatted = format(&text).expect("valid KDL");
        assert_eq!(formatted, text, "{} is not canonical", path.display());
    }
}

#[test]
fn formats_odd_layout_and_keeps_every_comment() {
    let text = r#"// head

/* block */ network corp tenant = acme { // after brace
        overlay "100.64.0.0/10"     // trailing


    // before dns
    dns domain="x";   listen-port 51820 /- 6
    /- key-expiry "1d"
    // last
}
node "a" { tags "b" \
    "c"; owner "o@x.example" }
policy{}
"#;
    let expected = r#"// head

/* block */
network "corp" tenant="acme" { // after brace
    overlay "100.64.0.0/10" // trailing

    // before dns
    dns domain="x"
    listen-port 51820 /- 6
    /- key-expiry "1d"
    // last
}
node "a" {
    tags "b" "c"
    owner "o@x.example"
}
policy {}
"#;
    let formatted = format(text).expect("valid");
    assert_eq!(formatted, expected);
    assert_eq!(format(&formatted).expect("valid"), formatted);
    assert_eq!(meaning(text), meaning(&formatted));
}

/// Found by the `fmt` fuzz target: a line continuation's comment holding `*/` cannot become a
/// block comment; the file is refused with the comment named instead of being mangled.
#[test]
fn a_continuation_comment_that_cannot_move_is_refused() {
    let err = format("a \\ // x */ y\n b\n").expect_err("the comment cannot be kept");
    assert_eq!(err.diagnostics[0].code, "cvlan::format", "{err:?}");
}

#[test]
fn invalid_kdl_is_not_formatted() {
    let err = format("node \"a\n").expect_err("unclosed string");
    assert!(err.diagnostics.iter().all(|d| d.code == "cvlan::syntax"));
    let err = format(&"a {".repeat(10_000)).expect_err("too deep");
    assert_eq!(err.diagnostics[0].code, "cvlan::too-deep");
}

/// Found by the `fmt` fuzz target: a lone CR ends a line in KDL, but the writer knew only
/// `\n`, so a node after one joined the line before it (a slashdashed node became a
/// slashdashed argument); a slashdashed node after a `;` did the same. Every KDL newline
/// becomes `\n`, and a slashdashed node keeps a line of its own.
#[test]
fn every_kdl_newline_becomes_a_line_feed_and_slashdashed_nodes_keep_their_line() {
    for (text, expected) in [
        ("-\r/-a -", "\"-\"\n/-a -\n"),
        ("x\r/-a b\n", "x\n/-a b\n"),
        // The same after a `;`.
        ("e;/-a a", "e\n/-a a\n"),
        ("e; /-a a\nf", "e\n/-a a\nf\n"),
        ("x\u{85}y\u{c}z\u{2028}w\r\n", "x\ny\nz\nw\n"),
        (
            "node \"a\" {\r    tags \"\"\"\r        x\r        y\r        \"\"\"\r}\r",
            "node \"a\" {\n    tags \"x\\ny\"\n}\n",
        ),
    ] {
        let once = format(text).expect("valid");
        assert_eq!(once, expected, "{text:?}");
        assert_eq!(format(&once).expect("valid"), once, "{text:?}");
        assert_eq!(meaning(text), meaning(&once), "{text:?}");
    }
}

/// Found by the `fmt` fuzz target: a line continuation after a node's last entry, or on a
/// line of its own, was kept and swallowed the line break after it on the next run.
#[test]
fn line_continuations_are_dropped_where_the_formatter_lays_out_the_line() {
    for (text, expected) in [
        (":\\\n\n\n\\", "\":\"\n"),
        ("a\n\\\n", "a\n"),
        ("\\\nb", "b\n"),
        ("a \\ // why\n b", "a /* why */ \"b\"\n"),
        // Any KDL newline ends a continuation (here a vertical tab), CR LF too.
        ("node \"a\" \\\n\\\u{b}\\\n 0\\\n", "node \"a\" 0\n"),
        ("a \\\r\n b\r\n", "a \"b\"\n"),
        // Backslashes in comments and slashdashed strings are not continuations.
        ("// c:\\\na", "// c:\\\na\n"),
        ("a /* x \\ */ \\\n b", "a /* x \\ */ \"b\"\n"),
        ("a /- \"x\\\\\" \\\n b", "a /- \"x\\\\\" \"b\"\n"),
    ] {
        let once = format(text).expect("valid");
        assert_eq!(once, expected, "{text:?}");
        assert_eq!(format(&once).expect("valid"), once, "{text:?}");
        assert_eq!(meaning(text), meaning(&once), "{text:?}");
    }
}

fn mutated(text: &str, at: usize, len: usize, insert: &str) -> String {
    let mut text = text.to_owned();
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.replace_range(at..end, insert);
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Idempotent and meaning-preserving on every example and on mutations of them.
    #[test]
    fn format_is_idempotent_and_keeps_the_model(
        file in 0usize..5,
        at in 0usize..10_000,
        len in 0usize..3,
        insert in prop::sample::select(vec!["", " ", "\n", "\n\n", ";", "// c\n", "/* c */", "\t", "{", "}", "\"", "x", "\\\n", "\\ // c\n"]),
    ) {
        let files = example_files();
        let text = std::fs::read_to_string(&files[file % files.len()]).expect("read");
        let text = mutated(&text, at, len, insert);
        if let Ok(once) = format(&text) {
            let twice = format(&once).expect("formatted text parses");
            prop_assert_eq!(&twice, &once);
            prop_assert_eq!(meaning(&text), meaning(&once));
        }
    }
}
