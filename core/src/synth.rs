//! Synthetic networks for benchmarks and scale tests: network.kdl text with N nodes, T tags,
//! G groups, R rules and policy-tests, deterministic from a seed, together with the model the
//! text describes. Policy-test expectations are computed with the reference evaluator on that
//! model, so a correct parser and checker pass every generated test.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use cvlan_schema::PublicKey;
use cvlan_schema::model::{Network, PortItem, Proto, Selector, TestEndpoint, TestPort, Transport};
use ipnet::IpNet;

use crate::alloc::allocate;
use crate::builder::{NetworkBuilder, NodeSpec, RuleSpec, VrouterSpec};
use crate::policy::explain::selector_text;
use crate::policy::service::{format_port_item, format_port_spec, format_proto, service_at};
use crate::policy::{Packet, PolicyIndex};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSpec {
    /// Nodes.
    pub nodes: usize,
    /// Distinct tags.
    pub tags: usize,
    /// Groups (users are spread over them).
    pub groups: usize,
    /// Policy rules.
    pub rules: usize,
    /// `policy-test` blocks (five lines each).
    pub tests: usize,
    /// Seed; the same spec always gives the same text.
    pub seed: u64,
}

impl SynthSpec {
    /// `nodes` nodes, `tags` tags, `groups` groups and `rules` rules, with one policy-test
    /// block per 50 rules (at least one) and seed 1.
    pub fn new(nodes: usize, tags: usize, groups: usize, rules: usize) -> Self {
        Self {
            nodes,
            tags: tags.max(1),
            groups: groups.max(1),
            rules,
            tests: (rules / 50).max(1),
            seed: 1,
        }
    }
}

/// A generated network: the file text and the model it describes.
#[derive(Debug, Clone)]
pub struct Synth {
    /// network.kdl text.
    pub text: String,
    /// The same network built directly (spans are synthetic).
    pub network: Network,
}

/// SplitMix64: a tiny, well-known deterministic generator (no OS randomness here).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn key(&mut self) -> PublicKey {
        let mut k = [0u8; 32];
        for chunk in k.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        PublicKey(k)
    }
}

const PORTS: [(Transport, u16, u16); 8] = [
    (Transport::Tcp, 22, 22),
    (Transport::Tcp, 443, 443),
    (Transport::Tcp, 5432, 5432),
    (Transport::Both, 53, 53),
    (Transport::Udp, 1000, 2000),
    (Transport::Tcp, 8080, 8089),
    (Transport::Tcp, 80, 80),
    (Transport::Udp, 161, 161),
];

fn user(u: usize) -> String {
    format!("user{u}@synth.example")
}

fn route_of(router: usize) -> IpNet {
    let (hi, lo) = ((router / 256) % 256, router % 256);
    IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(10, hi as u8, lo as u8, 0), 24).unwrap_or_default())
}

