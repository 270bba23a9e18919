//! cvlan-types: the words every CloudVLAN crate shares, and nothing else.
//!
//! A leaf crate (no CloudVLAN dependencies, no IO): the x25519 [`PublicKey`] that names nodes
//! and vrouters and the [`PrivateKey`] behind it, the IPsec transforms and proposals ([`proposal`]), where an IPsec peer is
//! ([`Remote`]), and the well-known [`ports`] and [`paths`]. cvlan-schema parses network.kdl
//! into these types; the data planes, the daemons and the dashboards use them without
//! knowing the config language.

pub mod key;
pub mod paths;
pub mod ports;
mod private_key;
pub mod proposal;
mod remote;

pub use key::{KeyError, PublicKey};
pub use private_key::{PrivateKey, PrivateKeyError};
pub use remote::Remote;
