//! The one place where proto messages and the model types of cvlan-schema and cvlan-core meet:
//! public keys, addresses and prefixes, policy rules with their selectors and ports, verdicts,
//! diagnostics (with line and column from the [`SourceMap`]), planned actions, and policy
//! explanations (in `explain`).
//!
//! Directions that cannot fail are `From`; directions that can are `TryFrom` with a
//! [`ConvertError`]. Keys and addresses live in foreign types on both sides (`PublicKey` and
//! `Vec<u8>`, `IpAddr` and `String`), where the orphan rule forbids `TryFrom`: those are the
//! functions [`key_from_bytes`], [`parse_addr`], [`parse_prefix`] and friends, which name the
//! field they read in their errors. Model values built from protos carry `Span::default()`:
//! they did not come from a file.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};

use cvlan_schema::model::{Action, PortItem, PortRange, Proto, Rule, Selector, Transport, Verdict};
use cvlan_schema::{Diagnostic, PublicKey, Severity, SourceMap, Span, Spanned};
use ipnet::IpNet;

use crate::v1;
use crate::v1::policy_target::Target;

/// Why a proto message does not convert into a model value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A key field does not hold exactly 32 bytes.
    #[error("{field}: a key has 32 bytes, got {len}")]
    KeyLength {
        /// The field read.
        field: &'static str,
        /// The number of bytes found.
        len: usize,
    },
    /// An address field does not hold an IP address.
    #[error("{field}: {value:?} is not an IP address")]
    Address {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// A prefix field does not hold a CIDR prefix or an address.
    #[error("{field}: {value:?} is not a prefix (CIDR) or an address")]
    Prefix {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// An endpoint field does not hold `ip:port`.
    #[error("{field}: {value:?} is not an endpoint (ip:port)")]
    Endpoint {
        /// The field read.
        field: &'static str,
        /// The text found.
        value: String,
    },
    /// A required field is absent or unspecified.
    #[error("{field} is missing")]
    Missing {
        /// The field read.
        field: &'static str,
    },
    /// An enum field holds a number this version does not know.
    #[error("{field}: {value} is not a known value")]
    UnknownEnum {
        /// The field read.
        field: &'static str,
        /// The number found.
        value: i32,
    },
    /// A text field holds a value this version does not know, or one that contradicts
    /// another field.
    #[error("{field}: {value:?} is not a valid value here")]
    Text {
        /// The field read.
        field: &'static str,
        /// What was found.
        value: String,
    },
    /// A port is above 65535.
    #[error("{field}: port {value} is out of range (0..=65535)")]
    Port {
        /// The field read.
        field: &'static str,
        /// The number found.
        value: u32,
    },
    /// A port range ends before it starts.
    #[error("PortRange: {first}-{last} ends before it starts")]
    PortOrder {
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
    },
    /// A rule did not convert; `source` says why.
    #[error("rule {name:?}: {source}")]
    Rule {
        /// The rule's name.
        name: String,
        /// What was wrong in it.
        #[source]
        source: Box<ConvertError>,
    },
}

// ---------------------------------------------------------------------------------------------
// Keys, addresses, prefixes, endpoints

/// The 32 raw bytes of a public key, as proto `bytes` fields carry it.
pub fn key_to_bytes(key: &PublicKey) -> Vec<u8> {
    key.0.to_vec()
}

/// Reads a public key from a proto `bytes` field, refusing any length but 32.
pub fn key_from_bytes(field: &'static str, bytes: &[u8]) -> Result<PublicKey, ConvertError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| ConvertError::KeyLength {
        field,
        len: bytes.len(),
    })?;
    Ok(PublicKey(array))
}

/// Reads an IP address from a proto string field.
pub fn parse_addr(field: &'static str, text: &str) -> Result<IpAddr, ConvertError> {
    text.parse().map_err(|_| ConvertError::Address {
        field,
        value: text.to_owned(),
    })
}

