//! The IKE_AUTH exchange with pre-shared keys (RFC 7296 sections 1.2 and 2.15): identities,
//! the AUTH payload over the signed octets, and the first child SA it carries.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::config::{PeerConfig, PeerId};
use super::event::{Event, SaError, Side};
use super::sa::{ChildRequest, Ctx, IkeSa, IkeState, Pending, Task, error_notify, notify};
use crate::crypto::prf::prf;
use crate::transforms::{Prf, esp_to_wire};
use crate::wire::{ExchangeType, Identification, Message, NotifyType, Payload};

/// AUTH method 2: shared key message integrity code.
const AUTH_PSK: u8 = 2;
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// AUTH = prf(prf(PSK, "Key Pad for IKEv2"), message | nonce | prf(SK_p, ID body)).
pub fn psk_auth(
    alg: Prf,
    psk: &[u8],
    message: &[u8],
    nonce: &[u8],
    sk_p: &[u8],
    id: &Identification,
) -> Zeroizing<Vec<u8>> {
    let key = prf(alg, psk, &[KEY_PAD]);
    let maced_id = prf(alg, sk_p, &[&id.body()]);
    prf(alg, &key, &[message, nonce, &maced_id])
}

fn find_auth(msg: &Message) -> Option<(u8, &[u8])> {
    msg.payloads.iter().find_map(|p| match p {
        Payload::Auth { method, data } => Some((*method, data.as_slice())),
        _ => None,
    })
}

impl IkeSa {
    fn prf_alg(&self) -> Option<Prf> {
        self.proposal.map(|p| p.prf)
    }

    /// The initiator sends IKE_AUTH with its identity, AUTH and the first child SA.
    pub(crate) fn send_auth_request(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(peer), Some(alg)) = (self.peer, self.prf_alg()) else {
            return;
        };
        let Some(cfg) = ctx.peer(peer) else { return };
        let idi = cfg.local_identity();
        let auth = psk_auth(
            alg,
            cfg.psk.bytes(),
            &self.init_request,
            &self.nr,
            &self.sk_pi,
            &idi,
        );
        let proposals: Vec<_> = cfg.esp_proposals.clone();
        let (local_ts, remote_ts) = (cfg.local_ts.clone(), cfg.remote_ts.clone());
        let idr = cfg.remote_identity();
        let spi_in = ctx.alloc_esp_spi();
        let mut payloads = vec![Payload::IdI(idi)];
        if self.initial_contact {
            payloads.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        payloads.extend([
            Payload::IdR(idr),
            Payload::Auth {
                method: AUTH_PSK,
                data: auth.to_vec(),
            },
            Payload::Sa(
                proposals
                    .iter()
                    .enumerate()
                    .map(|(i, p)| esp_to_wire(p, i as u8 + 1, spi_in, false))
                    .collect(),
            ),
            Payload::TsI(local_ts.clone()),
            Payload::TsR(remote_ts.clone()),
        ]);
        self.state = IkeState::AuthSent;
        let req = ChildRequest {
            old_spi: None,
            spi_in,
            nonce: self.ni.clone(),
            dh: None,
            proposals,
            local_ts,
            remote_ts,
        };
        self.send_request(
            ctx,
            ExchangeType::IkeAuth,
            &payloads,
            Pending::Auth(Box::new(req)),
        );
    }

    fn verify_psk(
        &self,
        cfg: &PeerConfig,
        msg_bytes: &[u8],
        nonce: &[u8],
        sk_p: &[u8],
        id: &Identification,
        auth: (u8, &[u8]),
    ) -> bool {
        let Some(alg) = self.prf_alg() else {
            return false;
        };
        let want = psk_auth(alg, cfg.psk.bytes(), msg_bytes, nonce, sk_p, id);
        auth.0 == AUTH_PSK && auth.1.len() == want.len() && bool::from(want.ct_eq(auth.1))
    }

    /// Becomes established: timers, keepalives, event.
    pub(crate) fn establish(&mut self, ctx: &mut Ctx<'_>, peer: PeerId) {
        self.start_lifetimes(ctx, peer);
        ctx.events.push_back(Event::IkeSaUp {
            peer,
            ike: self.id,
            remote: self.remote,
        });
    }

    /// Marks the SA established and arms its rekey, expiry and keepalive timers.
    pub(crate) fn start_lifetimes(&mut self, ctx: &mut Ctx<'_>, peer: PeerId) {
        let Some(life) = ctx.peer(peer).map(|p| p.ike_lifetime) else {
            return;
        };
        self.peer = Some(peer);
        self.state = IkeState::Established;
        self.established = Some(ctx.now);
        self.rekey_at = Some(ctx.now + ctx.jittered(life));
        self.expire_at = Some(ctx.now + life + life / 10);
        if self.nat_local {
            self.next_keepalive = Some(ctx.now + ctx.config.keepalive_interval);
        }
    }

