//! `policy explain`: which rule decides a packet and why each part of it matched, plus the
//! resolution of the `from`/`to` endpoints that explain and policy-tests name (a node, a
//! vrouter or an address).

use std::fmt;
use std::net::IpAddr;

use cvlan_schema::model::{Action, Selector, TestEndpoint, TestPort, Verdict};
use serde::Serialize;

use crate::alloc::Entity;
use crate::policy::index::{Packet, PolicyIndex, SetId};
use crate::policy::service::{
    format_port_item, format_port_spec, format_proto, port_item_services, service_point,
};

/// The rule name reported when no rule matched.
pub const DEFAULT_DENY: &str = "default-deny";

/// Why an endpoint of explain or a policy-test cannot be turned into an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No node or vrouter has this name.
    #[error("no node or vrouter is named `{0}`")]
    Unknown(String),
    /// The entity has no address in the family the packet needs.
    #[error("{kind} `{name}` has no IPv{family} address")]
    NoAddress {
        /// `node` or `vrouter`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// 4 or 6.
        family: u8,
    },
    /// One side is IPv4 and the other IPv6.
    #[error("`{0}` and `{1}` are of different address families")]
    FamilyMismatch(IpAddr, IpAddr),
}

/// One side of an explained packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    /// The address used.
    pub address: IpAddr,
    /// `node` or `vrouter` when the address is an overlay address of one.
    pub kind: Option<&'static str>,
    /// That node's or vrouter's name.
    pub name: Option<String>,
}

/// Why one selector matched one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectorMatch {
    /// The selector, in canonical form (`tag:eng`, `node:db-1`, `10.0.0.0/8`, `*`).
    pub selector: String,
    /// The node, vrouter or ipsec peer through which it matched, if any.
    pub via: Option<String>,
    /// One sentence saying why.
    pub reason: String,
}

/// How the deciding rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMatch {
    /// The from selector that matched the source.
    pub from: SelectorMatch,
    /// The to selector that matched the destination.
    pub to: SelectorMatch,
    /// The port item that matched (`5432/tcp`, `22`, `*`), or `proto=icmp`, or `any`.
    pub port: String,
}

/// The answer of `policy explain`; its JSON starts with `verdict` and `rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// `accept` or `reject`.
    #[serde(serialize_with = "crate::policy::serialize_verdict")]
    pub verdict: Verdict,
    /// The deciding rule's name, or `default-deny`.
    pub rule: String,
    /// The deciding rule's index in the policy, if a rule decided.
    pub rule_index: Option<usize>,
    /// `allow` or `deny` for a deciding rule.
    pub action: Option<&'static str>,
    /// The source.
    pub from: EndpointInfo,
    /// The destination.
    pub to: EndpointInfo,
    /// The packet's protocol and port (`5432/tcp`, `icmp`).
    pub port: String,
    /// Why the deciding rule matched; `None` for the default deny.
    pub matched: Option<RuleMatch>,
}

impl<'a> PolicyIndex<'a> {
    /// Turns a policy-test or explain `from`/`to` pair into the packet's two addresses.
    ///
    /// Parse endpoints with `cvlan_schema::values::parse_test_endpoint`. A name is a node, else
    /// a vrouter (`node:`/`vrouter:` prefixes, if kept, force one). An entity gives
    /// its address in the other side's family when the other side is an address, else IPv4.
    pub fn resolve_pair(
        &self,
        from: &TestEndpoint,
        to: &TestEndpoint,
    ) -> Result<(IpAddr, IpAddr), EndpointError> {
        let family = match (from, to) {
            (TestEndpoint::Address(a), TestEndpoint::Address(b)) => {
                if a.is_ipv4() != b.is_ipv4() {
                    return Err(EndpointError::FamilyMismatch(*a, *b));
                }
                return Ok((*a, *b));
            }
            (TestEndpoint::Address(a), _) | (_, TestEndpoint::Address(a)) => {
                if a.is_ipv4() {
                    4
                } else {
                    6
                }
            }
            _ => 4,
        };
        Ok((
            self.resolve_one(from, family)?,
            self.resolve_one(to, family)?,
        ))
    }

