//! `cvlanctl sas`: a vrouter's IKE SAs and their child SAs, laid out like `swanctl --list-sas`,
//! then its IKE/ESP counters with the datagrams it dropped by reason.

use std::collections::BTreeMap;

use cvlan_proto::v1::{ChildSa, ChildSaState, IkeSa, IkeSaState, IpsecCounters, SasRequest};
use serde::Serialize;

use crate::live::{Client, duration, rfc3339, since, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_text};

/// The JSON document of `sas --json`.
#[derive(Debug, Serialize)]
struct SasJson {
    sas: Vec<IkeSaJson>,
    counters: CountersJson,
}

/// One IKE SA in JSON.
#[derive(Debug, Serialize)]
struct IkeSaJson {
    peer: String,
    unique_id: u64,
    /// `connecting`, `established`, `rekeying` or `deleting`.
    state: &'static str,
    initiator: bool,
    local_address: String,
    remote_address: String,
    local_id: String,
    remote_id: String,
    /// 16 hex digits.
    initiator_spi: String,
    responder_spi: String,
    encryption: String,
    integrity: Option<String>,
    prf: String,
    dh_group: String,
    nat_local: bool,
    nat_remote: bool,
    established_at: Option<String>,
    established_seconds: Option<u64>,
    rekey_in_seconds: Option<u64>,
    children: Vec<ChildSaJson>,
}

/// One child SA in JSON.
#[derive(Debug, Serialize)]
struct ChildSaJson {
    name: String,
    unique_id: u64,
    /// `created`, `installed`, `rekeying`, `rekeyed` or `deleting`.
    state: &'static str,
    /// 8 hex digits.
    spi_in: String,
    spi_out: String,
    encryption: String,
    integrity: Option<String>,
    dh_group: Option<String>,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    bytes_in: u64,
    packets_in: u64,
    bytes_out: u64,
    packets_out: u64,
    installed_at: Option<String>,
    installed_seconds: Option<u64>,
    rekey_in_seconds: Option<u64>,
}

/// The counters in JSON.
#[derive(Debug, Default, Serialize)]
struct CountersJson {
    ike_in: u64,
    ike_out: u64,
    retransmits: u64,
    esp_in: u64,
    esp_out: u64,
    keepalives_in: u64,
    keepalives_out: u64,
    dropped: BTreeMap<String, u64>,
    dropped_total: u64,
    half_open: u32,
    tun_in: u64,
    tun_out: u64,
    tun_no_route: u64,
    tun_no_child_sa: u64,
}

/// Runs `sas`, only `peer`'s SAs when given.
pub async fn run(mut client: Client, peer: Option<String>, json: bool) -> Outcome {
    let response = client
        .sas(SasRequest {
            peer: peer.unwrap_or_default(),
        })
        .await?
        .into_inner();
    let document = SasJson {
        sas: response.sas.into_iter().map(ike_json).collect(),
        counters: response.counters.map(counters_json).unwrap_or_default(),
    };
    if json {
        print_json(&document)?;
    } else {
        print_text(&human(&document))?;
    }
    Ok(Answer::Yes)
}

fn ike_state(state: IkeSaState) -> &'static str {
    match state {
        IkeSaState::Connecting | IkeSaState::Unspecified => "connecting",
        IkeSaState::Established => "established",
        IkeSaState::Rekeying => "rekeying",
        IkeSaState::Deleting => "deleting",
    }
}

