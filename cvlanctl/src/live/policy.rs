//! `cvlanctl policy explain` (without `--file`), `policy hits [--watch]` and `policy test`:
//! the running node's policy, asked over the local API.

use std::path::PathBuf;

use cvlan_core::policy::Explanation;
use cvlan_proto::v1::{
    PolicyAction, PolicyExplainRequest, PolicyHitsRequest, PolicyHitsResponse, PolicyTestRequest,
    SourceFile, Verdict as WireVerdict, WatchPolicyHitsRequest,
};
use cvlan_schema::model::Verdict;
use cvlan_schema::values::{parse_test_endpoint, parse_test_port};
use serde::Serialize;
use tokio_stream::StreamExt;

use crate::cli::{ExplainArgs, HitsArgs, TestArgs};
use crate::live::{Client, rfc3339, time};
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{bytes, print_err, print_json, print_table, print_text, table};

/// Runs `policy explain` against the running node: the same output as the offline form.
pub async fn explain(mut client: Client, args: &ExplainArgs, json: bool) -> Outcome {
    // The same argument checks as offline, before asking.
    parse_test_endpoint(&args.from).map_err(|e| Failure::Usage(format!("--from: {e}")))?;
    parse_test_endpoint(&args.to).map_err(|e| Failure::Usage(format!("--to: {e}")))?;
    parse_test_port(&args.port).map_err(|e| Failure::Usage(format!("--port: {e}")))?;
    let response = client
        .policy_explain(PolicyExplainRequest {
            from: args.from.clone(),
            to: args.to.clone(),
            port: args.port.clone(),
        })
        .await?
        .into_inner();
    let explanation = Explanation::try_from(response)
        .map_err(|e| Failure::Daemon(format!("malformed answer: {e}")))?;
    if json {
        print_json(&explanation)?;
    } else {
        print_text(&explanation.to_string())?;
    }
    let accepted = explanation.verdict == Verdict::Accept;
    Ok(Answer::from_ok(accepted || !args.exit_code))
}

/// Packets and bytes in JSON.
#[derive(Debug, Serialize)]
struct CounterJson {
    packets: u64,
    bytes: u64,
}

/// One row of `policy hits --json`.
#[derive(Debug, Serialize)]
struct RuleHitsJson {
    rule: String,
    /// Position in the policy; null for default-deny.
    index: Option<u32>,
    /// `allow` or `deny`.
    action: &'static str,
    default_deny: bool,
    inbound: CounterJson,
    outbound: CounterJson,
}

/// The JSON document of `policy hits --json` (one per line with `--watch`).
#[derive(Debug, Serialize)]
struct HitsJson {
    rules: Vec<RuleHitsJson>,
    time: Option<String>,
    since: Option<String>,
    revision: String,
}

fn hits_json(r: PolicyHitsResponse) -> HitsJson {
    let counter = |c: Option<cvlan_proto::v1::HitCounters>| {
        let c = c.unwrap_or_default();
        CounterJson {
            packets: c.packets,
            bytes: c.bytes,
        }
    };
    HitsJson {
        time: time(r.time.as_ref()).map(rfc3339),
        since: time(r.since.as_ref()).map(rfc3339),
        revision: r.revision,
        rules: r
            .rules
            .into_iter()
            .map(|h| RuleHitsJson {
                action: match h.action() {
                    PolicyAction::Allow => "allow",
                    PolicyAction::Deny | PolicyAction::Unspecified => "deny",
                },
                index: (!h.default_deny).then_some(h.index),
                default_deny: h.default_deny,
                rule: h.rule,
                inbound: counter(h.inbound),
                outbound: counter(h.outbound),
            })
            .collect(),
    }
}

fn hits_table(h: &HitsJson) -> comfy_table::Table {
    let mut out = table(&[
        "rule",
        "action",
        "in packets",
        "in bytes",
        "out packets",
        "out bytes",
    ]);
    for r in &h.rules {
        out.add_row(vec![
            r.rule.clone(),
            r.action.to_owned(),
            r.inbound.packets.to_string(),
            bytes(r.inbound.bytes),
            r.outbound.packets.to_string(),
            bytes(r.outbound.bytes),
        ]);
    }
    out
}

