//! The filter end to end in virtual time: two nodes' filters passing packets to each other
//! as the mesh would, policy changes under live flows, and bad input.

use std::net::IpAddr;
use std::time::Duration;

use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
use cvlan_core::netmap::netmap_for;
use cvlan_core::{Entity, allocate};
use cvlan_schema::model::{Network, Proto, Selector, Transport};

use super::headers::tests::{icmp, tcp, udp, v4, v6};
use super::headers::{FIN, ICMP, ICMPV6, TCP, UDP};
use super::*;

fn network(web: bool) -> Network {
    let mut b = NetworkBuilder::new("t")
        .overlay6("fd00:1::/48".parse().unwrap())
        .node(NodeSpec::new("client").tag("eng"))
        .node(NodeSpec::new("server").tag("web"))
        .node(NodeSpec::new("router").route("10.9.0.0/16".parse().unwrap()));
    if web {
        b = b.rule(
            RuleSpec::allow("web")
                .from(Selector::Tag("eng".into()))
                .to(Selector::Tag("web".into()))
                .ports(Transport::Tcp, 80, 80)
                .ports(Transport::Udp, 53, 53),
        );
    }
    b.rule(
        RuleSpec::deny("no-ssh")
            .from(Selector::Tag("eng".into()))
            .to(Selector::Any)
            .ports(Transport::Tcp, 22, 22),
    )
    .rule(
        RuleSpec::allow("ping")
            .from(Selector::Any)
            .to(Selector::Any)
            .proto(Proto::Icmp),
    )
    .rule(
        RuleSpec::allow("lan")
            .from(Selector::Tag("eng".into()))
            .to(Selector::Route("router".into())),
    )
    .build()
}

/// The compiled policy of `node` in `net`, and its IPv4 and IPv6 addresses.
fn compiled(net: &Network, node: &str) -> (Arc<CompiledPolicy>, String, String) {
    let alloc = allocate(net);
    let map = netmap_for(net, &alloc, node).unwrap();
    let entity = Entity::Node(net.nodes.iter().position(|n| n.name.value == node).unwrap());
    let ips: Vec<IpAddr> = alloc.addresses(entity).ips().collect();
    (
        Arc::new(CompiledPolicy::from_netmap(&map)),
        ips[0].to_string(),
        ips[1].to_string(),
    )
}

struct Pair {
    client: PolicyFilter,
    server: PolicyFilter,
    c4: String,
    s4: String,
    c6: String,
    s6: String,
    now: Instant,
}

fn pair(config: FilterConfig) -> Pair {
    let net = network(true);
    let (cp, c4, c6) = compiled(&net, "client");
    let (sp, s4, s6) = compiled(&net, "server");
    let mut client = PolicyFilter::new(config);
    let mut server = PolicyFilter::new(config);
    client.set_policy(cp);
    server.set_policy(sp);
    Pair {
        client,
        server,
        c4,
        s4,
        c6,
        s6,
        now: Instant::now(),
    }
}

fn ip(bytes: &[u8]) -> IpPacket<'_> {
    IpPacket::parse(bytes).unwrap()
}

/// The packet leaves `from` (outbound) and arrives at `to` (inbound): both verdicts.
fn travel(
    now: Instant,
    from: &mut PolicyFilter,
    to: &mut PolicyFilter,
    bytes: &[u8],
) -> (Verdict, Verdict) {
    let out = from.check(now, Direction::Outbound, &ip(bytes));
    let inb = to.check(now, Direction::Inbound, &ip(bytes));
    (out, inb)
}

fn hits_of(f: &PolicyFilter, name: &str) -> RuleHits {
    f.hits().into_iter().find(|h| h.name == name).unwrap()
}

fn count(packets: u64, bytes: usize) -> Counter {
    Counter {
        packets,
        bytes: bytes as u64,
    }
}