/// Reads a prefix from a proto string field: CIDR, or one address as a /32 or /128.
///
/// The prefix is kept as written (host bits are not cleared), as the model keeps it.
pub fn parse_prefix(field: &'static str, text: &str) -> Result<IpNet, ConvertError> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| ConvertError::Prefix {
            field,
            value: text.to_owned(),
        })
}

/// Reads an `ip:port` endpoint (`[v6]:port` for IPv6) from a proto string field.
pub fn parse_endpoint(field: &'static str, text: &str) -> Result<SocketAddr, ConvertError> {
    text.parse().map_err(|_| ConvertError::Endpoint {
        field,
        value: text.to_owned(),
    })
}

/// Reads every address of a repeated proto string field.
pub fn parse_addrs(field: &'static str, texts: &[String]) -> Result<Vec<IpAddr>, ConvertError> {
    texts.iter().map(|text| parse_addr(field, text)).collect()
}

/// Reads every prefix of a repeated proto string field.
pub fn parse_prefixes(field: &'static str, texts: &[String]) -> Result<Vec<IpNet>, ConvertError> {
    texts.iter().map(|text| parse_prefix(field, text)).collect()
}

/// The text form of addresses, prefixes or endpoints, for a repeated proto string field.
pub fn to_strings<T: Display>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|item| item.to_string()).collect()
}

/// Reads a proto enum field, refusing numbers this version does not know.
fn known_enum<E: TryFrom<i32>>(field: &'static str, value: i32) -> Result<E, ConvertError> {
    E::try_from(value).map_err(|_| ConvertError::UnknownEnum { field, value })
}

// ---------------------------------------------------------------------------------------------
// Policy: actions, verdicts, protocols, ports, selectors, rules

impl From<Action> for v1::PolicyAction {
    fn from(action: Action) -> Self {
        match action {
            Action::Allow => v1::PolicyAction::Allow,
            Action::Deny => v1::PolicyAction::Deny,
        }
    }
}

impl TryFrom<v1::PolicyAction> for Action {
    type Error = ConvertError;

    fn try_from(action: v1::PolicyAction) -> Result<Self, Self::Error> {
        match action {
            v1::PolicyAction::Allow => Ok(Action::Allow),
            v1::PolicyAction::Deny => Ok(Action::Deny),
            v1::PolicyAction::Unspecified => Err(ConvertError::Missing {
                field: "PolicyRule.action",
            }),
        }
    }
}

impl From<Verdict> for v1::Verdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Accept => v1::Verdict::Accept,
            Verdict::Reject => v1::Verdict::Reject,
        }
    }
}

impl TryFrom<v1::Verdict> for Verdict {
    type Error = ConvertError;

    fn try_from(verdict: v1::Verdict) -> Result<Self, Self::Error> {
        match verdict {
            v1::Verdict::Accept => Ok(Verdict::Accept),
            v1::Verdict::Reject => Ok(Verdict::Reject),
            v1::Verdict::Unspecified => Err(ConvertError::Missing { field: "verdict" }),
        }
    }
}

impl From<Proto> for v1::IpProtocol {
    fn from(proto: Proto) -> Self {
        match proto {
            Proto::Tcp => v1::IpProtocol::Tcp,
            Proto::Udp => v1::IpProtocol::Udp,
            Proto::Icmp => v1::IpProtocol::Icmp,
            Proto::Any => v1::IpProtocol::Any,
        }
    }
}

/// `proto=` as written: unspecified on the wire is "not written".
impl From<v1::IpProtocol> for Option<Proto> {
    fn from(proto: v1::IpProtocol) -> Self {
        match proto {
            v1::IpProtocol::Unspecified => None,
            v1::IpProtocol::Tcp => Some(Proto::Tcp),
            v1::IpProtocol::Udp => Some(Proto::Udp),
            v1::IpProtocol::Icmp => Some(Proto::Icmp),
            v1::IpProtocol::Any => Some(Proto::Any),
        }
    }
}