/// Runs `policy hits`: one snapshot, or with `--watch` one per interval until interrupted.
pub async fn hits(mut client: Client, args: &HitsArgs, json: bool) -> Outcome {
    if !args.watch {
        let response = client.policy_hits(PolicyHitsRequest {}).await?.into_inner();
        let document = hits_json(response);
        if json {
            print_json(&document)?;
        } else {
            print_table(&hits_table(&document))?;
        }
        return Ok(Answer::Yes);
    }
    let interval = std::time::Duration::from_millis(args.interval_ms);
    let request = WatchPolicyHitsRequest {
        interval: cvlan_proto::prost_types::Duration::try_from(interval).ok(),
    };
    let mut stream = client.watch_policy_hits(request).await?.into_inner();
    while let Some(message) = stream.next().await {
        let document = hits_json(message?.snapshot.unwrap_or_default());
        if json {
            print_text(&serde_json::to_string(&document).map_err(std::io::Error::from)?)?;
        } else {
            print_text(&format!(
                "\n{}  revision {}\n",
                document.time.as_deref().unwrap_or("-"),
                document.revision
            ))?;
            print_table(&hits_table(&document))?;
        }
    }
    Ok(Answer::Yes)
}

/// One line of `policy test --json`.
#[derive(Debug, Serialize)]
struct CaseJson {
    test: String,
    case: u32,
    from: String,
    to: String,
    port: String,
    expected: &'static str,
    actual: &'static str,
    rule: String,
    passed: bool,
}

/// The JSON document of `policy test --json`.
#[derive(Debug, Serialize)]
struct TestJson {
    passed: u32,
    failed: u32,
    revision: String,
    results: Vec<CaseJson>,
}

fn verdict_text(v: WireVerdict) -> &'static str {
    match v {
        WireVerdict::Accept => "accept",
        WireVerdict::Reject | WireVerdict::Unspecified => "reject",
    }
}

/// Runs `policy test`: the policy-tests of the daemon's source (or of `--file`) against the
/// running node's policy; exit 1 when one fails.
pub async fn test(mut client: Client, args: &TestArgs, json: bool) -> Outcome {
    let files = args
        .file
        .iter()
        .map(|path: &PathBuf| {
            std::fs::read_to_string(path)
                .map(|text| SourceFile {
                    name: path.display().to_string(),
                    text,
                })
                .map_err(|source| Failure::Read {
                    path: path.clone(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let response = client
        .policy_test(PolicyTestRequest { files })
        .await?
        .into_inner();
    for d in &response.diagnostics {
        print_err(&format!(
            "{}:{}:{}: {} [{}]\n",
            d.file, d.line, d.column, d.message, d.code
        ));
    }
    let document = TestJson {
        passed: response.passed,
        failed: response.failed,
        revision: response.revision,
        results: response
            .results
            .into_iter()
            .map(|c| CaseJson {
                expected: verdict_text(c.expected()),
                actual: verdict_text(c.actual()),
                test: c.test,
                case: c.case_index,
                from: c.from,
                to: c.to,
                port: c.port,
                rule: c.rule,
                passed: c.passed,
            })
            .collect(),
    };
    if json {
        print_json(&document)?;
    } else {
        let mut text = String::new();
        for c in &document.results {
            text.push_str(&format!(
                "{} {}: {} from {} to {} port {} ({}{})\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.test,
                c.expected,
                c.from,
                c.to,
                c.port,
                c.rule,
                if c.passed {
                    String::new()
                } else {
                    format!(", got {}", c.actual)
                },
            ));
        }
        text.push_str(&format!(
            "{} passed, {} failed (revision {})\n",
            document.passed, document.failed, document.revision
        ));
        print_text(&text)?;
    }
    let ok = document.failed == 0 && response.diagnostics.is_empty();
    Ok(Answer::from_ok(ok))
}
