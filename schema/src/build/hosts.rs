//! Building `node`, `vrouter` and `ipsec-peer` items.

use std::time::Duration;

use super::{Draft, duration, entity_name as name_of, key};
use crate::grammar::Context;
use crate::model::{
    IpsecAuth, IpsecPeer, Node as NodeItem, Protocol, Remote, SecretSource, Vrouter,
};
use crate::read::{self, Out};
use crate::span::{Span, Spanned};
use crate::syntax::{Entry, Node};
use crate::values;
use cvlan_types::proposal::{self, ProposalError};

/// IKE SA lifetime when `lifetime ike=` is absent.
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Child SA lifetime when `lifetime child=` is absent.
pub const DEFAULT_CHILD_LIFETIME: Duration = Duration::from_secs(3600);

fn addr(out: &mut Out, value: &str, entry: &Entry) -> Option<Spanned<std::net::IpAddr>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-address",
        "write a single IP address such as \"100.64.0.10\"",
        values::parse_addr,
    )
}

fn cidr(out: &mut Out, value: &str, entry: &Entry) -> Option<Spanned<ipnet::IpNet>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-cidr",
        "write a prefix such as \"10.20.0.0/16\" with the host bits zero",
        values::parse_cidr,
    )
}

fn socket(out: &mut Out, value: &str, entry: &Entry) -> Option<Spanned<std::net::SocketAddr>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-endpoint",
        "write ADDRESS:PORT, e.g. \"198.51.100.7:51820\" or \"[2001:db8::7]:51820\"",
        values::parse_socket,
    )
}

/// `node "NAME" { … }`.
pub fn node(
    draft: &mut Draft,
    out: &mut Out,
    node: &Node,
    args: &[(&str, &Entry)],
    children: &[Node],
) {
    let mut item = NodeItem {
        name: name_of(out, node, args, "node"),
        owner: None,
        tags: Vec::new(),
        public_key: None,
        addresses: Vec::new(),
        endpoints: Vec::new(),
        protocols: Vec::new(),
        routes: Vec::new(),
        home_relay: None,
        span: node.span,
    };
    for (child, rule) in read::children(out, children, Context::Node) {
        let args = read::string_args(out, child, rule);
        for (value, entry) in args {
            match rule.name {
                "owner" => item.owner = Some(read::email(out, value, entry)),
                "tags" => item.tags.push(read::name(out, value, entry, "tag")),
                "public-key" => item.public_key = key(out, value, entry),
                "address" => item.addresses.extend(addr(out, value, entry)),
                "endpoint" => item.endpoints.extend(socket(out, value, entry)),
                "protocols" => item.protocols.extend(read::parsed(
                    out,
                    value,
                    entry,
                    "cvlan::invalid-value",
                    "the supported protocol is \"wireguard\"",
                    |p| match p {
                        "wireguard" => Ok(Protocol::WireGuard),
                        other => Err(format!("`{other}` is not a protocol CloudVLAN nodes speak")),
                    },
                )),
                "routes" => item.routes.extend(cidr(out, value, entry)),
                _ => item.home_relay = Some(read::name(out, value, entry, "relay")),
            }
        }
    }
    if item.protocols.is_empty() {
        item.protocols
            .push(Spanned::new(Protocol::WireGuard, node.name_span));
    }
    item.shrink_to_fit();
    draft.net.nodes.push(item);
}

/// `vrouter "NAME" { … }`.
pub fn vrouter(
    draft: &mut Draft,
    out: &mut Out,
    node: &Node,
    args: &[(&str, &Entry)],
    children: &[Node],
) {
    let mut item = Vrouter {
        name: name_of(out, node, args, "vrouter"),
        address: None,
        public_key: None,
        listen: None,
        peers: Vec::new(),
        span: node.span,
    };
    for (child, rule) in read::children(out, children, Context::Vrouter) {
        let args = read::string_args(out, child, rule);
        let Some(&(value, entry)) = args.first() else {
            continue;
        };
        match rule.name {
            "address" => item.address = addr(out, value, entry),
            "public-key" => item.public_key = key(out, value, entry),
            "listen" => item.listen = socket(out, value, entry),
            _ => {
                let children = child.children.as_deref().unwrap_or_default();
                item.peers.push(peer(out, child, &args, children));
            }
        }
    }
    draft.net.vrouters.push(item);
}

/// Values of one `ipsec-peer` block before defaults are applied.
#[derive(Default)]
struct PeerParts {
    remote: Option<Spanned<Remote>>,
    id: Option<(Spanned<String>, Spanned<String>)>,
    auth: Option<Spanned<IpsecAuth>>,
    local_ts: Vec<Spanned<ipnet::IpNet>>,
    remote_ts: Vec<Spanned<ipnet::IpNet>>,
    ike: Vec<Spanned<proposal::IkeProposal>>,
    esp: Vec<Spanned<proposal::EspProposal>>,
    ike_lifetime: Option<Spanned<Duration>>,
    child_lifetime: Option<Spanned<Duration>>,
    dpd: Option<Spanned<Duration>>,
}

