//! Per-packet cost of the stateful policy filter beside the reference evaluator's linear scan,
//! in the same run: a synthetic 100,000-node network with 10, 1,000 and 10,000 rules, the
//! netmap of one node that some allow rule concerns, compiled; then
//! - an established flow (a TCP ACK of a connection the filter already tracks),
//! - new flows (a SYN with a fresh source port each time: policy lookup plus flow insertion),
//! - denied packets (a SYN no rule allows, or a deny rule takes),
//!
//! and `PolicyIndex::evaluate` on the same new-flow and denied packets. After criterion's
//! statistics, a summary prints ns/packet and the ratios from a separate timing loop.
//!
//! Run: `cargo bench -p cvlan-mesh --bench policy`
//! (`CVLAN_BENCH_NODES=…`, `CVLAN_BENCH_RULES=10,1000` change the sizes).

// criterion_group! and criterion_main! generate undocumented items; the summary prints.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cvlan_core::netmap::NetMapBuilder;
use cvlan_core::policy::compiled::{CompiledPolicy, Direction, Outcome};
use cvlan_core::policy::service::{service_at, service_point};
use cvlan_core::policy::{Packet, PolicyIndex};
use cvlan_core::synth::{SynthSpec, generate};
use cvlan_core::{Entity, allocate};
use cvlan_mesh::IpPacket;
use cvlan_mesh::firewall::{FilterConfig, PolicyFilter};
use cvlan_schema::model::{Action, TestPort};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
/// New flows timed between two clearings of the table.
const CHUNK: u64 = 50_000;

fn env_list(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// An IPv4 TCP or UDP packet (20-byte TCP header, or 8-byte UDP header plus 12 bytes).
fn packet(src: IpAddr, dst: IpAddr, port: TestPort, sport: u16, flags: u8) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 only")
    };
    let (proto, dport) = match port {
        TestPort::Tcp(p) => (6, p),
        TestPort::Udp(p) => (17, p),
        TestPort::Icmp => panic!("no ports"),
    };
    let mut p = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0];
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        t[12] = 0x50;
        t[13] = flags;
    } else {
        t[4..6].copy_from_slice(&20u16.to_be_bytes());
    }
    p.extend_from_slice(&t);
    p
}

/// What one size measures: the node, its compiled policy, the reference index's answers.
struct Setup<'a> {
    index: &'a PolicyIndex<'a>,
    policy: Arc<CompiledPolicy>,
    src: IpAddr,
    allowed: (IpAddr, TestPort),
    denied: (IpAddr, TestPort),
}

