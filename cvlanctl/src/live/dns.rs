//! `cvlanctl dns status`: where the node's resolver answers, for which domain, how many
//! records, how the host's resolver reaches it, and the queries it has seen.

use cvlan_proto::v1::{DnsStatusRequest, DnsStatusResponse, HostDnsMode};
use serde::Serialize;

use crate::live::Client;
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_text};

/// The JSON document of `dns status --json`.
#[derive(Debug, Serialize)]
struct DnsJson {
    /// False when the network has no `dns domain=` (no resolver runs).
    enabled: bool,
    domain: Option<String>,
    /// "ADDRESS:PORT", UDP and TCP.
    listen: Option<String>,
    serving: bool,
    records: u32,
    /// Why it does not serve though it should.
    error: Option<String>,
    host: HostJson,
    queries: QueriesJson,
}

#[derive(Debug, Serialize)]
struct HostJson {
    /// `systemd-resolved`, `manual`, `failed` or `off`.
    mode: &'static str,
    link: Option<String>,
    /// For manual: what to add; for failed: why.
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct QueriesJson {
    answered: u64,
    nxdomain: u64,
    refused: u64,
    other: u64,
    malformed: u64,
    oversized: u64,
}

fn document(r: DnsStatusResponse) -> DnsJson {
    let some = |s: String| (!s.is_empty()).then_some(s);
    let c = r.counters.unwrap_or_default();
    DnsJson {
        enabled: !r.domain.is_empty(),
        host: HostJson {
            mode: match r.host_mode() {
                HostDnsMode::SystemdResolved => "systemd-resolved",
                HostDnsMode::Manual => "manual",
                HostDnsMode::Failed => "failed",
                HostDnsMode::Off | HostDnsMode::Unspecified => "off",
            },
            link: some(r.host_link),
            detail: some(r.host_detail),
        },
        domain: some(r.domain),
        listen: some(r.listen),
        serving: r.serving,
        records: r.records,
        error: some(r.error),
        queries: QueriesJson {
            answered: c.answered,
            nxdomain: c.nxdomain,
            refused: c.refused,
            other: c.other,
            malformed: c.malformed,
            oversized: c.oversized,
        },
    }
}

fn text(d: &DnsJson) -> String {
    let Some(domain) = &d.domain else {
        return "no resolver: the network has no `dns domain=`\n".to_owned();
    };
    let listen = d.listen.as_deref().unwrap_or("-");
    let state = if d.serving { "serving" } else { "not serving" };
    let mut out = format!(
        "domain   {domain}\nlisten   {listen} (UDP and TCP), {state}\nrecords  {}\n",
        d.records
    );
    if let Some(error) = &d.error {
        out.push_str(&format!("error    {error}\n"));
    }
    let host = match (d.host.mode, &d.host.link, &d.host.detail) {
        ("systemd-resolved", Some(link), _) => {
            format!("systemd-resolved routes ~{domain} to it through {link}")
        }
        (mode, _, Some(detail)) => format!("{mode}: {detail}"),
        (mode, _, None) => mode.to_owned(),
    };
    out.push_str(&format!("host     {host}\n"));
    let q = &d.queries;
    out.push_str(&format!(
        "queries  {} answered, {} nxdomain, {} refused, {} other; dropped {} malformed, {} oversized\n",
        q.answered, q.nxdomain, q.refused, q.other, q.malformed, q.oversized
    ));
    out
}

/// Runs `dns status`.
pub async fn status(mut client: Client, json: bool) -> Outcome {
    let response = client
        .dns_status(DnsStatusRequest {})
        .await
        .map_err(crate::outcome::Failure::from)?
        .into_inner();
    let document = document(response);
    if json {
        print_json(&document)?;
    } else {
        print_text(&text(&document))?;
    }
    Ok(Answer::Yes)
}
