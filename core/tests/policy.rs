//! Laws of the reference evaluator, its agreement with a naive reading of network-kdl.md,
//! explain, and the policy-test runner.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::net::IpAddr;

use common::{NetGen, addresses, build, cases, net_gen, network_and_alloc, test_port};
use cvlan_core::alloc::Entity;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::policy::{POLICY_TEST_FAILED, Packet, PolicyIndex, run_policy_tests};
use cvlan_core::{Allocation, allocate};
use cvlan_schema::model::{
    Action, Network, Proto, Selector, TestEndpoint, TestPort, Transport, Verdict,
};
use proptest::prelude::*;

/// network-kdl.md's selector table, read literally, one address at a time.
fn naive_selector(net: &Network, alloc: &Allocation, sel: &Selector, addr: IpAddr) -> bool {
    let owner = alloc.owner(addr);
    let node = match owner {
        Some(Entity::Node(i)) => Some(&net.nodes[i]),
        _ => None,
    };
    let owner_email = node
        .and_then(|n| n.owner.as_ref())
        .map(|o| o.value.as_str());
    match sel {
        Selector::Any => true,
        Selector::Node(n) => node.is_some_and(|x| x.name.value == *n),
        Selector::Tag(t) => node.is_some_and(|x| x.tags.iter().any(|y| y.value == *t)),
        Selector::User(u) => owner_email == Some(u.as_str()),
        Selector::Group(g) => net.group(g).is_some_and(|g| {
            g.members
                .iter()
                .any(|m| Some(m.value.as_str()) == owner_email)
        }),
        Selector::Vrouter(v) => {
            matches!(owner, Some(Entity::Vrouter(i)) if net.vrouters[i].name.value == *v)
        }
        Selector::Ipsec(p) => net
            .ipsec_peer(p)
            .is_some_and(|(_, peer)| peer.remote_ts.iter().any(|t| t.value.contains(&addr))),
        Selector::Route(n) => net
            .node(n)
            .is_some_and(|x| x.routes.iter().any(|r| r.value.contains(&addr))),
        Selector::Prefix(p) => p.contains(&addr),
    }
}

/// Proto/ports read literally: a bare port is tcp and udp, icmp has no ports, proto limits.
fn naive_service(proto: Option<Proto>, ports: &[(Transport, u16, u16)], port: TestPort) -> bool {
    let proto_ok = matches!(
        (proto.unwrap_or(Proto::Any), port),
        (Proto::Any, _)
            | (Proto::Tcp, TestPort::Tcp(_))
            | (Proto::Udp, TestPort::Udp(_))
            | (Proto::Icmp, TestPort::Icmp)
    );
    let ports_ok = ports.is_empty()
        || ports.iter().any(|&(t, a, b)| match (t, port) {
            (Transport::Tcp | Transport::Both, TestPort::Tcp(p)) => a <= p && p <= b,
            (Transport::Udp | Transport::Both, TestPort::Udp(p)) => a <= p && p <= b,
            _ => false,
        });
    proto_ok && ports_ok
}

fn naive_evaluate(
    g: &NetGen,
    net: &Network,
    alloc: &Allocation,
    p: &Packet,
) -> (Verdict, Option<usize>) {
    for (i, r) in g.rules.iter().enumerate() {
        if naive_service(r.proto, &r.ports, p.port)
            && r.from.iter().any(|s| naive_selector(net, alloc, s, p.src))
            && r.to.iter().any(|s| naive_selector(net, alloc, s, p.dst))
        {
            return (
                if r.allow {
                    Verdict::Accept
                } else {
                    Verdict::Reject
                },
                Some(i),
            );
        }
    }
    (Verdict::Reject, None)
}

fn packets(net: &Network, alloc: &Allocation) -> impl Strategy<Value = Vec<Packet>> + use<> {
    let addrs = addresses(net, alloc);
    let n = addrs.len();
    prop::collection::vec((0..n, 0..n, test_port()), 1..40).prop_map(move |v| {
        v.into_iter()
            .map(|(a, b, port)| Packet {
                src: addrs[a],
                dst: addrs[b],
                port,
            })
            .collect()
    })
}

fn with_packets(max_rules: usize) -> impl Strategy<Value = (NetGen, Vec<Packet>)> {
    net_gen(6, max_rules).prop_flat_map(|g| {
        let (net, alloc) = network_and_alloc(&g);
        (Just(g), packets(&net, &alloc))
    })
}