#[test]
fn an_allowed_connection_and_its_replies_pass_both_filters_and_count() {
    let mut p = pair(FilterConfig::default());
    let syn = v4(&p.c4, &p.s4, TCP, &tcp(40000, 80, SYN));
    let syn_ack = v4(&p.s4, &p.c4, TCP, &tcp(80, 40000, SYN | ACK));
    let ack = v4(&p.c4, &p.s4, TCP, &tcp(40000, 80, ACK));
    assert_eq!(
        travel(p.now, &mut p.client, &mut p.server, &syn),
        (Verdict::Accept, Verdict::Accept)
    );
    // The reply: the server has no rule towards the client, the flow lets it out and in.
    assert_eq!(
        travel(p.now, &mut p.server, &mut p.client, &syn_ack),
        (Verdict::Accept, Verdict::Accept)
    );
    assert_eq!(
        travel(p.now, &mut p.client, &mut p.server, &ack),
        (Verdict::Accept, Verdict::Accept)
    );
    let c = hits_of(&p.client, "web");
    assert_eq!((c.outbound, c.inbound), (count(2, 80), count(1, 40)));
    let s = hits_of(&p.server, "web");
    assert_eq!((s.inbound, s.outbound), (count(2, 80), count(1, 40)));
    assert_eq!(p.client.stats().flows, 1);
    assert_eq!(hits_of(&p.client, DEFAULT).inbound, Counter::default());
}

const DEFAULT: &str = cvlan_core::policy::DEFAULT_DENY;

#[test]
fn denied_connections_fail_fast_with_icmp_prohibited_in_both_directions() {
    let mut p = pair(FilterConfig::default());
    // The deny rule, on the sender: the local client gets ICMP back from the TUN.
    let ssh = v4(&p.c4, &p.s4, TCP, &tcp(40001, 22, SYN));
    let Verdict::Reject(reply) = p.client.check(p.now, Direction::Outbound, &ip(&ssh)) else {
        panic!("not rejected")
    };
    assert_eq!((reply[9], reply[20], reply[21]), (ICMP, 3, 13));
    assert_eq!(ip(&reply).dst().to_string(), p.c4);
    assert_eq!(hits_of(&p.client, "no-ssh").outbound, count(1, 40));
    // The same SYN arriving at a receiver (a sender that does not filter): answered to it.
    let Verdict::Reject(reply) = p.server.check(p.now, Direction::Inbound, &ip(&ssh)) else {
        panic!("not rejected")
    };
    assert_eq!(ip(&reply).src().to_string(), p.s4);
    assert_eq!(hits_of(&p.server, "no-ssh").inbound, count(1, 40));
    // The reverse direction: no rule lets the server open connections to the client.
    let back = v6(&p.s6, &p.c6, UDP, &udp(5000, 53, b"q"));
    let Verdict::Reject(reply) = p.server.check(p.now, Direction::Outbound, &ip(&back)) else {
        panic!("not rejected")
    };
    assert_eq!((reply[6], reply[40], reply[41]), (ICMPV6, 1, 1));
    assert_eq!(hits_of(&p.server, DEFAULT).outbound, count(1, back.len()));
    // Denied packets that are not connection attempts are dropped silently.
    let stray_ack = v4(&p.s4, &p.c4, TCP, &tcp(80, 40002, ACK));
    assert_eq!(
        p.server.check(p.now, Direction::Outbound, &ip(&stray_ack)),
        Verdict::Drop
    );
    assert_eq!(p.client.stats().icmp_sent, 1);
    assert_eq!(p.server.stats().icmp_sent, 2);
}

#[test]
fn icmp_answers_can_be_turned_off_and_are_rate_limited() {
    let mut p = pair(FilterConfig {
        icmp_per_second: 3,
        ..FilterConfig::default()
    });
    let syn = |port| v4(&p.c4, &p.s4, TCP, &tcp(port, 22, SYN));
    let rejected = (0..10)
        .filter(|&i| {
            matches!(
                p.client.check(p.now, Direction::Outbound, &ip(&syn(i))),
                Verdict::Reject(_)
            )
        })
        .count();
    assert_eq!(rejected, 3);
    let stats = p.client.stats();
    assert_eq!((stats.icmp_sent, stats.icmp_rate_limited), (3, 7));
    let later = p.now + Duration::from_secs(1);
    assert!(matches!(
        p.client.check(later, Direction::Outbound, &ip(&syn(11))),
        Verdict::Reject(_)
    ));
    p.client.set_icmp_prohibited(false);
    let later = later + Duration::from_secs(1);
    assert_eq!(
        p.client.check(later, Direction::Outbound, &ip(&syn(12))),
        Verdict::Drop
    );
    assert_eq!(hits_of(&p.client, "no-ssh").outbound.packets, 12);
}

