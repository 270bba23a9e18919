//! No file aborts `cvlanctl check` or `fmt`: every pathological input (deep and unbalanced
//! braces after broken strings, comments and slashdash, invalid UTF-8, NUL, CR, lines and
//! names up to ten megabytes) ends in exit 0 or 1, `check --format json` prints one JSON
//! report, and a file check rejects names a diagnostic.

mod common;

use std::path::Path;

use common::{code, cvlanctl, json, stderr, stdout};
use cvlan_lab::pathological::{Case, SMALL, cases};

fn write(dir: &Path, case: &Case) -> String {
    let path = dir.join(format!("{}.kdl", case.name));
    std::fs::write(&path, &case.bytes).expect("write case");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn check_reports_every_pathological_file_as_json_without_aborting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = cases(usize::MAX);
    let mut rejected = 0;
    for case in &all {
        let path = write(dir.path(), case);
        let out = cvlanctl(&["check", "--format", "json", &path]);
        let exit = code(&out);
        assert!(
            exit == 0 || exit == 1,
            "{}: exit {exit}: {}",
            case.name,
            stderr(&out)
        );
        let doc = json(&out);
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
        std::fs::remove_file(&path).expect("remove case");
    }
    // Almost every case is broken; the few that are not (a long comment line, many valid
    // nodes) pass. A generator whose cases all passed would be testing nothing.
    assert!(rejected * 10 > all.len() * 9, "{rejected} of {}", all.len());
}

#[test]
fn fmt_check_answers_every_pathological_file_without_aborting() {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in cases(usize::MAX) {
        let path = write(dir.path(), &case);
        let out = cvlanctl(&["fmt", "--check", &path]);
        let exit = code(&out);
        assert!(
            exit == 0 || exit == 1,
            "{}: exit {exit}: {}",
            case.name,
            stderr(&out)
        );
        assert!(
            exit == 0 || !stderr(&out).is_empty() || !stdout(&out).is_empty(),
            "{}: fmt --check said no without saying why",
            case.name
        );
        // --check never rewrites the file.
        assert_eq!(
            std::fs::read(&path).expect("read back"),
            case.bytes,
            "{}",
            case.name
        );
        std::fs::remove_file(&path).expect("remove case");
    }
}

#[test]
fn human_reports_of_small_pathological_files_end_and_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in cases(SMALL) {
        let path = write(dir.path(), &case);
        let out = cvlanctl(&["check", &path]);
        let exit = code(&out);
        assert!(
            exit == 0 || exit == 1,
            "{}: exit {exit}: {}",
            case.name,
            stderr(&out)
        );
        if exit == 1 {
            let text = format!("{}{}", stdout(&out), stderr(&out));
            assert!(text.contains("cvlan::"), "{}: {text}", case.name);
        }
        std::fs::remove_file(&path).expect("remove case");
    }
}