/// A node that a late allow rule lets send to a peer (so the linear scan passes most rules
/// before it decides), and a packet from it that no rule allows (the whole scan), or failing
/// that one a deny rule takes.
fn setup<'a>(
    index: &'a PolicyIndex<'a>,
    builder: &NetMapBuilder<'_>,
) -> Option<(Setup<'a>, String)> {
    let alloc = index.allocation();
    let v4 = |e: Entity| alloc.addresses(e).v4.map(|a| IpAddr::V4(a.address));
    for (r, rule) in index.rules().iter().enumerate().rev() {
        if rule.action != Action::Allow {
            continue;
        }
        let members = |sets: &[usize]| {
            sets.iter()
                .filter_map(|&s| index.sets()[s].members.as_ref())
                .flatten()
                .copied()
                .collect::<Vec<_>>()
        };
        let (Some(&a), Some(&b)) = (members(&rule.from).first(), members(&rule.to).last()) else {
            continue;
        };
        let Some(&(first, _)) = rule.services.ranges().first() else {
            continue;
        };
        let port = match service_at(first) {
            TestPort::Icmp => continue,
            p => p,
        };
        let (Some(src), Some(dst)) = (v4(a), v4(b)) else {
            continue;
        };
        if a == b || index.evaluate(&Packet { src, dst, port }).rule != Some(r) {
            continue;
        }
        let start = Instant::now();
        let map = builder.netmap(a);
        let built = start.elapsed();
        let start = Instant::now();
        let policy = Arc::new(CompiledPolicy::from_netmap(&map));
        let compiled = start.elapsed();
        let candidates: Vec<(IpAddr, TestPort, Outcome)> = map
            .peers
            .iter()
            .filter_map(|p| p.addresses.first().copied())
            .filter(IpAddr::is_ipv4)
            .take(1000)
            .flat_map(|d| {
                [TestPort::Udp(7), TestPort::Tcp(7), TestPort::Tcp(22)].map(|port| {
                    (
                        d,
                        port,
                        policy.decide(Direction::Outbound, src, d, service_point(port)),
                    )
                })
            })
            .collect();
        let denied = candidates
            .iter()
            .find(|c| c.2 == Outcome::DefaultDeny)
            .or_else(|| candidates.iter().find(|c| matches!(c.2, Outcome::Deny(_))))
            .map(|&(d, port, _)| (d, port))?;
        let stats = policy.stats();
        let note = format!(
            "node {} ({src}): {} peers, {} rules in its netmap; netmap {built:.2?}, compile {compiled:.2?}; \
             {} pieces, {} exact entries, {} intervals, {} functions; allowed by rule #{r} of {}",
            a.name(index.network()),
            map.peers.len(),
            stats.rules,
            stats.pieces,
            stats.exact,
            stats.intervals,
            stats.functions,
            index.rules().len(),
        );
        return Some((
            Setup {
                index,
                policy,
                src,
                allowed: (dst, port),
                denied,
            },
            note,
        ));
    }
    None
}

fn filter(policy: &Arc<CompiledPolicy>) -> PolicyFilter {
    let mut f = PolicyFilter::new(FilterConfig {
        max_flows: 1 << 20,
        ..FilterConfig::default()
    });
    f.set_policy(policy.clone());
    f
}

/// Runs `iters` new-flow SYNs (fresh source ports), emptying the table every [`CHUNK`]
/// packets outside the timed part.
fn new_flows(s: &Setup<'_>, f: &mut PolicyFilter, now: Instant, iters: u64) -> Duration {
    let (dst, port) = s.allowed;
    let mut syn = packet(s.src, dst, port, 0, SYN);
    let mut total = Duration::ZERO;
    let mut done = 0;
    let mut round = 0u32;
    while done < iters {
        let n = CHUNK.min(iters - done);
        // Each round starts at a later time, after the previous flows expired.
        round += 1;
        let at = now + Duration::from_secs(3 * 3600) * round;
        f.expire(at);
        let start = Instant::now();
        for i in 0..n {
            syn[20..22].copy_from_slice(&u16::try_from(i).unwrap_or(0).to_be_bytes());
            let ip = IpPacket::parse(&syn).unwrap();
            black_box(f.check(at, Direction::Outbound, &ip));
        }
        total += start.elapsed();
        done += n;
    }
    total
}

/// ns per call of `run(iters)`, the median of five runs of `iters`.
fn ns_per(iters: u64, mut run: impl FnMut(u64) -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..5)
        .map(|_| run(iters).as_nanos() as f64 / iters as f64)
        .collect();
    v.sort_by(f64::total_cmp);
    v[2]
}

