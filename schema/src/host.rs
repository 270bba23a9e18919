//! cvland.kdl and vrouterd.kdl: which node or vrouter a host is and where its desired state
//! comes from. Same diagnostics as network.kdl (codes, spans, "did you mean").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnostic::Diagnostic;
use crate::grammar::Context;
use crate::load::{decode, finish, read_bytes};
use crate::read::{self, Out};
use crate::span::{SourceMap, Span, Spanned};
use crate::syntax::{self, Entry, Node, Value};

pub use cvlan_types::paths::{
    DEFAULT_NETWORK_FILE, DEFAULT_SOCKET, DEFAULT_STATE_DIR, DEFAULT_TUN,
};
/// Default branch for `source "git"`.
pub const DEFAULT_GIT_BRANCH: &str = "main";
/// Default path inside the repository for `source "git"`.
pub const DEFAULT_GIT_PATH: &str = "network.kdl";
/// Default poll interval for `source "git"`.
pub const DEFAULT_GIT_INTERVAL: Duration = Duration::from_secs(30);

/// What this host is in the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRole {
    /// `node "NAME"`: a mesh node run by cvland.
    Node(String),
    /// `vrouter "NAME"`: an IPsec concentrator run by cvlan-vrouterd.
    Vrouter(String),
}

impl HostRole {
    /// The node or vrouter name.
    pub fn name(&self) -> &str {
        match self {
            HostRole::Node(n) | HostRole::Vrouter(n) => n,
        }
    }
}

/// Where the desired state comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSource {
    /// `source "file" path=`: watch a file and reload it on change.
    File {
        /// The network file.
        path: PathBuf,
    },
    /// `source "git" url= branch= path= interval=`: poll a repository.
    Git {
        /// Repository URL.
        url: String,
        /// Branch to follow.
        branch: String,
        /// Path of the network file inside the repository.
        path: String,
        /// How often to fetch.
        interval: Duration,
    },
    /// `source "controller" address= public-key= [auth-key-file=]`: register with the network's
    /// controller and stream this host's netmap from it.
    Controller {
        /// The controller's `host:port`.
        address: crate::model::HostPort,
        /// The controller's static x25519 key (`cvlan-controller pubkey` prints it).
        public_key: cvlan_types::PublicKey,
        /// File holding the auth key used for the first registration.
        auth_key_file: Option<PathBuf>,
    },
}

/// A checked cvland.kdl or vrouterd.kdl.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// Which node or vrouter this host is.
    pub role: Spanned<HostRole>,
    /// Where keys (0600), the cached netmap and flow stats live.
    pub state_dir: PathBuf,
    /// The local API socket.
    pub socket: PathBuf,
    /// The TUN device name.
    pub tun: String,
    /// Where the desired state comes from (`source "file"` of the default file when absent).
    pub source: Spanned<StateSource>,
    /// Answer denied inbound connections with ICMP "administratively prohibited" (default on).
    pub icmp_prohibited: bool,
    /// Overrides the network's `listen-port` on this host.
    pub listen_port: Option<u16>,
    /// `dns listen=`: where the resolver answers (default: the node's first overlay address,
    /// port 53).
    pub dns_listen: Option<SocketAddr>,
    /// `metrics listen=`: where the Prometheus endpoint (`/metrics`) is served; `None`: no
    /// endpoint.
    pub metrics_listen: Option<Spanned<SocketAddr>>,
}

