//! `cvlanctl status`: this node's identity, source, revision, last apply, peers and uptime.

use cvlan_proto::v1::{
    ApplyOutcome, ApplyResult, DaemonKind, SourceKind, StatusRequest, StatusResponse,
};
use serde::Serialize;

use crate::live::{Client, duration, key_text, rfc3339, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{age, print_json, print_text};

/// The JSON document of `status --json`.
#[derive(Debug, Serialize)]
struct StatusJson {
    name: String,
    /// `node` (cvland) or `vrouter` (cvlan-vrouterd).
    kind: &'static str,
    network: String,
    tenant: String,
    addresses: Vec<String>,
    public_key: String,
    tun: String,
    listen_port: u32,
    source: SourceJson,
    revision: String,
    applied_at: Option<String>,
    last_apply: Option<ApplyJson>,
    peers: PeersJson,
    started_at: Option<String>,
    uptime_seconds: u64,
    version: String,
    /// Packets the data plane dropped, by reason (only reasons with drops).
    drops: std::collections::BTreeMap<String, u64>,
    /// The local API's live views: open now, started, dropped for not reading.
    live_views: LiveViewsJson,
}

#[derive(Debug, Serialize)]
struct LiveViewsJson {
    open: u64,
    opened: u64,
    slow_dropped: u64,
}

#[derive(Debug, Serialize)]
struct SourceJson {
    kind: &'static str,
    location: String,
    branch: String,
    path: String,
    last_error: String,
}

#[derive(Debug, Serialize)]
struct ApplyJson {
    outcome: &'static str,
    revision: String,
    time: Option<String>,
    message: String,
    actions: u32,
    diagnostics: Vec<cvlan_schema::report::JsonDiagnostic>,
}

#[derive(Debug, Serialize)]
struct PeersJson {
    total: u32,
    connected: u32,
    direct: u32,
    relayed: u32,
}

/// Runs `status`.
pub async fn run(mut client: Client, json: bool) -> Outcome {
    let status = client.status(StatusRequest {}).await?.into_inner();
    let document = to_json(status);
    if json {
        print_json(&document)?;
    } else {
        print_text(&human(&document))?;
    }
    Ok(Answer::Yes)
}

fn source_kind(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::File => "file",
        SourceKind::Git => "git",
        SourceKind::Controller => "controller",
        SourceKind::Unspecified => "unknown",
    }
}

fn outcome(outcome: ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::Applied => "applied",
        ApplyOutcome::Unchanged => "unchanged",
        ApplyOutcome::Rejected => "rejected",
        ApplyOutcome::Failed => "failed",
        ApplyOutcome::Unspecified => "none",
    }
}

fn apply_json(result: ApplyResult) -> ApplyJson {
    ApplyJson {
        outcome: outcome(result.outcome()),
        time: time(result.time.as_ref()).map(rfc3339),
        revision: result.revision,
        message: result.message,
        actions: result.actions,
        diagnostics: result.diagnostics.into_iter().map(Into::into).collect(),
    }
}

fn to_json(status: StatusResponse) -> StatusJson {
    let kind = match status.kind() {
        DaemonKind::Vrouter => "vrouter",
        DaemonKind::Node | DaemonKind::Unspecified => "node",
    };
    let source = status.source.unwrap_or_default();
    let peers = status.peers.unwrap_or_default();
    let live = status.live_views.unwrap_or_default();
    StatusJson {
        kind,
        public_key: key_text(&status.public_key),
        applied_at: time(status.applied_at.as_ref()).map(rfc3339),
        last_apply: status.last_apply.map(apply_json),
        started_at: time(status.started_at.as_ref()).map(rfc3339),
        uptime_seconds: duration(status.uptime.as_ref()).map_or(0, |d| d.as_secs()),
        source: SourceJson {
            kind: source_kind(source.kind()),
            location: source.location,
            branch: source.branch,
            path: source.path,
            last_error: source.last_error,
        },
        peers: PeersJson {
            total: peers.total,
            connected: peers.connected,
            direct: peers.direct,
            relayed: peers.relayed,
        },
        name: status.name,
        network: status.network,
        tenant: status.tenant,
        addresses: status.addresses,
        tun: status.tun,
        listen_port: status.listen_port,
        revision: status.revision,
        version: status.version,
        drops: status.drops.into_iter().collect(),
        live_views: LiveViewsJson {
            open: live.open,
            opened: live.opened,
            slow_dropped: live.slow_dropped,
        },
    }
}

fn human(s: &StatusJson) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<12} {value}\n"));
    line(
        s.kind,
        format!("{} (network {}, tenant {})", s.name, s.network, s.tenant),
    );
    line("addresses", s.addresses.join(", "));
    line("public key", s.public_key.clone());
    line("tun", format!("{} (udp {})", s.tun, s.listen_port));
    let mut source = format!("{} {}", s.source.kind, s.source.location);
    if !s.source.branch.is_empty() {
        source.push_str(&format!(
            " branch {} path {}",
            s.source.branch, s.source.path
        ));
    }
    if !s.source.last_error.is_empty() {
        source.push_str(&format!(" (error: {})", s.source.last_error));
    }
    line("source", source);
    let revision = if s.revision.is_empty() {
        "none applied yet".to_owned()
    } else {
        s.revision.clone()
    };
    line("revision", revision);
    if let Some(apply) = &s.last_apply {
        line(
            "last apply",
            format!("{} {}: {}", apply.outcome, apply.revision, apply.message),
        );
        for d in &apply.diagnostics {
            line(
                "",
                format!(
                    "{}:{}:{}: {}[{}]: {}",
                    d.file, d.line, d.column, d.severity, d.code, d.message
                ),
            );
        }
    }
    line(
        "peers",
        format!(
            "{} configured, {} connected ({} direct, {} relayed)",
            s.peers.total, s.peers.connected, s.peers.direct, s.peers.relayed
        ),
    );
    line(
        "uptime",
        age(std::time::Duration::from_secs(s.uptime_seconds)),
    );
    if !s.drops.is_empty() {
        let drops: Vec<String> = s.drops.iter().map(|(r, n)| format!("{r} {n}")).collect();
        line("dropped", drops.join(", "));
    }
    line(
        "live views",
        format!(
            "{} open ({} since start, {} dropped for not reading)",
            s.live_views.open, s.live_views.opened, s.live_views.slow_dropped
        ),
    );
    line("version", s.version.clone());
    out
}