fn prepend(g: &NetGen, net_rule: RuleSpec) -> Network {
    let base = build(g, &[]);
    let mut b = NetworkBuilder::new("t").overlay6("fd00:1::/48".parse().unwrap());
    b = b.rule(net_rule);
    let mut net = b.build();
    net.nodes = base.nodes;
    net.vrouters = base.vrouters;
    net.groups = base.groups;
    net.rules.extend(base.rules);
    net
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn evaluator_agrees_with_the_spec_read_literally((g, pkts) in with_packets(8)) {
        let (net, alloc) = network_and_alloc(&g);
        let index = PolicyIndex::new(&net, &alloc);
        for p in &pkts {
            let d = index.evaluate(p);
            prop_assert_eq!((d.verdict, d.rule), naive_evaluate(&g, &net, &alloc, p), "{:?}", p);
        }
    }

    #[test]
    fn no_rules_means_default_deny((g, pkts) in with_packets(0)) {
        let (net, alloc) = network_and_alloc(&g);
        let index = PolicyIndex::new(&net, &alloc);
        for p in &pkts {
            let d = index.evaluate(p);
            prop_assert_eq!(d.verdict, Verdict::Reject);
            prop_assert_eq!(d.rule, None);
        }
    }

    #[test]
    fn allow_all_first_accepts_and_deny_all_first_rejects((g, pkts) in with_packets(6)) {
        for (rule, verdict) in [
            (RuleSpec::allow("all").from(Selector::Any).to(Selector::Any), Verdict::Accept),
            (RuleSpec::deny("none").from(Selector::Any).to(Selector::Any), Verdict::Reject),
        ] {
            let net = prepend(&g, rule);
            let alloc = allocate(&net);
            let index = PolicyIndex::new(&net, &alloc);
            for p in &pkts {
                let d = index.evaluate(p);
                prop_assert_eq!((d.verdict, d.rule), (verdict, Some(0)));
            }
        }
    }

    #[test]
    fn rules_after_an_allow_all_change_nothing((g, pkts) in with_packets(4), extra in net_gen(3, 4)) {
        let mut g2 = g.clone();
        g2.rules.push(common::RuleGen {
            allow: true, from: vec![Selector::Any], to: vec![Selector::Any], proto: None, ports: vec![],
        });
        let (net, alloc) = network_and_alloc(&g2);
        let before: Vec<_> = { let i = PolicyIndex::new(&net, &alloc); pkts.iter().map(|p| i.evaluate(p)).collect() };
        g2.rules.extend(extra.rules.into_iter().map(|mut r| {
            // Keep only selectors that exist in this network.
            r.from.retain(|s| !matches!(s, Selector::Node(_) | Selector::Route(_)));
            r.to.retain(|s| !matches!(s, Selector::Node(_) | Selector::Route(_)));
            r
        }));
        let (net2, alloc2) = network_and_alloc(&g2);
        let i2 = PolicyIndex::new(&net2, &alloc2);
        let after: Vec<_> = pkts.iter().map(|p| i2.evaluate(p)).collect();
        prop_assert_eq!(before, after);
    }

    #[test]
    fn unrelated_nodes_do_not_change_any_verdict(
        g in net_gen(6, 8), pairs in prop::collection::vec((0usize..6, 0usize..6, test_port()), 1..20)
    ) {
        let net = build(&g, &[]);
        let bigger = build(&g, &[NodeSpec::new("stranger").tag("nobody-uses-this").owner("z@x.example")]);
        let (a1, a2) = (allocate(&net), allocate(&bigger));
        let (i1, i2) = (PolicyIndex::new(&net, &a1), PolicyIndex::new(&bigger, &a2));
        for (a, b, port) in pairs {
            let (a, b) = (a % g.nodes.len(), b % g.nodes.len());
            let from = TestEndpoint::Name(format!("n{a}"));
            let to = TestEndpoint::Name(format!("n{b}"));
            let e1 = i1.explain_endpoints(&from, &to, port).unwrap();
            let e2 = i2.explain_endpoints(&from, &to, port).unwrap();
            prop_assert_eq!((e1.verdict, e1.rule_index), (e2.verdict, e2.rule_index));
        }
    }

    #[test]
    fn explain_agrees_with_evaluate((g, pkts) in with_packets(8)) {
        let (net, alloc) = network_and_alloc(&g);
        let index = PolicyIndex::new(&net, &alloc);
        for p in &pkts {
            let d = index.evaluate(p);
            let e = index.explain(p);
            prop_assert_eq!(e.verdict, d.verdict);
            prop_assert_eq!(e.rule_index, d.rule);
            match d.rule {
                None => {
                    prop_assert_eq!(e.rule.as_str(), "default-deny");
                    prop_assert!(e.matched.is_none());
                }
                Some(i) => {
                    let rule = &net.rules[i];
                    prop_assert_eq!(&e.rule, &rule.name.value);
                    prop_assert_eq!(e.action, Some(if rule.action == Action::Allow { "allow" } else { "deny" }));
                    let m = e.matched.as_ref().unwrap();
                    // The reported selectors are the rule's and do match the addresses.
                    let from = rule.from.iter().find(|s| cvlan_core::policy::selector_text(&s.value) == m.from.selector).unwrap();
                    let to = rule.to.iter().find(|s| cvlan_core::policy::selector_text(&s.value) == m.to.selector).unwrap();
                    prop_assert!(naive_selector(&net, &alloc, &from.value, p.src));
                    prop_assert!(naive_selector(&net, &alloc, &to.value, p.dst));
                }
            }
        }
    }
}

