//! controller.kdl: where cvlan-controller listens, where its key and database are, and the
//! network file it seeds an empty database with. Same diagnostics as the other files (codes,
//! spans, "did you mean").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::grammar::Context;
use crate::load::{decode, finish, read_bytes};
use crate::read::{self, Out};
use crate::span::{SourceMap, Span, Spanned};
use crate::syntax::{self, Entry, Node};

/// Where the controller keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// `database "sqlite" path=`: an embedded SQLite file, created on first start.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// `database "postgres" url-env=`: a PostgreSQL server shared by several controllers,
    /// its URL (with the password) in an environment variable, never in the file.
    Postgres {
        /// The environment variable holding the connection URL.
        url_env: String,
    },
}

/// A checked controller.kdl.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerFile {
    /// `listen "ADDRESS:PORT"`: the control and admin port.
    pub listen: Spanned<SocketAddr>,
    /// `key-file "PATH"`: the controller's x25519 private key (0600).
    pub key_file: PathBuf,
    /// `database …`: the state store.
    pub database: Spanned<Database>,
    /// `network-file "PATH"`: seeds an empty database with its first revision.
    pub network_file: Option<PathBuf>,
    /// `metrics listen="ADDRESS:PORT"`: where the Prometheus endpoint (`/metrics`) is served;
    /// `None`: no endpoint.
    pub metrics_listen: Option<Spanned<SocketAddr>>,
}

/// The result of checking a controller file: sources, the config when valid, every diagnostic.
#[derive(Debug, Clone)]
pub struct ControllerFileChecked {
    /// The file read.
    pub sources: SourceMap,
    /// The config; `Some` exactly when no diagnostic is an error.
    pub controller: Option<ControllerFile>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and checks the controller file at `path`; relative paths in it are taken relative
/// to the file's directory.
pub fn load_controller_file(path: &Path) -> Result<ControllerFileChecked, crate::LoadError> {
    let bytes = read_bytes(path)?;
    let mut checked = check_controller_bytes(&path.display().to_string(), bytes);
    if let Some(config) = &mut checked.controller {
        let base = path.parent().unwrap_or(Path::new(""));
        config.resolve(base);
    }
    Ok(checked)
}

/// Checks a controller file given as bytes (one `cvlan::encoding` error when it is not UTF-8);
/// paths stay as written.
pub fn check_controller_bytes(name: &str, bytes: Vec<u8>) -> ControllerFileChecked {
    match decode::<()>(name, bytes) {
        Ok(text) => parse_controller_file(name, &text),
        Err(parts) => ControllerFileChecked {
            sources: parts.sources,
            controller: None,
            diagnostics: parts.diagnostics,
        },
    }
}

/// Checks controller-file text held in memory; paths stay as written.
pub fn parse_controller_file(name: &str, text: &str) -> ControllerFileChecked {
    let mut sources = SourceMap::default();
    let id = sources.add(name, text);
    let mut out = Out::default();
    let mut draft = Draft::default();
    match syntax::parse(id, text) {
        Ok(nodes) => {
            draft.read(&mut out, &nodes);
            draft.require(&mut out, Span::new(id, 0, 0));
        }
        Err(diags) => out.diags.extend(diags),
    }
    let config = match draft {
        Draft {
            listen: Some(listen),
            key_file: Some(key_file),
            database: Some(database),
            network_file,
            metrics_listen,
            ..
        } => Some(ControllerFile {
            listen,
            key_file,
            database,
            network_file,
            metrics_listen,
        }),
        _ => None,
    };
    let parts = finish(sources, out, ());
    ControllerFileChecked {
        controller: parts.model.and(config),
        sources: parts.sources,
        diagnostics: parts.diagnostics,
    }
}

impl ControllerFile {
    /// Makes the relative paths relative to `base` (the file's directory).
    fn resolve(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.key_file);
        if let Some(p) = &mut self.network_file {
            join(p);
        }
        if let Database::Sqlite { path } = &mut self.database.value {
            join(path);
        }
    }
}

/// What the file said so far; `seen` tells a node that was given but invalid (reported
/// already) from one that is missing.
#[derive(Default)]
struct Draft {
    listen: Option<Spanned<SocketAddr>>,
    key_file: Option<PathBuf>,
    database: Option<Spanned<Database>>,
    network_file: Option<PathBuf>,
    metrics_listen: Option<Spanned<SocketAddr>>,
    seen: Vec<&'static str>,
}

/// The nodes a controller file must have, with an example of each.
const REQUIRED: &[(&str, &str)] = &[
    ("listen", "listen \"0.0.0.0:7443\""),
    ("key-file", "key-file \"/var/lib/cloudvlan/controller.key\""),
    (
        "database",
        "database \"sqlite\" path=\"/var/lib/cloudvlan/controller.db\"",
    ),
];

