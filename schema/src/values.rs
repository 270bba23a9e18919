//! The value forms of network.kdl and cvland.kdl, parsed from strings: names, e-mail
//! addresses, CIDRs, addresses, endpoints, durations, ports, protocols and selectors. Each
//! parser returns the typed value or one sentence saying what is wrong; the callers attach
//! the span and the code.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{
    HostPort, PortItem, PortRange, Proto, Selector, TestEndpoint, TestPort, Transport,
};

/// True when `s` is an identifier: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Checks a user's e-mail address (`local@domain.tld`).
pub fn parse_email(s: &str) -> Result<(), String> {
    let Some((local, domain)) = s.split_once('@') else {
        return Err(format!("`{s}` is not an e-mail address (no `@`)"));
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&c));
    if !local_ok || !is_dns_name(domain) || !domain.contains('.') {
        return Err(format!("`{s}` is not an e-mail address"));
    }
    Ok(())
}

/// True for a DNS name: dot-separated labels of letters, digits and inner hyphens.
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// Parses a CIDR whose host bits are zero (`10.20.0.0/16`, `fd00::/8`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("`{s}` is not a CIDR prefix such as 10.20.0.0/16"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{s}` has host bits set; the prefix is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Parses an IPv4 or IPv6 address.
pub fn parse_addr(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not an IP address"))
}

/// Parses `ADDRESS:PORT` (IPv6 in brackets).
pub fn parse_socket(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("`{s}` is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)"))?;
    if addr.port() == 0 {
        return Err(format!("`{s}` has port 0"));
    }
    Ok(addr)
}

