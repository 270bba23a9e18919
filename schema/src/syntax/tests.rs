//! The fast reader agrees with kdl, spans included; the scanner's bounds hold on small thread stacks.

use proptest::prelude::*;

use super::*;

const SAMPLE: &str = r#"// leading comment
network "corp" tenant="acme" {   // trailing
    overlay "100.64.0.0/10"
    /* block /* nested */ */ dns   domain="corp.cvlan";   listen-port 51820
}
policy{
  allow "a" from="*" to = "*" ports="22/tcp"
  deny b from=tag:x to=* proto=icmp
}
node "é-ü" { tags "a\tb\"c\\\u{1F600}"; flags #true #false #null -12 }
empty {}
"#;

type Parsed = Result<Vec<Node>, Vec<Diagnostic>>;

fn both(text: &str) -> (Option<Vec<Node>>, Parsed) {
    (
        fast::parse(SourceId(0), text),
        parse_with_kdl(SourceId(0), text),
    )
}

/// One line per node and entry, so a disagreement shows as one short pair.
fn flatten(nodes: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(format!(
            "node {:?} {:?} {:?} typed={}",
            n.name, n.name_span, n.span, n.typed
        ));
        for e in &n.entries {
            out.push(format!(
                "  entry {:?} {:?} {:?} typed={}",
                e.key, e.value, e.span, e.typed
            ));
        }
        if let Some(c) = &n.children {
            out.push("{".to_owned());
            out.extend(flatten(c));
            out.push("}".to_owned());
        }
    }
    out
}

fn assert_agree(text: &str) {
    let (fast, kdl) = both(text);
    if let Some(fast) = fast {
        match kdl {
            Ok(kdl) => {
                let (f, k) = (flatten(&fast), flatten(&kdl));
                if let Some(i) = (0..f.len().max(k.len())).find(|&i| f.get(i) != k.get(i)) {
                    panic!(
                        "readers disagree on {text:?}:\n fast: {:?}\n  kdl: {:?}",
                        f.get(i),
                        k.get(i)
                    );
                }
            }
            Err(e) => panic!("fast reader accepted what kdl rejects: {text:?}: {e:?}"),
        }
    }
}

#[test]
fn fast_reader_handles_the_sample_like_kdl() {
    let (fast, kdl) = both(SAMPLE);
    assert_eq!(
        fast.expect("fast reader covers the sample"),
        kdl.expect("valid")
    );
}

#[test]
fn fast_reader_leaves_exotic_syntax_to_kdl() {
    for text in [
        "a #\"raw\"#",
        "a (t)\"x\"",
        "/- a\nb",
        "a 1.5",
        "a 0x10",
        "a \"\"\"\n  x\n  \"\"\"",
        "a \\\n b",
        "a \"x",
        "a }",
        "a {",
        "a true",
    ] {
        assert!(fast::parse(SourceId(0), text).is_none(), "{text:?}");
        assert_agree(text);
    }
}

#[test]
fn syntax_errors_become_diagnostics_with_spans() {
    let err = parse(SourceId(0), "network \"x\" {\n  overlay \"a\n}\n").expect_err("invalid");
    assert!(err.iter().all(|d| d.code == "cvlan::syntax"));
    assert!(err.iter().all(|d| d.span.offset <= 30));
}

/// The top-level nodes `parse_each` hands over, in order.
fn each(text: &str) -> Parsed {
    let mut nodes = Vec::new();
    parse_each(SourceId(0), text, |n| nodes.push(n)).map(|()| nodes)
}

#[test]
fn node_by_node_reading_gives_the_tree_parse_gives() {
    // The sample is plain (fast reader); a raw string sends the file to kdl's fallback.
    for text in [SAMPLE.to_owned(), format!("{SAMPLE}raw #\"x\"#\n")] {
        let nodes = each(&text).expect("valid");
        assert_eq!(nodes, parse(SourceId(0), &text).expect("valid"), "{text}");
        assert_eq!(
            nodes.len(),
            text.lines()
                .filter(|l| l.starts_with(|c: char| c.is_alphabetic()))
                .count()
        );
    }
}