#[test]
fn icmp_errors_about_live_flows_pass_and_others_meet_the_policy() {
    let mut p = pair(FilterConfig::default());
    let query = v4(&p.c4, &p.s4, UDP, &udp(5353, 53, b"q"));
    assert_eq!(
        travel(p.now, &mut p.client, &mut p.server, &query),
        (Verdict::Accept, Verdict::Accept)
    );
    // The server's kernel answers "port unreachable": out through the server, in at the client.
    let unreachable = v4(&p.s4, &p.c4, ICMP, &icmp(3, 3, [0; 4], &query));
    assert_eq!(
        travel(p.now, &mut p.server, &mut p.client, &unreachable),
        (Verdict::Accept, Verdict::Accept)
    );
    assert_eq!(hits_of(&p.client, "web").inbound.packets, 1);
    // An error about a flow that does not exist is just ICMP: the "ping" rule decides.
    let other = v4(&p.c4, &p.s4, UDP, &udp(9999, 53, b"q"));
    let unrelated = v4(&p.s4, &p.c4, ICMP, &icmp(3, 3, [0; 4], &other));
    assert_eq!(
        p.client.check(p.now, Direction::Inbound, &ip(&unrelated)),
        Verdict::Accept
    );
    assert_eq!(hits_of(&p.client, "ping").inbound.packets, 1);
    // Echo: the request opens a flow, the reply rides it.
    let echo = v6(&p.c6, &p.s6, ICMPV6, &icmp(128, 0, [0, 5, 0, 1], b""));
    let reply = v6(&p.s6, &p.c6, ICMPV6, &icmp(129, 0, [0, 5, 0, 1], b""));
    assert_eq!(
        travel(p.now, &mut p.client, &mut p.server, &echo),
        (Verdict::Accept, Verdict::Accept)
    );
    assert_eq!(
        travel(p.now, &mut p.server, &mut p.client, &reply),
        (Verdict::Accept, Verdict::Accept)
    );
    assert_eq!(hits_of(&p.server, "ping").outbound.packets, 1);
}

#[test]
fn a_new_policy_keeps_flows_it_allows_and_stops_the_others() {
    let mut p = pair(FilterConfig::default());
    let open = |p: &mut Pair, sport| {
        let syn = v4(&p.c4, &p.s4, TCP, &tcp(sport, 80, SYN));
        let syn_ack = v4(&p.s4, &p.c4, TCP, &tcp(80, sport, SYN | ACK));
        travel(p.now, &mut p.client, &mut p.server, &syn);
        travel(p.now, &mut p.server, &mut p.client, &syn_ack);
    };
    open(&mut p, 41000);
    let echo = v4(&p.c4, &p.s4, ICMP, &icmp(8, 0, [0, 1, 0, 1], b""));
    travel(p.now, &mut p.client, &mut p.server, &echo);
    assert_eq!(p.server.stats().flows, 2);

    // The same rules again (a recompile): every flow kept, counters carried.
    let net = network(true);
    let swap = p.server.set_policy(compiled(&net, "server").0);
    assert_eq!(swap, PolicySwap { kept: 2, closed: 0 });
    assert_eq!(hits_of(&p.server, "web").inbound.packets, 1);

    // "web" removed: the TCP flow is closed on both ends, the ping flow stays.
    let net = network(false);
    assert_eq!(
        p.server.set_policy(compiled(&net, "server").0),
        PolicySwap { kept: 1, closed: 1 }
    );
    assert_eq!(
        p.client.set_policy(compiled(&net, "client").0),
        PolicySwap { kept: 1, closed: 1 }
    );
    assert!(p.server.hits().iter().all(|h| h.name != "web"));
    // The transfer's next packets are dropped, silently (not connection attempts), each way.
    let data = v4(&p.c4, &p.s4, TCP, &tcp(41000, 80, ACK));
    assert_eq!(
        p.client.check(p.now, Direction::Outbound, &ip(&data)),
        Verdict::Drop
    );
    assert_eq!(
        p.server.check(p.now, Direction::Inbound, &ip(&data)),
        Verdict::Drop
    );
    let back = v4(&p.s4, &p.c4, TCP, &tcp(80, 41000, ACK));
    assert_eq!(
        p.server.check(p.now, Direction::Outbound, &ip(&back)),
        Verdict::Drop
    );
    assert_eq!(hits_of(&p.server, DEFAULT).inbound.packets, 1);
    assert_eq!(hits_of(&p.server, DEFAULT).outbound.packets, 1);
    let echo_reply = v4(&p.s4, &p.c4, ICMP, &icmp(0, 0, [0, 1, 0, 1], b""));
    assert_eq!(
        travel(p.now, &mut p.server, &mut p.client, &echo_reply),
        (Verdict::Accept, Verdict::Accept)
    );

    // "web" back: a new connection opens again.
    let net = network(true);
    p.client.set_policy(compiled(&net, "client").0);
    p.server.set_policy(compiled(&net, "server").0);
    let syn = v4(&p.c4, &p.s4, TCP, &tcp(41001, 80, SYN));
    assert_eq!(
        travel(p.now, &mut p.client, &mut p.server, &syn),
        (Verdict::Accept, Verdict::Accept)
    );
}