impl From<Transport> for v1::Transport {
    fn from(transport: Transport) -> Self {
        match transport {
            Transport::Tcp => v1::Transport::Tcp,
            Transport::Udp => v1::Transport::Udp,
            Transport::Both => v1::Transport::Both,
        }
    }
}

impl TryFrom<v1::Transport> for Transport {
    type Error = ConvertError;

    fn try_from(transport: v1::Transport) -> Result<Self, Self::Error> {
        match transport {
            v1::Transport::Tcp => Ok(Transport::Tcp),
            v1::Transport::Udp => Ok(Transport::Udp),
            v1::Transport::Both => Ok(Transport::Both),
            v1::Transport::Unspecified => Err(ConvertError::Missing {
                field: "PortRange.transport",
            }),
        }
    }
}

impl From<&PortItem> for v1::PortRange {
    fn from(item: &PortItem) -> Self {
        v1::PortRange {
            transport: v1::Transport::from(item.transport).into(),
            first: item.range.first.into(),
            last: item.range.last.into(),
        }
    }
}

impl TryFrom<&v1::PortRange> for PortItem {
    type Error = ConvertError;

    fn try_from(range: &v1::PortRange) -> Result<Self, Self::Error> {
        let port = |field, value: u32| {
            u16::try_from(value).map_err(|_| ConvertError::Port { field, value })
        };
        let first = port("PortRange.first", range.first)?;
        let last = port("PortRange.last", range.last)?;
        if first > last {
            return Err(ConvertError::PortOrder { first, last });
        }
        let transport: v1::Transport = known_enum("PortRange.transport", range.transport)?;
        Ok(PortItem {
            transport: transport.try_into()?,
            range: PortRange { first, last },
        })
    }
}

impl From<&Selector> for v1::PolicyTarget {
    fn from(selector: &Selector) -> Self {
        let target = match selector {
            Selector::Any => Target::Any(()),
            Selector::Node(name) => Target::Node(name.clone()),
            Selector::Tag(tag) => Target::Tag(tag.clone()),
            Selector::Group(group) => Target::Group(group.clone()),
            Selector::User(email) => Target::User(email.clone()),
            Selector::Vrouter(name) => Target::Vrouter(name.clone()),
            Selector::Ipsec(peer) => Target::Ipsec(peer.clone()),
            Selector::Route(node) => Target::Route(node.clone()),
            Selector::Prefix(net) => Target::Prefix(net.to_string()),
        };
        v1::PolicyTarget {
            target: Some(target),
        }
    }
}

impl TryFrom<v1::PolicyTarget> for Selector {
    type Error = ConvertError;

    fn try_from(target: v1::PolicyTarget) -> Result<Self, Self::Error> {
        let target = target.target.ok_or(ConvertError::Missing {
            field: "PolicyTarget.target",
        })?;
        Ok(match target {
            Target::Any(()) => Selector::Any,
            Target::Node(name) => Selector::Node(name),
            Target::Tag(tag) => Selector::Tag(tag),
            Target::Group(group) => Selector::Group(group),
            Target::User(email) => Selector::User(email),
            Target::Vrouter(name) => Selector::Vrouter(name),
            Target::Ipsec(peer) => Selector::Ipsec(peer),
            Target::Route(node) => Selector::Route(node),
            Target::Prefix(text) => Selector::Prefix(parse_prefix("PolicyTarget.prefix", &text)?),
        })
    }
}

impl From<&Rule> for v1::PolicyRule {
    fn from(rule: &Rule) -> Self {
        let protocol = rule
            .proto
            .map_or(v1::IpProtocol::Unspecified, |proto| proto.value.into());
        v1::PolicyRule {
            name: rule.name.value.clone(),
            action: v1::PolicyAction::from(rule.action).into(),
            from: rule.from.iter().map(|s| (&s.value).into()).collect(),
            to: rule.to.iter().map(|s| (&s.value).into()).collect(),
            protocol: protocol.into(),
            ports: rule.ports.iter().map(|p| (&p.value).into()).collect(),
        }
    }
}

