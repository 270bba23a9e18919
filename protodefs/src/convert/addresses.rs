//! Addresses, prefixes and endpoints on the wire: the text of proto string fields, read with
//! the field named in the error, and written back.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::ConvertError;

/// Reads an IP address from a proto string field.
pub fn parse_addr(field: &'static str, text: &str) -> Result<IpAddr, ConvertError> {
    text.parse().map_err(|_| ConvertError::Address {
        field,
        value: text.to_owned(),
    })
}

/// Reads a prefix from a proto string field: CIDR, or one address as a /32 or /128.
///
/// The prefix is kept as written (host bits are not cleared), as the model keeps it.
pub fn parse_prefix(field: &'static str, text: &str) -> Result<IpNet, ConvertError> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| ConvertError::Prefix {
            field,
            value: text.to_owned(),
        })
}

/// Reads an `ip:port` endpoint (`[v6]:port` for IPv6) from a proto string field.
pub fn parse_endpoint(field: &'static str, text: &str) -> Result<SocketAddr, ConvertError> {
    text.parse().map_err(|_| ConvertError::Endpoint {
        field,
        value: text.to_owned(),
    })
}

/// Reads every address of a repeated proto string field.
pub fn parse_addrs(field: &'static str, texts: &[String]) -> Result<Vec<IpAddr>, ConvertError> {
    texts.iter().map(|text| parse_addr(field, text)).collect()
}

/// Reads every prefix of a repeated proto string field.
pub fn parse_prefixes(field: &'static str, texts: &[String]) -> Result<Vec<IpNet>, ConvertError> {
    texts.iter().map(|text| parse_prefix(field, text)).collect()
}

/// The text form of addresses, prefixes or endpoints, for a repeated proto string field.
pub fn to_strings<T: Display>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|item| item.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
