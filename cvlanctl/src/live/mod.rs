//! Live commands: they ask the local daemon over its Unix socket and never read its files.

pub mod dns;
pub mod events;
pub mod peers;
pub mod ping;
pub mod policy;
pub mod sas;
pub mod status;
pub mod whois;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cvlan_proto::local::connect;
use cvlan_proto::v1::local_api_service_client::LocalApiServiceClient;
use tonic::transport::Channel;

use crate::outcome::{Failure, Outcome};

/// A connected local-API client.
pub type Client = LocalApiServiceClient<Channel>;

/// Connects to the daemon at `socket` and runs `command` with the client on a small runtime.
pub fn with_client<F, Fut>(socket: &Path, command: F) -> Outcome
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    runtime.block_on(async {
        let client = connect(socket).await?;
        command(client).await
    })
}

/// A protobuf timestamp as a `SystemTime` (None when absent or out of range).
pub fn time(ts: Option<&cvlan_proto::prost_types::Timestamp>) -> Option<SystemTime> {
    ts.and_then(|ts| SystemTime::try_from(*ts).ok())
}

/// A protobuf duration as a `Duration` (None when absent or negative).
pub fn duration(d: Option<&cvlan_proto::prost_types::Duration>) -> Option<Duration> {
    d.and_then(|d| Duration::try_from(*d).ok())
}

/// RFC 3339 (UTC, seconds) for JSON output.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// How long ago `t` was (zero for times in the future).
pub fn since(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

/// The base64 form of a public key sent as bytes, or a marker when it is malformed.
pub fn key_text(bytes: &[u8]) -> String {
    cvlan_proto::convert::key_from_bytes("public_key", bytes)
        .map_or_else(|_| "-".to_owned(), |key| key.to_base64())
}
