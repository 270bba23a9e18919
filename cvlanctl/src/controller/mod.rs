//! Controller commands: they ask cvlan-controller's admin API over the Noise transport,
//! authorised by an API key (`authorization: Bearer …`). The Noise key of cvlanctl is made for
//! each run: the API key, not the machine, is what the controller authorises.

pub mod apply;
pub mod audit;
pub mod keys;
pub mod nodes;

use std::future::Future;

use cvlan_proto::transport::noise;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_schema::PublicKey;
use cvlan_types::PrivateKey;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cli::{ControllerArgs, TopControllerArgs};
use crate::outcome::{Failure, Outcome};

/// The environment variable holding the API key when no `--api-key-file` is given.
pub const API_KEY_ENV: &str = "CVLAN_API_KEY";

/// Where the controller is and what to authenticate with.
#[derive(Clone)]
pub struct Target {
    /// `host:port`.
    pub address: String,
    /// Its static key.
    pub key: PublicKey,
    /// The API key (never printed).
    api_key: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The controller options of a command: those after the command win over those before it and
/// the environment.
pub fn target(top: &TopControllerArgs, sub: &ControllerArgs) -> Result<Target, Failure> {
    let address = sub
        .address
        .clone()
        .or_else(|| top.address.clone())
        .ok_or_else(|| {
            Failure::Usage(
                "no controller: give --controller HOST:PORT or set CVLAN_CONTROLLER".to_owned(),
            )
        })?;
    target_at(address, top, sub)
}

/// [`target`] with the address already chosen (`plan --controller [HOST:PORT]`).
pub fn target_at(
    address: String,
    top: &TopControllerArgs,
    sub: &ControllerArgs,
) -> Result<Target, Failure> {
    let key_text = sub
        .controller_key
        .clone()
        .or_else(|| top.controller_key.clone())
        .ok_or_else(|| {
            Failure::Usage(
                "no controller key: give --controller-key BASE64 (`cvlan-controller pubkey` \
                 prints it) or set CVLAN_CONTROLLER_KEY"
                    .to_owned(),
            )
        })?;
    let key = key_text
        .trim()
        .parse::<PublicKey>()
        .map_err(|e| Failure::Usage(format!("--controller-key: this public key is {e}")))?;
    let api_key = match sub.api_key_file.as_ref().or(top.api_key_file.as_ref()) {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|source| Failure::Read {
                path: path.clone(),
                source,
            })?
            .trim()
            .to_owned(),
        None => std::env::var(API_KEY_ENV).map_err(|_| {
            Failure::Usage(format!(
                "no API key: give --api-key-file FILE or set {API_KEY_ENV}"
            ))
        })?,
    };
    Ok(Target {
        address,
        key,
        api_key,
    })
}

/// Adds the API key to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// An admin-API client with the API key attached.
pub type Admin = AdminServiceClient<InterceptedService<Channel, Bearer>>;

/// Connects to the controller and runs `command` with the client on a small runtime.
pub fn with_admin<F, Fut>(target: &Target, command: F) -> Outcome
where
    F: FnOnce(Admin) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let bearer = MetadataValue::try_from(format!("Bearer {}", target.api_key))
        .map_err(|_| Failure::Usage("the API key holds characters no key has".to_owned()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Output)?;
    runtime.block_on(async {
        let local = PrivateKey::generate();
        let channel = noise::connect(&target.address, &local, &target.key)
            .await
            .map_err(|e| {
                Failure::Daemon(format!(
                    "cannot reach the controller at {}: {e}",
                    target.address
                ))
            })?;
        command(AdminServiceClient::with_interceptor(
            channel,
            Bearer(bearer),
        ))
        .await
    })
}
