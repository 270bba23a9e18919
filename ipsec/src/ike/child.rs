//! Child SAs: their control-plane state beside the ESP data plane, the negotiation both
//! sides do for IKE_AUTH and CREATE_CHILD_SA (proposal, PFS KE, traffic-selector narrowing,
//! KEYMAT), and installation.

use std::time::Instant;

use zeroize::Zeroizing;

use super::config::{PeerConfig, PeerId};
use super::event::{Event, IkeSaId, SaError, Side};
use super::init::{find_ke, find_nonce, find_sa};
use super::sa::{ChildRequest, Ctx, IkeSa, error_notify};
use crate::crypto::dh::DhPrivate;
use crate::crypto::keys::child_keys;
use crate::crypto::sym::SymKey;
use crate::esp::EspSa;
use crate::transforms::{EspProposal, accepted_esp, choose_esp, dh_id, esp_to_wire};
use crate::ts::{TrafficSelector, is_subset, narrow};
use crate::wire::{Message, NotifyType, Payload};

/// One child SA: the ESP data plane and what the control plane knows about it.
pub(crate) struct Child {
    pub esp: EspSa,
    pub ike: IkeSaId,
    pub peer: PeerId,
    pub proposal: EspProposal,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub installed: Instant,
    pub rekey_at: Instant,
    pub expire_at: Instant,
    /// Outbound traffic uses this child (a rekey responder waits for the old one's delete).
    pub outbound_active: bool,
    /// A rekey of this child is in flight.
    pub rekeying: bool,
    /// The child that replaced this one, and since when.
    pub replaced: Option<(u32, Instant)>,
    /// While we answered a peer's rekey of this child and ours is outstanding: the peer's
    /// new child and the lowest nonce of that exchange (RFC 7296 section 2.8.1).
    pub peer_rekey: Option<(u32, Vec<u8>)>,
    pub last_inbound: Option<Instant>,
    /// A Delete is queued or sent; `expire_at` is then when we give up waiting.
    pub deleting: bool,
}

impl Child {
    /// When this child next needs attention.
    pub fn next_timeout(&self, grace: std::time::Duration) -> Instant {
        match (self.deleting, self.replaced) {
            (true, _) => self.expire_at,
            (false, Some((_, since))) => self.expire_at.min(since + grace),
            (false, None) => self.expire_at.min(self.rekey_at),
        }
    }
}

fn ts_payloads(msg: &Message) -> (Option<&[TrafficSelector]>, Option<&[TrafficSelector]>) {
    let tsi = msg.payloads.iter().find_map(|p| {
        if let Payload::TsI(t) = p {
            Some(t.as_slice())
        } else {
            None
        }
    });
    let tsr = msg.payloads.iter().find_map(|p| {
        if let Payload::TsR(t) = p {
            Some(t.as_slice())
        } else {
            None
        }
    });
    (tsi, tsr)
}

/// What installing a child needs beyond the IKE SA.
struct NewChild<'a> {
    esp: EspProposal,
    spi_in: u32,
    spi_out: u32,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    shared: Option<&'a [u8]>,
    ni: &'a [u8],
    nr: &'a [u8],
    /// We started the exchange that created it.
    exchange_initiator: bool,
    outbound_active: bool,
}

impl IkeSa {
    /// Derives KEYMAT and installs a child; reports `ChildSaUp`.
    fn install_child(&mut self, ctx: &mut Ctx<'_>, peer: PeerId, n: NewChild<'_>) -> Option<u32> {
        let prf = self.proposal?.prf;
        let cfg = ctx.peer(peer)?;
        let (life, limits) = (cfg.child_lifetime, cfg.child_limits);
        let k = child_keys(prf, &self.sk_d, &n.esp, n.shared, n.ni, n.nr);
        let i_to_r = SymKey::new(n.esp.encryption, n.esp.integrity, &k.ei, &k.ai)?;
        let r_to_i = SymKey::new(n.esp.encryption, n.esp.integrity, &k.er, &k.ar)?;
        let (inbound, outbound) = if n.exchange_initiator {
            (r_to_i, i_to_r)
        } else {
            (i_to_r, r_to_i)
        };
        let now = ctx.now;
        let rekey_at = now + ctx.jittered(life);
        ctx.reserved_spis.insert(n.spi_in);
        ctx.children.insert(
            n.spi_in,
            Child {
                esp: EspSa::new(n.spi_in, n.spi_out, inbound, outbound, limits),
                ike: self.id,
                peer,
                proposal: n.esp,
                local_ts: n.local_ts.clone(),
                remote_ts: n.remote_ts.clone(),
                installed: now,
                rekey_at,
                expire_at: now + life + life / 10,
                outbound_active: n.outbound_active,
                rekeying: false,
                replaced: None,
                peer_rekey: None,
                last_inbound: None,
                deleting: false,
            },
        );
        ctx.events.push_back(Event::ChildSaUp {
            peer,
            spi_in: n.spi_in,
            spi_out: n.spi_out,
            local_ts: n.local_ts,
            remote_ts: n.remote_ts,
        });
        Some(n.spi_in)
    }