#[test]
fn flows_expire_in_virtual_time_and_then_meet_the_policy_again() {
    let mut p = pair(FilterConfig::default());
    let query = v4(&p.c4, &p.s4, UDP, &udp(5353, 53, b"q"));
    let answer = v4(&p.s4, &p.c4, UDP, &udp(53, 5353, b"a"));
    travel(p.now, &mut p.client, &mut p.server, &query);
    let soon = p.now + Duration::from_secs(119);
    assert_eq!(
        travel(soon, &mut p.server, &mut p.client, &answer),
        (Verdict::Accept, Verdict::Accept)
    );
    // 120 s after the last packet: the answer is a new packet from the server, and denied.
    let late = soon + UDP_TIMEOUT;
    assert_eq!(
        p.server
            .check(late, Direction::Outbound, &ip(&answer))
            .clone(),
        Verdict::Reject(icmp::prohibited(&ip(&answer)).unwrap())
    );
    p.client.expire(late);
    assert_eq!(p.client.stats().flows, 0);
    assert_eq!(p.client.stats().expired, 1);
    // A closed TCP connection is forgotten 30 s after its FIN.
    let syn = v4(&p.c4, &p.s4, TCP, &tcp(42000, 80, SYN));
    let fin = v4(&p.s4, &p.c4, TCP, &tcp(80, 42000, FIN | ACK));
    travel(late, &mut p.client, &mut p.server, &syn);
    travel(late, &mut p.server, &mut p.client, &fin);
    let after = late + TCP_CLOSING;
    assert_eq!(
        p.server.check(after, Direction::Outbound, &ip(&fin)),
        Verdict::Drop
    );
}

