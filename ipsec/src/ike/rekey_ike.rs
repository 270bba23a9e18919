//! IKE SA rekeying with CREATE_CHILD_SA (RFC 7296 sections 1.3.2, 2.8, 2.18): the new SA's
//! SKEYSEED from the old SK_d, the handover of child SAs, deletion of the old SA, and
//! simultaneous rekeys resolved by the lowest nonce (section 2.8.2).

use std::time::Duration;

use super::create_child::min_nonce;
use super::event::{Event, IkeSaId};
use super::init::{find_ke, find_nonce, find_sa, nonzero_spi};
use super::sa::{Ctx, IkeRekeyRequest, IkeSa, IkeState, Pending, Task, error_notify, notify};
use crate::crypto::dh::DhPrivate;
use crate::crypto::keys::skeyseed_rekey;
use crate::transforms::{IkeProposal, accepted_ike, choose_ike, dh_from_id, dh_id, ike_to_wire};
use crate::wire::{ExchangeType, Message, NotifyType, Payload, ProtocolId};

/// How long to wait before retrying an IKE rekey the peer could not do right now.
const RETRY_LATER: Duration = Duration::from_secs(10);

/// The parameters of a new IKE SA made by a rekey.
struct Successor<'a> {
    initiator: bool,
    spi_i: u64,
    spi_r: u64,
    ni: &'a [u8],
    nr: &'a [u8],
    chosen: IkeProposal,
    shared: &'a [u8],
}

impl IkeSa {
    /// Starts rekeying this IKE SA.
    pub(crate) fn start_ike_rekey(&mut self, ctx: &mut Ctx<'_>) {
        let Some(cfg) = self.peer.and_then(|p| ctx.peer(p)) else {
            return;
        };
        let proposals = cfg.ike_proposals.clone();
        let Some(group) = self
            .proposal
            .map(|p| p.dh)
            .or(proposals.first().map(|p| p.dh))
        else {
            return;
        };
        let req = IkeRekeyRequest {
            spi: nonzero_spi(ctx),
            nonce: ctx.nonce(),
            dh: DhPrivate::generate(group, ctx.rng),
        };
        self.send_ike_rekey(ctx, req);
    }

    fn send_ike_rekey(&mut self, ctx: &mut Ctx<'_>, req: IkeRekeyRequest) {
        let Some(cfg) = self.peer.and_then(|p| ctx.peer(p)) else {
            return;
        };
        let spi = req.spi.to_be_bytes().to_vec();
        let proposals = cfg
            .ike_proposals
            .iter()
            .enumerate()
            .map(|(i, p)| ike_to_wire(p, i as u8 + 1, spi.clone()))
            .collect();
        let payloads = [
            Payload::Sa(proposals),
            Payload::Nonce(req.nonce.clone()),
            Payload::Ke {
                group: dh_id(req.dh.group()),
                data: req.dh.public(),
            },
        ];
        self.send_request(
            ctx,
            ExchangeType::CreateChildSa,
            &payloads,
            Pending::RekeyIke(Box::new(req)),
        );
    }

    /// Builds the successor SA; children stay where they are until the caller moves them.
    fn successor(&self, ctx: &mut Ctx<'_>, s: Successor<'_>) -> Option<IkeSa> {
        let (peer, old) = (self.peer?, self.proposal?);
        let mut sa = IkeSa::new(
            ctx.alloc_ike_id(),
            s.initiator,
            self.local,
            self.remote,
            ctx.now,
        );
        sa.peer = Some(peer);
        sa.spi_i = s.spi_i;
        sa.spi_r = s.spi_r;
        sa.ni = s.ni.to_vec();
        sa.nr = s.nr.to_vec();
        sa.nat_local = self.nat_local;
        sa.nat_remote = self.nat_remote;
        sa.offered = self.offered.clone();
        // SKEYSEED uses the old SA's PRF (its SK_d is sized for it); prf+ the new one.
        let seed = skeyseed_rekey(old.prf, &self.sk_d, s.shared, s.ni, s.nr);
        if !sa.install_keys(s.chosen, &seed) {
            return None;
        }
        sa.start_lifetimes(ctx, peer);
        Some(sa)
    }

    fn move_children(ctx: &mut Ctx<'_>, from: IkeSaId, to: IkeSaId) {
        for c in ctx.children.values_mut().filter(|c| c.ike == from) {
            c.ike = to;
        }
    }

    /// The old SA steps aside for `new`: it only waits for its deletion now.
    fn hand_over(&mut self, ctx: &mut Ctx<'_>, new: IkeSaId) {
        self.successor = Some(new);
        self.state = IkeState::Rekeyed;
        self.tasks.clear();
        self.expire_at = Some(ctx.now + ctx.config.rekeyed_child_grace);
    }

