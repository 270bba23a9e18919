//! Well-known UDP ports.

/// The WireGuard port used when network.kdl names none.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;
/// IKE (RFC 7296): where IKE_SA_INIT starts.
pub const IKE_PORT: u16 = 500;
/// NAT traversal (RFC 3948): IKE after NAT detection, and ESP in UDP.
pub const NATT_PORT: u16 = 4500;
