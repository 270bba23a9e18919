//! `cvlanctl policy explain --file`: the verdict of a file's policy on one packet, the
//! deciding rule, and why each of its selectors matched.

use std::path::Path;

use cvlan_core::policy::PolicyIndex;
use cvlan_schema::values::{parse_test_endpoint, parse_test_port};

use crate::cli::ExplainArgs;
use crate::offline::load_valid;
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{print_json, print_text};

/// Runs `policy explain` against a file.
pub fn run(file: &Path, args: &ExplainArgs, json: bool) -> Outcome {
    let from =
        parse_test_endpoint(&args.from).map_err(|e| Failure::Usage(format!("--from: {e}")))?;
    let to = parse_test_endpoint(&args.to).map_err(|e| Failure::Usage(format!("--to: {e}")))?;
    let port = parse_test_port(&args.port).map_err(|e| Failure::Usage(format!("--port: {e}")))?;
    let Some(valid) = load_valid(file)? else {
        return Ok(Answer::No);
    };
    let index = PolicyIndex::new(&valid.network, &valid.allocation);
    let explanation = index
        .explain_endpoints(&from, &to, port)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if json {
        print_json(&explanation)?;
    } else {
        print_text(&explanation.to_string())?;
    }
    let accepted = explanation.verdict == cvlan_schema::model::Verdict::Accept;
    Ok(Answer::from_ok(accepted || !args.exit_code))
}