/// The rule as the model holds it, every span `Span::default()`.
impl TryFrom<v1::PolicyRule> for Rule {
    type Error = ConvertError;

    fn try_from(rule: v1::PolicyRule) -> Result<Self, Self::Error> {
        let v1::PolicyRule {
            name,
            action,
            from,
            to,
            protocol,
            ports,
        } = rule;
        let convert = || -> Result<Rule, ConvertError> {
            let action: v1::PolicyAction = known_enum("PolicyRule.action", action)?;
            let protocol: v1::IpProtocol = known_enum("PolicyRule.protocol", protocol)?;
            let selectors = |targets: Vec<v1::PolicyTarget>| {
                targets
                    .into_iter()
                    .map(|t| Selector::try_from(t).map(unspanned))
                    .collect::<Result<Vec<_>, _>>()
            };
            Ok(Rule {
                action: action.try_into()?,
                name: unspanned(name.clone()),
                from: selectors(from)?,
                to: selectors(to)?,
                proto: Option::<Proto>::from(protocol).map(unspanned),
                ports: ports
                    .iter()
                    .map(|p| PortItem::try_from(p).map(unspanned))
                    .collect::<Result<_, _>>()?,
                span: Span::default(),
            })
        };
        convert().map_err(|source| ConvertError::Rule {
            name: name.clone(),
            source: Box::new(source),
        })
    }
}

/// A value that came from the wire, not from a file.
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Span::default())
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

impl From<Severity> for v1::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Error => v1::Severity::Error,
            Severity::Warning => v1::Severity::Warning,
        }
    }
}

impl v1::Diagnostic {
    /// The wire form of a diagnostic: file name, 1-based line and column (in characters) of
    /// its span and of each label's, as `cvlanctl check --format json` prints them.
    pub fn from_schema(diagnostic: &Diagnostic, sources: &SourceMap) -> Self {
        let place = |span: Span| {
            let (line, column) = sources.line_column(span);
            (saturating_u32(line), saturating_u32(column))
        };
        let (line, column) = place(diagnostic.span);
        v1::Diagnostic {
            severity: v1::Severity::from(diagnostic.severity).into(),
            code: diagnostic.code.to_owned(),
            message: diagnostic.message.clone(),
            file: sources
                .get(diagnostic.span.source)
                .map(|source| source.name.clone())
                .unwrap_or_default(),
            line,
            column,
            labels: diagnostic
                .labels
                .iter()
                .map(|label| {
                    let (line, column) = place(label.span);
                    v1::DiagnosticLabel {
                        line,
                        column,
                        text: label.text.clone(),
                    }
                })
                .collect(),
            help: diagnostic.help.clone(),
        }
    }
}

impl From<v1::Diagnostic> for cvlan_schema::report::JsonDiagnostic {
    /// The wire form back in the JSON shape of `cvlanctl check --format json`, so a daemon's
    /// rejection reads exactly like an offline check.
    fn from(d: v1::Diagnostic) -> Self {
        let severity = match d.severity() {
            v1::Severity::Warning => Severity::Warning,
            v1::Severity::Error | v1::Severity::Unspecified => Severity::Error,
        };
        cvlan_schema::report::JsonDiagnostic {
            severity: severity.as_str().to_owned(),
            code: d.code,
            message: d.message,
            file: d.file,
            line: d.line as usize,
            column: d.column as usize,
            labels: d
                .labels
                .into_iter()
                .map(|l| cvlan_schema::report::JsonLabel {
                    line: l.line as usize,
                    column: l.column as usize,
                    text: l.text,
                })
                .collect(),
            help: d.help,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reconciliation plans

impl From<&cvlan_core::plan::Action> for v1::LocalPlanAction {
    /// The wire form of one planned action: its kind, target and the line `Plan` prints.
    fn from(action: &cvlan_core::plan::Action) -> Self {
        v1::LocalPlanAction {
            kind: action.kind().to_owned(),
            target: action.target().to_owned(),
            line: format!("{} {action}", action.sign()),
        }
    }
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

mod explain;

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
