//! The scanner accepts what kdl accepts and refuses what would make kdl recover, in one pass.

use super::*;

fn verdict(text: &str) -> Result<(), Vec<&'static str>> {
    check(SourceId(0), text).map_err(|d| d.iter().map(|d| d.code).collect())
}

fn kdl_accepts(text: &str) -> bool {
    #[allow(clippy::disallowed_methods)] // the reference the scanner is compared with
    kdl::KdlDocument::parse_v2(text).is_ok()
}

/// Inputs with kdl 6.7's verdict, as found by running it; the scanner must agree.
const AGREED: &[(&str, bool)] = &[
    ("a{}", true),
    ("a {}", true),
    ("/- /- a", false),
    ("/-\na", true),
    ("a /- /- b", false),
    ("a /-\n  b", true),
    ("a b=/-c", false),
    ("a (t)b", true),
    ("a (t) b", true),
    ("(t) a", true),
    ("( t )a", true),
    ("a {} {}", false),
    ("a {} /- {}", true),
    ("a /- {} {}", true),
    ("a {} /- {} /- {}", true),
    ("a /- {} b", false),
    ("a {};b", true),
    ("a {}b", false),
    ("a b= c", true),
    ("a b =c", true),
    ("a \"b\"=c", true),
    ("a #\"b\"#=c", true),
    ("a 1=c", false),
    ("a b=(t)c", true),
    ("a \\\nb", true),
    ("a \\ // x\nb", true),
    ("a\\\nb", true),
    (
        "a 1_000 0xff_ 1.0 1e5 1.5e+3 -0 +5 0b101 0o7 1_ 1__2 1.5_",
        true,
    ),
    ("a 0x_ff", false),
    ("a 1.", false),
    ("a 1e_5", false),
    ("a .5", false),
    ("a -.5", false),
    ("a +x -x ++ -- .x", true),
    ("a #inf #-inf #nan", true),
    ("a inf", false),
    ("a -inf", true),
    ("{ a }", false),
    ("a; ;b", false),
    (";", false),
    ("a { ; }", false),
    ("a { b; }", true),
    ("a {b}", true),
    ("a { b } c", false),
    ("a r#\"x\"#", false),
    ("a #\"\"\"#", false),
    ("a #\"\"\"\"#", true),
    ("a \"\"\"\n  x\n  \"\"\"", true),
    ("a #\"\"\"\n  \"x\"\n  \"\"\"#", true),
    ("a \"\"\"x\"\"\"", false),
    ("a \"\"\"\n  x\n \"\"\"", true),
    ("a \"\"\"\n x\n  \"\"\"", false),
    ("a \"\\u{D800}\"", false),
    ("a \"\\u{10FFFF}\"", true),
    ("a \"\\u{110000}\"", false),
    ("a \"x\\\n   y\"", true),
    ("a b=c=d", false),
    ("a \"x\"\"y\"", false),
    ("a b\nc", true),
    ("a /* x */b", true),
    ("a/* x */ b", true),
    ("a//x", true),
    ("/-a", true),
    ("a /-b", true),
    ("a b/-c", false),
    ("a{\n}", true),
    ("a (t)\"x\"", true),
    ("a (\"t\")x", true),
    ("a (t)(u)x", false),
    ("a (t)", false),
    ("a =b", false),
    ("\"a\"", true),
    ("\"\"", true),
    ("a b\\c", false),
    ("a /-(t)b", true),
    ("a (t)/-b", false),
    ("(t)/-a", false),
    ("a {\n  b\n}\n/-c {\n}", true),
    ("a ab\"c\"", false),
    ("a 1a", false),
    ("a 0x", false),
    ("a 1.5.5", false),
    ("\u{FEFF}a", true),
    ("a \u{FEFF}", false),
    ("a \"\u{0}\"", false),
    ("a /* x\n y */ b\r\nc\u{85}d\u{2028}e", true),
    ("a \"unterminated", false),
    ("a \"unterminated\n}", false),
    ("a \"bad \\q escape\"", false),
    ("a /* never closed", false),
    ("a {", false),
    ("}", false),
    ("a }", false),
    ("= = =", false),
    ("a \"x {{{{ \"", true),
    ("a\"x {{{{ \"", false),
    ("a (((", false),
    ("a [b]", false),
];

#[test]
fn agrees_with_kdl() {
    for &(text, accepted) in AGREED {
        assert_eq!(
            kdl_accepts(text),
            accepted,
            "kdl on {text:?} (fix the table)"
        );
        assert_eq!(
            verdict(text).is_ok(),
            accepted,
            "scanner on {text:?}: {:?}",
            verdict(text)
        );
    }
}