/// Generates a network for `spec`.
pub fn generate(spec: &SynthSpec) -> Synth {
    let mut rng = Rng(spec.seed);
    let users = (spec.groups * 5).max(1);
    let mut text = String::with_capacity(spec.nodes * 160 + spec.rules * 120);
    let mut b = NetworkBuilder::new("synth")
        .overlay6("fd7a:115c:a1e0::/48".parse().unwrap_or_default())
        .dns_domain("synth.cvlan");
    let _ = writeln!(
        text,
        "network \"synth\" {{\n    overlay \"100.64.0.0/10\"\n    overlay6 \"fd7a:115c:a1e0::/48\"\n    dns domain=\"synth.cvlan\"\n}}\n"
    );
    for r in 0..3 {
        let key = rng.key();
        let host = cvlan_schema::model::HostPort {
            host: format!("relay-{r}.synth.example"),
            port: 3340,
        };
        let _ = writeln!(
            text,
            "relay \"relay-{r}\" region=\"region-{r}\" address=\"{host}\" public-key=\"{key}\""
        );
        b = b.relay(&format!("relay-{r}"), &format!("region-{r}"), host, key);
    }
    for g in 0..spec.groups {
        let members: Vec<String> = (0..users)
            .filter(|u| u % spec.groups == g)
            .map(user)
            .collect();
        let _ = writeln!(text, "\ngroup \"g{g}\" {{");
        for m in &members {
            let _ = writeln!(text, "    member \"{m}\"");
        }
        let _ = writeln!(text, "}}");
        b = b.group(&format!("g{g}"), members.iter().map(String::as_str));
    }

    let mut routers = 0;
    for i in 0..spec.nodes {
        let name = format!("n{i}");
        let owner = user(rng.below(users));
        let key = rng.key();
        let mut tags: Vec<usize> = (0..1 + rng.below(3))
            .map(|_| rng.below(spec.tags))
            .collect();
        tags.sort_unstable();
        tags.dedup();
        let _ = write!(
            text,
            "\nnode \"{name}\" {{\n    owner \"{owner}\"\n    tags"
        );
        let mut node = NodeSpec::new(&name).owner(&owner).key(key);
        for t in &tags {
            let _ = write!(text, " \"t{t}\"");
            node = node.tag(&format!("t{t}"));
        }
        let _ = write!(text, "\n    public-key \"{key}\"\n");
        if i % 1000 == 999 {
            // A pinned address high in the overlay, one per thousand nodes.
            let k = u32::try_from(i / 1000).unwrap_or(0);
            let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 127, 0, 0)) + k + 1);
            let _ = writeln!(text, "    address \"{addr}\"");
            node = node.address(IpAddr::V4(addr));
        }
        if i % 100 == 50 && routers < 65_536 {
            let route = route_of(routers);
            routers += 1;
            let _ = writeln!(text, "    routes \"{route}\"");
            node = node.route(route);
        }
        let _ = writeln!(text, "}}");
        b = b.node(node);
    }

    let vrouters = (spec.nodes / 20_000).max(1);
    for v in 0..vrouters {
        let key = rng.key();
        let name = format!("vr{v}");
        let _ = writeln!(
            text,
            "\nvrouter \"{name}\" {{\n    public-key \"{key}\"\n    listen \"0.0.0.0:4500\""
        );
        let mut spec_v = VrouterSpec::new(&name).key(key);
        for p in 0..2 {
            let peer = format!("vr{v}-p{p}");
            let ts = format!("192.168.{}.0/24", (v * 2 + p) % 256);
            let _ = writeln!(
                text,
                "    ipsec-peer \"{peer}\" {{\n        remote \"%any\"\n        id local=\"{name}.synth.example\" remote=\"{peer}.synth.example\"\n        auth \"psk\" secret-env=\"CVLAN_PSK_{v}_{p}\"\n        remote-ts \"{ts}\"\n        proposals ike=\"aes256gcm16-prfsha256-x25519\" esp=\"aes256gcm16\"\n    }}"
            );
            spec_v =
                spec_v.ipsec_peer(&peer, [ts.parse().unwrap_or(IpNet::V4(Default::default()))]);
        }
        let _ = writeln!(text, "}}");
        b = b.vrouter(spec_v);
    }

    let _ = writeln!(text, "\npolicy {{");
    for r in 0..spec.rules {
        let allow = !rng.chance(15);
        let name = format!("r{r}-{}", if allow { "allow" } else { "deny" });
        let mut rule = if allow {
            RuleSpec::allow(&name)
        } else {
            RuleSpec::deny(&name)
        };
        let from: Vec<Selector> = (0..1 + rng.below(2))
            .map(|_| selector(&mut rng, spec, users, routers, vrouters))
            .collect();
        let mut to: Vec<Selector> = (0..1 + rng.below(2))
            .map(|_| selector(&mut rng, spec, users, routers, vrouters))
            .collect();
        if from.contains(&Selector::Any) && to.contains(&Selector::Any) {
            to = vec![Selector::Tag(format!("t{}", rng.below(spec.tags)))];
        }
        let (proto, ports): (Option<Proto>, Vec<PortItem>) = match rng.below(10) {
            0 => (Some(Proto::Icmp), Vec::new()),
            1 => (Some(Proto::Tcp), Vec::new()),
            _ => (
                None,
                (0..1 + rng.below(2))
                    .map(|_| {
                        let (transport, first, last) = PORTS[rng.below(PORTS.len())];
                        PortItem {
                            transport,
                            range: cvlan_schema::model::PortRange { first, last },
                        }
                    })
                    .collect(),
            ),
        };
        let join = |sels: &[Selector]| sels.iter().map(selector_text).collect::<Vec<_>>().join(",");
        let _ = write!(
            text,
            "    {} \"{name}\" from=\"{}\" to=\"{}\"",
            if allow { "allow" } else { "deny" },
            join(&from),
            join(&to)
        );
        if !ports.is_empty() {
            let items: Vec<String> = ports.iter().map(format_port_item).collect();
            let _ = write!(text, " ports=\"{}\"", items.join(","));
        }
        if let Some(p) = proto {
            let _ = write!(text, " proto=\"{}\"", format_proto(p));
        }
        let _ = writeln!(text);
        for s in from {
            rule = rule.from(s);
        }
        for s in to {
            rule = rule.to(s);
        }
        if let Some(p) = proto {
            rule = rule.proto(p);
        }
        for p in ports {
            rule = rule.ports(p.transport, p.range.first, p.range.last);
        }
        b = b.rule(rule);
    }
    let _ = writeln!(text, "}}");

    let cases = test_cases(b.network(), spec, &mut rng);
    for (t, block) in cases.chunks(5).enumerate() {
        let _ = writeln!(text, "\npolicy-test \"synthetic test {t}\" {{");
        for (expect, from, to, port) in block {
            let verdict = crate::policy::verdict_str(*expect);
            let _ = writeln!(
                text,
                "    {verdict} from=\"{}\" to=\"{}\" port=\"{}\"",
                endpoint(from),
                endpoint(to),
                format_port_spec(*port)
            );
        }
        let _ = writeln!(text, "}}");
        b = b.test(&format!("synthetic test {t}"), block.iter().cloned());
    }
    Synth {
        text,
        network: b.build(),
    }
}