/// Parses `HOST:PORT` where HOST is a DNS name or an IP address (IPv6 in brackets).
pub fn parse_host_port(s: &str) -> Result<HostPort, String> {
    let bad = || format!("`{s}` is not HOST:PORT (a DNS name or address, then a port)");
    if let Ok(addr) = s.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(bad());
        }
        return Ok(HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 || !is_dns_name(host) || host.parse::<IpAddr>().is_ok() {
        return Err(bad());
    }
    Ok(HostPort {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Parses a duration: one or more NUMBER UNIT pairs, units `s`, `m`, `h`, `d` (`90s`,
/// `1h30m`, `180d`). Zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration such as 30s, 15m, 1h, 1h30m or 180d");
    let mut total: u64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .filter(|&v| v <= 100 * 365 * 86_400)
            .ok_or_else(|| format!("`{s}` is longer than 100 years"))?;
        rest = &rest[digits + 1..];
    }
    if total == 0 {
        return Err(format!("`{s}` is zero; give a positive duration"));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way it would be written (`1h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

fn parse_port(s: &str, whole: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{whole}`: `{s}` is not a port (1-65535)")),
    }
}

/// Parses one `ports=` item: `22`, `22/tcp`, `1000-2000/udp`, `*` or `*/tcp`.
fn parse_port_item(item: &str, whole: &str) -> Result<PortItem, String> {
    let (ports, transport) = match item.split_once('/') {
        None => (item, Transport::Both),
        Some((p, "tcp")) => (p, Transport::Tcp),
        Some((p, "udp")) => (p, Transport::Udp),
        Some((_, t)) => {
            return Err(format!(
                "`{whole}`: `{t}` is not a transport; ports take /tcp or /udp (for ICMP use proto=\"icmp\")"
            ));
        }
    };
    let range = if ports == "*" {
        PortRange {
            first: 0,
            last: 65535,
        }
    } else if let Some((a, b)) = ports.split_once('-') {
        let (first, last) = (parse_port(a, whole)?, parse_port(b, whole)?);
        if first > last {
            return Err(format!("`{whole}`: the range {ports} runs backwards"));
        }
        PortRange { first, last }
    } else {
        let p = parse_port(ports, whole)?;
        PortRange { first: p, last: p }
    };
    Ok(PortItem { transport, range })
}

/// Parses a comma-separated `ports=` list.
pub fn parse_ports(s: &str) -> Result<Vec<PortItem>, String> {
    s.split(',')
        .map(|item| parse_port_item(item.trim(), s))
        .collect()
}

/// Parses `proto=`.
pub fn parse_proto(s: &str) -> Result<Proto, String> {
    match s {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "icmp" => Ok(Proto::Icmp),
        "any" => Ok(Proto::Any),
        _ => Err(format!(
            "`{s}` is not a protocol: use tcp, udp, icmp or any"
        )),
    }
}

/// The selector prefixes, for messages and "did you mean".
pub const SELECTOR_PREFIXES: &[&str] = &[
    "node:", "tag:", "group:", "user:", "vrouter:", "ipsec:", "route:",
];

/// Why a selector could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// What is wrong.
    pub message: String,
    /// A suggestion, if one is obvious.
    pub help: Option<String>,
}

/// Parses one selector's syntax; whether its names exist is checked later.
pub fn parse_selector(s: &str) -> Result<Selector, SelectorError> {
    if s == "*" {
        return Ok(Selector::Any);
    }
    if let Ok(net) = s.parse::<IpNet>() {
        return if net.trunc() == net {
            Ok(Selector::Prefix(net))
        } else {
            Err(SelectorError {
                message: format!("`{s}` has host bits set"),
                help: Some(format!("did you mean `{}`?", net.trunc())),
            })
        };
    }
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(Selector::Prefix(IpNet::from(addr)));
    }
    let Some((kind, name)) = s.split_once(':') else {
        return if is_name(s) {
            Ok(Selector::Node(s.to_owned()))
        } else {
            Err(SelectorError {
                message: format!("`{s}` is not a selector"),
                help: Some(selector_help()),
            })
        };
    };
    let checked = |ok: bool, what: &str| {
        if ok {
            Ok(name.to_owned())
        } else {
            Err(SelectorError {
                message: format!("`{s}`: `{name}` is not a valid {what}"),
                help: None,
            })
        }
    };
    Ok(match kind {
        "node" => Selector::Node(checked(is_name(name), "node name")?),
        "tag" => Selector::Tag(checked(is_name(name), "tag")?),
        "group" => Selector::Group(checked(is_name(name), "group name")?),
        "user" => Selector::User(checked(parse_email(name).is_ok(), "e-mail address")?),
        "vrouter" => Selector::Vrouter(checked(is_name(name), "vrouter name")?),
        "ipsec" => Selector::Ipsec(checked(is_name(name), "ipsec-peer name")?),
        "route" => Selector::Route(checked(is_name(name), "node name")?),
        other => {
            let prefix = format!("{other}:");
            let help = crate::suggest::closest(&prefix, SELECTOR_PREFIXES.iter().copied())
                .map_or_else(selector_help, |p| format!("did you mean `{p}{name}`?"));
            return Err(SelectorError {
                message: format!("`{other}:` is not a selector kind"),
                help: Some(help),
            });
        }
    })
}

fn selector_help() -> String {
    "selectors are *, NAME, node:, tag:, group:, user:, vrouter:, ipsec:, route:, a CIDR or an address"
        .to_owned()
}

/// Parses a policy-test `from=`/`to=`: one node or vrouter name, or one address.
pub fn parse_test_endpoint(s: &str) -> Result<TestEndpoint, String> {
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(TestEndpoint::Address(addr));
    }
    let name = s
        .strip_prefix("node:")
        .or_else(|| s.strip_prefix("vrouter:"))
        .unwrap_or(s);
    if is_name(name) {
        Ok(TestEndpoint::Name(name.to_owned()))
    } else {
        Err(format!(
            "`{s}` is not one node or vrouter name or one address; a test packet has one sender and one receiver"
        ))
    }
}

