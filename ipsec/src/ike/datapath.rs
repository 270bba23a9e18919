//! The ESP data path of the endpoint: inbound ESP-in-UDP by SPI to an inner packet checked
//! against the child's traffic selectors, and outbound inner packets to the peer's newest
//! matching child SA. Byte/packet soft limits start a rekey; hard limits delete the child.

use std::net::SocketAddr;
use std::time::Instant;

use super::config::PeerId;
use super::endpoint::Endpoint;
use super::event::{DropReason, Received};
use super::sa::Task;
use crate::esp::EspError;
use crate::ts::PacketFlow;

/// Where to send a sealed ESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspTransmit {
    /// Local address (the NAT-T socket).
    pub src: SocketAddr,
    /// The peer's address.
    pub dst: SocketAddr,
    /// Our inbound SPI of the child SA used.
    pub spi_in: u32,
}

/// Why an inner packet could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The packet is not IPv4 or IPv6.
    #[error("not an IP packet")]
    NotIp,
    /// No child SA of this peer covers the packet.
    #[error("no child SA for this packet")]
    NoChildSa,
    /// The child SA refused it.
    #[error(transparent)]
    Esp(#[from] EspError),
}

impl Endpoint {
    pub(super) fn handle_esp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
    ) -> Received {
        let spi = u32::from_be_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]);
        let stats = &mut self.core.stats;
        let Some(child) = self.core.children.get_mut(&spi) else {
            return stats.drop(DropReason::UnknownEspSpi);
        };
        let range = match child.esp.open(datagram) {
            Ok(r) => r,
            Err(e) => {
                let (ike, hard) = (child.ike, e == EspError::Expired);
                let reason = esp_drop_reason(e);
                let r = stats.drop(reason);
                if hard {
                    let _ = self.queue(now, ike, Task::DeleteChild(spi));
                }
                return r;
            }
        };
        let flow_ok = PacketFlow::of(&datagram[range.clone()])
            .is_some_and(|f| f.matches(&child.remote_ts, &child.local_ts));
        if !flow_ok {
            return stats.drop(DropReason::PolicyMismatch);
        }
        child.last_inbound = Some(now);
        stats.esp_in += 1;
        let (peer, ike) = (child.peer, child.ike);
        if child.esp.take_soft_expiry() {
            let _ = self.queue(now, ike, Task::RekeyChild(spi));
        }
        self.follow_nat_mapping(ike, from);
        Received::Decrypted {
            peer,
            spi_in: spi,
            packet: range,
        }
    }

    /// An authenticated, fresh ESP packet came from a new address: the peer's NAT mapping
    /// changed (RFC 3948 section 5.1 lets us follow it), so IKE and ESP go there now.
    fn follow_nat_mapping(&mut self, ike: super::event::IkeSaId, from: SocketAddr) {
        let Some(sa) = self.sas.get_mut(&ike) else {
            return;
        };
        let (ike_port, natt) = (self.core.config.ike_port, self.core.config.natt_port);
        // IKE left on port 500 while ESP uses 4500 is no change of mapping.
        let same_host_ports =
            sa.remote.port() == ike_port && from.port() == natt && sa.remote.ip() == from.ip();
        if sa.remote == from || same_host_ports {
            return;
        }
        sa.remote = from;
        self.rebuild_outbound();
    }

    /// Seals an inner IP packet for `peer` into `out` (cleared and reused); the caller sends
    /// `out` from `src` to `dst` as returned.
    pub fn encrypt(
        &mut self,
        now: Instant,
        peer: PeerId,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<EspTransmit, SendError> {
        let flow = PacketFlow::of(packet).ok_or(SendError::NotIp)?;
        let candidates = self.outbound.get(&peer).ok_or(SendError::NoChildSa)?;
        let mut found = None;
        for (spi, src, dst) in candidates {
            let Some(child) = self.core.children.get_mut(spi) else {
                continue;
            };
            if flow.matches(&child.local_ts, &child.remote_ts) {
                found = Some((*spi, *src, *dst));
                break;
            }
        }
        let (spi, src, dst) = found.ok_or(SendError::NoChildSa)?;
        let child = self
            .core
            .children
            .get_mut(&spi)
            .ok_or(SendError::NoChildSa)?;
        let sealed = child.esp.seal(packet, out);
        let ike = child.ike;
        let soft = child.esp.take_soft_expiry();
        match sealed {
            Ok(()) => {
                self.core.stats.esp_out += 1;
                if soft {
                    let _ = self.queue(now, ike, Task::RekeyChild(spi));
                }
                Ok(EspTransmit {
                    src,
                    dst,
                    spi_in: spi,
                })
            }
            Err(e) => {
                if matches!(e, EspError::Expired | EspError::SequenceExhausted) {
                    let _ = self.queue(now, ike, Task::DeleteChild(spi));
                }
                Err(e.into())
            }
        }
    }
}

fn esp_drop_reason(e: EspError) -> DropReason {
    match e {
        EspError::NotIp => DropReason::NotIp,
        EspError::SequenceExhausted | EspError::Expired => DropReason::Expired,
        EspError::Malformed => DropReason::Malformed,
        EspError::Integrity => DropReason::Integrity,
        EspError::Replay(_) => DropReason::Replay,
        EspError::BadPadding => DropReason::BadPadding,
        EspError::Dummy => DropReason::Dummy,
    }
}
