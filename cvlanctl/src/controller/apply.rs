//! `apply`, `rollback`, `revisions` and `plan --controller`: network.kdl revisions on the
//! controller.

use std::path::Path;

use cvlan_proto::v1;
use cvlan_schema::report::JsonDiagnostic;
use serde::Serialize;

use super::Admin;
use crate::live::{rfc3339, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_err, print_json, print_table, print_text, table};

/// The JSON of `apply` and `rollback`.
#[derive(Debug, Serialize)]
struct ApplyJson {
    ok: bool,
    changed: bool,
    revision: String,
    diagnostics: Vec<JsonDiagnostic>,
    tests: TestsJson,
}

#[derive(Debug, Serialize)]
struct TestsJson {
    passed: u32,
    failed: u32,
}

/// `apply --file F [--message M]`.
pub async fn apply(mut admin: Admin, file: &Path, message: String, json: bool) -> Outcome {
    let request = v1::ApplyRequest {
        network: String::new(),
        files: crate::plan::read_with_includes(file)?,
        message,
        expected_revision: 0,
    };
    let response = admin.apply(request).await?.into_inner();
    report(response, json)
}

/// `rollback ID [--message M]`.
pub async fn rollback(mut admin: Admin, revision: u64, message: String, json: bool) -> Outcome {
    let request = v1::RollbackRequest {
        network: String::new(),
        revision,
        message,
    };
    let response = admin.rollback(request).await?.into_inner();
    report(response.outcome.unwrap_or_default(), json)
}

/// Prints an apply's outcome; exit 1 when it was refused.
fn report(response: v1::ApplyResponse, json: bool) -> Outcome {
    let tests = response.tests.unwrap_or_default();
    let diagnostics: Vec<JsonDiagnostic> = response
        .diagnostics
        .into_iter()
        .map(JsonDiagnostic::from)
        .collect();
    let refused = diagnostics.iter().any(|d| d.severity == "error") || tests.failed > 0;
    let revision = response.revision.map(|r| r.revision).unwrap_or_default();
    let ok = !refused;
    if json {
        print_json(&ApplyJson {
            ok,
            changed: response.applied,
            revision: revision.to_string(),
            diagnostics,
            tests: TestsJson {
                passed: tests.passed,
                failed: tests.failed,
            },
        })?;
    } else {
        for d in &diagnostics {
            print_err(&format!(
                "{}:{}:{}: {} [{}] {}\n",
                d.file, d.line, d.column, d.severity, d.code, d.message
            ));
        }
        let text = match (ok, response.applied) {
            (false, _) => format!(
                "refused: nothing changed ({} policy-test{} failed)",
                tests.failed,
                if tests.failed == 1 { "" } else { "s" }
            ),
            (true, true) => format!("applied: revision {revision}"),
            (true, false) => format!("no change: revision {revision} runs this file already"),
        };
        print_text(&text)?;
    }
    Ok(Answer::from_ok(ok))
}

/// The JSON of `revisions`.
#[derive(Debug, Serialize)]
struct RevisionsJson {
    revisions: Vec<RevisionJson>,
}

#[derive(Debug, Serialize)]
struct RevisionJson {
    id: String,
    hash: String,
    author: String,
    message: String,
    time: Option<String>,
}

/// `revisions`.
pub async fn revisions(mut admin: Admin, json: bool) -> Outcome {
    let response = admin
        .list_revisions(v1::ListRevisionsRequest::default())
        .await?
        .into_inner();
    let revisions: Vec<RevisionJson> = response
        .revisions
        .into_iter()
        .map(|r| RevisionJson {
            id: r.revision.to_string(),
            hash: r.sha256,
            author: r.author,
            message: r.message,
            time: time(r.created_at.as_ref()).map(rfc3339),
        })
        .collect();
    if json {
        print_json(&RevisionsJson { revisions })?;
    } else {
        let mut t = table(&["id", "time", "author", "hash", "message"]);
        for r in &revisions {
            t.add_row([
                r.id.clone(),
                r.time.clone().unwrap_or_default(),
                r.author.clone(),
                r.hash.chars().take(12).collect(),
                r.message.clone(),
            ]);
        }
        print_table(&t)?;
    }
    Ok(Answer::Yes)
}