fn timed(iters: u64, mut body: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        body();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let nodes = env_list("CVLAN_BENCH_NODES", &[100_000])[0];
    let mut summary = Vec::new();
    for rules in env_list("CVLAN_BENCH_RULES", &[10, 1_000, 10_000]) {
        let spec = SynthSpec::new(
            nodes,
            (nodes / 1000).clamp(10, 100),
            (nodes / 5000).clamp(4, 50),
            rules,
        );
        let net = generate(&spec).network;
        let alloc = allocate(&net);
        let builder = NetMapBuilder::new(&net, &alloc);
        let index = PolicyIndex::new(&net, &alloc);
        let Some((s, note)) = setup(&index, &builder) else {
            println!("{rules} rules: no allowed pair found, skipped");
            continue;
        };
        drop(builder);
        println!("{nodes} nodes, {rules} rules: {note}");
        let (dst, port) = s.allowed;
        let now = Instant::now();
        let established = {
            let mut f = filter(&s.policy);
            let syn = packet(s.src, dst, port, 40000, SYN);
            f.check(now, Direction::Outbound, &IpPacket::parse(&syn).unwrap());
            (f, packet(s.src, dst, port, 40000, ACK))
        };
        let (ddst, dport) = s.denied;
        let denied_syn = packet(s.src, ddst, dport, 40000, SYN);
        let new_packet = Packet {
            src: s.src,
            dst,
            port,
        };
        let denied_packet = Packet {
            src: s.src,
            dst: ddst,
            port: dport,
        };
        let denied_outcome =
            s.policy
                .decide(Direction::Outbound, s.src, ddst, service_point(dport));
        assert!(!denied_outcome.is_allow());

        let mut g = c.benchmark_group(format!("{nodes}-nodes-{rules}-rules"));
        let (mut ef, ack) = established;
        g.bench_function("filter: established flow", |b| {
            let ip = IpPacket::parse(&ack).unwrap();
            b.iter(|| black_box(ef.check(now, Direction::Outbound, black_box(&ip))))
        });
        let mut nf = filter(&s.policy);
        g.bench_function("filter: new flow (policy + insert)", |b| {
            b.iter_custom(|iters| new_flows(&s, &mut nf, now, iters))
        });
        let mut df = filter(&s.policy);
        g.bench_function("filter: denied", |b| {
            let ip = IpPacket::parse(&denied_syn).unwrap();
            b.iter(|| black_box(df.check(now, Direction::Outbound, black_box(&ip))))
        });
        g.bench_function("reference: linear scan, new-flow packet", |b| {
            b.iter(|| black_box(s.index.evaluate(black_box(&new_packet))))
        });
        g.bench_function("reference: linear scan, denied packet", |b| {
            b.iter(|| black_box(s.index.evaluate(black_box(&denied_packet))))
        });
        g.finish();

        let n = 200_000;
        let ack_ip = IpPacket::parse(&ack).unwrap();
        let denied_ip = IpPacket::parse(&denied_syn).unwrap();
        let est = ns_per(n, |k| {
            timed(k, || {
                black_box(ef.check(now, Direction::Outbound, black_box(&ack_ip)));
            })
        });
        let new = ns_per(n, |k| new_flows(&s, &mut nf, now, k));
        let den = ns_per(n, |k| {
            timed(k, || {
                black_box(df.check(now, Direction::Outbound, black_box(&denied_ip)));
            })
        });
        let ref_new = ns_per(n / 10, |k| {
            timed(k, || {
                black_box(s.index.evaluate(black_box(&new_packet)));
            })
        });
        let ref_den = ns_per(n / 10, |k| {
            timed(k, || {
                black_box(s.index.evaluate(black_box(&denied_packet)));
            })
        });
        let decided = |o: Outcome| match o {
            Outcome::Allow(r) | Outcome::Deny(r) => s.policy.rules()[r as usize].name.clone(),
            other => format!("{other:?}"),
        };
        summary.push(format!(
            "| {rules} | {est:.0} | {new:.0} | {den:.0} | {ref_new:.0} | {ref_den:.0} | {:.0}× | {:.0}× | {} |",
            ref_new / new,
            ref_den / den,
            decided(denied_outcome),
        ));
    }
    println!("\n{nodes} nodes, ns/packet (median of 5 × 200,000; reference 5 × 20,000):");
    println!(
        "| rules | established | new flow | denied | reference, new-flow packet | reference, denied packet | new-flow ratio | denied ratio | denied by |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for line in summary {
        println!("{line}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
