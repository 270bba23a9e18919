//! The nftables ruleset of a NAT router: masquerade on the WAN side (endpoint-independent or
//! symmetric mapping) and a forward filter that lets in only replies, as home routers do.

use ipnet::Ipv4Net;

use crate::naming::{NAT_LAN, NAT_WAN};
use crate::topology::Mapping;

/// The table every NAT router's rules live in.
pub const TABLE: &str = "cvlab_nat";

/// The ruleset for a router that hides `lan` behind its WAN address with `mapping`.
pub fn ruleset(mapping: Mapping, lan: Ipv4Net) -> String {
    let masquerade = match mapping {
        Mapping::EndpointIndependent => "masquerade",
        Mapping::Symmetric => "masquerade random,fully-random",
    };
    // nft 1.0.6 needs a newline (or `;`) between `masquerade` and a closing brace.
    format!(
        "table ip {TABLE} {{
    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname \"{NAT_LAN}\" accept
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"{NAT_WAN}\" ip saddr {lan} {masquerade}
    }}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_pick_the_masquerade_flavour() {
        let lan: Ipv4Net = "192.168.1.0/24".parse().unwrap();
        let eim = ruleset(Mapping::EndpointIndependent, lan);
        assert!(
            eim.contains("ip saddr 192.168.1.0/24 masquerade\n"),
            "{eim}"
        );
        let sym = ruleset(Mapping::Symmetric, lan);
        assert!(sym.contains("masquerade random,fully-random\n"), "{sym}");
    }
}