impl Draft {
    fn read(&mut self, out: &mut Out, nodes: &[Node]) {
        for (node, rule) in read::children(out, nodes, Context::Controller) {
            self.seen.push(rule.name);
            if rule.name == "metrics" {
                // Properties and arity as the grammar says; then the one property.
                read::node_args(out, node, rule);
                self.metrics_listen = read::listen_prop(out, node, read::METRICS_EXAMPLE);
                continue;
            }
            let entries = read::node_args(out, node, rule);
            let Some(&entry) = entries.first() else {
                continue;
            };
            let Some(value) = read::string_value(out, entry, &node.name) else {
                continue;
            };
            match rule.name {
                "listen" => self.listen = listen(out, value, entry),
                "key-file" => self.key_file = path(out, value, entry),
                "network-file" => self.network_file = path(out, value, entry),
                _ => {
                    self.database =
                        database(out, node, value, entry).map(|d| Spanned::new(d, node.span));
                }
            }
        }
    }

    /// Reports each required node the file does not have at all.
    fn require(&self, out: &mut Out, start: Span) {
        for (name, example) in REQUIRED {
            if !self.seen.contains(name) {
                out.error(
                    "cvlan::missing-property",
                    start,
                    format!("the controller file has no `{name}`"),
                    "file starts here",
                    format!("add `{example}`"),
                );
            }
        }
    }
}

/// `listen "ADDRESS:PORT"`: an IP address and a port (IPv6 in brackets).
fn listen(out: &mut Out, value: &str, entry: &Entry) -> Option<Spanned<SocketAddr>> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-value",
        "give an address and a port, e.g. \"0.0.0.0:7443\" or \"[::]:7443\"",
        |v| match v.parse::<SocketAddr>() {
            Ok(a) if a.port() != 0 => Ok(a),
            _ => Err(format!("`{v}` is not ADDRESS:PORT")),
        },
    )
}

/// A non-empty path (relative ones are resolved against the file's directory).
fn path(out: &mut Out, value: &str, entry: &Entry) -> Option<PathBuf> {
    read::parsed(
        out,
        value,
        entry,
        "cvlan::invalid-value",
        "give a path, e.g. \"/var/lib/cloudvlan/controller.key\"",
        |v| {
            if v.is_empty() {
                Err("the path is empty".to_owned())
            } else {
                Ok(PathBuf::from(v))
            }
        },
    )
    .map(|p| p.value)
}

/// The property each database kind takes.
fn database_prop(kind: &str) -> &'static str {
    if kind == "sqlite" { "path" } else { "url-env" }
}