/// The result of checking a host file: sources, the config when valid, every diagnostic.
#[derive(Debug, Clone)]
pub struct HostChecked {
    /// The file read.
    pub sources: SourceMap,
    /// The config; `Some` exactly when no diagnostic is an error.
    pub host: Option<HostConfig>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and checks the host file at `path`.
pub fn load_host(path: &Path) -> Result<HostChecked, crate::LoadError> {
    let bytes = read_bytes(path)?;
    Ok(check_host_bytes(&path.display().to_string(), bytes))
}

/// Checks a host file given as bytes (one `cvlan::encoding` error when it is not UTF-8).
pub fn check_host_bytes(name: &str, bytes: Vec<u8>) -> HostChecked {
    match decode::<()>(name, bytes) {
        Ok(text) => parse_host(name, &text),
        Err(parts) => HostChecked {
            sources: parts.sources,
            host: None,
            diagnostics: parts.diagnostics,
        },
    }
}

/// Checks host-file text held in memory.
pub fn parse_host(name: &str, text: &str) -> HostChecked {
    let mut sources = SourceMap::default();
    let id = sources.add(name, text);
    let mut out = Out::default();
    let mut draft = Draft::default();
    match syntax::parse(id, text) {
        Ok(nodes) => {
            draft.read(&mut out, &nodes);
            if draft.role.is_none() {
                out.error(
                    "cvlan::missing-property",
                    Span::new(id, 0, 0),
                    "the host file names no `node` or `vrouter`".to_owned(),
                    "file starts here",
                    "start the file with `node \"NAME\"` (or `vrouter \"NAME\"` for a vrouter host)",
                );
            }
        }
        Err(diags) => out.diags.extend(diags),
    }
    draft.check_support(&mut out);
    let config = draft.role.clone().map(|role| HostConfig {
        role,
        state_dir: draft
            .state_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        socket: draft
            .socket
            .clone()
            .unwrap_or_else(|| DEFAULT_SOCKET.into()),
        tun: draft.tun.clone().unwrap_or_else(|| DEFAULT_TUN.to_owned()),
        source: draft.source.clone().unwrap_or_else(|| {
            Spanned::new(
                StateSource::File {
                    path: DEFAULT_NETWORK_FILE.into(),
                },
                Span::new(id, 0, 0),
            )
        }),
        icmp_prohibited: draft.icmp_prohibited.unwrap_or(true),
        listen_port: draft.listen_port.map(|p| p.value),
        dns_listen: draft.dns_listen,
        metrics_listen: draft.metrics_listen,
    });
    let parts = finish(sources, out, ());
    HostChecked {
        host: parts.model.and(config),
        sources: parts.sources,
        diagnostics: parts.diagnostics,
    }
}

#[derive(Default)]
struct Draft {
    role: Option<Spanned<HostRole>>,
    state_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    tun: Option<String>,
    source: Option<Spanned<StateSource>>,
    icmp_prohibited: Option<bool>,
    listen_port: Option<Spanned<u16>>,
    dns_listen: Option<SocketAddr>,
    metrics_listen: Option<Spanned<SocketAddr>>,
}

fn absolute(out: &mut Out, value: &str, entry: &Entry) -> Option<PathBuf> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-value",
        "give an absolute path",
        |v| {
            if v.starts_with('/') {
                Ok(PathBuf::from(v))
            } else {
                Err(format!("`{v}` is not an absolute path"))
            }
        },
    )
    .map(|p| p.value)
}

impl Draft {
    /// Refuses the sources today's daemons cannot follow: cvland follows a file, a git
    /// repository or a controller; cvlan-vrouterd a file.
    fn check_support(&self, out: &mut Out) {
        let Some(role) = &self.role else {
            return;
        };
        if let (HostRole::Vrouter(_), Some(port)) = (&role.value, &self.listen_port) {
            out.push(
                Diagnostic::warning(
                    "cvlan::unused",
                    "cvlan-vrouterd does not use `listen-port`",
                    port.span,
                    "ignored",
                )
                .with_help("a vrouter listens where its `listen` in network.kdl says"),
            );
        }
        let Some(source) = &self.source else {
            return;
        };
        let supported = match (&role.value, &source.value) {
            (_, StateSource::File { .. }) => true,
            (HostRole::Node(_), _) => true,
            (HostRole::Vrouter(_), _) => false,
        };
        if supported {
            return;
        }
        let (daemon, sources) = match role.value {
            HostRole::Node(_) => ("cvland", "source \"file\", \"git\" or \"controller\""),
            HostRole::Vrouter(_) => ("cvlan-vrouterd", "source \"file\""),
        };
        out.error(
            "cvlan::unsupported",
            source.span,
            format!("{daemon} cannot follow this source yet"),
            "not supported by this release",
            format!("use {sources}"),
        );
    }

