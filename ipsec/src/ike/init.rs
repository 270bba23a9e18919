//! The IKE_SA_INIT exchange (RFC 7296 section 1.2): the initiator's request with cookie and
//! INVALID_KE_PAYLOAD retries, the responder's stateless checks (version, cookies under
//! load, proposal, KE group) before any state exists, and the key derivation that follows.

use std::net::SocketAddr;

use super::config::PeerId;
use super::event::{DropReason, Received, SaError, Side};
use super::nat::{COOKIE_LEN, cookie, natd_hash};
use super::sa::{Ctx, IkeSa, IkeState, Pending, error_notify, notify};
use crate::crypto::dh::DhPrivate;
use crate::crypto::keys::{ike_keys, skeyseed};
use crate::crypto::sk::SkCrypto;
use crate::transforms::{IkeProposal, accepted_ike, choose_ike, dh_from_id, dh_id, ike_to_wire};
use crate::wire::{ExchangeType, FLAG_RESPONSE, Header, Message, NotifyType, Payload};

/// Retries of IKE_SA_INIT after COOKIE or INVALID_KE_PAYLOAD before giving up.
const MAX_INIT_RETRIES: u8 = 3;

/// The responder's cookie secrets (RFC 7296 section 2.6): the current one and the one
/// before it, so cookies stay valid across one rotation.
pub(crate) struct CookieSecrets {
    pub version: u8,
    pub current: [u8; 32],
    pub previous: [u8; 32],
}

impl CookieSecrets {
    fn valid(&self, c: &[u8], ni: &[u8], remote: SocketAddr, spi_i: u64) -> bool {
        use subtle::ConstantTimeEq;
        let Some(&v) = c.first() else { return false };
        let secret = match v {
            v if v == self.version => &self.current,
            v if v == self.version.wrapping_sub(1) => &self.previous,
            _ => return false,
        };
        c.len() == COOKIE_LEN && bool::from(cookie(v, secret, ni, remote.ip(), spi_i).ct_eq(c))
    }
}