fn child_state(state: ChildSaState) -> &'static str {
    match state {
        ChildSaState::Created | ChildSaState::Unspecified => "created",
        ChildSaState::Installed => "installed",
        ChildSaState::Rekeying => "rekeying",
        ChildSaState::Rekeyed => "rekeyed",
        ChildSaState::Deleting => "deleting",
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn ike_json(sa: IkeSa) -> IkeSaJson {
    let established = time(sa.established_at.as_ref());
    IkeSaJson {
        state: ike_state(sa.state()),
        initiator_spi: format!("{:016x}", sa.initiator_spi),
        responder_spi: format!("{:016x}", sa.responder_spi),
        integrity: non_empty(sa.integrity),
        established_at: established.map(rfc3339),
        established_seconds: established.map(|t| since(t).as_secs()),
        rekey_in_seconds: duration(sa.rekey_in.as_ref()).map(|d| d.as_secs()),
        children: sa.children.into_iter().map(child_json).collect(),
        peer: sa.peer,
        unique_id: sa.unique_id,
        initiator: sa.initiator,
        local_address: sa.local_address,
        remote_address: sa.remote_address,
        local_id: sa.local_id,
        remote_id: sa.remote_id,
        encryption: sa.encryption,
        prf: sa.prf,
        dh_group: sa.dh_group,
        nat_local: sa.nat_local,
        nat_remote: sa.nat_remote,
    }
}

fn child_json(c: ChildSa) -> ChildSaJson {
    let installed = time(c.installed_at.as_ref());
    ChildSaJson {
        state: child_state(c.state()),
        spi_in: format!("{:08x}", c.spi_in),
        spi_out: format!("{:08x}", c.spi_out),
        integrity: non_empty(c.integrity),
        dh_group: non_empty(c.dh_group),
        installed_at: installed.map(rfc3339),
        installed_seconds: installed.map(|t| since(t).as_secs()),
        rekey_in_seconds: duration(c.rekey_in.as_ref()).map(|d| d.as_secs()),
        name: c.name,
        unique_id: c.unique_id,
        encryption: c.encryption,
        local_ts: c.local_ts,
        remote_ts: c.remote_ts,
        bytes_in: c.bytes_in,
        packets_in: c.packets_in,
        bytes_out: c.bytes_out,
        packets_out: c.packets_out,
    }
}

fn counters_json(c: IpsecCounters) -> CountersJson {
    CountersJson {
        ike_in: c.ike_in,
        ike_out: c.ike_out,
        retransmits: c.retransmits,
        esp_in: c.esp_in,
        esp_out: c.esp_out,
        keepalives_in: c.keepalives_in,
        keepalives_out: c.keepalives_out,
        dropped: c.dropped.into_iter().collect(),
        dropped_total: c.dropped_total,
        half_open: c.half_open,
        tun_in: c.tun_in,
        tun_out: c.tun_out,
        tun_no_route: c.tun_no_route,
        tun_no_child_sa: c.tun_no_child_sa,
    }
}

/// `ip[port]` as swanctl writes an address.
fn swan_address(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((ip, port)) => format!(
            "{}[{port}]",
            ip.trim_start_matches('[').trim_end_matches(']')
        ),
        None => addr.to_owned(),
    }
}

