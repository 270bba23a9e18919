//! The network.kdl the lab's hosts follow: setting a node's or vrouter's `public-key` and
//! `endpoint` by name, and pointing `secret-file=` paths at secrets the lab made (text
//! spliced at the spans the kdl crate reports, so comments and layout stay as written); and
//! reading what a wireguard-go peer needs (overlay, listen port, nodes). Nodes without a
//! pinned address get the one cvlan-core allocates, as every cvland computes it.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use kdl::{KdlDocument, KdlNode, KdlValue};

/// WireGuard's port when network.kdl sets no `listen-port`.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;

/// Why network.kdl could not be read or edited.
#[derive(Debug, thiserror::Error)]
pub enum NetworkFileError {
    /// The text is not KDL 2.0.
    #[error("network.kdl is not valid KDL: {0}")]
    Syntax(String),
    /// No `node "NAME"` (or `vrouter "NAME"`) at top level.
    #[error("network.kdl has no `{kind} \"{name}\"` (the lab runs it on a host)")]
    UnknownBlock {
        /// `node` or `vrouter`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A value the lab needs is missing or malformed.
    #[error("network.kdl: {0}")]
    Invalid(String),
}

/// One `node` of network.kdl as a wireguard-go peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// Its WireGuard public key, if set.
    pub public_key: Option<String>,
    /// Its overlay address: pinned, else allocated by cvlan-core once the file is valid.
    pub address: Option<Ipv4Addr>,
    /// Its static endpoints.
    pub endpoints: Vec<SocketAddrV4>,
    /// Prefixes it routes.
    pub routes: Vec<Ipv4Net>,
}

/// What the lab reads from network.kdl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The IPv4 overlay.
    pub overlay: Ipv4Net,
    /// The nodes' WireGuard port.
    pub listen_port: u16,
    /// Every `node`.
    pub nodes: Vec<NodeInfo>,
}

impl NetworkInfo {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Returns `text` with `key "value"` set as the only-or-first `key` child of `kind "name"`
/// (`kind` is `node` or `vrouter`): an existing one gets its value replaced, else a line is
/// added. Nothing else changes.
pub fn set_value(
    text: &str,
    kind: &'static str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<String, NetworkFileError> {
    let doc = parse(text)?;
    let node = find_block(&doc, kind, name).ok_or_else(|| NetworkFileError::UnknownBlock {
        kind,
        name: name.into(),
    })?;
    let quoted = quote(value);
    let existing = node
        .children()
        .into_iter()
        .flat_map(|c| c.nodes())
        .find(|c| c.name().value() == key)
        .and_then(|c| c.entries().iter().find(|e| e.name().is_none()));
    let mut out = text.to_owned();
    if let Some(entry) = existing {
        let span = entry.span();
        out.replace_range(span.offset()..span.offset() + span.len(), &quoted);
    } else {
        let line = format!("{key} {quoted}");
        let (at, insert) = insertion(text, node, &line);
        out.insert_str(at, &insert);
    }
    parse(&out)?;
    Ok(out)
}

/// Reads the overlay, listen port and nodes.
pub fn read_network(text: &str) -> Result<NetworkInfo, NetworkFileError> {
    let doc = parse(text)?;
    let network = doc
        .nodes()
        .iter()
        .find(|n| n.name().value() == "network")
        .ok_or_else(|| NetworkFileError::Invalid("no `network` node".into()))?;
    let overlay = child_string(network, "overlay")
        .ok_or_else(|| NetworkFileError::Invalid("`network` has no `overlay`".into()))?;
    let overlay = overlay
        .parse::<Ipv4Net>()
        .map_err(|_| NetworkFileError::Invalid(format!("overlay `{overlay}` is not IPv4")))?;
    let listen_port = match child_arg(network, "listen-port") {
        None => DEFAULT_LISTEN_PORT,
        Some(v) => v
            .as_integer()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| NetworkFileError::Invalid("bad `listen-port`".into()))?,
    };
    let mut nodes: Vec<NodeInfo> = doc
        .nodes()
        .iter()
        .filter(|n| n.name().value() == "node")
        .filter_map(|n| n.entries().first()?.value().as_string().map(|s| (s, n)))
        .map(|(name, n)| node_info(name, n))
        .collect::<Result<_, _>>()?;
    fill_allocated(text, &mut nodes);
    Ok(NetworkInfo {
        overlay,
        listen_port,
        nodes,
    })
}

