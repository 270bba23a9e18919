//! Nothing panics on any input: random bytes and random mutations (byte flips, deletions,
//! duplicated lines, pathological fragments spliced in) of the example files go through
//! parse, validate, report and format, on a thread with a quarter of a tokio worker's stack.

use std::path::Path;

use cvlan_lab::pathological;
use cvlan_schema::report::{render_human, to_json};
use cvlan_schema::{format, parse_host, parse_network};
use proptest::prelude::*;

/// The fragments the splice mutation inserts.
static SPLICES: std::sync::LazyLock<Vec<pathological::Case>> =
    std::sync::LazyLock::new(|| pathological::cases(pathological::SMALL));

/// A quarter of a tokio worker's default stack: the readers must not need more.
const SMALL_STACK: usize = 512 * 1024;

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut texts = Vec::new();
    for sub in [dir.clone(), dir.join("host"), dir.join("invalid")] {
        let mut paths: Vec<_> = std::fs::read_dir(sub)
            .expect("examples")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
            .collect();
        paths.sort();
        texts.extend(
            paths
                .iter()
                .map(|p| std::fs::read_to_string(p).expect("read")),
        );
    }
    texts
}

/// Runs every entry point on `bytes` on a thread with [`SMALL_STACK`].
fn exercise(bytes: &[u8]) {
    let bytes = bytes.to_vec();
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || exercise_here(&bytes))
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

/// Runs every entry point on `bytes` (as lossy UTF-8, which is what a reader sees).
fn exercise_here(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let checked = parse_network("fuzz.kdl", &text);
    assert_eq!(checked.network.is_some(), checked.is_ok());
    let human = render_human(&checked.sources, &checked.diagnostics);
    assert_eq!(
        to_json(&checked.sources, &checked.diagnostics).len(),
        checked.diagnostics.len()
    );
    assert!(checked.diagnostics.is_empty() || !human.is_empty());
    let host = parse_host("fuzz.kdl", &text);
    render_human(&host.sources, &host.diagnostics);
    if let Ok(formatted) = format(&text) {
        assert_eq!(format(&formatted).ok().as_ref(), Some(&formatted));
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    DuplicateLine(usize),
    Insert(usize, u8),
    /// Splices a small pathological case (by index) in at a position.
    Splice(usize, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (
            any::<usize>(),
            prop::sample::select(b"{}\"\\/*-=;#\n (),:".to_vec())
        )
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), any::<prop::sample::Index>()).prop_map(|(a, i)| Mutation::Splice(a, i)),
    ]
}

fn apply(text: &str, mutations: &[Mutation], splices: &[pathological::Case]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(at, b) => {
                if let Some(x) = bytes.get_mut(at % len) {
                    *x ^= b;
                }
            }
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Mutation::DuplicateLine(at) => {
                let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
                let i = at % lines.len();
                let mut out = Vec::with_capacity(bytes.len() * 2);
                for (j, line) in lines.iter().enumerate() {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    if j == i {
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    }
                }
                bytes = out;
            }
            Mutation::Insert(at, b) => bytes.insert(at % len, b),
            Mutation::Splice(at, ref case) => {
                let at = at % len.min(bytes.len() + 1);
                bytes.splice(at..at, case.get(splices).bytes.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes);
    }

    #[test]
    fn random_kdl_like_text_never_panics(text in "[a-z\"{}=/*;#\\\\ \n0-9:.,@-]{0,300}") {
        exercise(text.as_bytes());
    }

    #[test]
    fn mutated_examples_never_panic(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let texts = examples();
        let text = file.get(&texts);
        exercise(&apply(text, &mutations, &SPLICES));
    }
}

#[test]
fn every_pathological_case_to_a_megabyte_is_read_on_a_small_stack() {
    // The ten-megabyte ones go through the binaries (cvlanctl's tests) and the daemon's source
    // path (cvland's); here they would only repeat that, slower, in a debug build.
    for case in pathological::cases(1 << 20) {
        exercise(&case.bytes);
    }
}

#[test]
fn regression_inputs_never_panic() {
    for text in [
        "",
        "network",
        "network {",
        "}",
        "network \"x\" { overlay 5 }",
        "node \"a\" { address \"100.64.0.0\" \"100.64.0.1\" \"fd00::1\" }",
        "policy { allow from=\"*,,\" to=\"\" }",
        "vrouter \"v\" { ipsec-peer \"p\" { auth \"psk\" \"s3cr3t\" \"more\" } }",
        "network \"x\" { overlay \"::/0\" ; overlay6 \"0.0.0.0/0\" }",
        "\u{feff}network \"x\"",
        "node (t)\"a\" { tags (x)1 }",
    ] {
        exercise(text.as_bytes());
    }
}