#[test]
fn bad_input_is_dropped_and_counted_never_let_through() {
    let mut p = pair(FilterConfig {
        max_flows: 8,
        ..FilterConfig::default()
    });
    let f = &mut p.server;
    let now = p.now;
    // A TCP header cut short.
    let short = v4(&p.c4, &p.s4, TCP, &[0; 12]);
    assert_eq!(f.check(now, Direction::Inbound, &ip(&short)), Verdict::Drop);
    // A later fragment whose first fragment never came, and one overlapping the TCP header.
    let mut later = v4(&p.c4, &p.s4, UDP, &[0; 32]);
    later[7] = 4;
    assert_eq!(f.check(now, Direction::Inbound, &ip(&later)), Verdict::Drop);
    let mut overlap = v4(&p.c4, &p.s4, TCP, &[0; 32]);
    overlap[7] = 1;
    assert_eq!(
        f.check(now, Direction::Inbound, &ip(&overlap)),
        Verdict::Drop
    );
    // A denied first fragment takes its later fragments with it; an allowed one lets them by.
    let mut first = v4(&p.c4, &p.s4, UDP, &udp(7, 9999, &[0; 24]));
    first[6] = 0x20;
    assert!(matches!(
        f.check(now, Direction::Inbound, &ip(&first)),
        Verdict::Reject(_)
    ));
    later[4..6].copy_from_slice(&first[4..6]);
    assert_eq!(f.check(now, Direction::Inbound, &ip(&later)), Verdict::Drop);
    let mut first = v4(&p.c4, &p.s4, UDP, &udp(7, 53, &[0; 24]));
    first[6] = 0x20;
    first[5] = 99;
    let mut rest = v4(&p.c4, &p.s4, UDP, &[0; 32]);
    (rest[5], rest[7]) = (99, 4);
    assert_eq!(
        f.check(now, Direction::Inbound, &ip(&first)),
        Verdict::Accept
    );
    assert_eq!(
        f.check(now, Direction::Inbound, &ip(&rest)),
        Verdict::Accept
    );
    assert_eq!(
        hits_of(f, "web").inbound,
        count(2, first.len() + rest.len())
    );
    // A spoofed local address, and a remote one that is nobody's peer.
    let spoofed = v4("100.64.99.99", &p.c4, TCP, &tcp(1, 80, SYN));
    assert_eq!(
        f.check(now, Direction::Outbound, &ip(&spoofed)),
        Verdict::Drop
    );
    let stranger = v4("100.64.99.99", &p.s4, TCP, &tcp(1, 80, SYN));
    assert_eq!(
        f.check(now, Direction::Inbound, &ip(&stranger)),
        Verdict::Drop
    );
    // A flood of allowed new flows past the bound: unanswered ones give way, each counted.
    for sport in 0..100 {
        let q = v4(&p.c4, &p.s4, UDP, &udp(10_000 + sport, 53, b""));
        assert_eq!(f.check(now, Direction::Inbound, &ip(&q)), Verdict::Accept);
    }
    let stats = f.stats();
    assert_eq!(stats.flows, 8);
    assert_eq!(stats.evicted, 93);
    assert_eq!(
        stats.drops,
        FilterDrops {
            malformed: 1,
            fragments: 3,
            not_local: 1,
            no_peer: 1,
            table_full: 0,
        }
    );
    // Answered flows are not evicted: with every place taken by them, new flows are refused.
    let mut p = pair(FilterConfig {
        max_flows: 2,
        ..FilterConfig::default()
    });
    for sport in [1, 2] {
        let q = v4(&p.c4, &p.s4, UDP, &udp(sport, 53, b""));
        let a = v4(&p.s4, &p.c4, UDP, &udp(53, sport, b""));
        p.server.check(p.now, Direction::Inbound, &ip(&q));
        p.server.check(p.now, Direction::Outbound, &ip(&a));
    }
    let q = v4(&p.c4, &p.s4, UDP, &udp(3, 53, b""));
    assert_eq!(
        p.server.check(p.now, Direction::Inbound, &ip(&q)),
        Verdict::Drop
    );
    assert_eq!(p.server.stats().drops.table_full, 1);
}

#[test]
fn other_protocols_need_a_rule_for_every_service() {
    let mut p = pair(FilterConfig::default());
    // "lan" (no ports, no proto) lets the client send GRE into the router's LAN; nothing else.
    let gre = v4(&p.c4, "10.9.1.1", 47, &[0; 8]);
    assert_eq!(
        p.client.check(p.now, Direction::Outbound, &ip(&gre)),
        Verdict::Accept
    );
    let gre = v4(&p.c4, &p.s4, 47, &[0; 8]);
    assert_eq!(
        p.client.check(p.now, Direction::Outbound, &ip(&gre)),
        Verdict::Drop
    );
}

/// Every packet is accounted for exactly once: as a hit (allowed or denied by a rule or the
/// default deny) or as a drop outside the policy.
fn accounted(f: &PolicyFilter) -> u64 {
    let hits: u64 = f
        .hits()
        .iter()
        .map(|h| h.inbound.packets + h.outbound.packets)
        .sum();
    let d = f.stats().drops;
    hits + d.malformed + d.fragments + d.not_local + d.no_peer + d.table_full
}

mod random {
    use super::*;
    use proptest::prelude::*;