    fn resolve_one(&self, endpoint: &TestEndpoint, family: u8) -> Result<IpAddr, EndpointError> {
        let name = match endpoint {
            TestEndpoint::Address(a) => return Ok(*a),
            TestEndpoint::Name(n) => n.as_str(),
        };
        let entity = if let Some(n) = name.strip_prefix("node:") {
            self.node(n)
        } else if let Some(v) = name.strip_prefix("vrouter:") {
            self.vrouter(v)
        } else {
            self.node(name).or_else(|| self.vrouter(name))
        }
        .ok_or_else(|| EndpointError::Unknown(name.to_string()))?;
        let addrs = self.allocation().addresses(entity);
        let ip = if family == 4 {
            addrs.v4.map(|a| IpAddr::V4(a.address))
        } else {
            addrs.v6.map(|a| IpAddr::V6(a.address))
        };
        ip.ok_or_else(|| EndpointError::NoAddress {
            kind: entity.kind(),
            name: entity.name(self.network()).to_string(),
            family,
        })
    }

    /// Explains a packet given by its endpoints: the verdict, the deciding rule and why.
    pub fn explain_endpoints(
        &self,
        from: &TestEndpoint,
        to: &TestEndpoint,
        port: TestPort,
    ) -> Result<Explanation, EndpointError> {
        let (src, dst) = self.resolve_pair(from, to)?;
        Ok(self.explain(&Packet { src, dst, port }))
    }

    /// Explains a packet: the verdict, the deciding rule and why each part matched.
    pub fn explain(&self, packet: &Packet) -> Explanation {
        let decision = self.evaluate(packet);
        let network = self.network();
        let matched = decision.rule.map(|i| {
            let rule = &self.rules()[i];
            RuleMatch {
                from: self.selector_match(&rule.from, packet.src),
                to: self.selector_match(&rule.to, packet.dst),
                port: port_match(&network.rules[i], packet.port),
            }
        });
        Explanation {
            verdict: decision.verdict,
            rule: decision.rule.map_or(DEFAULT_DENY.to_string(), |i| {
                network.rules[i].name.value.clone()
            }),
            rule_index: decision.rule,
            action: decision.rule.map(|i| match network.rules[i].action {
                Action::Allow => "allow",
                Action::Deny => "deny",
            }),
            from: self.endpoint_info(packet.src),
            to: self.endpoint_info(packet.dst),
            port: format_port_spec(packet.port),
            matched,
        }
    }

    fn endpoint_info(&self, address: IpAddr) -> EndpointInfo {
        let owner = self.allocation().owner(address);
        EndpointInfo {
            address,
            kind: owner.map(Entity::kind),
            name: owner.map(|e| e.name(self.network()).to_string()),
        }
    }