fn database(out: &mut Out, node: &Node, kind: &str, entry: &Entry) -> Option<Database> {
    if !matches!(kind, "sqlite" | "postgres") {
        let help = crate::suggest::did_you_mean(kind, ["sqlite", "postgres"])
            .unwrap_or_else(|| "databases are \"sqlite\" and \"postgres\"".to_owned());
        out.error(
            "cvlan::invalid-value",
            entry.span,
            format!("`{kind}` is not a database"),
            "unknown database",
            help,
        );
        return None;
    }
    let wanted = database_prop(kind);
    for prop in node.props() {
        let Some((key, span)) = &prop.key else {
            continue;
        };
        // Properties of no database at all were reported against the grammar already.
        if key != wanted && matches!(key.as_str(), "path" | "url-env") {
            out.error(
                "cvlan::unknown-property",
                *span,
                format!("`database \"{kind}\"` has no property `{key}`"),
                "not used by this database",
                format!("\"{kind}\" takes {wanted}="),
            );
        }
    }
    let Some((value, value_entry)) = read::prop_str(out, node, wanted) else {
        let example = if kind == "sqlite" {
            "\"/var/lib/cloudvlan/controller.db\""
        } else {
            "\"CVLAN_DATABASE_URL\""
        };
        read::missing_prop(out, node, wanted, example);
        return None;
    };
    if kind == "sqlite" {
        return path(out, value, value_entry).map(|path| Database::Sqlite { path });
    }
    let is_env_name = !value.is_empty()
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !is_env_name {
        out.error(
            "cvlan::invalid-value",
            value_entry.span,
            format!("`{value}` is not an environment variable name"),
            "invalid variable name",
            "name the variable that holds the URL, e.g. url-env=\"CVLAN_DATABASE_URL\"",
        );
        return None;
    }
    Some(Database::Postgres {
        url_env: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"listen "0.0.0.0:7443"
key-file "/var/lib/cloudvlan/controller.key"
database "sqlite" path="/var/lib/cloudvlan/controller.db"
network-file "/etc/cloudvlan/network.kdl"
"#;

    fn codes(text: &str) -> Vec<&'static str> {
        parse_controller_file("controller.kdl", text)
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    }

    #[test]
    fn reads_every_setting() {
        let checked = parse_controller_file("controller.kdl", GOOD);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let config = checked.controller.expect("valid");
        assert_eq!(config.listen.value, "0.0.0.0:7443".parse().unwrap());
        assert_eq!(
            config.key_file,
            PathBuf::from("/var/lib/cloudvlan/controller.key")
        );
        assert_eq!(
            config.database.value,
            Database::Sqlite {
                path: "/var/lib/cloudvlan/controller.db".into()
            }
        );
        assert_eq!(
            config.network_file,
            Some(PathBuf::from("/etc/cloudvlan/network.kdl"))
        );
    }

    #[test]
    fn postgres_is_read_with_its_variable_and_network_file_is_optional() {
        let text = "listen \"[::]:7443\"\nkey-file \"k\"\ndatabase \"postgres\" url-env=\"CVLAN_DATABASE_URL\"\n";
        let config = parse_controller_file("c.kdl", text)
            .controller
            .expect("valid");
        assert_eq!(
            config.database.value,
            Database::Postgres {
                url_env: "CVLAN_DATABASE_URL".into()
            }
        );
        assert_eq!(config.network_file, None);
        assert_eq!(config.key_file, PathBuf::from("k"), "as written");
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("controller.kdl");
        std::fs::write(
            &file,
            "listen \"127.0.0.1:7443\"\nkey-file \"ctl.key\"\ndatabase \"sqlite\" path=\"/abs/ctl.db\"\nnetwork-file \"net/network.kdl\"\n",
        )
        .unwrap();
        let config = load_controller_file(&file).unwrap().controller.unwrap();
        assert_eq!(config.key_file, dir.path().join("ctl.key"));
        assert_eq!(
            config.network_file,
            Some(dir.path().join("net/network.kdl"))
        );
        assert_eq!(
            config.database.value,
            Database::Sqlite {
                path: "/abs/ctl.db".into()
            }
        );
    }

    #[test]
    fn an_unknown_node_gets_a_did_you_mean() {
        let checked = parse_controller_file("c.kdl", &format!("{GOOD}lisen \"0.0.0.0:1\"\n"));
        let codes: Vec<_> = checked.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["cvlan::unknown-node"]);
        let help = checked.diagnostics[0].help.as_deref().unwrap_or_default();
        assert!(help.starts_with("did you mean `listen`?"), "{help}");
        assert!(checked.controller.is_none());
    }

    #[test]
    fn missing_nodes_are_named() {
        let checked = parse_controller_file("c.kdl", "key-file \"/k\"\n");
        let messages: Vec<_> = checked.diagnostics.iter().map(|d| &d.message).collect();
        assert_eq!(
            messages,
            [
                "the controller file has no `listen`",
                "the controller file has no `database`"
            ]
        );
        assert!(
            checked
                .diagnostics
                .iter()
                .all(|d| d.code == "cvlan::missing-property")
        );
        assert!(checked.controller.is_none());
    }

    #[test]
    fn bad_values_are_refused_where_they_are() {
        let base = "key-file \"/k\"\ndatabase \"sqlite\" path=\"/d\"\n";
        for listen in [
            "listen \"ctl.example:7443\"",
            "listen \"0.0.0.0\"",
            "listen \"0.0.0.0:0\"",
            "listen 7443",
        ] {
            let checked = parse_controller_file("c.kdl", &format!("{listen}\n{base}"));
            let codes: Vec<_> = checked.diagnostics.iter().map(|d| d.code).collect();
            assert_eq!(codes, ["cvlan::invalid-value"], "{listen}");
            let span = checked.diagnostics[0].span;
            assert_eq!(span.offset, listen.find(' ').unwrap() + 1, "{listen}");
        }
        assert_eq!(
            codes(
                "listen \"0.0.0.0:1\"\nlisten \"0.0.0.0:2\"\nkey-file \"/k\"\ndatabase \"sqlite\" path=\"/d\"\n"
            ),
            ["cvlan::duplicate-property"]
        );
        assert_eq!(
            codes("listen \"0.0.0.0:1\"\nkey-file \"\"\ndatabase \"sqlite\" path=\"/d\"\n"),
            ["cvlan::invalid-value"]
        );
    }

    #[test]
    fn each_database_takes_its_own_property() {
        let with = |db: &str| codes(&format!("listen \"0.0.0.0:1\"\nkey-file \"/k\"\n{db}\n"));
        assert_eq!(
            with("database \"sqlite\" url-env=\"X\""),
            ["cvlan::missing-property", "cvlan::unknown-property"]
        );
        assert_eq!(with("database \"postgres\""), ["cvlan::missing-property"]);
        assert_eq!(
            with("database \"postgres\" url-env=\"postgres://u:p@h/db\""),
            ["cvlan::invalid-value"]
        );
        assert_eq!(
            with("database \"sqlite\" pth=\"/d\""),
            ["cvlan::unknown-property"],
            "a misspelt path= is reported once"
        );
        let checked = parse_controller_file(
            "c.kdl",
            "listen \"0.0.0.0:1\"\nkey-file \"/k\"\ndatabase \"sqlit\" path=\"/d\"\n",
        );
        assert_eq!(
            checked.diagnostics[0].help.as_deref(),
            Some("did you mean `sqlite`?")
        );
    }

    #[test]
    fn secrets_and_syntax_errors_are_reported() {
        assert_eq!(
            codes(
                "listen \"0.0.0.0:1\"\nkey-file \"/k\"\ndatabase \"postgres\" password=\"hunter2\"\n"
            ),
            ["cvlan::missing-property", "cvlan::inline-secret"]
        );
        assert_eq!(codes("listen \"0.0.0.0:1\n"), ["cvlan::syntax"]);
    }
}
