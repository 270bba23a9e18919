//! `cvlanctl plan --file F [--against F2 | --daemon | --controller]`: what a network file would
//! change.
//! Offline, per node and vrouter against another file (or against nothing: everyone joins);
//! with `--daemon`, on the running node, which plans the file against what it runs.

use std::path::Path;

use cvlan_core::netmap::PeerKind;
use cvlan_core::plan::network::NetworkPlan;
use cvlan_core::plan::network::{MemberChange, NetworkState, network_plan};
use cvlan_proto::v1::{ListRevisionsRequest, LocalPlanRequest, Pagination, SourceFile};
use cvlan_schema::report::{JsonDiagnostic, render_human, to_json};
use serde::Serialize;

use crate::cli::PlanArgs;
use crate::controller::Admin;
use crate::live::Client;
use crate::offline::load_checked;
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{print_err, print_json, print_text};

/// The JSON document of `plan --json`.
#[derive(Debug, Serialize)]
struct PlanJson {
    /// False when a file is invalid (nothing planned).
    ok: bool,
    diagnostics: Vec<JsonDiagnostic>,
    /// With `--daemon`: the node asked and the revision it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    /// Every node or vrouter that changes.
    members: Vec<MemberJson>,
}

#[derive(Debug, Serialize)]
struct MemberJson {
    name: String,
    kind: &'static str,
    /// `join`, `leave` or `update`.
    change: &'static str,
    actions: Vec<ActionJson>,
}

#[derive(Debug, Serialize)]
struct ActionJson {
    kind: String,
    target: String,
    line: String,
}

/// The network of a checked file, when it has one.
fn state(report: &cvlan_core::CheckReport) -> Option<NetworkState<'_>> {
    match (&report.network, &report.allocation) {
        (Some(network), Some(allocation)) => Some(NetworkState {
            network,
            allocation,
        }),
        _ => None,
    }
}

/// Runs `plan` offline (`--daemon` goes through [`run_daemon`]).
pub fn run_offline(args: &PlanArgs, json: bool) -> Outcome {
    let desired = load_checked(&args.file)?;
    let actual = args.against.as_deref().map(load_checked).transpose()?;
    print_plan(&desired, actual.as_ref(), json)
}

/// Runs `plan --controller`: the file against the controller's running revision, planned here
/// as `--against` plans it.
pub async fn run_controller(mut admin: Admin, file: &Path, json: bool) -> Outcome {
    let desired = load_checked(file)?;
    let request = ListRevisionsRequest {
        include_files: true,
        pagination: Some(Pagination {
            page_size: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = admin.list_revisions(request).await?.into_inner();
    let actual = response.revisions.into_iter().next().and_then(|r| {
        let root = r.files.into_iter().next()?;
        Some(cvlan_core::check(cvlan_schema::parse_network(
            &format!("revision {}", r.revision),
            &root.text,
        )))
    });
    print_plan(&desired, actual.as_ref(), json)
}

/// Prints the plan from `actual` (nothing running when `None`) to `desired`.
fn print_plan(
    desired: &cvlan_core::CheckReport,
    actual: Option<&cvlan_core::CheckReport>,
    json: bool,
) -> Outcome {
    let mut diagnostics = Vec::new();
    let mut ok = true;
    for report in std::iter::once(desired).chain(actual) {
        ok &= report.is_ok();
        if json {
            diagnostics.extend(to_json(&report.sources, &report.diagnostics));
        } else if !report.is_ok() {
            print_err(&render_human(&report.sources, &report.diagnostics));
        }
    }
    let plan = match (ok, state(desired)) {
        (true, Some(d)) => network_plan(d, actual.and_then(state)),
        _ => {
            if json {
                print_json(&PlanJson {
                    ok: false,
                    diagnostics,
                    node: None,
                    revision: None,
                    members: Vec::new(),
                })?;
            } else {
                print_err("nothing planned: fix the file first (see `cvlanctl check`)\n");
            }
            return Ok(Answer::No);
        }
    };
    if json {
        print_json(&PlanJson {
            ok: true,
            diagnostics,
            node: None,
            revision: None,
            members: members(&plan),
        })?;
    } else {
        print_text(&plan.to_string())?;
    }
    Ok(Answer::Yes)
}

fn members(plan: &NetworkPlan) -> Vec<MemberJson> {
    plan.members
        .iter()
        .map(|m| MemberJson {
            name: m.name.clone(),
            kind: match m.kind {
                PeerKind::Node => "node",
                PeerKind::Vrouter => "vrouter",
            },
            change: m.change.as_str(),
            actions: match &m.change {
                MemberChange::Update(p) => p
                    .actions
                    .iter()
                    .map(|a| ActionJson {
                        kind: a.kind().to_owned(),
                        target: a.target().to_owned(),
                        line: format!("{} {a}", a.sign()),
                    })
                    .collect(),
                MemberChange::Join(_) | MemberChange::Leave => Vec::new(),
            },
        })
        .collect()
}

/// Runs `plan --daemon`: sends the file and its includes to the running node.
pub async fn run_daemon(mut client: Client, file: &Path, json: bool) -> Outcome {
    let files = read_with_includes(file)?;
    let response = client
        .local_plan(LocalPlanRequest { files })
        .await?
        .into_inner();
    let diagnostics: Vec<JsonDiagnostic> =
        response.diagnostics.into_iter().map(Into::into).collect();
    let actions: Vec<ActionJson> = response
        .actions
        .into_iter()
        .map(|a| ActionJson {
            kind: a.kind,
            target: a.target,
            line: a.line,
        })
        .collect();
    if json {
        let members = if actions.is_empty() {
            Vec::new()
        } else {
            vec![MemberJson {
                name: response.node.clone(),
                kind: "node",
                change: "update",
                actions,
            }]
        };
        print_json(&PlanJson {
            ok: response.ok,
            diagnostics,
            node: Some(response.node),
            revision: Some(response.revision),
            members,
        })?;
        return Ok(Answer::from_ok(response.ok));
    }
    if !response.ok {
        for d in &diagnostics {
            print_err(&format!(
                "{}:{}:{}: {}[{}]: {}\n",
                d.file, d.line, d.column, d.severity, d.code, d.message
            ));
        }
        print_err(&format!("nothing planned: {}\n", response.message));
        return Ok(Answer::No);
    }
    let against = if response.revision.is_empty() {
        "nothing running yet".to_owned()
    } else {
        format!("revision {}", response.revision)
    };
    let mut text = format!("node {} (against {against}):\n", response.node);
    if actions.is_empty() {
        text.push_str("no changes\n");
    }
    for a in &actions {
        text.push_str(&format!("{}\n", a.line));
    }
    print_text(&text)?;
    Ok(Answer::Yes)
}

/// The file and every file it includes, the includes named as their `include` lines give them.
pub fn read_with_includes(path: &Path) -> Result<Vec<SourceFile>, Failure> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| Failure::Read {
            path: p.to_owned(),
            source,
        })
    };
    let text = read(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut includes = Vec::new();
    let mut include = |rel: &str| {
        let full = dir.join(rel);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        includes.push(SourceFile {
            name: rel.to_owned(),
            text: text.clone(),
        });
        Ok((full.display().to_string(), text))
    };
    // Only to find the includes: the daemon checks the files itself.
    let _ = cvlan_schema::check_network(&path.display().to_string(), &text, &mut include);
    let mut files = vec![SourceFile {
        name: path.display().to_string(),
        text,
    }];
    files.append(&mut includes);
    Ok(files)
}
