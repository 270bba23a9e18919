//! REFERENCE.md agrees with the parser: the grammar table equals the parser's grammar
//! tables, every node and property it lists is accepted, nothing else is, and the codes table
//! lists exactly the codes the crate emits.

use std::collections::BTreeSet;
use std::path::Path;

use cvlan_schema::grammar::Context;
use cvlan_schema::{Diagnostic, parse_controller_file, parse_host, parse_network};

fn reference() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("REFERENCE.md"))
        .expect("REFERENCE.md")
}

/// The table rows between `<!-- NAME:begin -->` and `<!-- NAME:end -->`, cells split and
/// unescaped, header and separator dropped.
fn table(name: &str) -> Vec<Vec<String>> {
    let text = reference();
    let start = text
        .find(&format!("<!-- {name}:begin -->"))
        .expect("begin marker");
    let end = text
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    text[start..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let l = l.replace("\\|", "\u{1}");
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{1}', "|"))
                .collect()
        })
        .collect()
}

type Row = (String, String, String, BTreeSet<String>, String, bool);

fn reference_rows() -> BTreeSet<Row> {
    table("grammar")
        .into_iter()
        .map(|c| {
            let props = c[3]
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            (
                c[0].clone(),
                c[1].clone(),
                c[2].clone(),
                props,
                c[4].clone(),
                c[5] == "yes",
            )
        })
        .collect()
}

fn parser_rows() -> BTreeSet<Row> {
    Context::ALL
        .iter()
        .flat_map(|ctx| {
            ctx.rules().iter().map(move |r| {
                (
                    ctx.name().to_owned(),
                    r.name.to_owned(),
                    r.args.to_owned(),
                    r.props.iter().map(|p| (*p).to_owned()).collect(),
                    r.block.map_or_else(String::new, |b| b.name().to_owned()),
                    r.repeat,
                )
            })
        })
        .collect()
}

#[test]
fn grammar_table_matches_the_parser_both_ways() {
    let (doc, parser) = (reference_rows(), parser_rows());
    let only_doc: Vec<_> = doc.difference(&parser).collect();
    let only_parser: Vec<_> = parser.difference(&doc).collect();
    assert!(
        only_doc.is_empty(),
        "in REFERENCE.md but not the parser: {only_doc:#?}"
    );
    assert!(
        only_parser.is_empty(),
        "in the parser but not REFERENCE.md: {only_parser:#?}"
    );
}

/// Diagnostics for `line` placed in `context` (wrapped in the blocks that lead there).
fn diagnostics_in(context: &str, line: &str) -> Vec<Diagnostic> {
    let wrapped = match context {
        "network.kdl" => line.to_owned(),
        "network" => format!("network \"n\" {{\n{line}\n}}"),
        "ipsec-peer" => format!("vrouter \"v\" {{\nipsec-peer \"p\" {{\n{line}\n}}\n}}"),
        "policy" => format!("policy {{\n{line}\n}}"),
        "cvland.kdl" => return parse_host("h.kdl", line).diagnostics,
        "controller.kdl" => return parse_controller_file("c.kdl", line).diagnostics,
        other => format!("{other} \"x\" {{\n{line}\n}}"),
    };
    parse_network("n.kdl", &wrapped).diagnostics
}

fn grammar_codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags
        .iter()
        .map(|d| d.code)
        .filter(|c| matches!(*c, "cvlan::unknown-node" | "cvlan::unknown-property"))
        .collect()
}

#[test]
fn every_listed_node_and_property_is_accepted() {
    for (context, node, _, props, _, _) in reference_rows() {
        let mut line = format!("{node} \"x\"");
        for p in &props {
            line.push_str(&format!(" {p}=\"x\""));
        }
        let diags = diagnostics_in(&context, &line);
        assert!(
            grammar_codes(&diags).is_empty(),
            "{context}: `{line}` refused: {diags:#?}"
        );
    }
}

#[test]
fn nothing_unlisted_is_accepted() {
    for (context, node, _, _, _, _) in reference_rows() {
        let diags = diagnostics_in(&context, "bogus-node \"x\"");
        assert_eq!(grammar_codes(&diags), ["cvlan::unknown-node"], "{context}");
        let diags = diagnostics_in(&context, &format!("{node} \"x\" bogus-property=\"x\""));
        assert_eq!(
            grammar_codes(&diags),
            ["cvlan::unknown-property"],
            "{context} {node}"
        );
    }
}

#[test]
fn codes_table_lists_exactly_the_emitted_codes() {
    let documented: BTreeSet<String> = table("codes").into_iter().map(|c| c[0].clone()).collect();
    let mut emitted = BTreeSet::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                for (i, _) in text.match_indices("\"cvlan::") {
                    let code: String = text[i + 1..].chars().take_while(|c| *c != '"').collect();
                    emitted.insert(code);
                }
            }
        }
    }
    assert_eq!(documented, emitted);
}
