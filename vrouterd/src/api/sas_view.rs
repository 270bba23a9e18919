//! The local API's view of the data plane: IKE and child SAs as `swanctl --list-sas` names
//! them (`AES_GCM_16-256`, `PRF_HMAC_SHA2_256`, `CURVE_25519`), and the counters.

use std::time::{Duration, SystemTime};

use cvlan_ipsec::transforms::{DhGroup, Encryption, Integrity, Prf};
use cvlan_ipsec::{ChildSaInfo, DropReason, IkeSaInfo, IkeState};
use cvlan_proto::v1::{self, ChildSaState, IkeSaState};

use crate::dataplane::{SasSnapshot, ts_text};

/// The `Sas` answer for `snapshot` read at `now`, only peer `peer` when not empty.
pub fn sas_response(snapshot: &SasSnapshot, now: SystemTime, peer: &str) -> v1::SasResponse {
    let mut sas: Vec<v1::IkeSa> = snapshot
        .sas
        .iter()
        .filter(|sa| peer.is_empty() || sa.peer_name.as_deref() == Some(peer))
        .map(|sa| ike_sa(sa, now))
        .collect();
    sas.sort_by(|a, b| a.peer.cmp(&b.peer).then(a.unique_id.cmp(&b.unique_id)));
    v1::SasResponse {
        sas,
        time: Some(now.into()),
        counters: Some(counters(snapshot)),
    }
}

/// What the data plane dropped, by reason, for `Status.drops`: every IKE/ESP drop reason
/// seen, and TUN packets with no peer (`no_route`) or no child SA (`no_child_sa`).
pub fn status_drops(s: &SasSnapshot) -> std::collections::HashMap<String, u64> {
    let mut drops = dropped(&s.stats);
    for (reason, n) in [
        ("no_route", s.counters.no_route),
        ("no_child_sa", s.counters.no_child_sa),
    ] {
        if n > 0 {
            drops.insert(reason.to_owned(), n);
        }
    }
    drops
}

fn dropped(stats: &cvlan_ipsec::Stats) -> std::collections::HashMap<String, u64> {
    DropReason::ALL
        .iter()
        .filter(|r| stats.dropped(**r) > 0)
        .map(|r| (r.name().to_owned(), stats.dropped(*r)))
        .collect()
}

fn counters(s: &SasSnapshot) -> v1::IpsecCounters {
    let stats = &s.stats;
    v1::IpsecCounters {
        ike_in: stats.ike_in,
        ike_out: stats.ike_out,
        retransmits: stats.retransmits,
        esp_in: stats.esp_in,
        esp_out: stats.esp_out,
        keepalives_in: stats.keepalives_in,
        keepalives_out: stats.keepalives_out,
        dropped: dropped(stats),
        dropped_total: stats.dropped_total(),
        half_open: s
            .sas
            .iter()
            .filter(|sa| sa.established_for.is_none())
            .count() as u32,
        tun_in: s.counters.tun_in,
        tun_out: s.counters.tun_out,
        tun_no_route: s.counters.no_route,
        tun_no_child_sa: s.counters.no_child_sa,
    }
}

/// The state an operator sees of an IKE SA in `state` (the API's and the metrics' names).
pub fn ike_state(state: IkeState) -> IkeSaState {
    match state {
        IkeState::InitSent | IkeState::AuthSent | IkeState::InitReplied => IkeSaState::Connecting,
        IkeState::Established => IkeSaState::Established,
        IkeState::Rekeyed => IkeSaState::Rekeying,
        IkeState::Deleting | IkeState::Dead => IkeSaState::Deleting,
    }
}

fn ike_sa(sa: &IkeSaInfo, now: SystemTime) -> v1::IkeSa {
    let state = ike_state(sa.state);
    let proposal = sa.proposal;
    v1::IkeSa {
        peer: sa.peer_name.clone().unwrap_or_default(),
        unique_id: sa.id.0,
        state: state.into(),
        initiator: sa.initiator,
        local_address: sa.local.to_string(),
        remote_address: sa.remote.to_string(),
        local_id: sa.local_id.clone().unwrap_or_default(),
        remote_id: sa.remote_id.clone().unwrap_or_default(),
        initiator_spi: sa.spi_i,
        responder_spi: sa.spi_r,
        encryption: proposal
            .map(|p| encryption(p.encryption))
            .unwrap_or_default(),
        integrity: proposal
            .and_then(|p| p.integrity.filter(|_| !p.encryption.is_aead()))
            .map(integrity)
            .unwrap_or_default(),
        prf: proposal.map(|p| prf(p.prf)).unwrap_or_default(),
        dh_group: proposal.map(|p| dh(p.dh)).unwrap_or_default(),
        nat_local: sa.nat_local,
        nat_remote: sa.nat_remote,
        established_at: sa.established_for.map(|d| ago(now, d)),
        rekey_in: sa.rekey_in.map(proto_duration),
        last_inbound: None,
        children: sa.children.iter().map(|c| child_sa(sa, c, now)).collect(),
    }
}

