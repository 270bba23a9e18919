//! cvlan-controller: the control plane's registry and store.
//!
//! - [`config`]: controller.kdl, read and checked by cvlan-schema;
//! - [`controller`]: the [`Controller`] (its key and its store) and [`run`], which opens the
//!   database, seeds it from `network-file` and serves until SIGTERM or SIGINT;
//! - [`metrics`]: the families of the Prometheus endpoint (`metrics listen=`);
//! - [`seed`]: the first revision from `network-file`, checked as `cvlanctl check` does;
//! - [`netmaps`]: every registered node's netmap for a revision and the registry;
//! - [`serve`]: the one port: Noise, then the control and admin gRPC services, and the hub
//!   that streams netmaps;
//! - [`store`]: the [`store::Store`] trait, its SQLite implementation and the async wrapper;
//! - [`secret`]: auth and API keys: generated, shown once, stored as hashes.

pub mod config;
pub mod controller;
pub mod metrics;
pub mod netmaps;
pub mod secret;
pub mod seed;
pub mod serve;
pub mod store;

pub use config::{Config, ConfigError};
pub use controller::{Controller, ControllerError, open_store, run};
