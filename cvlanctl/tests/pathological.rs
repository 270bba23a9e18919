//! No file aborts `cvlanctl check` or `fmt`: every pathological input (deep and unbalanced
//! braces after broken strings, comments and slashdash, invalid UTF-8, NUL, CR, lines and
//! names up to ten megabytes) ends in exit 0 or 1, `check --format json` prints one JSON
//! report, and a file check rejects names a diagnostic.

mod common;

use std::path::Path;
use std::process::Output;

use common::{code, cvlanctl, json, stderr, stdout};
use cvlan_lab::pathological::{Case, SMALL, cases};

/// Writes each case of at most `max_bytes` to a file, runs `cvlanctl ARGS FILE` on it,
/// asserts that it answered (exit 0 or 1, never a crash or "could not run"), hands the case,
/// the output, the exit code and the file to `check`, and removes the file.
fn each_case(max_bytes: usize, args: &[&str], mut check: impl FnMut(&Case, &Output, i32, &Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in cases(max_bytes) {
        let path = dir.path().join(format!("{}.kdl", case.name));
        std::fs::write(&path, &case.bytes).expect("write case");
        let mut argv = args.to_vec();
        argv.push(path.to_str().expect("utf-8 path"));
        let out = cvlanctl(&argv);
        let exit = code(&out);
        assert!(
            exit == 0 || exit == 1,
            "{}: exit {exit}: {}",
            case.name,
            stderr(&out)
        );
        check(&case, &out, exit, &path);
        std::fs::remove_file(&path).expect("remove case");
    }
}

#[test]
fn check_reports_every_pathological_file_as_json_without_aborting() {
    let (mut seen, mut rejected) = (0, 0);
    each_case(
        usize::MAX,
        &["check", "--format", "json"],
        |case, out, exit, _| {
            seen += 1;
            let doc = json(out);
            assert_eq!(doc["ok"], exit == 0, "{}: {doc}", case.name);
            let diagnostics = doc["diagnostics"].as_array().expect("diagnostics");
            if exit == 1 {
                rejected += 1;
                assert!(
                    !diagnostics.is_empty(),
                    "{}: rejected with no diagnostic",
                    case.name
                );
                for d in diagnostics {
                    assert!(
                        d["code"].as_str().is_some_and(|c| c.starts_with("cvlan::")),
                        "{}: {d}",
                        case.name
                    );
                }
            }
        },
    );
    // Almost every case is broken; the few that are not (a long comment line, many valid
    // nodes) pass. A generator whose cases all passed would be testing nothing.
    assert!(rejected * 10 > seen * 9, "{rejected} of {seen}");
}

#[test]
fn fmt_check_answers_every_pathological_file_without_aborting() {
    each_case(usize::MAX, &["fmt", "--check"], |case, out, exit, path| {
        assert!(
            exit == 0 || !stderr(out).is_empty() || !stdout(out).is_empty(),
            "{}: fmt --check said no without saying why",
            case.name
        );
        // --check never rewrites the file.
        assert_eq!(
            std::fs::read(path).expect("read back"),
            case.bytes,
            "{}",
            case.name
        );
    });
}

#[test]
fn human_reports_of_small_pathological_files_name_a_code() {
    each_case(SMALL, &["check"], |case, out, exit, _| {
        if exit == 1 {
            let text = format!("{}{}", stdout(out), stderr(out));
            assert!(text.contains("cvlan::"), "{}: {text}", case.name);
        }
    });
}
