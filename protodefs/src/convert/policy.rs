//! Policy on the wire: actions, verdicts, protocols, ports, selectors and whole rules. Rules
//! built from protos carry `Span::default()`: they did not come from a file.

use cvlan_schema::model::{Action, PortItem, PortRange, Proto, Rule, Selector, Transport, Verdict};
use cvlan_schema::{Span, Spanned};

use super::{ConvertError, known_enum, parse_prefix, port};
use crate::v1;
use crate::v1::policy_target::Target;

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
        let first = port("PortRange.first", range.first)?;
        let last = port("PortRange.last", range.last)?;
        if first > last {
            return Err(ConvertError::PortOrder {
                field: "PortRange",
                first,
                last,
            });
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

#[cfg(test)]
mod tests {
    //! Exact mappings, every refusal, and a property test that a rule survives model → proto →
    //! wire bytes → proto → model unchanged.

    use super::*;
    use proptest::prelude::*;
    use prost::Message as _;

    fn sample_rule() -> Rule {
        Rule {
            action: Action::Allow,
            name: unspanned("branch-to-web".to_owned()),
            from: vec![unspanned(Selector::Ipsec("branch-17".into()))],
            to: vec![
                unspanned(Selector::Tag("web".into())),
                unspanned(Selector::Prefix("10.20.0.0/16".parse().expect("net"))),
            ],
            proto: None,
            ports: vec![
                unspanned(PortItem {
                    transport: Transport::Tcp,
                    range: PortRange {
                        first: 80,
                        last: 80,
                    },
                }),
                unspanned(PortItem {
                    transport: Transport::Both,
                    range: PortRange {
                        first: 1000,
                        last: 2000,
                    },
                }),
            ],
            span: Span::default(),
        }
    }

    #[test]
    fn a_rule_maps_field_by_field() {
        let proto = v1::PolicyRule::from(&sample_rule());
        assert_eq!(proto.name, "branch-to-web");
        assert_eq!(proto.action(), v1::PolicyAction::Allow);
        assert_eq!(proto.protocol(), v1::IpProtocol::Unspecified);
        assert_eq!(
            proto.from[0].target,
            Some(Target::Ipsec("branch-17".into()))
        );
        assert_eq!(
            proto.to[1].target,
            Some(Target::Prefix("10.20.0.0/16".into()))
        );
        assert_eq!(
            proto.ports[1],
            v1::PortRange {
                transport: v1::Transport::Both.into(),
                first: 1000,
                last: 2000
            }
        );
        assert_eq!(Rule::try_from(proto), Ok(sample_rule()));
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule_named() {
        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.ports[0].last = 70_000;
        let err = Rule::try_from(proto).expect_err("port out of range");
        assert_eq!(
            err.to_string(),
            "rule \"branch-to-web\": PortRange.last: port 70000 is out of range (0..=65535)"
        );

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.ports[0].first = 90;
        assert!(matches!(
            Rule::try_from(proto),
            Err(ConvertError::Rule { source, .. })
                if *source == ConvertError::PortOrder { field: "PortRange", first: 90, last: 80 }
        ));

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.action = v1::PolicyAction::Unspecified.into();
        assert!(matches!(
            Rule::try_from(proto),
            Err(ConvertError::Rule { source, .. })
                if *source == ConvertError::Missing { field: "PolicyRule.action" }
        ));

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.protocol = 99;
        assert!(matches!(
            Rule::try_from(proto),
            Err(ConvertError::Rule { source, .. })
                if *source == ConvertError::UnknownEnum { field: "PolicyRule.protocol", value: 99 }
        ));

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.to[0].target = None;
        assert!(matches!(
            Rule::try_from(proto),
            Err(ConvertError::Rule { source, .. })
                if *source == ConvertError::Missing { field: "PolicyTarget.target" }
        ));

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.ports[0].transport = v1::Transport::Unspecified.into();
        assert!(Rule::try_from(proto).is_err());

        let mut proto = v1::PolicyRule::from(&sample_rule());
        proto.to[1].target = Some(Target::Prefix("10.20.0.0/99".into()));
        assert!(Rule::try_from(proto).is_err());
    }

    #[test]
    fn verdicts_and_actions_map_both_ways() {
        for verdict in [Verdict::Accept, Verdict::Reject] {
            assert_eq!(Verdict::try_from(v1::Verdict::from(verdict)), Ok(verdict));
        }
        assert!(Verdict::try_from(v1::Verdict::Unspecified).is_err());
        for action in [Action::Allow, Action::Deny] {
            assert_eq!(Action::try_from(v1::PolicyAction::from(action)), Ok(action));
        }
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9-]{0,12}"
    }

    fn selector() -> impl Strategy<Value = Selector> {
        prop_oneof![
            Just(Selector::Any),
            name().prop_map(Selector::Node),
            name().prop_map(Selector::Tag),
            name().prop_map(Selector::Group),
            name().prop_map(|n| Selector::User(format!("{n}@acme.example"))),
            name().prop_map(Selector::Vrouter),
            name().prop_map(Selector::Ipsec),
            name().prop_map(Selector::Route),
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(octets, len)| {
                let net = ipnet::Ipv4Net::new(octets.into(), len).expect("len <= 32");
                Selector::Prefix(net.into())
            }),
            (any::<[u8; 16]>(), 0u8..=128).prop_map(|(octets, len)| {
                let net = ipnet::Ipv6Net::new(octets.into(), len).expect("len <= 128");
                Selector::Prefix(net.into())
            }),
        ]
    }

    fn port_item() -> impl Strategy<Value = PortItem> {
        let transport = prop_oneof![
            Just(Transport::Tcp),
            Just(Transport::Udp),
            Just(Transport::Both)
        ];
        (transport, any::<u16>(), any::<u16>()).prop_map(|(transport, a, b)| PortItem {
            transport,
            range: PortRange {
                first: a.min(b),
                last: a.max(b),
            },
        })
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let action = prop_oneof![Just(Action::Allow), Just(Action::Deny)];
        let proto = prop::option::of(prop_oneof![
            Just(Proto::Tcp),
            Just(Proto::Udp),
            Just(Proto::Icmp),
            Just(Proto::Any)
        ]);
        (
            action,
            name(),
            prop::collection::vec(selector(), 1..4),
            prop::collection::vec(selector(), 1..4),
            proto,
            prop::collection::vec(port_item(), 0..4),
        )
            .prop_map(|(action, name, from, to, proto, ports)| Rule {
                action,
                name: unspanned(name),
                from: from.into_iter().map(unspanned).collect(),
                to: to.into_iter().map(unspanned).collect(),
                proto: proto.map(unspanned),
                ports: ports.into_iter().map(unspanned).collect(),
                span: Span::default(),
            })
    }

    proptest! {
        #[test]
        fn rules_survive_the_wire(rule in rule()) {
            let bytes = v1::PolicyRule::from(&rule).encode_to_vec();
            let decoded = v1::PolicyRule::decode(bytes.as_slice()).expect("decodes");
            prop_assert_eq!(Rule::try_from(decoded), Ok(rule));
        }
    }
}
