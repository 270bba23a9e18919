//! cvlan-schema: the network.kdl and cvland.kdl languages.
//!
//! Parses the files an operator writes, validates them against the rules of
//! `network-kdl.md`, reports every problem as a [`Diagnostic`] with spans and a stable code,
//! and formats files canonically. The output is a typed [`model::Network`] with no KDL types
//! in it; cvlan-core computes everything else from that model.

pub mod diagnostic;
pub mod keys;
pub mod model;
pub mod proposal;
pub mod span;
mod syntax;

pub use diagnostic::{Diagnostic, Label, Severity};
pub use keys::PublicKey;
pub use span::{Source, SourceId, SourceMap, Span, Spanned};