fn human(doc: &SasJson) -> String {
    let mut out = String::new();
    if doc.sas.is_empty() {
        out.push_str("no IKE SAs\n");
    }
    for sa in &doc.sas {
        let (mark_i, mark_r) = if sa.initiator { ("*", "") } else { ("", "*") };
        out.push_str(&format!(
            "{}: #{}, {}, IKEv2, {}_i{mark_i} {}_r{mark_r}\n",
            sa.peer,
            sa.unique_id,
            sa.state.to_uppercase(),
            sa.initiator_spi,
            sa.responder_spi
        ));
        out.push_str(&format!(
            "  local  '{}' @ {}\n  remote '{}' @ {}\n",
            sa.local_id,
            swan_address(&sa.local_address),
            sa.remote_id,
            swan_address(&sa.remote_address)
        ));
        if !sa.encryption.is_empty() {
            let mut algorithms = vec![sa.encryption.clone()];
            algorithms.extend(sa.integrity.clone());
            algorithms.extend([sa.prf.clone(), sa.dh_group.clone()]);
            out.push_str(&format!("  {}\n", algorithms.join("/")));
        }
        if let Some(age) = sa.established_seconds {
            let nat = match (sa.nat_local, sa.nat_remote) {
                (true, true) => ", NAT on both sides",
                (true, false) => ", we are behind NAT",
                (false, true) => ", peer behind NAT",
                (false, false) => "",
            };
            out.push_str(&format!(
                "  established {age}s ago{}{nat}\n",
                sa.rekey_in_seconds
                    .map(|r| format!(", rekeying in {r}s"))
                    .unwrap_or_default()
            ));
        }
        for c in &sa.children {
            let mut esp = vec![c.encryption.clone()];
            esp.extend(c.integrity.clone());
            esp.extend(c.dh_group.clone());
            out.push_str(&format!(
                "  {}: #{}, {}, TUNNEL-in-UDP, ESP:{}\n",
                c.name,
                c.spi_in,
                c.state.to_uppercase(),
                esp.join("/")
            ));
            out.push_str(&format!(
                "    installed {}s ago{}\n",
                c.installed_seconds.unwrap_or(0),
                c.rekey_in_seconds
                    .map(|r| format!(", rekeying in {r}s"))
                    .unwrap_or_default()
            ));
            out.push_str(&format!(
                "    in  {}, {:>10} bytes, {:>8} packets\n    out {}, {:>10} bytes, {:>8} packets\n",
                c.spi_in, c.bytes_in, c.packets_in, c.spi_out, c.bytes_out, c.packets_out
            ));
            out.push_str(&format!(
                "    local  {}\n    remote {}\n",
                c.local_ts.join(" "),
                c.remote_ts.join(" ")
            ));
        }
    }
    let c = &doc.counters;
    out.push_str(&format!(
        "counters: ike {} in / {} out ({} retransmitted), esp {} in / {} out, {} half-open\n",
        c.ike_in, c.ike_out, c.retransmits, c.esp_in, c.esp_out, c.half_open
    ));
    let dropped: Vec<String> = c.dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.push_str(&format!(
        "dropped: {}{}\n",
        c.dropped_total,
        if dropped.is_empty() {
            String::new()
        } else {
            format!(" ({})", dropped.join(", "))
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_swanctl_writes_them() {
        assert_eq!(swan_address("10.0.0.1:4500"), "10.0.0.1[4500]");
        assert_eq!(swan_address("[fd00::1]:500"), "fd00::1[500]");
    }

    #[test]
    fn an_sa_prints_like_swanctl_list_sas() {
        let doc = SasJson {
            sas: vec![IkeSaJson {
                peer: "br".into(),
                unique_id: 3,
                state: "established",
                initiator: true,
                local_address: "10.0.0.1:4500".into(),
                remote_address: "10.0.0.2:4500".into(),
                local_id: "gw.example".into(),
                remote_id: "br.example".into(),
                initiator_spi: "00000000000000aa".into(),
                responder_spi: "00000000000000bb".into(),
                encryption: "AES_CBC-256".into(),
                integrity: Some("HMAC_SHA2_256_128".into()),
                prf: "PRF_HMAC_SHA2_256".into(),
                dh_group: "MODP_2048".into(),
                nat_local: false,
                nat_remote: true,
                established_at: None,
                established_seconds: Some(12),
                rekey_in_seconds: Some(3600),
                children: vec![ChildSaJson {
                    name: "br".into(),
                    unique_id: 1,
                    state: "installed",
                    spi_in: "c1a2b3c4".into(),
                    spi_out: "5d6e7f80".into(),
                    encryption: "AES_GCM_16-256".into(),
                    integrity: None,
                    dh_group: None,
                    local_ts: vec!["10.1.0.0/24".into()],
                    remote_ts: vec!["10.2.0.0/24".into()],
                    bytes_in: 84,
                    packets_in: 1,
                    bytes_out: 168,
                    packets_out: 2,
                    installed_at: None,
                    installed_seconds: Some(12),
                    rekey_in_seconds: Some(3000),
                }],
            }],
            counters: CountersJson {
                dropped: [("truncated".to_owned(), 2)].into_iter().collect(),
                dropped_total: 2,
                ..Default::default()
            },
        };
        let text = human(&doc);
        assert!(
            text.starts_with(
                "br: #3, ESTABLISHED, IKEv2, 00000000000000aa_i* 00000000000000bb_r\n"
            )
        );
        assert!(text.contains("  local  'gw.example' @ 10.0.0.1[4500]\n"));
        assert!(text.contains("  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048\n"));
        assert!(text.contains("established 12s ago, rekeying in 3600s, peer behind NAT"));
        assert!(text.contains("  br: #c1a2b3c4, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256\n"));
        assert!(text.contains("    in  c1a2b3c4,         84 bytes,        1 packets\n"));
        assert!(text.contains("    remote 10.2.0.0/24\n"));
        assert!(text.ends_with("dropped: 2 (truncated 2)\n"));
    }
}