/// One policy-test line: expected verdict, from, to, port.
type Case = (
    cvlan_schema::model::Verdict,
    TestEndpoint,
    TestEndpoint,
    TestPort,
);

fn endpoint(e: &TestEndpoint) -> String {
    match e {
        TestEndpoint::Name(n) => n.clone(),
        TestEndpoint::Address(a) => a.to_string(),
    }
}

fn selector(
    rng: &mut Rng,
    spec: &SynthSpec,
    users: usize,
    routers: usize,
    vrouters: usize,
) -> Selector {
    match rng.below(100) {
        0..=59 => Selector::Tag(format!("t{}", rng.below(spec.tags))),
        60..=74 => Selector::Group(format!("g{}", rng.below(spec.groups))),
        75..=79 => Selector::Any,
        80..=89 if spec.nodes > 0 => Selector::Node(format!("n{}", rng.below(spec.nodes))),
        90..=94 => Selector::User(user(rng.below(users))),
        95 if routers > 0 => Selector::Route(format!("n{}", 50 + 100 * rng.below(routers))),
        96 => Selector::Ipsec(format!("vr{}-p{}", rng.below(vrouters), rng.below(2))),
        97 => Selector::Prefix(
            "100.64.0.0/12"
                .parse()
                .unwrap_or(IpNet::V4(Default::default())),
        ),
        _ => Selector::Tag(format!("t{}", rng.below(spec.tags))),
    }
}

/// Test lines: half aimed at a random rule (a member of its from set to one of its to set on
/// one of its services), half random pairs; the expectation is what the evaluator says.
fn test_cases(network: &Network, spec: &SynthSpec, rng: &mut Rng) -> Vec<Case> {
    let allocation = allocate(network);
    let index = PolicyIndex::new(network, &allocation);
    let mut out = Vec::new();
    if network.nodes.is_empty() {
        return out;
    }
    let random_node = |rng: &mut Rng| crate::alloc::Entity::Node(rng.below(network.nodes.len()));
    for k in 0..spec.tests * 5 {
        let (mut from, mut to) = (random_node(rng), random_node(rng));
        let mut port = [
            TestPort::Tcp(22),
            TestPort::Tcp(443),
            TestPort::Udp(53),
            TestPort::Icmp,
        ][rng.below(4)];
        if k % 2 == 0 && !index.rules().is_empty() {
            let rule = &index.rules()[rng.below(index.rules().len())];
            let pick = |sets: &[usize], rng: &mut Rng| {
                let members = index.sets()[sets[rng.below(sets.len())]].members.as_ref()?;
                (!members.is_empty()).then(|| members[rng.below(members.len())])
            };
            from = pick(&rule.from, rng).unwrap_or(from);
            to = pick(&rule.to, rng).unwrap_or(to);
            // A service of the rule with a real port (tests may not name port 0).
            let usable = rule.services.ranges().iter().find_map(|&(a, b)| {
                let p = if matches!(service_at(a), TestPort::Tcp(0) | TestPort::Udp(0)) {
                    a + 1
                } else {
                    a
                };
                (p <= b).then_some(p)
            });
            if let Some(point) = usable {
                port = service_at(point);
            }
        }
        let name = |e: crate::alloc::Entity| TestEndpoint::Name(e.name(network).to_string());
        let (from, to) = (name(from), name(to));
        let Ok((src, dst)) = index.resolve_pair(&from, &to) else {
            continue;
        };
        let verdict = index.evaluate(&Packet { src, dst, port }).verdict;
        out.push((verdict, from, to, port));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_text_and_sizes_as_asked() {
        let spec = SynthSpec::new(300, 10, 4, 40);
        let a = generate(&spec);
        assert_eq!(a.text, generate(&spec).text);
        assert_ne!(a.text, generate(&SynthSpec { seed: 2, ..spec }).text);
        assert_eq!(a.network.nodes.len(), 300);
        assert_eq!(a.network.rules.len(), 40);
        assert_eq!(a.network.groups.len(), 4);
        assert_eq!(
            a.network.tests.iter().map(|t| t.cases.len()).sum::<usize>(),
            5
        );
        assert_eq!(a.text.matches("\nnode \"").count(), 300);
        let keys: std::collections::BTreeSet<_> = a
            .network
            .nodes
            .iter()
            .map(|n| n.public_key.map(|k| k.value))
            .collect();
        assert_eq!(keys.len(), 300, "keys are unique");
        // Every policy-test passes against the model it was generated from.
        let alloc = allocate(&a.network);
        let run = crate::policy::run_policy_tests(&PolicyIndex::new(&a.network, &alloc));
        assert_eq!((run.counts.passed, run.counts.failed), (5, 0));
    }
}
