//! Public keys on the wire: the 32 raw bytes of a proto `bytes` field, and back.

use cvlan_schema::PublicKey;

use super::ConvertError;

/// The 32 raw bytes of a public key, as proto `bytes` fields carry it.
pub fn key_to_bytes(key: &PublicKey) -> Vec<u8> {
    key.0.to_vec()
}

/// Reads a public key from a proto `bytes` field, refusing any length but 32.
pub fn key_from_bytes(field: &'static str, bytes: &[u8]) -> Result<PublicKey, ConvertError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| ConvertError::KeyLength {
        field,
        len: bytes.len(),
    })?;
    Ok(PublicKey(array))
}

/// The bytes of a key that may be unknown, as proto `bytes` fields carry it: empty for none.
pub(super) fn optional_key_to_bytes(key: Option<&PublicKey>) -> Vec<u8> {
    key.map(key_to_bytes).unwrap_or_default()
}

/// Reads a key that may be unknown from a proto `bytes` field: empty is none, anything else
/// must be 32 bytes.
pub(super) fn optional_key_from_bytes(
    field: &'static str,
    bytes: &[u8],
) -> Result<Option<PublicKey>, ConvertError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    key_from_bytes(field, bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> PublicKey {
        PublicKey([byte; 32])
    }

    #[test]
    fn keys_round_trip_and_wrong_lengths_are_refused() {
        let bytes = key_to_bytes(&key(7));
        assert_eq!(bytes, vec![7; 32]);
        assert_eq!(key_from_bytes("Peer.public_key", &bytes), Ok(key(7)));
        assert_eq!(
            key_from_bytes("Peer.public_key", &[1; 31]),
            Err(ConvertError::KeyLength {
                field: "Peer.public_key",
                len: 31
            })
        );
        let empty = key_from_bytes("Node.node_key", &[]).expect_err("empty is not a key");
        assert_eq!(
            empty.to_string(),
            "Node.node_key: a key has 32 bytes, got 0"
        );
    }

    proptest! {
        #[test]
        fn keys_of_any_length_but_32_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let result = key_from_bytes("k", &bytes);
            prop_assert_eq!(result.is_ok(), bytes.len() == 32);
            if let Ok(key) = result {
                prop_assert_eq!(key_to_bytes(&key), bytes);
            }
        }
    }
}