impl IkeSa {
    /// Creates an initiator SA for `peer` and sends IKE_SA_INIT.
    pub fn initiate(
        ctx: &mut Ctx<'_>,
        peer: PeerId,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<IkeSa> {
        let cfg = ctx.peer(peer)?;
        let offered = cfg.ike_proposals.clone();
        let group = offered.first()?.dh;
        let mut sa = IkeSa::new(ctx.alloc_ike_id(), true, local, remote, ctx.now);
        sa.peer = Some(peer);
        sa.offered = offered;
        sa.spi_i = nonzero_spi(ctx);
        sa.ni = ctx.nonce();
        sa.dh = Some(DhPrivate::generate(group, ctx.rng));
        sa.send_init_request(ctx);
        Some(sa)
    }

    fn send_init_request(&mut self, ctx: &mut Ctx<'_>) {
        let Some(dh) = self.dh.as_ref() else { return };
        let mut payloads = Vec::new();
        if let Some(c) = &self.cookie {
            payloads.push(notify(NotifyType::COOKIE, c.clone()));
        }
        let proposals = self
            .offered
            .iter()
            .enumerate()
            .map(|(i, p)| ike_to_wire(p, i as u8 + 1, Vec::new()))
            .collect();
        payloads.push(Payload::Sa(proposals));
        payloads.push(Payload::Ke {
            group: dh_id(dh.group()),
            data: dh.public(),
        });
        payloads.push(Payload::Nonce(self.ni.clone()));
        payloads.extend(natd_payloads(ctx, self.spi_i, 0, self.remote));
        let bytes = self.plain_message(ExchangeType::IkeSaInit, 0, false, payloads);
        self.init_request = bytes.clone();
        self.next_msg_id = 1;
        self.send_outstanding(ctx, 0, bytes, Pending::Init);
    }

    /// The initiator handles the IKE_SA_INIT response.
    pub(crate) fn handle_init_response(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) -> Received {
        let Ok(msg) = Message::parse(bytes) else {
            return ctx.stats.drop(DropReason::Malformed);
        };
        ctx.stats.ike_in += 1;
        if let Some(n) = msg.notify(NotifyType::COOKIE) {
            if self.init_retries >= MAX_INIT_RETRIES || n.data.is_empty() || n.data.len() > 64 {
                self.fail(ctx, SaError::Protocol("cookie exchange did not converge"));
            } else {
                self.init_retries += 1;
                self.cookie = Some(n.data.clone());
                self.send_init_request(ctx);
            }
            return Received::Ike;
        }
        if let Some(n) = msg.notify(NotifyType::INVALID_KE_PAYLOAD) {
            let group = n
                .data
                .get(..2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .and_then(dh_from_id);
            match group.filter(|g| self.offered.iter().any(|p| p.dh == *g)) {
                Some(g)
                    if self.init_retries < MAX_INIT_RETRIES
                        && Some(g) != self.dh.as_ref().map(|d| d.group()) =>
                {
                    self.init_retries += 1;
                    self.dh = Some(DhPrivate::generate(g, ctx.rng));
                    self.send_init_request(ctx);
                }
                _ => self.fail(ctx, SaError::NoProposalChosen(Side::Remote)),
            }
            return Received::Ike;
        }
        if let Some(err) = error_notify(&msg) {
            let e = match err {
                NotifyType::NO_PROPOSAL_CHOSEN => SaError::NoProposalChosen(Side::Remote),
                other => SaError::PeerError(other),
            };
            self.fail(ctx, e);
            return Received::Ike;
        }
        let (Some(proposal), Some((group, ke)), Some(nr)) =
            (find_sa(&msg), find_ke(&msg), find_nonce(&msg))
        else {
            self.fail(
                ctx,
                SaError::Protocol("IKE_SA_INIT response lacks SA, KE or Nonce"),
            );
            return Received::Ike;
        };
        let chosen = match proposal {
            [one] => accepted_ike(one, &self.offered),
            _ => None,
        };
        let Some(chosen) = chosen.filter(|c| Some(dh_id(c.dh)) == Some(group)) else {
            self.fail(
                ctx,
                SaError::Protocol("responder chose a proposal we did not offer"),
            );
            return Received::Ike;
        };
        if msg.header.spi_r == 0 {
            self.fail(ctx, SaError::Protocol("responder SPI is zero"));
            return Received::Ike;
        }
        let shared = match self.dh.as_ref().map(|d| d.shared(ke)) {
            Some(Ok(s)) => s,
            _ => {
                self.fail(ctx, SaError::Protocol("invalid KE value"));
                return Received::Ike;
            }
        };
        self.outstanding = None;
        self.spi_r = msg.header.spi_r;
        self.nr = nr.to_vec();
        self.init_response = bytes.to_vec();
        self.dh = None;
        if !self.derive_keys(chosen, &shared) {
            self.fail(ctx, SaError::Protocol("key derivation"));
            return Received::Ike;
        }
        self.detect_nat(&msg, self.spi_r);
        if self.natd_present(&msg) {
            self.local.set_port(ctx.config.natt_port);
            self.remote.set_port(ctx.config.natt_port);
        }
        self.send_auth_request(ctx);
        Received::Ike
    }

    /// Derives SKEYSEED and the SK_* keys of a new IKE SA.
    pub(crate) fn derive_keys(&mut self, chosen: IkeProposal, shared: &[u8]) -> bool {
        let seed = skeyseed(chosen.prf, &self.ni, &self.nr, shared);
        self.install_keys(chosen, &seed)
    }

    /// Installs the SK_* keys derived from `seed`.
    pub(crate) fn install_keys(&mut self, chosen: IkeProposal, seed: &[u8]) -> bool {
        let keys = ike_keys(&chosen, seed, &self.ni, &self.nr, self.spi_i, self.spi_r);
        let Some(sk) = SkCrypto::new(&keys, &chosen, self.initiator) else {
            return false;
        };
        self.sk = Some(sk);
        self.proposal = Some(chosen);
        self.sk_d = keys.d;
        self.sk_pi = keys.pi;
        self.sk_pr = keys.pr;
        true
    }

    fn natd_present(&self, msg: &Message) -> bool {
        msg.notify(NotifyType::NAT_DETECTION_SOURCE_IP).is_some()
            && msg
                .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
                .is_some()
    }

    /// Compares the peer's NAT detection hashes with the addresses we see.
    /// `spi_r` is the responder SPI the hashes were made with (zero in the request).
    fn detect_nat(&mut self, msg: &Message, spi_r: u64) {
        if !self.natd_present(msg) {
            return;
        }
        let theirs_of_us = natd_hash(self.spi_i, spi_r, self.local);
        self.nat_local = msg
            .notify(NotifyType::NAT_DETECTION_DESTINATION_IP)
            .is_some_and(|n| n.data != theirs_of_us);
        let of_them = natd_hash(self.spi_i, spi_r, self.remote);
        self.nat_remote = !msg.payloads.iter().any(|p| {
            matches!(p, Payload::Notify(n) if n.kind == NotifyType::NAT_DETECTION_SOURCE_IP && n.data == of_them)
        });
    }
}

/// A random nonzero IKE SPI.
pub(crate) fn nonzero_spi(ctx: &mut Ctx<'_>) -> u64 {
    loop {
        let s = ctx.rng.next_u64();
        if s != 0 {
            return s;
        }
    }
}

/// NAT_DETECTION_SOURCE_IP (deliberately not matching, so the peer always uses UDP
/// encapsulation: ESP here only exists inside UDP) and NAT_DETECTION_DESTINATION_IP.
pub(crate) fn natd_payloads(
    ctx: &mut Ctx<'_>,
    spi_i: u64,
    spi_r: u64,
    remote: SocketAddr,
) -> [Payload; 2] {
    let mut fake = vec![0u8; 20];
    ctx.rng.fill_bytes(&mut fake);
    [
        notify(NotifyType::NAT_DETECTION_SOURCE_IP, fake),
        notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            natd_hash(spi_i, spi_r, remote),
        ),
    ]
}

pub(crate) fn find_sa(msg: &Message) -> Option<&[crate::wire::Proposal]> {
    msg.payloads.iter().find_map(|p| match p {
        Payload::Sa(s) => Some(s.as_slice()),
        _ => None,
    })
}

pub(crate) fn find_ke(msg: &Message) -> Option<(u16, &[u8])> {
    msg.payloads.iter().find_map(|p| match p {
        Payload::Ke { group, data } => Some((*group, data.as_slice())),
        _ => None,
    })
}

pub(crate) fn find_nonce(msg: &Message) -> Option<&[u8]> {
    msg.payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.as_slice()),
        _ => None,
    })
}