    /// Answers a peer's request to rekey this IKE SA.
    pub(crate) fn handle_rekey_ike_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        msg: Message,
    ) {
        let reply = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, kind: NotifyType, data: Vec<u8>| {
            sa.send_response(
                ctx,
                ExchangeType::CreateChildSa,
                msg_id,
                &[notify(kind, data)],
            );
        };
        let busy_child = matches!(
            self.outstanding.as_ref().map(|o| &o.pending),
            Some(Pending::CreateChild(_))
        );
        if self.state != IkeState::Established || busy_child {
            return reply(self, ctx, NotifyType::TEMPORARY_FAILURE, Vec::new());
        }
        let Some(cfg) = self.peer.and_then(|p| ctx.peer(p)) else {
            return;
        };
        let ours = cfg.ike_proposals.clone();
        let (Some(offered), Some((group, ke)), Some(ni)) =
            (find_sa(&msg), find_ke(&msg), find_nonce(&msg))
        else {
            return reply(self, ctx, NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let Some((chosen, num)) = choose_ike(offered, &ours) else {
            return reply(self, ctx, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let peer_spi = offered
            .iter()
            .find(|p| p.num == num && p.protocol == ProtocolId::Ike)
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
            .map(u64::from_be_bytes)
            .filter(|s| *s != 0);
        let Some(peer_spi) = peer_spi else {
            return reply(self, ctx, NotifyType::INVALID_SYNTAX, Vec::new());
        };
        if group != dh_id(chosen.dh) {
            return reply(
                self,
                ctx,
                NotifyType::INVALID_KE_PAYLOAD,
                dh_id(chosen.dh).to_be_bytes().to_vec(),
            );
        }
        let dh = DhPrivate::generate(chosen.dh, ctx.rng);
        let Ok(shared) = dh.shared(ke) else {
            return reply(self, ctx, NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let (ni, nr, our_spi) = (ni.to_vec(), ctx.nonce(), nonzero_spi(ctx));
        let succ = Successor {
            initiator: false,
            spi_i: peer_spi,
            spi_r: our_spi,
            ni: &ni,
            nr: &nr,
            chosen,
            shared: &shared,
        };
        let Some(new) = self.successor(ctx, succ) else {
            return reply(self, ctx, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let payloads = [
            Payload::Sa(vec![ike_to_wire(
                &chosen,
                num,
                our_spi.to_be_bytes().to_vec(),
            )]),
            Payload::Nonce(nr.clone()),
            Payload::Ke {
                group,
                data: dh.public(),
            },
        ];
        self.send_response(ctx, ExchangeType::CreateChildSa, msg_id, &payloads);
        let new_id = new.id;
        IkeSa::move_children(ctx, self.id, new_id);
        if let Some(peer) = self.peer {
            ctx.events.push_back(Event::IkeSaRekeyed {
                peer,
                old: self.id,
                new: new_id,
            });
        }
        ctx.new_sas.push(new);
        if matches!(
            self.outstanding.as_ref().map(|o| &o.pending),
            Some(Pending::RekeyIke(_))
        ) {
            // Collision: our own rekey is in flight; decide when its answer arrives.
            self.peer_rekey = Some((new_id, min_nonce(&ni, &nr)));
        } else {
            self.hand_over(ctx, new_id);
        }
    }

    /// Handles the answer to our IKE SA rekey.
    pub(crate) fn handle_rekey_ike_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut req: IkeRekeyRequest,
        msg: Message,
    ) {
        let Some(ours) = self
            .peer
            .and_then(|p| ctx.peer(p))
            .map(|c| c.ike_proposals.clone())
        else {
            return;
        };
        match error_notify(&msg) {
            Some(NotifyType::INVALID_KE_PAYLOAD) => {
                let group = msg
                    .notify(NotifyType::INVALID_KE_PAYLOAD)
                    .and_then(|n| n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])))
                    .and_then(dh_from_id)
                    .filter(|g| *g != req.dh.group() && ours.iter().any(|p| p.dh == *g));
                if let Some(g) = group {
                    req.dh = DhPrivate::generate(g, ctx.rng);
                    return self.send_ike_rekey(ctx, req);
                }
                self.rekey_at = Some(ctx.now + RETRY_LATER);
                return;
            }
            Some(_) => {
                self.rekey_at = Some(ctx.now + RETRY_LATER);
                return;
            }
            None => {}
        }
        let parsed = match (find_sa(&msg), find_ke(&msg), find_nonce(&msg)) {
            (Some([p]), Some((group, ke)), Some(nr)) => accepted_ike(p, &ours)
                .filter(|c| dh_id(c.dh) == group && c.dh == req.dh.group())
                .zip(
                    <[u8; 8]>::try_from(p.spi.as_slice())
                        .ok()
                        .map(u64::from_be_bytes)
                        .filter(|s| *s != 0),
                )
                .map(|(c, spi)| (c, spi, ke.to_vec(), nr.to_vec())),
            _ => None,
        };
        let Some((chosen, peer_spi, ke, nr)) = parsed else {
            self.rekey_at = Some(ctx.now + RETRY_LATER);
            return;
        };
        let Ok(shared) = req.dh.shared(&ke) else {
            self.rekey_at = Some(ctx.now + RETRY_LATER);
            return;
        };
        let succ = Successor {
            initiator: true,
            spi_i: req.spi,
            spi_r: peer_spi,
            ni: &req.nonce,
            nr: &nr,
            chosen,
            shared: &shared,
        };
        let Some(mut new) = self.successor(ctx, succ) else {
            return;
        };
        let new_id = new.id;
        let our_min = min_nonce(&req.nonce, &nr);
        match self.peer_rekey.take() {
            Some((theirs, their_min)) if our_min < their_min => {
                // Ours is redundant: delete it; the peer deletes the old SA.
                new.successor = Some(theirs);
                new.tasks.push_back(Task::DeleteIke);
                ctx.new_sas.push(new);
                self.hand_over(ctx, theirs);
            }
            collided => {
                IkeSa::move_children(ctx, self.id, new_id);
                if let Some((theirs, _)) = &collided {
                    // We answered the peer's rekey first and moved the children there.
                    IkeSa::move_children(ctx, *theirs, new_id);
                }
                if let Some(peer) = self.peer {
                    let old = collided.as_ref().map_or(self.id, |(theirs, _)| *theirs);
                    ctx.events.push_back(Event::IkeSaRekeyed {
                        peer,
                        old,
                        new: new_id,
                    });
                }
                if let Some((theirs, _)) = collided {
                    ctx.superseded.push((theirs, new_id));
                }
                ctx.new_sas.push(new);
                self.successor = Some(new_id);
                self.tasks.clear();
                self.tasks.push_back(Task::DeleteIke);
            }
        }
    }
}