/// Gives nodes without a pinned address the IPv4 address cvlan-core allocates them, when the
/// file is a valid network (before the lab has filled in every key it is not, and nothing is
/// allocated).
fn fill_allocated(text: &str, nodes: &mut [NodeInfo]) {
    let checked = cvlan_schema::parse_network("network.kdl", text);
    let Some(network) = checked.network else {
        return;
    };
    let allocation = cvlan_core::allocate(&network);
    for (i, node) in network.nodes.iter().enumerate() {
        let Some(info) = nodes
            .iter_mut()
            .find(|n| n.name == node.name.value && n.address.is_none())
        else {
            continue;
        };
        info.address = allocation
            .addresses(cvlan_core::Entity::Node(i))
            .v4
            .map(|a| a.address);
    }
}

fn node_info(name: &str, node: &KdlNode) -> Result<NodeInfo, NetworkFileError> {
    let bad =
        |what: &str, v: &str| NetworkFileError::Invalid(format!("node {name}: bad {what} `{v}`"));
    let address = child_string(node, "address")
        .map(|a| a.parse().map_err(|_| bad("address", a)))
        .transpose()?;
    let kids = || node.children().into_iter().flat_map(|c| c.nodes());
    let endpoints = kids()
        .filter(|c| c.name().value() == "endpoint")
        .filter_map(|c| c.entries().first()?.value().as_string())
        .map(|e| e.parse().map_err(|_| bad("endpoint", e)))
        .collect::<Result<_, _>>()?;
    let routes = kids()
        .filter(|c| c.name().value() == "routes")
        .flat_map(|c| c.entries().iter().filter_map(|e| e.value().as_string()))
        .map(|r| r.parse().map_err(|_| bad("route", r)))
        .collect::<Result<_, _>>()?;
    Ok(NodeInfo {
        name: name.to_owned(),
        public_key: child_string(node, "public-key").map(str::to_owned),
        address,
        endpoints,
        routes,
    })
}

fn parse(text: &str) -> Result<KdlDocument, NetworkFileError> {
    cvlan_schema::kdl_document(cvlan_schema::SourceId(0), text).map_err(|d| {
        let detail = d.first().map_or_else(String::new, |d| d.message.clone());
        NetworkFileError::Syntax(detail)
    })
}

fn find_block<'d>(doc: &'d KdlDocument, kind: &str, name: &str) -> Option<&'d KdlNode> {
    doc.nodes().iter().find(|n| {
        n.name().value() == kind
            && n.entries().first().and_then(|e| e.value().as_string()) == Some(name)
    })
}

/// Every `secret-file=` path in the document, in order (duplicates kept).
pub fn secret_files(text: &str) -> Result<Vec<String>, NetworkFileError> {
    let doc = parse(text)?;
    let mut out = Vec::new();
    visit_secret_files(&doc, &mut |entry| {
        if let Some(path) = entry.value().as_string() {
            out.push(path.to_owned());
        }
    });
    Ok(out)
}

/// Returns `text` with every `secret-file="OLD"` whose OLD `map` names rewritten to the new
/// path. Nothing else changes.
pub fn replace_secret_files(
    text: &str,
    map: &dyn Fn(&str) -> Option<String>,
) -> Result<String, NetworkFileError> {
    let doc = parse(text)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    visit_secret_files(&doc, &mut |entry| {
        let Some(new) = entry.value().as_string().and_then(map) else {
            return;
        };
        let span = entry.span();
        edits.push((
            span.offset(),
            span.len(),
            format!("secret-file={}", quote(&new)),
        ));
    });
    let mut out = text.to_owned();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (offset, len, replacement) in edits {
        out.replace_range(offset..offset + len, &replacement);
    }
    parse(&out)?;
    Ok(out)
}

