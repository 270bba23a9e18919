//! cvlan-schema: the network.kdl and cvland.kdl languages.
//!
//! Parses the files an operator writes, validates them against the rules of
//! `network-kdl.md`, reports every problem as a [`Diagnostic`] with spans and a stable code,
//! and formats files canonically. The output is a typed [`model::Network`] with no KDL types
//! in it; cvlan-core computes everything else from that model.
//!
//! Entry points: [`load_network`] / [`parse_network`] for network.kdl, [`load_host`] /
//! [`parse_host`] for cvland.kdl and vrouterd.kdl, [`report`] to render diagnostics and
//! [`format()`] for `cvlanctl fmt`. `REFERENCE.md` beside this crate is the language reference.

mod build;
pub mod diagnostic;
mod format;
pub mod grammar;
pub mod host;
mod kind;
mod lines;
mod load;
pub mod model;
pub use cvlan_types::proposal;
mod read;
pub mod report;
pub mod span;
mod suggest;
mod syntax;
mod validate;
pub mod values;

pub use build::{DEFAULT_LISTEN_PORT, DEFAULT_OVERLAY, DEFAULT_TENANT};
pub use cvlan_types::{KeyError, PublicKey};
pub use diagnostic::{Diagnostic, Label, Severity};
pub use format::{FormatError, FormattedFile, format, format_file};
pub use host::{HostChecked, HostConfig, HostRole, StateSource, load_host, parse_host};
pub use kind::{AnyChecked, HOST_FILE_NAMES, load_any};
pub use load::{
    Checked, IncludeReader, LoadError, check_network, check_network_bytes, load_network,
    parse_network, utf8,
};
pub use span::{Source, SourceId, SourceMap, Span, Spanned};
pub use syntax::kdl_document;