/// Parses a policy-test `port=`: `N/tcp`, `N/udp` or `icmp`.
pub fn parse_test_port(s: &str) -> Result<TestPort, String> {
    let bad = || format!("`{s}` is not N/tcp, N/udp or icmp");
    if s == "icmp" {
        return Ok(TestPort::Icmp);
    }
    let (port, transport) = s.split_once('/').ok_or_else(bad)?;
    let port = match port.parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err(bad()),
    };
    match transport {
        "tcp" => Ok(TestPort::Tcp(port)),
        "udp" => Ok(TestPort::Udp(port)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_emails() {
        assert!(is_name("laptop-alice") && is_name("1a") && is_name(&"a".repeat(63)));
        for bad in ["", "-a", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_name(bad), "{bad}");
        }
        assert!(parse_email("alice@acme.example").is_ok());
        for bad in [
            "alice",
            "@acme.example",
            "alice@",
            "alice@localhost",
            "a b@x.y",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_and_endpoints() {
        assert!(parse_cidr("10.20.0.0/16").is_ok());
        assert!(parse_cidr("10.20.0.1/16").is_err_and(|e| e.contains("10.20.0.0/16")));
        assert!(parse_cidr("10.20.0.0").is_err());
        assert_eq!(parse_socket("[fd00::1]:51820").map(|s| s.port()), Ok(51820));
        assert!(parse_socket("host:1").is_err());
        let hp = parse_host_port("Relay-1.acme.example:3340").expect("valid");
        assert_eq!((hp.host.as_str(), hp.port), ("relay-1.acme.example", 3340));
        assert_eq!(
            parse_host_port("[::1]:7443").map(|h| h.to_string()),
            Ok("[::1]:7443".to_owned())
        );
        for bad in ["relay", "relay:0", "re lay:1", ":1", "1.2.3.4:x"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("180d"),
            Ok(Duration::from_secs(180 * 86_400))
        );
        for bad in [
            "",
            "0s",
            "30",
            "h",
            "1y",
            "1.5h",
            "-1s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5430)), "1h30m30s");
    }

    #[test]
    fn ports_and_protocols() {
        let items = parse_ports("22,80/tcp, 1000-2000/udp,*").expect("valid");
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].transport, Transport::Both);
        assert_eq!(
            items[2].range,
            PortRange {
                first: 1000,
                last: 2000
            }
        );
        assert_eq!(
            items[3].range,
            PortRange {
                first: 0,
                last: 65535
            }
        );
        for bad in ["", "0", "70000", "22/icmp", "20-10", "a", "22,"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_proto("icmp"), Ok(Proto::Icmp));
        assert!(parse_proto("sctp").is_err());
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_selector("*"), Ok(Selector::Any));
        assert_eq!(parse_selector("db-1"), Ok(Selector::Node("db-1".into())));
        assert_eq!(parse_selector("tag:eng"), Ok(Selector::Tag("eng".into())));
        assert_eq!(
            parse_selector("user:a@b.example"),
            Ok(Selector::User("a@b.example".into()))
        );
        assert_eq!(
            parse_selector("10.1.2.3"),
            Ok(Selector::Prefix("10.1.2.3/32".parse().expect("net")))
        );
        assert_eq!(
            parse_selector("fd00::/8"),
            Ok(Selector::Prefix("fd00::/8".parse().expect("net")))
        );
        let err = parse_selector("tags:eng").expect_err("bad kind");
        assert_eq!(err.help.as_deref(), Some("did you mean `tag:eng`?"));
        assert!(parse_selector("tag:").is_err());
        assert!(parse_selector("Bad Name").is_err());
    }

    #[test]
    fn test_endpoints_and_ports() {
        assert_eq!(
            parse_test_endpoint("db-1"),
            Ok(TestEndpoint::Name("db-1".into()))
        );
        assert!(parse_test_endpoint("tag:db").is_err());
        assert!(parse_test_endpoint("10.0.0.0/8").is_err());
        assert_eq!(parse_test_port("5432/tcp"), Ok(TestPort::Tcp(5432)));
        assert_eq!(parse_test_port("icmp"), Ok(TestPort::Icmp));
        assert!(parse_test_port("22").is_err());
    }
}