    fn read(&mut self, out: &mut Out, nodes: &[Node]) {
        for (node, rule) in read::children(out, nodes, Context::Host) {
            if rule.name == "dns" {
                // Properties and arity as the grammar says; then the one property.
                read::node_args(out, node, rule);
                self.dns_listen = read::listen_prop(out, node, read::DNS_EXAMPLE).map(|a| a.value);
                continue;
            }
            if rule.name == "metrics" {
                read::node_args(out, node, rule);
                self.metrics_listen = read::listen_prop(out, node, read::METRICS_EXAMPLE);
                continue;
            }
            let entries = read::node_args(out, node, rule);
            let Some(&entry) = entries.first() else {
                continue;
            };
            match rule.name {
                "icmp-prohibited" => match entry.value {
                    Value::Bool(b) => self.icmp_prohibited = Some(b),
                    _ => out.error(
                        "cvlan::invalid-value",
                        entry.span,
                        "`icmp-prohibited` takes #true or #false".to_owned(),
                        "not a boolean",
                        "write `icmp-prohibited #false` to drop denied connections silently",
                    ),
                },
                "listen-port" => {
                    self.listen_port = crate::build::port_value(out, node, entry);
                }
                _ => {
                    let Some(value) = read::string_value(out, entry, &node.name) else {
                        continue;
                    };
                    self.string_node(out, node, rule.name, value, entry);
                }
            }
        }
    }

    fn string_node(&mut self, out: &mut Out, node: &Node, kind: &str, value: &str, entry: &Entry) {
        match kind {
            "node" | "vrouter" => {
                if let Some(first) = &self.role {
                    out.push(
                        Diagnostic::error(
                            "cvlan::duplicate-name",
                            "a host file names one node or vrouter",
                            node.name_span,
                            "second one",
                        )
                        .with_label(first.span, "first one")
                        .with_help("one cvland or vrouterd process serves one node or vrouter"),
                    );
                    return;
                }
                let name = read::name(out, value, entry, kind).value;
                let role = if kind == "node" {
                    HostRole::Node(name)
                } else {
                    HostRole::Vrouter(name)
                };
                self.role = Some(Spanned::new(role, entry.span));
            }
            "state-dir" => self.state_dir = absolute(out, value, entry),
            "socket" => self.socket = absolute(out, value, entry),
            "tun" => {
                let ok = !value.is_empty()
                    && value.len() < 16
                    && value
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
                if ok {
                    self.tun = Some(value.to_owned());
                } else {
                    out.error(
                        "cvlan::invalid-value",
                        entry.span,
                        format!("`{value}` is not a Linux interface name"),
                        "invalid interface name",
                        "interface names are 1-15 letters, digits, `-` or `_`, e.g. cvl0",
                    );
                }
            }
            _ => self.source = source(out, node, value, entry).map(|s| Spanned::new(s, node.span)),
        }
    }
}

/// The properties each `source` kind takes.
fn source_props(kind: &str) -> &'static [&'static str] {
    match kind {
        "file" => &["path"],
        "git" => &["url", "branch", "path", "interval"],
        _ => &["address", "public-key", "auth-key-file"],
    }
}