fn corp() -> Network {
    NetworkBuilder::new("corp")
        .group("ops", ["carol@acme.example"])
        .node(
            NodeSpec::new("laptop-alice")
                .owner("alice@acme.example")
                .tag("eng")
                .tag("laptop"),
        )
        .node(NodeSpec::new("db-1").tag("db").tag("prod"))
        .node(NodeSpec::new("ops-1").owner("carol@acme.example"))
        .node(NodeSpec::new("router").route("10.20.0.0/16".parse().unwrap()))
        .rule(
            RuleSpec::allow("eng-to-db")
                .from(Selector::Tag("eng".into()))
                .to(Selector::Tag("db".into()))
                .ports(Transport::Tcp, 5432, 5432),
        )
        .rule(
            RuleSpec::allow("ops-ssh")
                .from(Selector::Group("ops".into()))
                .to(Selector::Any)
                .ports(Transport::Tcp, 22, 22),
        )
        .rule(
            RuleSpec::deny("no-laptop-prod")
                .from(Selector::Tag("laptop".into()))
                .to(Selector::Tag("prod".into())),
        )
        .rule(
            RuleSpec::allow("to-lan")
                .from(Selector::Any)
                .to(Selector::Route("router".into()))
                .ports(Transport::Both, 53, 53),
        )
        .rule(
            RuleSpec::allow("ping")
                .from(Selector::Any)
                .to(Selector::Any)
                .proto(Proto::Icmp),
        )
        .test(
            "eng reaches the database, not its shell",
            [
                (
                    Verdict::Accept,
                    TestEndpoint::Name("laptop-alice".into()),
                    TestEndpoint::Name("db-1".into()),
                    TestPort::Tcp(5432),
                ),
                (
                    Verdict::Reject,
                    TestEndpoint::Name("laptop-alice".into()),
                    TestEndpoint::Name("db-1".into()),
                    TestPort::Tcp(22),
                ),
                (
                    Verdict::Accept,
                    TestEndpoint::Name("ops-1".into()),
                    TestEndpoint::Name("db-1".into()),
                    TestPort::Tcp(22),
                ),
                (
                    Verdict::Accept,
                    TestEndpoint::Name("db-1".into()),
                    TestEndpoint::Address("10.20.1.1".parse().unwrap()),
                    TestPort::Udp(53),
                ),
            ],
        )
        .build()
}

