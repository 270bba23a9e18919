//! ESP (RFC 4303) in tunnel mode, carried in UDP (RFC 3948): sealing an inner IP packet
//! into an ESP packet and opening it again, with sequence numbers, the anti-replay window,
//! padding, next header, traffic counters and byte/packet lifetimes. No per-packet
//! allocation beyond growing the caller's buffer.

pub mod replay;

use std::ops::Range;

use replay::{ReplayError, ReplayWindow};

use crate::crypto::sym::SymKey;

/// Next header: IPv4 in tunnel mode.
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header: IPv6 in tunnel mode.
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next header of a dummy packet (RFC 4303 section 2.6).
pub const NEXT_HEADER_NONE: u8 = 59;
/// Bytes of SPI and sequence number.
pub const ESP_HEADER_LEN: usize = 8;
/// The last sequence number before the SA counts as soft-expired and must be rekeyed.
pub const SEQ_SOFT_LIMIT: u32 = u32::MAX - (1 << 20);

/// Why an ESP packet could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The inner packet is not IPv4 or IPv6.
    #[error("inner packet is not IP")]
    NotIp,
    /// The 32-bit sequence number space is used up; the SA must be rekeyed.
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    /// The SA reached a hard byte or packet limit.
    #[error("hard lifetime reached")]
    Expired,
    /// The packet is shorter than its headers or not aligned.
    #[error("malformed ESP packet")]
    Malformed,
    /// The ICV did not verify.
    #[error("integrity check failed")]
    Integrity,
    /// The sequence number was refused by the anti-replay window.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The padding is not 1, 2, 3, ... (RFC 4303 section 2.4).
    #[error("bad padding")]
    BadPadding,
    /// A dummy packet (next header 59), to be discarded.
    #[error("dummy packet")]
    Dummy,
}

/// Byte and packet limits of a child SA, each direction counted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficLimits {
    /// Rekey after this many bytes.
    pub soft_bytes: Option<u64>,
    /// Stop after this many bytes.
    pub hard_bytes: Option<u64>,
    /// Rekey after this many packets.
    pub soft_packets: Option<u64>,
    /// Stop after this many packets.
    pub hard_packets: Option<u64>,
}

/// Traffic counters of a child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficCounters {
    /// Inner bytes received.
    pub bytes_in: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Inner bytes sent.
    pub bytes_out: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// The data plane of one child SA: both directions' keys, sequence state and counters.
pub struct EspSa {
    spi_in: u32,
    spi_out: u32,
    inbound: SymKey,
    outbound: SymKey,
    seq_out: u32,
    replay: ReplayWindow,
    counters: TrafficCounters,
    limits: TrafficLimits,
    soft_reported: bool,
}

impl EspSa {
    /// A child SA's data plane from its keys.
    pub fn new(
        spi_in: u32,
        spi_out: u32,
        inbound: SymKey,
        outbound: SymKey,
        limits: TrafficLimits,
    ) -> Self {
        Self {
            spi_in,
            spi_out,
            inbound,
            outbound,
            seq_out: 0,
            replay: ReplayWindow::default(),
            counters: TrafficCounters::default(),
            limits,
            soft_reported: false,
        }
    }

    /// Our inbound SPI.
    pub fn spi_in(&self) -> u32 {
        self.spi_in
    }

    /// The peer's inbound SPI, which we send with.
    pub fn spi_out(&self) -> u32 {
        self.spi_out
    }

    /// Traffic so far.
    pub fn counters(&self) -> TrafficCounters {
        self.counters
    }

    fn total(&self) -> (u64, u64) {
        let c = self.counters;
        (c.bytes_in + c.bytes_out, c.packets_in + c.packets_out)
    }

    fn over(limit: Option<u64>, value: u64) -> bool {
        limit.is_some_and(|l| value >= l)
    }

    /// True once a hard limit is reached; the SA then refuses every packet.
    pub fn hard_expired(&self) -> bool {
        let (b, p) = self.total();
        Self::over(self.limits.hard_bytes, b) || Self::over(self.limits.hard_packets, p)
    }

    /// True the first time a soft limit (bytes, packets or sequence numbers) is passed:
    /// the caller then starts a rekey.
    pub fn take_soft_expiry(&mut self) -> bool {
        if self.soft_reported {
            return false;
        }
        let (b, p) = self.total();
        let soft = Self::over(self.limits.soft_bytes, b)
            || Self::over(self.limits.soft_packets, p)
            || self.seq_out >= SEQ_SOFT_LIMIT;
        self.soft_reported = soft;
        soft
    }

    /// Seals `packet` (an IPv4 or IPv6 packet) into `out` as an ESP packet ready for UDP
    /// encapsulation; `out` is cleared first and reused.
    pub fn seal(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), EspError> {
        let next_header = match packet.first().map(|b| b >> 4) {
            Some(4) => NEXT_HEADER_IPV4,
            Some(6) => NEXT_HEADER_IPV6,
            _ => return Err(EspError::NotIp),
        };
        if self.hard_expired() {
            return Err(EspError::Expired);
        }
        let seq = self
            .seq_out
            .checked_add(1)
            .ok_or(EspError::SequenceExhausted)?;
        let align = self.outbound.block_len().max(4);
        let pad = (align - (packet.len() + 2) % align) % align;
        let iv_len = self.outbound.iv_len();
        let total = ESP_HEADER_LEN + iv_len + packet.len() + pad + 2 + self.outbound.icv_len();
        out.clear();
        out.reserve(total);
        out.extend_from_slice(&self.spi_out.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.resize(ESP_HEADER_LEN + iv_len, 0);
        self.outbound
            .iv_for_counter(u64::from(seq), &mut out[ESP_HEADER_LEN..]);
        out.extend_from_slice(packet);
        out.extend((1..=pad as u8).chain([pad as u8, next_header]));
        out.resize(total, 0);
        self.outbound
            .seal(out, ESP_HEADER_LEN)
            .map_err(|_| EspError::Malformed)?;
        self.seq_out = seq;
        self.counters.bytes_out += packet.len() as u64;
        self.counters.packets_out += 1;
        Ok(())
    }

    /// Opens an ESP packet in place (the UDP payload, starting with the SPI); returns the
    /// range of the inner IP packet within `datagram`.
    pub fn open(&mut self, datagram: &mut [u8]) -> Result<Range<usize>, EspError> {
        if datagram.len() < ESP_HEADER_LEN {
            return Err(EspError::Malformed);
        }
        if self.hard_expired() {
            return Err(EspError::Expired);
        }
        let seq = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
        self.replay.check(seq)?;
        let plain = self
            .inbound
            .open(datagram, ESP_HEADER_LEN)
            .map_err(|e| match e {
                crate::crypto::CryptoError::IntegrityCheck => EspError::Integrity,
                _ => EspError::Malformed,
            })?;
        self.replay.accept(seq)?;
        let p = &datagram[plain.clone()];
        if p.len() < 2 {
            return Err(EspError::Malformed);
        }
        let pad = p[p.len() - 2] as usize;
        let next_header = p[p.len() - 1];
        let inner_len = p.len().checked_sub(pad + 2).ok_or(EspError::BadPadding)?;
        if !p[inner_len..inner_len + pad]
            .iter()
            .enumerate()
            .all(|(i, b)| *b as usize == i + 1)
        {
            return Err(EspError::BadPadding);
        }
        if next_header == NEXT_HEADER_NONE {
            return Err(EspError::Dummy);
        }
        self.counters.bytes_in += inner_len as u64;
        self.counters.packets_in += 1;
        Ok(plain.start..plain.start + inner_len)
    }
}