fn visit_secret_files(doc: &KdlDocument, f: &mut dyn FnMut(&kdl::KdlEntry)) {
    for node in doc.nodes() {
        for entry in node.entries() {
            if entry.name().map(|n| n.value()) == Some("secret-file") {
                f(entry);
            }
        }
        if let Some(children) = node.children() {
            visit_secret_files(children, f);
        }
    }
}

fn child_arg<'n>(node: &'n KdlNode, key: &str) -> Option<&'n KdlValue> {
    node.children()?
        .nodes()
        .iter()
        .find(|c| c.name().value() == key)?
        .entries()
        .iter()
        .find(|e| e.name().is_none())
        .map(|e| e.value())
}

fn child_string<'n>(node: &'n KdlNode, key: &str) -> Option<&'n str> {
    child_arg(node, key)?.as_string()
}

/// Where and what to insert so that `line` becomes the first child of `node`.
fn insertion(text: &str, node: &KdlNode, line: &str) -> (usize, String) {
    let indent = line_indent(text, node.span().offset());
    if let Some(first) = node.children().and_then(|c| c.nodes().first()) {
        let at = first.span().offset();
        let before = &text[..at];
        let own_line = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .all(char::is_whitespace);
        if own_line {
            let child_indent = line_indent(text, at);
            return (at, format!("{line}\n{child_indent}"));
        }
        return (at, format!("{line}; "));
    }
    let end = node
        .entries()
        .last()
        .map_or(node.span().offset() + node.name().value().len(), |e| {
            e.span().offset() + e.span().len()
        });
    let node_end = node.span().offset() + node.span().len();
    let block = format!("\n{indent}    {line}\n{indent}");
    match text[end..node_end].find('{') {
        // An empty `{ }` block: fill it.
        Some(brace) => (end + brace + 1, block),
        None => (end, format!(" {{{block}}}")),
    }
}

/// A KDL quoted string (always quoted, so keys and endpoints read alike).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn line_indent(text: &str, offset: usize) -> String {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[start..offset]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"// the lab network
network "lab" {
    overlay "100.64.0.0/10"
    listen-port 51000
}

