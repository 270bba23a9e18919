//! Shadowed-rule warnings: found for single and union covers, never wrong.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{addresses, cases, net_gen, network_and_alloc};
use cvlan_core::allocate;
use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::policy::{Packet, PolicyIndex, SHADOWED_RULE, shadowed_rules};
use cvlan_schema::model::{Network, Proto, Selector, TestPort, Transport};
use proptest::prelude::*;

fn tag(t: &str) -> Selector {
    Selector::Tag(t.into())
}

fn nodes() -> NetworkBuilder {
    NetworkBuilder::new("t")
        .group("eng", ["a@x.example"])
        .node(NodeSpec::new("a1").tag("t0").owner("a@x.example"))
        .node(NodeSpec::new("a2").tag("t1").owner("a@x.example"))
        .node(NodeSpec::new("b1").tag("db"))
}

fn shadowed(net: &Network) -> Vec<(String, Vec<String>)> {
    let alloc = allocate(net);
    let index = PolicyIndex::new(net, &alloc);
    shadowed_rules(&index)
        .into_iter()
        .map(|d| {
            assert_eq!(d.code, SHADOWED_RULE);
            assert!(!d.is_error());
            let rule = net.rules.iter().find(|r| r.name.span == d.span).unwrap();
            let by = d.labels[1..]
                .iter()
                .map(|l| {
                    net.rules
                        .iter()
                        .find(|r| r.name.span == l.span)
                        .unwrap()
                        .name
                        .value
                        .clone()
                })
                .collect();
            (rule.name.value.clone(), by)
        })
        .collect()
}

#[test]
fn one_earlier_rule_covering_everything_shadows() {
    let net = nodes()
        .rule(RuleSpec::allow("wide").from(Selector::Any).to(tag("db")))
        .rule(
            RuleSpec::deny("narrow")
                .from(tag("t0"))
                .to(tag("db"))
                .ports(Transport::Tcp, 5432, 5432),
        )
        .build();
    assert_eq!(
        shadowed(&net),
        vec![("narrow".to_string(), vec!["wide".to_string()])]
    );
}

#[test]
fn a_union_of_earlier_services_shadows() {
    let net = nodes()
        .rule(
            RuleSpec::allow("tcp")
                .from(tag("t0"))
                .to(tag("db"))
                .proto(Proto::Tcp),
        )
        .rule(
            RuleSpec::allow("udp")
                .from(tag("t0"))
                .to(tag("db"))
                .proto(Proto::Udp),
        )
        .rule(
            RuleSpec::deny("dns")
                .from(tag("t0"))
                .to(tag("db"))
                .ports(Transport::Both, 53, 53),
        )
        .build();
    assert_eq!(
        shadowed(&net),
        vec![(
            "dns".to_string(),
            vec!["tcp".to_string(), "udp".to_string()]
        )]
    );
}

#[test]
fn a_union_of_earlier_sources_shadows() {
    // group:eng owns a1 (t0) and a2 (t1): together the two tag rules cover it.
    let net = nodes()
        .rule(
            RuleSpec::allow("t0")
                .from(tag("t0"))
                .to(tag("db"))
                .ports(Transport::Tcp, 22, 22),
        )
        .rule(
            RuleSpec::allow("t1")
                .from(tag("t1"))
                .to(tag("db"))
                .ports(Transport::Tcp, 0, 100),
        )
        .rule(
            RuleSpec::deny("eng")
                .from(Selector::Group("eng".into()))
                .to(tag("db"))
                .ports(Transport::Tcp, 22, 22),
        )
        .build();
    assert_eq!(
        shadowed(&net),
        vec![("eng".to_string(), vec!["t0".to_string(), "t1".to_string()])]
    );
}

#[test]
fn partial_overlaps_and_empty_rules_are_not_reported() {
    let net = nodes()
        .rule(
            RuleSpec::allow("tcp")
                .from(tag("t0"))
                .to(tag("db"))
                .proto(Proto::Tcp),
        )
        .rule(RuleSpec::allow("any").from(tag("t0")).to(tag("db")))
        .rule(RuleSpec::allow("ghost").from(tag("nobody")).to(tag("db")))
        .rule(
            RuleSpec::allow("ssh")
                .from(Selector::Group("eng".into()))
                .to(tag("db"))
                .ports(Transport::Tcp, 22, 22),
        )
        .build();
    assert_eq!(shadowed(&net), vec![]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// A reported rule decides nothing: removing it changes no verdict and no deciding rule.
    #[test]
    fn a_shadowed_rule_never_decides(g in net_gen(6, 10)) {
        let (net, alloc) = network_and_alloc(&g);
        let index = PolicyIndex::new(&net, &alloc);
        let reported = shadowed_rules(&index);
        let addrs = addresses(&net, &alloc);
        let ports = [
            TestPort::Tcp(0), TestPort::Tcp(22), TestPort::Udp(22), TestPort::Tcp(80), TestPort::Tcp(443),
            TestPort::Tcp(444), TestPort::Udp(1000), TestPort::Udp(2000), TestPort::Udp(2001), TestPort::Icmp,
            TestPort::Tcp(65535),
        ];
        for d in &reported {
            let j = net.rules.iter().position(|r| r.name.span == d.span).unwrap();
            for &src in &addrs {
                for &dst in &addrs {
                    for &port in &ports {
                        let decided = index.evaluate(&Packet { src, dst, port }).rule;
                        prop_assert_ne!(decided, Some(j), "{} decided {:?}", d.message, (src, dst, port));
                    }
                }
            }
        }
    }
}
