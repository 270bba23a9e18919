//! cvlan-schema: the network.kdl and cvland.kdl languages.
//!
//! Parses the files an operator writes, validates them against the rules of
//! `network-kdl.md`, reports every problem as a [`Diagnostic`] with spans and a stable code,
//! and formats files canonically. The output is a typed [`model::Network`] with no KDL types
//! in it; cvlan-core computes everything else from that model.
//!
//! Entry points: [`load_network`] / [`parse_network`] for network.kdl (and
//! [`parse_network_partial`] for files that are not valid yet), [`load_host`] /
//! [`parse_host`] for cvland.kdl and vrouterd.kdl, [`load_controller_file`] /
//! [`parse_controller_file`] for cvlan-controller's controller.kdl, [`report`] to render diagnostics,
//! [`format()`] for `cvlanctl fmt` and [`edit`] for tools that change a file in place. Other
//! KDL languages of the project (the lab's topology files) read their text through
//! [`syntax::parse`] and report with the same [`Diagnostic`]s. `REFERENCE.md` beside this crate is the language reference.

mod build;
pub mod controller_file;
pub mod diagnostic;
pub mod edit;
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
pub mod syntax;
mod validate;
pub mod values;

pub use build::{DEFAULT_LISTEN_PORT, DEFAULT_OVERLAY, DEFAULT_TENANT};
pub use controller_file::{
    ControllerFile, ControllerFileChecked, Database, load_controller_file, parse_controller_file,
};
pub use cvlan_types::{KeyError, PublicKey};
pub use diagnostic::{Diagnostic, Label, Severity};
pub use format::{FormatError, FormattedFile, format, format_file, quote};
pub use host::{HostChecked, HostConfig, HostRole, StateSource, load_host, parse_host};
pub use kind::{AnyChecked, CONTROLLER_FILE_NAMES, HOST_FILE_NAMES, load_any};
pub use load::{
    Checked, IncludeReader, LoadError, Partial, check_network, check_network_bytes, load_network,
    parse_network, parse_network_partial, utf8,
};
pub use span::{Source, SourceId, SourceMap, Span, Spanned};
pub use syntax::kdl_document;