fn peer(out: &mut Out, node: &Node, args: &[(&str, &Entry)], children: &[Node]) -> IpsecPeer {
    let name = name_of(out, node, args, "ipsec-peer");
    let mut parts = PeerParts::default();
    for (child, rule) in read::children(out, children, Context::IpsecPeer) {
        if rule.name == "auth" {
            parts.auth = auth(out, child, rule);
            continue;
        }
        let args = read::string_args(out, child, rule);
        match rule.name {
            "remote" => {
                parts.remote = args.first().and_then(|&(v, e)| {
                    read::parsed(
                        out,
                        v,
                        e,
                        "cvlan::invalid-address",
                        "write the peer's IP address, or \"%any\" for a dial-in peer",
                        |v| {
                            if v == "%any" {
                                Ok(Remote::Any)
                            } else {
                                values::parse_addr(v).map(Remote::Address)
                            }
                        },
                    )
                });
            }
            "id" => parts.id = ids(out, child),
            "local-ts" => parts
                .local_ts
                .extend(args.iter().filter_map(|&(v, e)| cidr(out, v, e))),
            "remote-ts" => parts
                .remote_ts
                .extend(args.iter().filter_map(|&(v, e)| cidr(out, v, e))),
            "proposals" => proposals(out, child, &mut parts),
            "lifetime" => {
                if let Some((v, e)) = read::prop_str(out, child, "ike") {
                    parts.ike_lifetime = duration(out, v, e);
                }
                if let Some((v, e)) = read::prop_str(out, child, "child") {
                    parts.child_lifetime = duration(out, v, e);
                }
            }
            _ => parts.dpd = args.first().and_then(|&(v, e)| duration(out, v, e)),
        }
    }
    let at = node.name_span;
    let mut require = |present: bool, what: &str, example: &str| {
        if !present {
            out.error(
                "cvlan::missing-property",
                at,
                format!("ipsec-peer `{}` needs `{what}`", name.value),
                "incomplete peer",
                format!("add `{example}` inside the block"),
            );
        }
    };
    require(parts.remote.is_some(), "remote", "remote \"203.0.113.17\"");
    require(
        parts.id.is_some(),
        "id",
        "id local=\"gw.acme.example\" remote=\"branch.acme.example\"",
    );
    require(
        parts.auth.is_some(),
        "auth",
        "auth \"psk\" secret-file=\"/etc/cloudvlan/psk/NAME\"",
    );
    require(
        !parts.remote_ts.is_empty(),
        "remote-ts",
        "remote-ts \"192.168.17.0/24\"",
    );
    let placeholder = Span::new(at.source, at.offset, 0);
    let (local_id, remote_id) = parts.id.unwrap_or_default();
    if parts.ike.is_empty() {
        parts.ike = proposal::default_ike()
            .into_iter()
            .map(|p| Spanned::new(p, at))
            .collect();
    }
    if parts.esp.is_empty() {
        parts.esp = proposal::default_esp()
            .into_iter()
            .map(|p| Spanned::new(p, at))
            .collect();
    }
    IpsecPeer {
        name,
        remote: parts
            .remote
            .unwrap_or(Spanned::new(Remote::Any, placeholder)),
        local_id,
        remote_id,
        auth: parts
            .auth
            .unwrap_or(Spanned::new(IpsecAuth::Cert, placeholder)),
        local_ts: parts.local_ts,
        remote_ts: parts.remote_ts,
        ike_proposals: parts.ike,
        esp_proposals: parts.esp,
        ike_lifetime: parts
            .ike_lifetime
            .unwrap_or(Spanned::new(DEFAULT_IKE_LIFETIME, at)),
        child_lifetime: parts
            .child_lifetime
            .unwrap_or(Spanned::new(DEFAULT_CHILD_LIFETIME, at)),
        dpd: parts.dpd,
        span: node.span,
    }
}

fn ids(out: &mut Out, node: &Node) -> Option<(Spanned<String>, Spanned<String>)> {
    let mut get = |key: &str| match read::prop_str(out, node, key) {
        Some((v, e)) if !v.trim().is_empty() => Some(Spanned::new(v.to_owned(), e.span)),
        Some((_, e)) => {
            out.error(
                "cvlan::invalid-value",
                e.span,
                format!("`id {key}=` is empty"),
                "empty identity",
                "an IKE identity is an FQDN, e-mail or address, e.g. gw.acme.example",
            );
            None
        }
        None => {
            read::missing_prop(out, node, key, "\"gw.acme.example\"");
            None
        }
    };
    let local = get("local");
    let remote = get("remote");
    Some((local?, remote?))
}