/// Answers an IKE_SA_INIT request without creating state.
fn stateless_reply(
    ctx: &mut Ctx<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    req: &Header,
    kind: NotifyType,
    data: Vec<u8>,
) {
    let header = Header {
        spi_r: 0,
        flags: FLAG_RESPONSE,
        version: 0x20,
        message_id: 0,
        ..*req
    };
    let bytes = Message {
        header,
        payloads: vec![notify(kind, data)],
    }
    .encode();
    let out = super::sa::with_marker(ctx.config, local, &bytes);
    ctx.stats.ike_out += 1;
    ctx.transmits.push_back(super::event::Transmit {
        src: local,
        dst: remote,
        bytes: out,
    });
}

/// The responder's handling of a new IKE_SA_INIT request; returns the half-open SA when
/// every check passed.
pub(crate) fn respond_init(
    ctx: &mut Ctx<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    bytes: &[u8],
    cookies: Option<&CookieSecrets>,
) -> Result<IkeSa, Received> {
    let header = Header::parse(bytes).map_err(|_| ctx.stats.drop(DropReason::Malformed))?;
    if header.check_version().is_err() {
        stateless_reply(
            ctx,
            local,
            remote,
            &header,
            NotifyType::INVALID_MAJOR_VERSION,
            Vec::new(),
        );
        return Err(ctx.stats.drop(DropReason::BadVersion));
    }
    let msg = match Message::parse(bytes) {
        Ok(m) => m,
        Err(crate::wire::WireError::UnsupportedCritical(t)) => {
            stateless_reply(
                ctx,
                local,
                remote,
                &header,
                NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                vec![t],
            );
            return Err(ctx.stats.drop(DropReason::UnsupportedCritical));
        }
        Err(_) => return Err(ctx.stats.drop(DropReason::Malformed)),
    };
    let (Some(offered), Some((group, ke)), Some(ni)) =
        (find_sa(&msg), find_ke(&msg), find_nonce(&msg))
    else {
        stateless_reply(
            ctx,
            local,
            remote,
            &header,
            NotifyType::INVALID_SYNTAX,
            Vec::new(),
        );
        return Err(ctx.stats.drop(DropReason::Malformed));
    };
    if let Some(secrets) = cookies {
        match msg.notify(NotifyType::COOKIE) {
            Some(c) if secrets.valid(&c.data, ni, remote, header.spi_i) => {}
            Some(_) => return Err(ctx.stats.drop(DropReason::InvalidCookie)),
            None => {
                let c = cookie(
                    secrets.version,
                    &secrets.current,
                    ni,
                    remote.ip(),
                    header.spi_i,
                );
                stateless_reply(ctx, local, remote, &header, NotifyType::COOKIE, c);
                return Err(ctx.stats.drop(DropReason::CookieRequired));
            }
        }
    }
    // Candidate peers: those pinned to this address first, then dial-in (%any) peers.
    let mut candidates: Vec<PeerId> = Vec::new();
    for pinned in [true, false] {
        for (i, p) in ctx.peers.iter().enumerate() {
            let Some(p) = p else { continue };
            let is_pinned = p.remote.is_pinned();
            if is_pinned == pinned && p.accepts_from(remote.ip()) {
                candidates.push(PeerId(i as u32));
            }
        }
    }
    let ours: Vec<IkeProposal> = candidates
        .iter()
        .filter_map(|c| ctx.peer(*c))
        .flat_map(|p| p.ike_proposals.clone())
        .collect();
    let Some((chosen, num)) = choose_ike(offered, &ours) else {
        stateless_reply(
            ctx,
            local,
            remote,
            &header,
            NotifyType::NO_PROPOSAL_CHOSEN,
            Vec::new(),
        );
        let peer = (candidates.len() == 1).then(|| candidates[0]);
        let error = if candidates.is_empty() {
            SaError::NoMatchingPeer
        } else {
            SaError::NoProposalChosen(Side::Local)
        };
        ctx.events.push_back(super::event::Event::IkeSaFailed {
            peer,
            remote,
            error,
        });
        return Err(ctx.stats.drop(if candidates.is_empty() {
            DropReason::NoPeer
        } else {
            DropReason::NoProposal
        }));
    };
    if group != dh_id(chosen.dh) {
        stateless_reply(
            ctx,
            local,
            remote,
            &header,
            NotifyType::INVALID_KE_PAYLOAD,
            dh_id(chosen.dh).to_be_bytes().to_vec(),
        );
        return Err(ctx.stats.drop(DropReason::InvalidKe));
    }
    let dh = DhPrivate::generate(chosen.dh, ctx.rng);
    let Ok(shared) = dh.shared(ke) else {
        stateless_reply(
            ctx,
            local,
            remote,
            &header,
            NotifyType::INVALID_SYNTAX,
            Vec::new(),
        );
        return Err(ctx.stats.drop(DropReason::InvalidKe));
    };
    let mut sa = IkeSa::new(ctx.alloc_ike_id(), false, local, remote, ctx.now);
    sa.state = IkeState::InitReplied;
    sa.candidates = candidates
        .into_iter()
        .filter(|c| {
            ctx.peer(*c)
                .is_some_and(|p| p.ike_proposals.contains(&chosen))
        })
        .collect();
    sa.spi_i = header.spi_i;
    sa.spi_r = nonzero_spi(ctx);
    sa.ni = ni.to_vec();
    sa.nr = ctx.nonce();
    sa.init_request = bytes.to_vec();
    sa.peer_msg_id = 1;
    if !sa.derive_keys(chosen, &shared) {
        return Err(ctx.stats.drop(DropReason::Malformed));
    }
    sa.detect_nat(&msg, 0);
    let mut payloads = vec![
        Payload::Sa(vec![ike_to_wire(&chosen, num, Vec::new())]),
        Payload::Ke {
            group,
            data: dh.public(),
        },
        Payload::Nonce(sa.nr.clone()),
    ];
    if sa.natd_present(&msg) {
        payloads.extend(natd_payloads(ctx, sa.spi_i, sa.spi_r, remote));
    }
    let resp = sa.plain_message(ExchangeType::IkeSaInit, 0, true, payloads);
    sa.transmit(ctx, &resp);
    sa.init_response = resp;
    ctx.stats.ike_in += 1;
    Ok(sa)
}