/// Where the scanner is knowingly stricter than kdl 6.7.
#[test]
fn stricter_than_kdl_in_two_corners() {
    for text in ["a \"\"\"\n  x\\\n  y\n  \"\"\"", "a \"\u{7f}\""] {
        assert!(kdl_accepts(text), "{text:?}");
        assert_eq!(verdict(text), Err(vec!["cvlan::syntax"]), "{text:?}");
    }
}

#[test]
fn errors_point_at_the_mistake_and_resume_on_the_next_line() {
    let text = "a \"open\nb ok\nc = d\nd }\n";
    let diagnostics = check(SourceId(0), text).unwrap_err();
    let at: Vec<usize> = diagnostics.iter().map(|d| d.span.offset).collect();
    assert_eq!(
        at,
        vec![2, text.find("= d").unwrap(), text.find("}").unwrap()]
    );
    assert!(
        diagnostics[0]
            .message
            .contains("not closed before the end of its line")
    );
    assert!(diagnostics[1].message.contains("`=` needs a property name"));
    assert!(diagnostics[2].message.contains("closes no block"));
}

#[test]
fn an_unclosed_block_names_its_brace() {
    let text = "network \"n\" {\n  overlay \"100.64.0.0/10\"\n";
    let d = check(SourceId(0), text).unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].span.offset, text.find('{').unwrap());
    assert!(d[0].message.contains("never closed"));
}

#[test]
fn rejects_deep_nesting_and_long_comments_once() {
    assert_eq!(
        verdict(&"a {".repeat(100_000)),
        Err(vec!["cvlan::too-deep"])
    );
    assert_eq!(
        verdict(&"a {".repeat(MAX_DEPTH + 1)),
        Err(vec!["cvlan::too-deep"])
    );
    let deepest = format!("{}{}", "a {".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    assert_eq!(verdict(&deepest), Ok(()));
    assert_eq!(verdict(&"/*".repeat(1000)), Err(vec!["cvlan::too-deep"]));
    assert_eq!(
        verdict(&format!("/*{}*/", "*a".repeat(1000))),
        Err(vec!["cvlan::too-deep"])
    );
}

#[test]
fn caps_the_errors_of_a_garbage_file() {
    let garbage = "} ".repeat(100_000);
    let d = check(SourceId(0), &garbage).unwrap_err();
    assert_eq!(d.len(), 1, "one per line");
    let lines = "}\n".repeat(100_000);
    assert_eq!(check(SourceId(0), &lines).unwrap_err().len(), MAX_ERRORS);
}

#[test]
fn braces_in_strings_and_comments_do_not_count() {
    let text = format!(
        "a \"{}\" #\"{}\"# \"\"\"\n{}\n\"\"\" // {{{{\n/* {{ */",
        "{".repeat(100),
        "}".repeat(100),
        "{".repeat(100)
    );
    assert_eq!(verdict(&text), Ok(()));
}

#[test]
fn finds_comments_and_block_ends() {
    let text = "a \"// no\" { // one\n  b /* two\n  lines */ }  /* three */ // four\n";
    assert_eq!(comments(text), vec!["one", "two lines", "three", "four"]);
    assert_eq!(block_close(text), Some(text.find("}  ").unwrap() + 1));
    assert_eq!(block_close("a \"}\""), None);
}

#[test]
fn rejects_oversized_files() {
    let text = " ".repeat(MAX_FILE_BYTES + 1);
    assert_eq!(verdict(&text), Err(vec!["cvlan::too-large"]));
}

/// Found by the `network` fuzz target's slowest inputs: every line of an unclosed multi-line
/// string full of `\` continuations was an error of its own (thousands, all rendered).
#[test]
fn a_broken_multi_line_string_is_one_error_and_the_bound_holds_inside_tokens() {
    let text = format!("node \"\"\"\n  a\n{}", "\\\n".repeat(6000));
    let errors = check(SourceId(0), &text).unwrap_err();
    assert!(errors.len() <= 2, "{errors:?}");
    assert!(
        errors.iter().any(|d| d.message.contains("never closed")),
        "{errors:?}"
    );
    let closed = format!("node \"\"\"\n{}\"\"\"\n", "  a \\q \\\n".repeat(100));
    assert_eq!(check(SourceId(0), &closed).unwrap_err().len(), 1);
}