fn source(out: &mut Out, node: &Node, kind: &str, entry: &Entry) -> Option<StateSource> {
    if !matches!(kind, "file" | "git" | "controller") {
        let help = crate::suggest::did_you_mean(kind, ["file", "git", "controller"])
            .unwrap_or_else(|| "sources are \"file\", \"git\" and \"controller\"".to_owned());
        out.error(
            "cvlan::invalid-value",
            entry.span,
            format!("`{kind}` is not a source"),
            "unknown source",
            help,
        );
        return None;
    }
    let allowed = source_props(kind);
    // Properties of no source at all were reported against the grammar already.
    let any_source = Context::Host.rule("source").map_or(&[][..], |r| r.props);
    for prop in node.props() {
        let Some((key, span)) = &prop.key else {
            continue;
        };
        if !allowed.contains(&key.as_str()) && any_source.contains(&key.as_str()) {
            out.error(
                "cvlan::unknown-property",
                *span,
                format!("`source \"{kind}\"` has no property `{key}`"),
                "not used by this source",
                format!("allowed with \"{kind}\": {}", allowed.join(", ")),
            );
        }
    }
    let mut text = |key: &str| read::prop_str(out, node, key).map(|(v, e)| (v.to_owned(), e));
    Some(match kind {
        "file" => {
            let path = match text("path") {
                Some((v, e)) => absolute(out, &v, e)?,
                None => DEFAULT_NETWORK_FILE.into(),
            };
            StateSource::File { path }
        }
        "git" => {
            let Some((url, url_entry)) = text("url") else {
                read::missing_prop(out, node, "url", "\"https://git.example/net.git\"");
                return None;
            };
            if url.is_empty() || url.chars().any(char::is_whitespace) {
                out.error(
                    "cvlan::invalid-value",
                    url_entry.span,
                    "the repository URL is empty or contains spaces".to_owned(),
                    "invalid URL",
                    "give the clone URL, e.g. https://git.acme.example/net.git",
                );
                return None;
            }
            let branch = text("branch").map_or_else(|| DEFAULT_GIT_BRANCH.to_owned(), |(v, _)| v);
            let path = text("path").map_or_else(|| DEFAULT_GIT_PATH.to_owned(), |(v, _)| v);
            let interval = match read::prop_str(out, node, "interval") {
                Some((v, e)) => crate::build::duration(out, v, e)?.value,
                None => DEFAULT_GIT_INTERVAL,
            };
            if branch.is_empty() || path.is_empty() || path.starts_with('/') {
                out.error(
                    "cvlan::invalid-value",
                    node.name_span,
                    "branch and path must be non-empty, and path relative to the repository"
                        .to_owned(),
                    "invalid git source",
                    "e.g. branch=\"main\" path=\"network.kdl\"",
                );
                return None;
            }
            StateSource::Git {
                url,
                branch,
                path,
                interval,
            }
        }
        _ => {
            let (address, key) = (text("address"), text("public-key"));
            let auth_key_file = text("auth-key-file");
            let Some((address, address_entry)) = address else {
                read::missing_prop(out, node, "address", "\"ctl.acme.example:7443\"");
                return None;
            };
            let Some((key, key_entry)) = key else {
                read::missing_prop(out, node, "public-key", "\"<base64>\"");
                return None;
            };
            let address = read::parsed(
                out,
                &address,
                address_entry,
                "cvlan::invalid-endpoint",
                "write HOST:PORT, e.g. ctl.acme.example:7443",
                crate::values::parse_host_port,
            );
            let public_key = crate::build::key(out, &key, key_entry);
            let auth_key_file = match auth_key_file {
                Some((v, e)) => Some(absolute(out, &v, e)?),
                None => None,
            };
            StateSource::Controller {
                address: address?.value,
                public_key: public_key?.value,
                auth_key_file,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply() {
        let checked = parse_host("cvland.kdl", "node \"laptop-alice\"\n");
        let host = checked.host.expect("valid");
        assert_eq!(host.role.value, HostRole::Node("laptop-alice".into()));
        assert_eq!(host.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(host.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(host.tun, "cvl0");
        assert_eq!(
            host.source.value,
            StateSource::File {
                path: DEFAULT_NETWORK_FILE.into()
            }
        );
        assert!(host.icmp_prohibited);
        assert_eq!(host.listen_port, None);
        assert_eq!(host.dns_listen, None);
        assert_eq!(host.metrics_listen, None, "no metrics endpoint by default");
    }

    #[test]
    fn reads_every_setting() {
        let text = r#"node "dc1-gw"
state-dir "/srv/cvlan"
socket "/run/cvlan.sock"
tun "ipsec7"
source "git" url="https://git.acme.example/net.git" branch="prod" path="nets/corp.kdl" interval="2m"
icmp-prohibited #false
listen-port 41641
dns listen="[fd7a:115c:a1e0::1]:5353"
metrics listen="127.0.0.1:9464"
"#;
        let checked = parse_host("cvland.kdl", text);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let host = checked.host.expect("valid");
        assert_eq!(host.role.value.name(), "dc1-gw");
        assert_eq!(
            host.source.value,
            StateSource::Git {
                url: "https://git.acme.example/net.git".into(),
                branch: "prod".into(),
                path: "nets/corp.kdl".into(),
                interval: Duration::from_secs(120),
            }
        );
        assert!(!host.icmp_prohibited);
        assert_eq!(host.listen_port, Some(41641));
        assert_eq!(
            host.dns_listen,
            "[fd7a:115c:a1e0::1]:5353".parse().ok(),
            "dns listen= is read"
        );
        assert_eq!(
            host.metrics_listen.map(|m| m.value),
            "127.0.0.1:9464".parse().ok(),
            "metrics listen= is read"
        );
    }

    #[test]
    fn metrics_listen_must_be_an_address_and_a_port() {
        let codes = |text: &str| {
            let checked = parse_host("cvland.kdl", &format!("node \"a\"\n{text}\n"));
            let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
            codes
        };
        assert_eq!(codes("metrics listen=\"[::1]:9464\""), Vec::<&str>::new());
        assert_eq!(
            codes("metrics listen=\"localhost:9464\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(
            codes("metrics listen=\"127.0.0.1:0\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(codes("metrics"), ["cvlan::missing-property"]);
        let vrouter = parse_host(
            "vrouterd.kdl",
            "vrouter \"v\"\nmetrics listen=\"127.0.0.1:9464\"\n",
        );
        assert!(vrouter.diagnostics.is_empty(), "{:?}", vrouter.diagnostics);
        assert_eq!(
            vrouter.host.and_then(|h| h.metrics_listen).map(|m| m.value),
            "127.0.0.1:9464".parse().ok(),
            "cvlan-vrouterd serves metrics too"
        );
    }

    #[test]
    fn dns_listen_must_be_an_address_and_a_port() {
        let codes = |text: &str| {
            let checked = parse_host("cvland.kdl", &format!("node \"a\"\n{text}\n"));
            let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
            codes
        };
        assert_eq!(
            codes("dns listen=\"100.100.100.100:53\""),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes("dns listen=\"corp.cvlan:53\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(
            codes("dns listen=\"100.100.100.100\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(
            codes("dns listen=\"100.100.100.100:0\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(codes("dns"), ["cvlan::missing-property"]);
    }

    #[test]
    fn sources_the_daemons_cannot_follow_are_errors() {
        let unsupported = |text: &str| {
            let checked = parse_host("h.kdl", text);
            let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
            (codes, checked.host.is_none())
        };
        let controller = "source \"controller\" address=\"ctl:7443\" public-key=\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\" auth-key-file=\"/etc/cloudvlan/authkey\"\n";
        assert_eq!(
            unsupported(&format!("node \"a\"\n{controller}")),
            (vec![], false)
        );
        assert_eq!(
            unsupported(&format!("vrouter \"gw\"\n{controller}")),
            (vec!["cvlan::unsupported"], true)
        );
        let git = "source \"git\" url=\"git://h/n.git\"\n";
        assert_eq!(
            unsupported(&format!("vrouter \"gw\"\n{git}")),
            (vec!["cvlan::unsupported"], true)
        );
        assert_eq!(unsupported(&format!("node \"a\"\n{git}")), (vec![], false));
    }

    #[test]
    fn a_controller_source_names_its_address_and_key() {
        let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let text = format!(
            "node \"a\"\nsource \"controller\" address=\"ctl.acme.example:7443\" public-key=\"{key}\"\n"
        );
        let host = parse_host("h.kdl", &text).host.expect("valid");
        let StateSource::Controller {
            address,
            public_key,
            auth_key_file,
        } = host.source.value
        else {
            panic!("a controller source");
        };
        assert_eq!(address.to_string(), "ctl.acme.example:7443");
        assert_eq!(public_key.to_base64(), key);
        assert_eq!(auth_key_file, None);
        let codes = |text: &str| -> Vec<&'static str> {
            parse_host("h.kdl", text)
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect()
        };
        assert_eq!(
            codes(
                "node \"a\"\nsource \"controller\" public-key=\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n"
            ),
            ["cvlan::missing-property"]
        );
        assert_eq!(
            codes("node \"a\"\nsource \"controller\" address=\"ctl:7443\" public-key=\"short\"\n"),
            ["cvlan::invalid-key"]
        );
        assert_eq!(
            codes(
                "node \"a\"\nsource \"controller\" address=\"no-port\" public-key=\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n"
            ),
            ["cvlan::invalid-endpoint"]
        );
    }

    #[test]
    fn reports_every_problem() {
        let text = "nod \"a\"\nsource \"gti\"\ntun \"way-too-long-interface\"\nsource \"file\" url=\"x\"\nicmp-prohibited \"no\"\n";
        let checked = parse_host("cvland.kdl", text);
        let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                "cvlan::unknown-node",
                "cvlan::missing-property",
                "cvlan::invalid-value",
                "cvlan::invalid-value",
                "cvlan::duplicate-property",
                "cvlan::invalid-value"
            ]
        );
        assert_eq!(
            checked.diagnostics[0]
                .help
                .as_deref()
                .map(|h| h.starts_with("did you mean `node`?")),
            Some(true)
        );
        assert_eq!(
            checked.diagnostics[2].help.as_deref(),
            Some("did you mean `git`?")
        );
        assert!(checked.host.is_none());
    }
}
