//! Address checks: the overlay ranges, what they may not overlap, and pinned addresses
//! (inside the overlay, not reserved, unique).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{placeholder, with_first};
use crate::diagnostic::Diagnostic;
use crate::model::Network;
use crate::span::{SourceMap, Span, Spanned};

/// The ranges an IPv4 overlay may come from: CGNAT space and RFC 1918.
const V4_RANGES: [&str; 4] = [
    "100.64.0.0/10",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
];

pub fn check(net: &Network, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    overlay_ranges(net, diags);
    overlaps(net, diags);
    pinned(net, sources, diags);
}

fn overlay_ranges(net: &Network, diags: &mut Vec<Diagnostic>) {
    let v4 = net.overlay.value;
    let allowed = V4_RANGES
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .any(|r| r.contains(&v4));
    if !allowed {
        diags.push(
            Diagnostic::error(
                "cvlan::overlay-range",
                format!("overlay {v4} is not inside 100.64.0.0/10 or an RFC 1918 range"),
                net.overlay.span,
                "public or reserved range",
            )
            .with_help(
                "use a range inside 100.64.0.0/10, 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
            ),
        );
    } else if v4.prefix_len() > 30 {
        diags.push(
            Diagnostic::error(
                "cvlan::overlay-range",
                format!("overlay {v4} is too small to hold nodes"),
                net.overlay.span,
                "too small",
            )
            .with_help("give the overlay a prefix of /30 or shorter (100.64.0.0/10 holds four million nodes)"),
        );
    }
    if let Some(v6) = &net.overlay6 {
        let ula: Ipv6Net = "fc00::/7".parse().unwrap_or_default();
        if !ula.contains(&v6.value) || v6.value.prefix_len() > 120 {
            diags.push(
                Diagnostic::error(
                    "cvlan::overlay-range",
                    format!(
                        "overlay6 {} is not a ULA range (inside fc00::/7, /120 or shorter)",
                        v6.value
                    ),
                    v6.span,
                    "not a ULA range",
                )
                .with_help("pick a random ULA /48 such as fd7a:115c:a1e0::/48"),
            );
        }
    }
}

fn overlaps_net(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

fn overlaps(net: &Network, diags: &mut Vec<Diagnostic>) {
    let mut overlays: Vec<(IpNet, Span, &str)> =
        vec![(IpNet::V4(net.overlay.value), net.overlay.span, "overlay")];
    if let Some(v6) = &net.overlay6 {
        overlays.push((IpNet::V6(v6.value), v6.span, "overlay6"));
    }
    let routes = net.nodes.iter().flat_map(|n| {
        n.routes
            .iter()
            .map(move |r| (r, format!("route of node `{}`", n.name.value)))
    });
    let remote_ts = net.vrouters.iter().flat_map(|v| {
        v.peers.iter().flat_map(|p| {
            p.remote_ts
                .iter()
                .map(move |r| (r, format!("remote-ts of ipsec-peer `{}`", p.name.value)))
        })
    });
    for (prefix, what) in routes.chain(remote_ts) {
        for (overlay, overlay_span, overlay_name) in &overlays {
            if overlaps_net(overlay, &prefix.value) {
                let mut d = Diagnostic::error(
                    "cvlan::overlap",
                    format!("{what} {} overlaps the {overlay_name} {overlay}", prefix.value),
                    prefix.span,
                    "overlapping prefix",
                )
                .with_help("overlay addresses must be unambiguous; pick an overlay range that no routed network uses");
                if overlay_span.source == prefix.span.source && !placeholder(*overlay_span) {
                    d = d.with_label(*overlay_span, "the overlay");
                }
                diags.push(d);
            }
        }
    }
}

fn pinned(net: &Network, sources: &SourceMap, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<IpAddr, Span> = HashMap::new();
    let nodes = net
        .nodes
        .iter()
        .map(|n| (format!("node `{}`", n.name.value), n.addresses.as_slice()));
    let vrouters = net
        .vrouters
        .iter()
        .map(|v| (format!("vrouter `{}`", v.name.value), v.address.as_slice()));
    for (owner, addresses) in nodes.chain(vrouters) {
        let mut families = [false, false];
        for address in addresses {
            let family = usize::from(address.value.is_ipv6());
            if std::mem::replace(&mut families[family], true) {
                diags.push(
                    Diagnostic::error(
                        "cvlan::invalid-address",
                        format!(
                            "{owner} pins two {} addresses",
                            if family == 0 { "IPv4" } else { "IPv6" }
                        ),
                        address.span,
                        "second address",
                    )
                    .with_help("a host has at most one IPv4 and one IPv6 overlay address"),
                );
                continue;
            }
            if !inside_overlay(net, address, &owner, diags) {
                continue;
            }
            match seen.get(&address.value) {
                Some(&first) => {
                    let d = Diagnostic::error(
                        "cvlan::duplicate-address",
                        format!("{owner} pins {}, which another host already has", address.value),
                        address.span,
                        "address used again",
                    )
                    .with_help("each host needs its own overlay address; remove the pin to get one allocated");
                    diags.push(with_first(sources, d, first, "first pinned"));
                }
                None => {
                    seen.insert(address.value, address.span);
                }
            }
        }
    }
}

/// Checks that a pinned address sits inside its overlay and is no network or broadcast
/// address; false when it does not.
fn inside_overlay(
    net: &Network,
    address: &Spanned<IpAddr>,
    owner: &str,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let (range, reserved): (Option<IpNet>, Vec<IpAddr>) = match address.value {
        IpAddr::V4(_) => {
            let o = net.overlay.value;
            (
                Some(IpNet::V4(o)),
                vec![IpAddr::V4(o.network()), IpAddr::V4(o.broadcast())],
            )
        }
        IpAddr::V6(_) => match &net.overlay6 {
            Some(o) => (
                Some(IpNet::V6(o.value)),
                vec![IpAddr::V6(o.value.network())],
            ),
            None => (None, Vec::new()),
        },
    };
    let Some(range) = range.filter(|r| r.contains(&address.value)) else {
        let help = match range {
            Some(r) => {
                format!("pick an address inside {r}, or remove the pin to get one allocated")
            }
            None => "declare `overlay6` in the network block to pin IPv6 addresses".to_owned(),
        };
        diags.push(
            Diagnostic::error(
                "cvlan::address-outside-overlay",
                format!("{owner} pins {}, outside the overlay", address.value),
                address.span,
                "outside the overlay",
            )
            .with_help(help),
        );
        return false;
    };
    if reserved.contains(&address.value) {
        diags.push(
            Diagnostic::error(
                "cvlan::reserved-address",
                format!(
                    "{owner} pins {}, the {} address of {range}",
                    address.value,
                    if address.value == range.network() {
                        "network"
                    } else {
                        "broadcast"
                    }
                ),
                address.span,
                "reserved address",
            )
            .with_help("pick another address inside the overlay"),
        );
        return false;
    }
    true
}