#[test]
fn explain_json_starts_with_verdict_and_rule() {
    let net = corp();
    let alloc = allocate(&net);
    let index = PolicyIndex::new(&net, &alloc);
    let e = index
        .explain_endpoints(
            &TestEndpoint::Name("laptop-alice".into()),
            &TestEndpoint::Name("db-1".into()),
            TestPort::Tcp(5432),
        )
        .unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert!(
        json.starts_with(r#"{"verdict":"accept","rule":"eng-to-db","#),
        "{json}"
    );
    let m = e.matched.unwrap();
    assert_eq!(m.from.selector, "tag:eng");
    assert_eq!(m.from.via.as_deref(), Some("laptop-alice"));
    assert_eq!(m.to.reason, "node db-1 carries tag db");
    assert_eq!(m.port, "5432/tcp");

    let denied = index
        .explain_endpoints(
            &TestEndpoint::Name("laptop-alice".into()),
            &TestEndpoint::Name("db-1".into()),
            TestPort::Tcp(22),
        )
        .unwrap();
    assert!(
        serde_json::to_string(&denied)
            .unwrap()
            .starts_with(r#"{"verdict":"reject","rule":"no-laptop-prod","#)
    );
    let nothing = index
        .explain_endpoints(
            &TestEndpoint::Name("db-1".into()),
            &TestEndpoint::Name("laptop-alice".into()),
            TestPort::Udp(9),
        )
        .unwrap();
    assert!(
        serde_json::to_string(&nothing)
            .unwrap()
            .starts_with(r#"{"verdict":"reject","rule":"default-deny","#)
    );
    assert!(
        nothing
            .to_string()
            .contains("no rule matched (default-deny)")
    );

    let group = index
        .explain_endpoints(
            &TestEndpoint::Name("ops-1".into()),
            &TestEndpoint::Name("db-1".into()),
            TestPort::Tcp(22),
        )
        .unwrap();
    assert_eq!(
        group.matched.unwrap().from.reason,
        "node ops-1 is owned by carol@acme.example, a member of group ops"
    );
    let routed = index
        .explain_endpoints(
            &TestEndpoint::Name("db-1".into()),
            &TestEndpoint::Address("10.20.1.1".parse().unwrap()),
            TestPort::Udp(53),
        )
        .unwrap();
    let m = routed.matched.unwrap();
    assert_eq!(m.to.selector, "route:router");
    assert_eq!(
        m.to.reason,
        "10.20.1.1 is inside 10.20.0.0/16, routed by node router"
    );
    assert_eq!(m.port, "53");
}

#[test]
fn endpoints_resolve_by_family_and_report_unknown_names() {
    let net = NetworkBuilder::new("t")
        .overlay6("fd00:1::/48".parse().unwrap())
        .node(NodeSpec::new("a"))
        .build();
    let alloc = allocate(&net);
    let index = PolicyIndex::new(&net, &alloc);
    let a = TestEndpoint::Name("a".into());
    let v6 = TestEndpoint::Address("fd00:1::9".parse().unwrap());
    let (src, dst) = index.resolve_pair(&a, &v6).unwrap();
    assert!(src.is_ipv6() && dst.is_ipv6());
    let (src, _) = index
        .resolve_pair(&a, &TestEndpoint::Name("node:a".into()))
        .unwrap();
    assert!(src.is_ipv4());
    assert_eq!(
        index
            .resolve_pair(&a, &TestEndpoint::Name("zz".into()))
            .unwrap_err()
            .to_string(),
        "no node or vrouter is named `zz`"
    );
    let v4 = TestEndpoint::Address("100.64.0.1".parse().unwrap());
    assert!(index.resolve_pair(&v4, &v6).is_err());
}

#[test]
fn passing_tests_count_and_failing_ones_name_the_rule() {
    let net = corp();
    let alloc = allocate(&net);
    let run = run_policy_tests(&PolicyIndex::new(&net, &alloc));
    assert_eq!((run.counts.passed, run.counts.failed), (4, 0));
    assert!(run.diagnostics.is_empty());

    // Flip every expectation: all four fail, each naming what decided.
    let mut flipped = corp();
    for case in &mut flipped.tests[0].cases {
        case.expect = if case.expect == Verdict::Accept {
            Verdict::Reject
        } else {
            Verdict::Accept
        };
    }
    let alloc = allocate(&flipped);
    let run = run_policy_tests(&PolicyIndex::new(&flipped, &alloc));
    assert_eq!((run.counts.passed, run.counts.failed), (0, 4));
    let d = &run.diagnostics[1];
    assert_eq!(d.code, POLICY_TEST_FAILED);
    assert!(d.is_error());
    assert_eq!(d.span, flipped.tests[0].cases[1].span);
    assert!(
        d.message.contains("rule \"no-laptop-prod\""),
        "{}",
        d.message
    );
    assert_eq!(d.labels.len(), 2);
    assert_eq!(d.labels[1].span, flipped.rules[2].span);
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("cvlanctl policy explain --from laptop-alice --to db-1 --port 22/tcp")
    );
}

#[test]
fn a_test_decided_by_default_deny_says_so() {
    let net = NetworkBuilder::new("t")
        .node(NodeSpec::new("a"))
        .node(NodeSpec::new("b"))
        .test(
            "a to b",
            [(
                Verdict::Accept,
                TestEndpoint::Name("a".into()),
                TestEndpoint::Name("b".into()),
                TestPort::Icmp,
            )],
        )
        .build();
    let alloc = allocate(&net);
    let run = run_policy_tests(&PolicyIndex::new(&net, &alloc));
    assert_eq!(run.counts.failed, 1);
    let d = &run.diagnostics[0];
    assert!(d.message.contains("default-deny"));
    assert_eq!(d.labels.len(), 1);
}