    /// The responder's half of a child negotiation (IKE_AUTH, or CREATE_CHILD_SA rekeying
    /// `rekey_of`): returns the payloads to answer with, or the error notify and its data.
    pub(crate) fn respond_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        cfg: &PeerConfig,
        msg: &Message,
        ni: &[u8],
        nr: &[u8],
        rekey_of: Option<u32>,
    ) -> Result<Vec<Payload>, (NotifyType, Vec<u8>)> {
        let create_child = rekey_of.is_some();
        let offered = find_sa(msg).ok_or((NotifyType::INVALID_SYNTAX, Vec::new()))?;
        let (esp, spi_out, num) = choose_esp(offered, &cfg.esp_proposals, create_child)
            .ok_or((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()))?;
        let mut ke_payload = None;
        let mut shared: Option<Zeroizing<Vec<u8>>> = None;
        if let Some(group) = esp.dh {
            let want = dh_id(group);
            let ke = find_ke(msg)
                .filter(|(g, _)| *g == want)
                .ok_or((NotifyType::INVALID_KE_PAYLOAD, want.to_be_bytes().to_vec()))?;
            let dh = DhPrivate::generate(group, ctx.rng);
            shared = Some(
                dh.shared(ke.1)
                    .map_err(|_| (NotifyType::INVALID_SYNTAX, Vec::new()))?,
            );
            ke_payload = Some(Payload::Ke {
                group: want,
                data: dh.public(),
            });
        }
        let (Some(tsi), Some(tsr)) = ts_payloads(msg) else {
            return Err((NotifyType::INVALID_SYNTAX, Vec::new()));
        };
        let remote_ts = narrow(tsi, &cfg.remote_ts);
        let local_ts = narrow(tsr, &cfg.local_ts);
        if remote_ts.is_empty() || local_ts.is_empty() {
            return Err((NotifyType::TS_UNACCEPTABLE, Vec::new()));
        }
        let spi_in = ctx.alloc_esp_spi();
        let Some(peer) = self.peer else {
            return Err((NotifyType::INVALID_SYNTAX, Vec::new()));
        };
        let installed = self.install_child(
            ctx,
            peer,
            NewChild {
                esp,
                spi_in,
                spi_out,
                local_ts: local_ts.clone(),
                remote_ts: remote_ts.clone(),
                shared: shared.as_deref().map(|s| s.as_slice()),
                ni,
                nr,
                exchange_initiator: false,
                outbound_active: !create_child,
            },
        );
        if installed.is_none() {
            ctx.reserved_spis.remove(&spi_in);
            return Err((NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()));
        }
        let mut out = vec![Payload::Sa(vec![esp_to_wire(&esp, num, spi_in, true)])];
        if create_child {
            out.push(Payload::Nonce(nr.to_vec()));
        }
        out.extend(ke_payload);
        out.push(Payload::TsI(remote_ts));
        out.push(Payload::TsR(local_ts));
        Ok(out)
    }

    /// The initiator's half: checks the responder's answer to `req` and installs the child;
    /// returns its inbound SPI.
    pub(crate) fn accept_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg: &Message,
        req: &ChildRequest,
        nr: &[u8],
    ) -> Result<u32, SaError> {
        let create_child = req.old_spi.is_some();
        if let Some(n) = error_notify(msg) {
            return Err(match n {
                NotifyType::NO_PROPOSAL_CHOSEN => SaError::NoProposalChosen(Side::Remote),
                NotifyType::TS_UNACCEPTABLE => SaError::TsUnacceptable(Side::Remote),
                other => SaError::PeerError(other),
            });
        }
        let (esp, spi_out) = match find_sa(msg) {
            Some([one]) => accepted_esp(one, &req.proposals, create_child),
            _ => None,
        }
        .ok_or(SaError::Protocol("child SA proposal we did not offer"))?;
        let shared = match esp.dh {
            Some(group) => {
                let dh = req
                    .dh
                    .as_ref()
                    .filter(|d| d.group() == group)
                    .ok_or(SaError::Protocol("KE group"))?;
                let (g, ke) = find_ke(msg).ok_or(SaError::Protocol("missing KE"))?;
                if g != dh_id(group) {
                    return Err(SaError::Protocol("KE group"));
                }
                Some(
                    dh.shared(ke)
                        .map_err(|_| SaError::Protocol("invalid KE value"))?,
                )
            }
            None => None,
        };
        let (Some(tsi), Some(tsr)) = ts_payloads(msg) else {
            return Err(SaError::Protocol("missing traffic selectors"));
        };
        if !is_subset(tsi, &req.local_ts) || !is_subset(tsr, &req.remote_ts) {
            return Err(SaError::TsUnacceptable(Side::Local));
        }
        let peer = self.peer.ok_or(SaError::NoMatchingPeer)?;
        self.install_child(
            ctx,
            peer,
            NewChild {
                esp,
                spi_in: req.spi_in,
                spi_out,
                local_ts: tsi.to_vec(),
                remote_ts: tsr.to_vec(),
                shared: shared.as_deref().map(|s| s.as_slice()),
                ni: &req.nonce,
                nr,
                exchange_initiator: true,
                outbound_active: true,
            },
        )
        .ok_or(SaError::Protocol("child key derivation"))
    }

    /// The nonce of a CREATE_CHILD_SA message, if valid.
    pub(crate) fn nonce_of(msg: &Message) -> Option<Vec<u8>> {
        find_nonce(msg).map(<[u8]>::to_vec)
    }
}