    /// The responder handles IKE_AUTH.
    pub(crate) fn handle_auth_request(&mut self, ctx: &mut Ctx<'_>, msg_id: u32, msg: Message) {
        let idi = msg.payloads.iter().find_map(|p| {
            if let Payload::IdI(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let idr = msg.payloads.iter().find_map(|p| {
            if let Payload::IdR(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let (Some(idi), Some(auth)) = (idi, find_auth(&msg)) else {
            self.send_response(
                ctx,
                ExchangeType::IkeAuth,
                msg_id,
                &[notify(NotifyType::INVALID_SYNTAX, Vec::new())],
            );
            self.fail(ctx, SaError::Protocol("IKE_AUTH without IDi or AUTH"));
            return;
        };
        let peer = self.candidates.iter().copied().find(|c| {
            ctx.peer(*c).is_some_and(|p| {
                p.remote_identity() == *idi && idr.is_none_or(|r| *r == p.local_identity())
            })
        });
        let Some((peer, cfg)) = peer.and_then(|p| ctx.peer(p).map(|c| (p, c.clone()))) else {
            self.send_response(
                ctx,
                ExchangeType::IkeAuth,
                msg_id,
                &[notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.candidates.clear();
            self.fail(ctx, SaError::NoMatchingPeer);
            return;
        };
        self.peer = Some(peer);
        let (req, nr, sk_pi) = (
            self.init_request.clone(),
            self.nr.clone(),
            self.sk_pi.clone(),
        );
        if !self.verify_psk(&cfg, &req, &nr, &sk_pi, idi, auth) {
            self.send_response(
                ctx,
                ExchangeType::IkeAuth,
                msg_id,
                &[notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.fail(ctx, SaError::AuthenticationFailed(Side::Local));
            return;
        }
        let Some(alg) = self.prf_alg() else { return };
        let our_id = cfg.local_identity();
        let our_auth = psk_auth(
            alg,
            cfg.psk.bytes(),
            &self.init_response,
            &self.ni,
            &self.sk_pr,
            &our_id,
        );
        self.establish(ctx, peer);
        if msg.notify(NotifyType::INITIAL_CONTACT).is_some() {
            ctx.replace_others.push((peer, self.id));
        }
        let mut payloads = vec![
            Payload::IdR(our_id),
            Payload::Auth {
                method: AUTH_PSK,
                data: our_auth.to_vec(),
            },
        ];
        let (ni, nr) = (self.ni.clone(), self.nr.clone());
        let child = self.respond_child(ctx, &cfg, &msg, &ni, &nr, None);
        if let Err((kind, data)) = &child {
            let error = match *kind {
                NotifyType::TS_UNACCEPTABLE => SaError::TsUnacceptable(Side::Local),
                _ => SaError::NoProposalChosen(Side::Local),
            };
            ctx.events.push_back(Event::ChildSaFailed { peer, error });
            payloads.push(notify(*kind, data.clone()));
        }
        let failed = child.is_err();
        payloads.extend(child.unwrap_or_default());
        self.send_response(ctx, ExchangeType::IkeAuth, msg_id, &payloads);
        if failed {
            // Without its child the IKE SA is of no use here; some initiators (strongSwan)
            // keep it, so close it from this side rather than leave it half-open.
            self.queue(ctx, Task::DeleteIke);
        }
    }

    /// The initiator handles the IKE_AUTH response.
    pub(crate) fn handle_auth_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        req: ChildRequest,
        msg: Message,
    ) {
        let child_spi = req.spi_in;
        let auth = find_auth(&msg);
        if auth.is_none() {
            ctx.reserved_spis.remove(&child_spi);
            let error = match error_notify(&msg) {
                Some(NotifyType::AUTHENTICATION_FAILED) => {
                    SaError::AuthenticationFailed(Side::Remote)
                }
                Some(NotifyType::NO_PROPOSAL_CHOSEN) => SaError::NoProposalChosen(Side::Remote),
                Some(n) => SaError::PeerError(n),
                None => SaError::Protocol("IKE_AUTH response without AUTH"),
            };
            self.fail(ctx, error);
            return;
        }
        let Some(peer) = self.peer else { return };
        let Some(cfg) = ctx.peer(peer).cloned() else {
            return;
        };
        let idr = msg.payloads.iter().find_map(|p| {
            if let Payload::IdR(i) = p {
                Some(i)
            } else {
                None
            }
        });
        let (resp, ni, sk_pr) = (
            self.init_response.clone(),
            self.ni.clone(),
            self.sk_pr.clone(),
        );
        let ok = match (idr, auth) {
            (Some(idr), Some(auth)) => {
                *idr == cfg.remote_identity()
                    && self.verify_psk(&cfg, &resp, &ni, &sk_pr, idr, auth)
            }
            _ => false,
        };
        if !ok {
            ctx.reserved_spis.remove(&child_spi);
            self.send_final(
                ctx,
                &[notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
            );
            self.fail(ctx, SaError::AuthenticationFailed(Side::Local));
            return;
        }
        self.establish(ctx, peer);
        let nr = self.nr.clone();
        if let Err(error) = self.accept_child(ctx, &msg, &req, &nr) {
            ctx.reserved_spis.remove(&child_spi);
            ctx.events.push_back(Event::ChildSaFailed { peer, error });
            // An IKE SA without its child is of no use here: close it rather than leave it half-open.
            self.queue(ctx, Task::DeleteIke);
        }
    }
}
