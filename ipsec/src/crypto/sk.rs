//! The Encrypted and Authenticated (SK) payload (RFC 7296 section 3.14, RFC 5282): turns a
//! header and inner payloads into a protected IKE message and back.

use super::keys::IkeKeys;
use super::sym::SymKey;
use crate::transforms::IkeProposal;
use crate::wire::{
    HEADER_LEN, Header, Message, PAYLOAD_HEADER_LEN, Payload, PayloadType, WireError,
    encode_payloads, parse_payloads,
};

/// Why a protected message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The outer message is malformed or has no SK payload.
    #[error("outer message: {0}")]
    Outer(WireError),
    /// The ICV did not verify (or the ciphertext is malformed): drop silently.
    #[error("integrity check failed")]
    Integrity,
    /// The decrypted payloads are malformed: answer INVALID_SYNTAX (or
    /// UNSUPPORTED_CRITICAL_PAYLOAD).
    #[error("inner payloads: {0}")]
    Inner(WireError),
}

/// The SK keys of one IKE SA from our side's point of view.
pub struct SkCrypto {
    out: SymKey,
    inbound: SymKey,
    counter: u64,
}

impl SkCrypto {
    /// SK_e*/SK_a* for our role; `None` if the key lengths do not fit the proposal.
    pub fn new(keys: &IkeKeys, p: &IkeProposal, initiator: bool) -> Option<Self> {
        let i = SymKey::new(p.encryption, p.integrity, &keys.ei, &keys.ai)?;
        let r = SymKey::new(p.encryption, p.integrity, &keys.er, &keys.ar)?;
        let (out, inbound) = if initiator { (i, r) } else { (r, i) };
        Some(Self {
            out,
            inbound,
            counter: 0,
        })
    }

    /// A protected message: `header` (its length and next payload are filled in) followed
    /// by one SK payload holding `inner`.
    pub fn seal(&mut self, mut header: Header, inner: &[Payload]) -> Vec<u8> {
        let (first, body) = encode_payloads(inner);
        let block = self.out.block_len();
        let pad = (block - (body.len() + 1) % block) % block;
        let (iv_len, icv_len) = (self.out.iv_len(), self.out.icv_len());
        let sk_len = PAYLOAD_HEADER_LEN + iv_len + body.len() + pad + 1 + icv_len;
        header.next_payload = PayloadType::SK;
        header.length = (HEADER_LEN + sk_len) as u32;
        let mut buf = Vec::with_capacity(HEADER_LEN + sk_len);
        header.encode(&mut buf);
        buf.extend_from_slice(&[first, 0]);
        buf.extend_from_slice(&(sk_len as u16).to_be_bytes());
        let iv_at = buf.len();
        buf.resize(iv_at + iv_len, 0);
        self.counter += 1;
        self.out.iv_for_counter(self.counter, &mut buf[iv_at..]);
        buf.extend_from_slice(&body);
        buf.resize(buf.len() + pad, 0);
        buf.push(pad as u8);
        buf.resize(buf.len() + icv_len, 0);
        // The layout was built to match what seal checks, so it cannot fail.
        let sealed = self.out.seal(&mut buf, HEADER_LEN + PAYLOAD_HEADER_LEN);
        debug_assert!(sealed.is_ok());
        buf
    }

    /// Verifies and decrypts a protected message; returns its header and the payloads
    /// (any unprotected ones before SK, then the inner ones).
    pub fn open(&self, bytes: &[u8]) -> Result<Message, OpenError> {
        let mut msg = Message::parse(bytes).map_err(OpenError::Outer)?;
        let Some(Payload::Encrypted { first, data }) = msg.payloads.pop() else {
            return Err(OpenError::Outer(WireError::Malformed("no SK payload")));
        };
        let aad_len = bytes.len() - data.len();
        let mut buf = bytes.to_vec();
        let range = self
            .inbound
            .open(&mut buf, aad_len)
            .map_err(|_| OpenError::Integrity)?;
        let plain = &buf[range];
        let pad = *plain.last().ok_or(OpenError::Inner(WireError::Truncated))? as usize;
        let inner_len = plain
            .len()
            .checked_sub(pad + 1)
            .ok_or(OpenError::Inner(WireError::BadLength))?;
        let inner = parse_payloads(first, &plain[..inner_len]).map_err(OpenError::Inner)?;
        msg.payloads.extend(inner);
        Ok(msg)
    }
}