fn auth(out: &mut Out, node: &Node, rule: &crate::grammar::NodeRule) -> Option<Spanned<IpsecAuth>> {
    let entries = read::node_args(out, node, rule);
    let method = entries.first()?;
    let file = read::prop_str(out, node, "secret-file");
    let env = read::prop_str(out, node, "secret-env");
    match method.value.as_str() {
        Some("cert") => {
            if let Some((_, e)) = file.or(env) {
                out.error(
                    "cvlan::invalid-value",
                    e.span,
                    "`auth \"cert\"` takes no secret".to_owned(),
                    "not used with cert",
                    "remove it, or use `auth \"psk\"`",
                );
            }
            Some(Spanned::new(IpsecAuth::Cert, method.span))
        }
        Some("psk") => {
            let source = match (file, env) {
                (Some((path, e)), None) => read::parsed(
                    out,
                    path,
                    e,
                    "cvlan::invalid-value",
                    "give an absolute path such as /etc/cloudvlan/psk/branch-17",
                    |p| {
                        if p.starts_with('/') {
                            Ok(SecretSource::File(p.into()))
                        } else {
                            Err(format!("`{p}` is not an absolute path"))
                        }
                    },
                )?,
                (None, Some((var, e))) => read::parsed(
                    out,
                    var,
                    e,
                    "cvlan::invalid-value",
                    "environment variable names are letters, digits and `_`",
                    |v| {
                        let ok = !v.is_empty()
                            && !v.starts_with(|c: char| c.is_ascii_digit())
                            && v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
                        if ok {
                            Ok(SecretSource::Env(v.to_owned()))
                        } else {
                            Err(format!("`{v}` is not an environment variable name"))
                        }
                    },
                )?,
                (Some(_), Some((_, e))) => {
                    out.error(
                        "cvlan::invalid-value",
                        e.span,
                        "give either secret-file= or secret-env=, not both".to_owned(),
                        "second source",
                        "keep one of the two",
                    );
                    return None;
                }
                (None, None) if read::has_inline_secret(node) => {
                    // Reported as an inline secret; keep the peer whole so nothing cascades.
                    Spanned::new(SecretSource::Env(String::new()), method.span)
                }
                (None, None) => {
                    out.error(
                        "cvlan::missing-property",
                        node.name_span,
                        "`auth \"psk\"` needs secret-file= or secret-env=".to_owned(),
                        "no secret source",
                        "add secret-file=\"/etc/cloudvlan/psk/NAME\" or secret-env=\"VARIABLE\"",
                    );
                    return None;
                }
            };
            Some(Spanned::new(IpsecAuth::Psk(source.value), method.span))
        }
        _ => {
            // Never echo the value: an operator may have put the key itself here.
            out.redact.push(method.span);
            out.error(
                "cvlan::invalid-value",
                method.span,
                "the auth method must be \"psk\" or \"cert\"".to_owned(),
                "unknown method (masked)",
                "write `auth \"psk\" secret-file=\"…\"` or `auth \"cert\"`",
            );
            None
        }
    }
}

fn proposals(out: &mut Out, node: &Node, parts: &mut PeerParts) {
    if let Some((list, entry)) = read::prop_str(out, node, "ike") {
        for item in list.split(',') {
            if let Some(p) = proposal_item(out, item, entry, proposal::parse_ike) {
                parts.ike.push(p);
            }
        }
    }
    if let Some((list, entry)) = read::prop_str(out, node, "esp") {
        for item in list.split(',') {
            if let Some(p) = proposal_item(out, item, entry, proposal::parse_esp) {
                parts.esp.push(p);
            }
        }
    }
}

fn proposal_item<T>(
    out: &mut Out,
    item: &str,
    entry: &Entry,
    parse: fn(&str) -> Result<T, ProposalError>,
) -> Option<Spanned<T>> {
    match parse(item.trim()) {
        Ok(p) => Some(Spanned::new(p, entry.span)),
        Err(ProposalError::Unsupported(alg)) => {
            out.error("cvlan::unsupported-proposal", entry.span, format!("`{}` uses `{alg}`, which CloudVLAN does not support", item.trim()), "unsupported algorithm", "supported: aes128gcm16/aes256gcm16, aes128/aes256 with sha256/sha384/sha512, prfsha256/384/512, x25519, ecp256, modp2048");
            None
        }
        Err(ProposalError::Invalid(message)) => {
            out.error("cvlan::invalid-proposal", entry.span, message, "invalid proposal", "proposals are strongSwan-style: IKE \"aes256gcm16-prfsha256-x25519\" or \"aes256-sha256-ecp256\", ESP \"aes256gcm16\" or \"aes256-sha256\"");
            None
        }
    }
}