    /// Why the first of `sets` that contains `addr` matched it.
    fn selector_match(&self, sets: &[SetId], addr: IpAddr) -> SelectorMatch {
        let network = self.network();
        let Some(set) = sets
            .iter()
            .map(|&s| &self.sets()[s])
            .find(|s| s.addrs.contains(addr))
        else {
            return SelectorMatch {
                selector: String::new(),
                via: None,
                reason: format!("{addr} matched no selector"),
            };
        };
        let owner = self.allocation().owner(addr);
        let owner_name = owner.map(|e| e.name(network).to_string());
        let who = owner_name.clone().unwrap_or_else(|| addr.to_string());
        let (via, reason) = match &set.selector {
            Selector::Any => (owner_name, "* matches every address".to_string()),
            Selector::Node(n) => (Some(n.clone()), format!("{addr} is node {n}")),
            Selector::Vrouter(v) => (Some(v.clone()), format!("{addr} is vrouter {v}")),
            Selector::Tag(t) => (owner_name, format!("node {who} carries tag {t}")),
            Selector::User(u) => (owner_name, format!("node {who} is owned by {u}")),
            Selector::Group(g) => {
                let user = match owner {
                    Some(Entity::Node(i)) => {
                        network.nodes[i].owner.as_ref().map(|o| o.value.clone())
                    }
                    _ => None,
                };
                let user = user.unwrap_or_default();
                (
                    owner_name,
                    format!("node {who} is owned by {user}, a member of group {g}"),
                )
            }
            Selector::Route(n) => {
                let prefix = self.node(n).and_then(|e| match e {
                    Entity::Node(i) => network.nodes[i]
                        .routes
                        .iter()
                        .find(|r| r.value.contains(&addr)),
                    Entity::Vrouter(_) => None,
                });
                let prefix = prefix.map(|p| p.value.to_string()).unwrap_or_default();
                (
                    Some(n.clone()),
                    format!("{addr} is inside {prefix}, routed by node {n}"),
                )
            }
            Selector::Ipsec(p) => {
                let found = network.ipsec_peer(p).and_then(|(v, peer)| {
                    peer.remote_ts
                        .iter()
                        .find(|t| t.value.contains(&addr))
                        .map(|t| (v.name.value.clone(), t.value.to_string()))
                });
                let (vrouter, ts) = found.unwrap_or_default();
                (
                    Some(p.clone()),
                    format!(
                        "{addr} is inside {ts}, a remote traffic selector of ipsec peer {p} (vrouter {vrouter})"
                    ),
                )
            }
            Selector::Prefix(net) => (owner_name, format!("{addr} is inside {net}")),
        };
        SelectorMatch {
            selector: selector_text(&set.selector),
            via,
            reason,
        }
    }
}

/// Which part of a rule's proto/ports matched a packet.
fn port_match(rule: &cvlan_schema::model::Rule, port: TestPort) -> String {
    let point = service_point(port);
    if let Some(item) = rule
        .ports
        .iter()
        .find(|p| port_item_services(&p.value).contains(point))
    {
        return format_port_item(&item.value);
    }
    match rule.proto {
        Some(p) => format!("proto={}", format_proto(p.value)),
        None => "any".to_string(),
    }
}

/// The canonical text of a selector: `*`, `node:NAME`, `tag:T`, `group:G`, `user:EMAIL`,
/// `vrouter:NAME`, `ipsec:PEER`, `route:NODE`, or the CIDR.
pub fn selector_text(selector: &Selector) -> String {
    match selector {
        Selector::Any => "*".to_string(),
        Selector::Node(n) => format!("node:{n}"),
        Selector::Tag(t) => format!("tag:{t}"),
        Selector::Group(g) => format!("group:{g}"),
        Selector::User(u) => format!("user:{u}"),
        Selector::Vrouter(v) => format!("vrouter:{v}"),
        Selector::Ipsec(p) => format!("ipsec:{p}"),
        Selector::Route(n) => format!("route:{n}"),
        Selector::Prefix(net) => net.to_string(),
    }
}

impl fmt::Display for EndpointInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => write!(f, "{} ({kind} {name})", self.address),
            _ => write!(f, "{}", self.address),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = crate::policy::verdict_str(self.verdict);
        match (&self.matched, self.action) {
            (Some(m), Some(action)) => {
                writeln!(f, "{verdict}: rule \"{}\" ({action})", self.rule)?;
                writeln!(
                    f,
                    "  from {} matched {}: {}",
                    self.from, m.from.selector, m.from.reason
                )?;
                writeln!(
                    f,
                    "  to   {} matched {}: {}",
                    self.to, m.to.selector, m.to.reason
                )?;
                writeln!(f, "  port {} matched {}", self.port, m.port)
            }
            _ => {
                writeln!(f, "{verdict}: no rule matched ({DEFAULT_DENY})")?;
                writeln!(f, "  from {}", self.from)?;
                writeln!(f, "  to   {}", self.to)?;
                writeln!(f, "  port {}", self.port)
            }
        }
    }
}
