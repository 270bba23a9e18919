//! CREATE_CHILD_SA for child SA rekeying (RFC 7296 sections 1.3.3 and 2.8): the request
//! with REKEY_SA and an optional PFS KE, the responder's answer, INVALID_KE_PAYLOAD and
//! TEMPORARY_FAILURE retries, and simultaneous rekeys resolved by the lowest nonce.

use std::time::Duration;

use super::event::{DownReason, Event};
use super::sa::{ChildRequest, Ctx, IkeSa, IkeState, Pending, Task, error_notify, notify};
use crate::crypto::dh::DhPrivate;
use crate::transforms::{dh_from_id, esp_to_wire};
use crate::wire::{ExchangeType, Message, Notify, NotifyType, Payload, ProtocolId};

/// How long to wait before retrying a rekey the peer could not do right now.
const RETRY_LATER: Duration = Duration::from_secs(5);

/// The lowest of two nonces (RFC 7296 section 2.8.1 compares exchanges by it).
pub(crate) fn min_nonce(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

impl IkeSa {
    /// Starts rekeying the child with inbound SPI `old`.
    pub(crate) fn start_child_rekey(&mut self, ctx: &mut Ctx<'_>, old: u32) {
        let Some(cfg) = self.peer.and_then(|p| ctx.peer(p)) else {
            return;
        };
        let proposals = cfg.esp_proposals.clone();
        let group = proposals.first().and_then(|p| p.dh);
        let Some(child) = ctx
            .children
            .get_mut(&old)
            .filter(|c| c.ike == self.id && c.replaced.is_none() && !c.rekeying && !c.deleting)
        else {
            return;
        };
        child.rekeying = true;
        let (local_ts, remote_ts) = (child.local_ts.clone(), child.remote_ts.clone());
        let req = ChildRequest {
            old_spi: Some(old),
            spi_in: ctx.alloc_esp_spi(),
            nonce: ctx.nonce(),
            dh: group.map(|g| DhPrivate::generate(g, ctx.rng)),
            proposals,
            local_ts,
            remote_ts,
        };
        self.send_child_rekey(ctx, req);
    }

    fn send_child_rekey(&mut self, ctx: &mut Ctx<'_>, req: ChildRequest) {
        let Some(old) = req.old_spi else { return };
        let mut payloads = vec![
            Payload::Notify(Notify {
                protocol: ProtocolId::Esp,
                spi: old.to_be_bytes().to_vec(),
                kind: NotifyType::REKEY_SA,
                data: Vec::new(),
            }),
            Payload::Sa(
                req.proposals
                    .iter()
                    .enumerate()
                    .map(|(i, p)| esp_to_wire(p, i as u8 + 1, req.spi_in, true))
                    .collect(),
            ),
            Payload::Nonce(req.nonce.clone()),
        ];
        if let Some(dh) = &req.dh {
            payloads.push(Payload::Ke {
                group: crate::transforms::dh_id(dh.group()),
                data: dh.public(),
            });
        }
        payloads.push(Payload::TsI(req.local_ts.clone()));
        payloads.push(Payload::TsR(req.remote_ts.clone()));
        self.send_request(
            ctx,
            ExchangeType::CreateChildSa,
            &payloads,
            Pending::CreateChild(Box::new(req)),
        );
    }

    /// Handles a CREATE_CHILD_SA request: an IKE SA rekey or a child rekey.
    pub(crate) fn handle_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        msg: Message,
    ) {
        let is_ike = msg.payloads.iter().any(
            |p| matches!(p, Payload::Sa(s) if s.iter().any(|x| x.protocol == ProtocolId::Ike)),
        );
        if is_ike {
            return self.handle_rekey_ike_request(ctx, msg_id, msg);
        }
        let reply = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, kind: NotifyType, data: Vec<u8>| {
            sa.send_response(
                ctx,
                ExchangeType::CreateChildSa,
                msg_id,
                &[notify(kind, data)],
            );
        };
        let Some(rekey) = msg.notify(NotifyType::REKEY_SA) else {
            return reply(self, ctx, NotifyType::NO_ADDITIONAL_SAS, Vec::new());
        };
        let old_out = <[u8; 4]>::try_from(rekey.spi.as_slice())
            .map(u32::from_be_bytes)
            .unwrap_or(0);
        let old = ctx
            .children
            .values()
            .find(|c| c.ike == self.id && c.esp.spi_out() == old_out)
            .map(|c| c.esp.spi_in());
        let Some(old) = old else {
            return reply(self, ctx, NotifyType::CHILD_SA_NOT_FOUND, Vec::new());
        };
        let busy_ike = matches!(
            self.outstanding.as_ref().map(|o| &o.pending),
            Some(Pending::RekeyIke(_))
        );
        let replaced = ctx.children.get(&old).is_some_and(|c| c.replaced.is_some());
        if self.state != IkeState::Established || busy_ike || replaced {
            return reply(self, ctx, NotifyType::TEMPORARY_FAILURE, Vec::new());
        }
        let (Some(cfg), Some(ni)) = (
            self.peer.and_then(|p| ctx.peer(p)).cloned(),
            IkeSa::nonce_of(&msg),
        ) else {
            return reply(self, ctx, NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let nr = ctx.nonce();
        match self.respond_child(ctx, &cfg, &msg, &ni, &nr, Some(old)) {
            Ok(payloads) => {
                self.send_response(ctx, ExchangeType::CreateChildSa, msg_id, &payloads);
                let new = match payloads.first() {
                    Some(Payload::Sa(s)) => s
                        .first()
                        .and_then(|p| p.spi.as_slice().try_into().ok())
                        .map(u32::from_be_bytes),
                    _ => None,
                };
                let Some(new) = new else { return };
                let ours = matches!(self.outstanding.as_ref().map(|o| &o.pending), Some(Pending::CreateChild(r)) if r.old_spi == Some(old));
                if let Some(c) = ctx.children.get_mut(&old) {
                    if ours {
                        c.peer_rekey = Some((new, min_nonce(&ni, &nr)));
                    } else {
                        c.replaced = Some((new, ctx.now));
                    }
                }
                if let Some(peer) = self.peer {
                    ctx.events.push_back(Event::ChildSaRekeyed {
                        peer,
                        old_spi_in: old,
                        new_spi_in: new,
                    });
                }
            }
            Err((kind, data)) => reply(self, ctx, kind, data),
        }
    }

    /// Handles the answer to our child rekey.
    pub(crate) fn handle_create_child_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut req: ChildRequest,
        msg: Message,
    ) {
        let Some(old) = req.old_spi else { return };
        let Some(peer) = self.peer else { return };
        if !ctx.children.contains_key(&old) {
            ctx.reserved_spis.remove(&req.spi_in);
            return;
        }
        match error_notify(&msg) {
            Some(NotifyType::INVALID_KE_PAYLOAD) => {
                let group = msg
                    .notify(NotifyType::INVALID_KE_PAYLOAD)
                    .and_then(|n| n.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])))
                    .and_then(dh_from_id)
                    .filter(|g| req.proposals.iter().any(|p| p.dh == Some(*g)));
                if let Some(g) = group.filter(|g| req.dh.as_ref().map(|d| d.group()) != Some(*g)) {
                    req.dh = Some(DhPrivate::generate(g, ctx.rng));
                    req.nonce = ctx.nonce();
                    return self.send_child_rekey(ctx, req);
                }
            }
            Some(NotifyType::CHILD_SA_NOT_FOUND) => {
                ctx.reserved_spis.remove(&req.spi_in);
                self.remove_child(ctx, old, DownReason::DeletedByPeer);
                return;
            }
            Some(NotifyType::TEMPORARY_FAILURE) => {
                ctx.reserved_spis.remove(&req.spi_in);
                if let Some(c) = ctx.children.get_mut(&old) {
                    c.rekeying = false;
                    c.rekey_at = ctx.now + RETRY_LATER;
                }
                return;
            }
            _ => {}
        }
        let Some(nr) = IkeSa::nonce_of(&msg) else {
            return;
        };
        match self.accept_child(ctx, &msg, &req, &nr) {
            Ok(new) => self.finish_child_rekey(ctx, old, new, min_nonce(&req.nonce, &nr)),
            Err(error) => {
                ctx.reserved_spis.remove(&req.spi_in);
                ctx.events.push_back(Event::ChildSaFailed { peer, error });
                if let Some(c) = ctx.children.get_mut(&old) {
                    c.rekeying = false;
                    c.rekey_at = ctx.now + RETRY_LATER * 6;
                }
            }
        }
    }

    /// Our rekey of `old` produced `new`; settles a collision with the peer's rekey of
    /// the same child: the exchange holding the lowest nonce made the redundant SA.
    fn finish_child_rekey(&mut self, ctx: &mut Ctx<'_>, old: u32, new: u32, our_min: Vec<u8>) {
        let Some(peer) = self.peer else { return };
        let peer_rekey = ctx.children.get_mut(&old).and_then(|c| c.peer_rekey.take());
        match peer_rekey {
            Some((theirs, their_min)) if our_min < their_min => {
                // Ours is redundant: drop it; the peer deletes the old child.
                if let Some(c) = ctx.children.get_mut(&theirs) {
                    c.outbound_active = true;
                }
                if let Some(c) = ctx.children.get_mut(&old) {
                    c.replaced = Some((theirs, ctx.now));
                    c.outbound_active = false;
                }
                if let Some(c) = ctx.children.get_mut(&new) {
                    c.outbound_active = false;
                    c.replaced = Some((theirs, ctx.now));
                }
                self.queue(ctx, Task::DeleteChild(new));
            }
            _ => {
                if let Some(c) = ctx.children.get_mut(&old) {
                    c.replaced = Some((new, ctx.now));
                    c.outbound_active = false;
                }
                ctx.events.push_back(Event::ChildSaRekeyed {
                    peer,
                    old_spi_in: old,
                    new_spi_in: new,
                });
                self.queue(ctx, Task::DeleteChild(old));
            }
        }
    }
}
