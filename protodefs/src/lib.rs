//! cvlan-proto: CloudVLAN's protobuf definitions and what is shared around them.
//!
//! - [`v1`]: the Rust generated from `cloudvlan/v1/*.proto`: the resource messages, the local
//!   API (`LocalApiService`, served by the daemons on a Unix socket), the control services (node and
//!   vrouter ↔ controller) and the admin service (cvlanctl ↔ controller).
//! - `ApplyResult::now` (in `apply`): the apply results daemons report.
//! - [`convert`]: the one place where proto messages and cvlan-schema's model types meet.
//! - [`display`]: how local-API values read (`direct`, `relay:NAME`, byte counts, ages).
//! - [`transport`]: how the APIs travel; [`transport::unix`] (also [`local`]) is the local
//!   API over a Unix socket, its client side behind the `client` feature and its daemon side
//!   (bind, serve) behind `server`; [`transport::noise`] is the control transport (Noise IK over
//!   TCP), its framing and session always built, its tonic glue behind the same features.

mod apply;
pub mod convert;
pub mod display;
pub mod transport;

/// The local API's Unix-socket transport under its short name: `cvlan_proto::local::connect`,
/// `cvlan_proto::local::LocalSocket`, and the rest of [`transport::unix`].
pub use transport::unix as local;

/// The encoded `FileDescriptorSet` of every `cloudvlan/v1` file (with comments), for gRPC
/// reflection and for tests that inspect the schema.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/cloudvlan_v1_descriptor.bin"));

/// The well-known types (`Timestamp`, `Duration`) the generated messages use.
pub use prost_types;

/// Generated code for the `cloudvlan.v1` protobuf package.
///
/// The proto comments become the Rust docs; items prost and tonic add on their own (oneof
/// modules, client and server plumbing) carry none, hence the allow.
#[allow(missing_docs)]
pub mod v1 {
    tonic::include_proto!("cloudvlan.v1");
}
