//! INFORMATIONAL exchanges (RFC 7296 sections 1.4 and 2.4): deleting child SAs and the IKE
//! SA, liveness checks for dead-peer detection, and error notifies about the SA.

use super::event::{DownReason, Event, SaError, Side};
use super::sa::{Ctx, IkeSa, Pending};
use crate::wire::{Delete, ExchangeType, Message, NotifyType, Payload, ProtocolId};

impl IkeSa {
    /// Sends a Delete for one child (by our inbound SPI); it stops carrying outbound
    /// traffic at once and is removed when the peer answers.
    pub(crate) fn start_delete_child(&mut self, ctx: &mut Ctx<'_>, spi_in: u32) {
        let Some(c) = ctx.children.get_mut(&spi_in).filter(|c| c.ike == self.id) else {
            return;
        };
        c.outbound_active = false;
        let payload = Payload::Delete(Delete {
            protocol: ProtocolId::Esp,
            spis: vec![spi_in],
        });
        self.send_request(
            ctx,
            ExchangeType::Informational,
            &[payload],
            Pending::DeleteChildren(vec![spi_in]),
        );
    }

    /// Sends a Delete for the IKE SA itself.
    pub(crate) fn start_delete_ike(&mut self, ctx: &mut Ctx<'_>) {
        let payload = Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: Vec::new(),
        });
        self.send_request(
            ctx,
            ExchangeType::Informational,
            &[payload],
            Pending::DeleteIke,
        );
        self.state = super::sa::IkeState::Deleting;
    }

    /// The peer acknowledged our child deletes.
    pub(crate) fn handle_delete_children_response(&mut self, ctx: &mut Ctx<'_>, spis: &[u32]) {
        for spi in spis {
            let reason = match ctx.children.get(spi) {
                Some(c) if c.replaced.is_some() => DownReason::Rekeyed,
                _ => DownReason::DeletedLocally,
            };
            self.remove_child(ctx, *spi, reason);
        }
    }

    /// Removes the children the peer deleted (by the SPIs it receives on, our outbound
    /// SPIs); returns our inbound SPIs of those children.
    fn delete_children_by_peer(&mut self, ctx: &mut Ctx<'_>, spis_out: &[u32]) -> Vec<u32> {
        let mut ours = Vec::new();
        for spi_out in spis_out {
            let found = ctx
                .children
                .values()
                .find(|c| c.ike == self.id && c.esp.spi_out() == *spi_out);
            let Some((spi_in, replaced)) = found.map(|c| (c.esp.spi_in(), c.replaced)) else {
                continue;
            };
            let reason = if replaced.is_some() {
                DownReason::Rekeyed
            } else {
                DownReason::DeletedByPeer
            };
            if let Some((successor, _)) = replaced
                && let Some(s) = ctx.children.get_mut(&successor)
            {
                s.outbound_active = true;
            }
            self.remove_child(ctx, spi_in, reason);
            ours.push(spi_in);
        }
        ours
    }

    /// Handles an INFORMATIONAL request.
    pub(crate) fn handle_informational_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        msg: Message,
    ) {
        if msg.notify(NotifyType::AUTHENTICATION_FAILED).is_some() {
            // The initiator could not verify us after we considered the SA established.
            self.send_response(ctx, ExchangeType::Informational, msg_id, &[]);
            let peer = self.peer;
            ctx.events.push_back(Event::IkeSaFailed {
                peer,
                remote: self.remote,
                error: SaError::AuthenticationFailed(Side::Remote),
            });
            self.die(ctx, DownReason::DeletedByPeer);
            return;
        }
        let mut reply = Vec::new();
        let mut delete_ike = false;
        for p in &msg.payloads {
            let Payload::Delete(d) = p else { continue };
            match d.protocol {
                ProtocolId::Ike => delete_ike = true,
                ProtocolId::Esp => {
                    let ours = self.delete_children_by_peer(ctx, &d.spis);
                    if !ours.is_empty() {
                        reply.push(Payload::Delete(Delete {
                            protocol: ProtocolId::Esp,
                            spis: ours,
                        }));
                    }
                }
                _ => {}
            }
        }
        if delete_ike {
            self.send_response(ctx, ExchangeType::Informational, msg_id, &[]);
            self.die(ctx, DownReason::DeletedByPeer);
            return;
        }
        self.send_response(ctx, ExchangeType::Informational, msg_id, &reply);
    }
}
