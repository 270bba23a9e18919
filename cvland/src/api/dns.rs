//! DnsStatus: the resolver's state as the reconciler last left it, with the live counters.

use cvlan_agent::dns::Report;
use cvlan_agent::dns::split::HostDns;
use cvlan_proto::v1;

/// The wire form of `report`.
pub fn status(report: Report) -> v1::DnsStatusResponse {
    let (mode, link, detail) = match report.host {
        HostDns::Off => (v1::HostDnsMode::Off, String::new(), String::new()),
        HostDns::Resolved { link } => (v1::HostDnsMode::SystemdResolved, link, String::new()),
        HostDns::Manual { hint } => (v1::HostDnsMode::Manual, String::new(), hint),
        HostDns::Failed { error } => (v1::HostDnsMode::Failed, String::new(), error),
    };
    let c = report.counts;
    v1::DnsStatusResponse {
        domain: report.domain.unwrap_or_default(),
        listen: report.listen.map(|l| l.to_string()).unwrap_or_default(),
        serving: report.serving,
        records: u32::try_from(report.records).unwrap_or(u32::MAX),
        error: report.error.unwrap_or_default(),
        host_mode: mode.into(),
        host_link: link,
        host_detail: detail,
        counters: Some(v1::DnsCounters {
            answered: c.answered,
            nxdomain: c.nxdomain,
            refused: c.refused,
            other: c.other,
            malformed: c.malformed,
            oversized: c.oversized,
        }),
    }
}
