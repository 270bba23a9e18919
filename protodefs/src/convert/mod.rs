//! The one place where proto messages and the model types of cvlan-schema and cvlan-core meet,
//! one module per area: public keys (`keys`), addresses, prefixes and endpoints (`addresses`),
//! policy rules with their selectors, ports and verdicts (`policy`), diagnostics with line and
//! column from the [`SourceMap`](cvlan_schema::SourceMap) (`diagnostics`), planned actions
//! (`plan`), policy explanations (`explain`), and netmaps with their deltas (`netmap`).
//!
//! Directions that cannot fail are `From`; directions that can are `TryFrom` with a
//! [`ConvertError`]. Keys and addresses live in foreign types on both sides (`PublicKey` and
//! `Vec<u8>`, `IpAddr` and `String`), where the orphan rule forbids `TryFrom`: those are the
//! functions [`key_from_bytes`], [`parse_addr`], [`parse_prefix`] and friends, which name the
//! field they read in their errors. Model values built from protos carry `Span::default()`:
//! they did not come from a file.

mod addresses;
mod diagnostics;
mod error;
mod explain;
mod keys;
mod netmap;
mod plan;
mod policy;

pub use addresses::{
    parse_addr, parse_addrs, parse_endpoint, parse_prefix, parse_prefixes, to_strings,
};
pub use error::ConvertError;
pub use keys::{key_from_bytes, key_to_bytes};
pub use netmap::{netmap_delta_to_proto, netmap_to_proto};

/// Reads a proto enum field, refusing numbers this version does not know.
fn known_enum<E: TryFrom<i32>>(field: &'static str, value: i32) -> Result<E, ConvertError> {
    E::try_from(value).map_err(|_| ConvertError::UnknownEnum { field, value })
}

/// Reads a port from a proto `uint32` field, refusing numbers above 65535.
fn port(field: &'static str, value: u32) -> Result<u16, ConvertError> {
    u16::try_from(value).map_err(|_| ConvertError::Port { field, value })
}
