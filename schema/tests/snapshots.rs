//! The rendered diagnostics of every invalid example, human and JSON, as insta snapshots:
//! the operator-facing text is reviewed whenever it changes.

use std::path::Path;

use cvlan_schema::check_network;
use cvlan_schema::report::{render_human, to_json};

#[test]
fn invalid_example_reports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/invalid");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    paths.sort();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("read");
        // Stable names, whatever the checkout's location.
        let name = format!("examples/invalid/{stem}.kdl");
        let mut include = |rel: &str| {
            std::fs::read_to_string(dir.join(rel))
                .map(|t| (format!("examples/invalid/{rel}"), t))
                .map_err(|_| format!("cannot read examples/invalid/{rel}"))
        };
        let checked = check_network(&name, &text, &mut include);
        let human = render_human(&checked.sources, &checked.diagnostics);
        let json = to_json(&checked.sources, &checked.diagnostics);
        insta::assert_snapshot!(format!("{stem}-human"), human);
        insta::assert_json_snapshot!(format!("{stem}-json"), json);
    }
}