fn child_sa(ike: &IkeSaInfo, c: &ChildSaInfo, now: SystemTime) -> v1::ChildSa {
    let state = match (c.outbound_active, c.rekey_in) {
        (true, _) => ChildSaState::Installed,
        (false, Some(_)) => ChildSaState::Created,
        (false, None) => ChildSaState::Rekeyed,
    };
    let p = c.proposal;
    v1::ChildSa {
        name: ike.peer_name.clone().unwrap_or_default(),
        unique_id: u64::from(c.spi_in),
        state: state.into(),
        spi_in: c.spi_in,
        spi_out: c.spi_out,
        encryption: encryption(p.encryption),
        integrity: p
            .integrity
            .filter(|_| !p.encryption.is_aead())
            .map(integrity)
            .unwrap_or_default(),
        dh_group: p.dh.map(dh).unwrap_or_default(),
        local_ts: c.local_ts.iter().map(ts_text).collect(),
        remote_ts: c.remote_ts.iter().map(ts_text).collect(),
        bytes_in: c.counters.bytes_in,
        packets_in: c.counters.packets_in,
        bytes_out: c.counters.bytes_out,
        packets_out: c.counters.packets_out,
        dropped_in: 0,
        installed_at: Some(ago(now, c.installed_for)),
        rekey_in: c.rekey_in.map(proto_duration),
        expires_in: None,
    }
}

fn ago(now: SystemTime, d: Duration) -> cvlan_proto::prost_types::Timestamp {
    now.checked_sub(d).unwrap_or(now).into()
}

fn proto_duration(d: Duration) -> cvlan_proto::prost_types::Duration {
    cvlan_proto::prost_types::Duration::try_from(d).unwrap_or_default()
}

/// strongSwan's name of an encryption algorithm with its key size.
pub fn encryption(e: Encryption) -> String {
    match e {
        Encryption::AesGcm16 { key_bits } => format!("AES_GCM_16-{key_bits}"),
        Encryption::AesCbc { key_bits } => format!("AES_CBC-{key_bits}"),
    }
}

/// strongSwan's name of an integrity algorithm.
pub fn integrity(i: Integrity) -> String {
    match i {
        Integrity::HmacSha256_128 => "HMAC_SHA2_256_128",
        Integrity::HmacSha384_192 => "HMAC_SHA2_384_192",
        Integrity::HmacSha512_256 => "HMAC_SHA2_512_256",
    }
    .to_owned()
}

/// strongSwan's name of a PRF.
pub fn prf(p: Prf) -> String {
    match p {
        Prf::HmacSha256 => "PRF_HMAC_SHA2_256",
        Prf::HmacSha384 => "PRF_HMAC_SHA2_384",
        Prf::HmacSha512 => "PRF_HMAC_SHA2_512",
    }
    .to_owned()
}

/// strongSwan's name of a Diffie-Hellman group.
pub fn dh(g: DhGroup) -> String {
    match g {
        DhGroup::Curve25519 => "CURVE_25519",
        DhGroup::Ecp256 => "ECP_256",
        DhGroup::Modp2048 => "MODP_2048",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_follow_swanctl() {
        assert_eq!(
            encryption(Encryption::AesGcm16 { key_bits: 256 }),
            "AES_GCM_16-256"
        );
        assert_eq!(
            encryption(Encryption::AesCbc { key_bits: 128 }),
            "AES_CBC-128"
        );
        assert_eq!(integrity(Integrity::HmacSha256_128), "HMAC_SHA2_256_128");
        assert_eq!(prf(Prf::HmacSha384), "PRF_HMAC_SHA2_384");
        assert_eq!(dh(DhGroup::Modp2048), "MODP_2048");
    }
}