#[test]
fn node_by_node_reading_hands_over_nothing_from_a_broken_file() {
    // Plain up to the last node, which the fast reader gives up on and kdl rejects: the first
    // pass finds that before a node is handed over.
    let mut handed = 0;
    let result = parse_each(SourceId(0), &format!("{SAMPLE}broken \"x\n"), |_| {
        handed += 1
    });
    let errors = result.expect_err("invalid");
    assert!(
        errors.iter().all(|d| d.code == "cvlan::syntax"),
        "{errors:?}"
    );
    assert_eq!(handed, 0);
}

/// Deep nesting is refused before kdl sees it, on a 2 MiB thread as tokio and the test
/// harness use, and the deepest accepted input still parses there.
#[test]
fn bounded_inputs_never_overflow_a_small_stack() {
    let run = |text: String| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || parse(SourceId(0), &text).map(|_| ()).map_err(|e| e[0].code))
            .expect("spawn")
            .join()
            .expect("no crash")
    };
    assert_eq!(run("a {".repeat(100_000)), Err("cvlan::too-deep"));
    assert_eq!(run("{".repeat(3_000)), Err("cvlan::syntax"));
    assert_eq!(run("}".repeat(100_000)), Err("cvlan::syntax"));
    assert_eq!(run("= ".repeat(100_000)), Err("cvlan::syntax"));
    let depth = scan::MAX_DEPTH;
    let comment = format!("/*{}*/", "*".repeat(scan::MAX_COMMENT_PIECES - 2));
    let deepest = format!("{}{comment} x{}", "a {".repeat(depth), "}".repeat(depth));
    assert_eq!(run(deepest.clone()), Ok(()));
    // The same through kdl (the fast reader does not recurse into comments the same way).
    let via_kdl = format!("/- q\n{deepest}");
    assert_eq!(run(via_kdl), Ok(()));
    let chain = format!("{}a", "/- ".repeat(10_000));
    assert_eq!(run(chain), Err("cvlan::syntax"));
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"str\"".to_owned()),
        Just("\"a b\\n\\\"q\\\"\"".to_owned()),
        Just("ident".to_owned()),
        Just("*".to_owned()),
        Just("tag:x".to_owned()),
        Just("42".to_owned()),
        Just("-7".to_owned()),
        Just("#true".to_owned()),
        Just("#null".to_owned()),
        Just("key=\"v\"".to_owned()),
        Just("k = 3".to_owned()),
        Just("\"q k\"=x".to_owned()),
        Just("\"ü\"".to_owned()),
        Just("/* c */".to_owned()),
    ]
}

fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_owned()),
        Just("  ".to_owned()),
        Just("\t".to_owned()),
        Just("".to_owned()),
        Just(" /*x*/ ".to_owned()),
    ]
}

fn terminator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_owned()),
        Just(";".to_owned()),
        Just("; ".to_owned()),
        Just(" // c\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("".to_owned()),
    ]
}

fn document() -> impl Strategy<Value = String> {
    let leaf = (
        prop_oneof![
            Just("n"),
            Just("\"quoted name\""),
            Just("node-x"),
            Just("1bad")
        ],
        prop::collection::vec((separator(), token()), 0..4),
        terminator(),
    )
        .prop_map(|(name, entries, term)| {
            let mut s = name.to_owned();
            for (sep, tok) in entries {
                s.push_str(&sep);
                s.push_str(&tok);
            }
            s.push_str(&term);
            s
        });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            prop::collection::vec(inner, 0..4),
            separator(),
            terminator(),
        )
            .prop_map(|(children, sep, term)| {
                format!("block{sep}{{\n{}}}{term}", children.concat())
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fast_reader_agrees_with_kdl(docs in prop::collection::vec(document(), 0..5)) {
        assert_agree(&docs.concat());
    }

    #[test]
    fn fast_reader_agrees_with_kdl_on_mutations(
        at in 0usize..SAMPLE.len(),
        len in 0usize..4,
        insert in prop::sample::select(vec!["", "\"", "{", "}", "=", " ", "\n", "/", "*", "#", "\\", ";", "é", "\r", "0"]),
    ) {
        let mut text = SAMPLE.to_owned();
        let mut at = at;
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(at..end, insert);
        assert_agree(&text);
    }
}