    /// A packet between the client and server (or a stranger), of any protocol, possibly
    /// fragmented, truncated or corrupted.
    fn packet() -> impl Strategy<Value = (bool, Vec<u8>)> {
        (
            any::<bool>(),
            prop::sample::select(vec![TCP, UDP, ICMP, ICMPV6, 47, 44, 0]),
            any::<(u16, u16, u8)>(),
            prop::collection::vec(any::<u8>(), 0..64),
            any::<(bool, bool, u16)>(),
            prop::option::of((any::<usize>(), any::<u8>())),
        )
            .prop_map(
                |(
                    outbound,
                    proto,
                    (sport, dport, flags),
                    data,
                    (v6_packet, swap, frag),
                    corrupt,
                )| {
                    let (c4, s4, c6, s6) = ("100.64.0.1", "100.64.0.2", "fd00:1::1", "fd00:1::2");
                    let body = match proto {
                        TCP => [tcp(sport, dport, flags), data].concat(),
                        UDP => udp(sport, dport, &data),
                        ICMP | ICMPV6 => icmp(flags % 16, 0, [0; 4], &data),
                        _ => data,
                    };
                    let (a, b) = if v6_packet { (c6, s6) } else { (c4, s4) };
                    let (src, dst) = if swap { (b, a) } else { (a, b) };
                    let mut p = if v6_packet {
                        v6(src, dst, proto, &body)
                    } else {
                        v4(src, dst, proto, &body)
                    };
                    if !v6_packet && frag % 4 == 0 {
                        p[6..8].copy_from_slice(&frag.to_be_bytes());
                    }
                    if let Some((at, byte)) = corrupt {
                        let at = 20 + at % p.len().saturating_sub(20).max(1);
                        if at < p.len() {
                            p[at] = byte;
                        }
                    }
                    (outbound, p)
                },
            )
    }

    proptest! {
        #[test]
        fn every_packet_is_counted_once_and_deny_all_lets_nothing_through(
            packets in prop::collection::vec(packet(), 1..60)
        ) {
            // The pair's own addresses differ per run: rewrite to them.
            let mut p = pair(FilterConfig { max_flows: 16, ..FilterConfig::default() });
            let mut deny_all = PolicyFilter::new(FilterConfig::default());
            let nobody = NetworkBuilder::new("t")
                .overlay6("fd00:1::/48".parse().unwrap())
                .node(NodeSpec::new("client").tag("eng"))
                .node(NodeSpec::new("server").tag("web"))
                .build();
            deny_all.set_policy(compiled(&nobody, "server").0);
            let mut seen = 0;
            for (i, (outbound, mut bytes)) in packets.into_iter().enumerate() {
                retarget(&mut bytes, &p);
                let Ok(ip) = IpPacket::parse(&bytes) else { continue };
                seen += 1;
                let now = p.now + Duration::from_millis(i as u64 * 300);
                let direction = if outbound { Direction::Outbound } else { Direction::Inbound };
                let _ = p.server.check(now, direction, &ip);
                prop_assert_ne!(deny_all.check(now, direction, &ip), Verdict::Accept);
            }
            prop_assert_eq!(accounted(&p.server), seen);
            prop_assert_eq!(accounted(&deny_all), seen);
        }
    }

    /// Replaces the placeholder addresses with the pair's real ones (same lengths).
    fn retarget(bytes: &mut [u8], p: &Pair) {
        let swap = |bytes: &mut [u8], at: usize, from: IpAddr, to: &str| {
            let to: IpAddr = to.parse().unwrap();
            let (from, to): (Vec<u8>, Vec<u8>) = match (from, to) {
                (IpAddr::V4(f), IpAddr::V4(t)) => (f.octets().to_vec(), t.octets().to_vec()),
                (IpAddr::V6(f), IpAddr::V6(t)) => (f.octets().to_vec(), t.octets().to_vec()),
                _ => return,
            };
            if bytes.get(at..at + from.len()) == Some(&from[..]) {
                bytes[at..at + to.len()].copy_from_slice(&to);
            }
        };
        let pairs = [
            ("100.64.0.1", &p.c4),
            ("100.64.0.2", &p.s4),
            ("fd00:1::1", &p.c6),
            ("fd00:1::2", &p.s6),
        ];
        let v4 = bytes.first().is_some_and(|b| b >> 4 == 4);
        for at in if v4 { [12, 16] } else { [8, 24] } {
            for (from, to) in pairs {
                swap(bytes, at, from.parse().unwrap(), to);
            }
        }
    }
}