node "alpha" {
    // alpha's key is filled in by the lab
    address "100.64.0.1" // pinned
    public-key "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // stale
}
node "bravo" /* no block yet */
node "carol" { address "100.64.0.3"; }
node "delta" {}
"#;

    #[test]
    fn replaces_an_existing_key_and_keeps_comments() {
        let out = set_value(TEMPLATE, "node", "alpha", "public-key", "NEW+key/=").unwrap();
        assert!(out.contains(r#"public-key "NEW+key/=" // stale"#), "{out}");
        assert!(out.contains("// alpha's key is filled in by the lab"));
        assert_eq!(
            out.replace(r#""NEW+key/=""#, ""),
            TEMPLATE.replace(r#""AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=""#, "")
        );
    }

    #[test]
    fn adds_a_block_to_a_node_without_children() {
        let out = set_value(TEMPLATE, "node", "bravo", "public-key", "KB").unwrap();
        assert!(
            out.contains("node \"bravo\" {\n    public-key \"KB\"\n} /* no block yet */"),
            "{out}"
        );
        assert_eq!(
            read_network(&out)
                .unwrap()
                .node("bravo")
                .unwrap()
                .public_key
                .as_deref(),
            Some("KB")
        );
    }

    #[test]
    fn adds_to_one_line_and_empty_blocks() {
        let out = set_value(TEMPLATE, "node", "carol", "public-key", "KC").unwrap();
        assert!(
            out.contains(r#"node "carol" { public-key "KC"; address "100.64.0.3"; }"#),
            "{out}"
        );
        let out = set_value(&out, "node", "delta", "endpoint", "10.0.0.4:51000").unwrap();
        let info = read_network(&out).unwrap();
        assert_eq!(
            info.node("delta").unwrap().endpoints,
            vec!["10.0.0.4:51000".parse().unwrap()]
        );
        assert_eq!(
            info.node("carol").unwrap().public_key.as_deref(),
            Some("KC")
        );
    }

    #[test]
    fn adds_before_the_first_child_with_its_indent() {
        let text = "node \"x\" {\n    address \"100.64.0.9\"\n}\n";
        let out = set_value(text, "node", "x", "public-key", "K").unwrap();
        assert_eq!(
            out,
            "node \"x\" {\n    public-key \"K\"\n    address \"100.64.0.9\"\n}\n"
        );
    }

    #[test]
    fn sets_a_vrouter_key_and_points_secret_files_elsewhere() {
        let text = r#"vrouter "gw" {
    listen "10.0.0.1:4500"
    ipsec-peer "b" {
        auth "psk" secret-file="/etc/psk/b" // the lab replaces it
    }
    ipsec-peer "c" { auth "psk" secret-file="/etc/psk/c"; }
}
"#;
        let out = set_value(text, "vrouter", "gw", "public-key", "K").unwrap();
        assert!(
            out.starts_with("vrouter \"gw\" {\n    public-key \"K\"\n    listen"),
            "{out}"
        );
        assert_eq!(secret_files(&out).unwrap(), ["/etc/psk/b", "/etc/psk/c"]);
        let out = replace_secret_files(&out, &|p| {
            (p == "/etc/psk/b").then(|| "/run/x/psk-1".into())
        })
        .unwrap();
        assert!(out.contains(r#"auth "psk" secret-file="/run/x/psk-1" // the lab replaces it"#));
        assert!(out.contains(r#"secret-file="/etc/psk/c""#));
    }

    #[test]
    fn reads_overlay_port_and_nodes() {
        let info = read_network(TEMPLATE).unwrap();
        assert_eq!(info.overlay, "100.64.0.0/10".parse().unwrap());
        assert_eq!(info.listen_port, 51000);
        assert_eq!(info.nodes.len(), 4);
        assert_eq!(
            info.node("alpha").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 1))
        );
    }

    #[test]
    fn unpinned_nodes_get_the_address_cvlan_core_allocates() {
        let text = r#"network "lab" { overlay "100.64.0.0/10"; }
node "alpha" { public-key "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; address "100.64.0.1"; }
node "bravo" { public-key "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; }
"#;
        let info = read_network(text).unwrap();
        let checked = cvlan_schema::parse_network("n.kdl", text);
        let network = checked.network.unwrap();
        let expected = cvlan_core::allocate(&network)
            .addresses(cvlan_core::Entity::Node(1))
            .v4
            .map(|a| a.address);
        assert!(expected.is_some());
        assert_eq!(info.node("bravo").unwrap().address, expected);
        assert_eq!(
            info.node("alpha").unwrap().address,
            Some(Ipv4Addr::new(100, 64, 0, 1))
        );
        // Without keys the file is not valid yet: nothing is allocated.
        let info = read_network(TEMPLATE).unwrap();
        assert_eq!(info.node("delta").unwrap().address, None);
    }

    #[test]
    fn unknown_nodes_and_bad_text_are_errors() {
        assert!(matches!(
            set_value(TEMPLATE, "node", "zulu", "public-key", "K"),
            Err(NetworkFileError::UnknownBlock { kind: "node", name }) if name == "zulu"
        ));
        assert!(matches!(
            set_value("node {", "node", "a", "k", "v"),
            Err(NetworkFileError::Syntax(_))
        ));
        assert!(matches!(
            read_network("node \"a\""),
            Err(NetworkFileError::Invalid(_))
        ));
    }
}
