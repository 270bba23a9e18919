//! Tests of the proto ↔ model conversions: exact mappings, every refusal, and a property test
//! that a rule survives model → proto → wire bytes → proto → model unchanged.

use super::*;
use cvlan_schema::Label;
use proptest::prelude::*;
use prost::Message as _;

fn key(byte: u8) -> PublicKey {
    PublicKey([byte; 32])
}

#[test]
fn keys_round_trip_and_wrong_lengths_are_refused() {
    let bytes = key_to_bytes(&key(7));
    assert_eq!(bytes, vec![7; 32]);
    assert_eq!(key_from_bytes("Peer.public_key", &bytes), Ok(key(7)));
    assert_eq!(
        key_from_bytes("Peer.public_key", &[1; 31]),
        Err(ConvertError::KeyLength {
            field: "Peer.public_key",
            len: 31
        })
    );
    let empty = key_from_bytes("Node.node_key", &[]).expect_err("empty is not a key");
    assert_eq!(
        empty.to_string(),
        "Node.node_key: a key has 32 bytes, got 0"
    );
}

#[test]
fn addresses_prefixes_and_endpoints_parse_or_name_the_field() {
    assert_eq!(
        parse_addr("WhoisRequest.address", "100.64.0.10"),
        Ok("100.64.0.10".parse().expect("v4"))
    );
    assert_eq!(
        parse_addr("a", "fd7a:115c:a1e0::a"),
        Ok("fd7a:115c:a1e0::a".parse().expect("v6"))
    );
    let bad = parse_addr("WhoisRequest.address", "100.64.0.300").expect_err("octet > 255");
    assert_eq!(
        bad.to_string(),
        "WhoisRequest.address: \"100.64.0.300\" is not an IP address"
    );

    assert_eq!(
        parse_prefix("p", "10.20.0.0/16"),
        Ok("10.20.0.0/16".parse().expect("net"))
    );
    assert_eq!(
        parse_prefix("p", "100.64.0.10"),
        Ok("100.64.0.10/32".parse().expect("host v4"))
    );
    assert_eq!(
        parse_prefix("p", "fd7a::1"),
        Ok("fd7a::1/128".parse().expect("host v6"))
    );
    // Kept as written, as the model keeps it.
    assert_eq!(
        parse_prefix("p", "10.0.0.1/24").map(|n| n.to_string()),
        Ok("10.0.0.1/24".to_owned())
    );
    assert!(matches!(
        parse_prefix("Peer.allowed_ips", "10.0.0.0/33"),
        Err(ConvertError::Prefix {
            field: "Peer.allowed_ips",
            ..
        })
    ));

    assert_eq!(
        parse_endpoint("e", "[2001:db8::1]:51820"),
        Ok("[2001:db8::1]:51820".parse().expect("v6 endpoint"))
    );
    assert!(matches!(
        parse_endpoint("Peer.endpoint", "198.51.100.7"),
        Err(ConvertError::Endpoint { .. })
    ));

    let nets = parse_prefixes("x", &to_strings(["10.0.0.0/8", "fd00::/8"])).expect("nets");
    assert_eq!(to_strings(&nets), vec!["10.0.0.0/8", "fd00::/8"]);
    assert!(parse_addrs("x", &["1.2.3.4".into(), "nope".into()]).is_err());
}

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Span::default())
}

fn sample_rule() -> Rule {
    Rule {
        action: Action::Allow,
        name: spanned("branch-to-web".to_owned()),
        from: vec![spanned(Selector::Ipsec("branch-17".into()))],
        to: vec![
            spanned(Selector::Tag("web".into())),
            spanned(Selector::Prefix("10.20.0.0/16".parse().expect("net"))),
        ],
        proto: None,
        ports: vec![
            spanned(PortItem {
                transport: Transport::Tcp,
                range: PortRange {
                    first: 80,
                    last: 80,
                },
            }),
            spanned(PortItem {
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
            if *source == ConvertError::PortOrder { first: 90, last: 80 }
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

#[test]
fn a_diagnostic_gets_file_line_and_column_of_its_span_and_labels() {
    let mut sources = SourceMap::default();
    sources.add("network.kdl", "network \"corp\"\n");
    let relays = sources.add("relays.kdl", "// relays\nrelay \"fra1\" région=\"x\"\n");
    // "région" starts at byte 23 of relays.kdl: line 2, column 14; "x" is at column 22 even
    // though 'é' takes two bytes.
    let diagnostic = Diagnostic::error(
        "cvlan::unknown-property",
        "unknown property `région`",
        Span::new(relays, 23, 7),
        "not a relay property",
    )
    .with_label(Span::new(relays, 32, 1), "its value")
    .with_help("allowed here: region, address, public-key");

    let proto = v1::Diagnostic::from_schema(&diagnostic, &sources);
    assert_eq!(
        proto,
        v1::Diagnostic {
            severity: v1::Severity::Error.into(),
            code: "cvlan::unknown-property".into(),
            message: "unknown property `région`".into(),
            file: "relays.kdl".into(),
            line: 2,
            column: 14,
            labels: vec![
                v1::DiagnosticLabel {
                    line: 2,
                    column: 14,
                    text: "not a relay property".into()
                },
                v1::DiagnosticLabel {
                    line: 2,
                    column: 22,
                    text: "its value".into()
                },
            ],
            help: Some("allowed here: region, address, public-key".into()),
        }
    );

    let warning = Diagnostic {
        severity: Severity::Warning,
        labels: vec![Label {
            span: Span::new(relays, 0, 2),
            text: "here".into(),
        }],
        help: None,
        ..diagnostic
    };
    let proto = v1::Diagnostic::from_schema(&warning, &sources);
    assert_eq!(proto.severity(), v1::Severity::Warning);
    assert_eq!((proto.labels[0].line, proto.labels[0].column), (1, 1));
    assert_eq!(proto.help, None);
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
            name: spanned(name),
            from: from.into_iter().map(spanned).collect(),
            to: to.into_iter().map(spanned).collect(),
            proto: proto.map(spanned),
            ports: ports.into_iter().map(spanned).collect(),
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

    #[test]
    fn keys_of_any_length_but_32_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let result = key_from_bytes("k", &bytes);
        prop_assert_eq!(result.is_ok(), bytes.len() == 32);
        if let Ok(key) = result {
            prop_assert_eq!(key_to_bytes(&key), bytes);
        }
    }
}

#[test]
fn a_planned_action_keeps_its_kind_target_and_line() {
    use cvlan_core::netmap::{PeerId, PeerKind};
    use cvlan_core::plan::Action as PlanAction;
    let action = PlanAction::RemovePeer {
        id: PeerId {
            name: "carol".into(),
            kind: PeerKind::Node,
        },
        public_key: Some(key(3)),
    };
    let wire = v1::LocalPlanAction::from(&action);
    assert_eq!(wire.kind, "peer.remove");
    assert_eq!(wire.target, "carol");
    assert_eq!(wire.line, "- peer carol (key AwMDAwMD…)");
}
