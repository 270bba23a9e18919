//! The grammar tables: which nodes may appear where, with which arguments, properties and
//! blocks. The builders consult these tables for every node they read, so they are the single
//! source of truth for "what is allowed here"; `REFERENCE.md` carries the same table and a
//! test checks the two agree both ways.

/// Where a node sits: the top of a file or inside some block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The top level of network.kdl.
    Top,
    /// Inside `network { }`.
    Network,
    /// Inside `group { }`.
    Group,
    /// Inside `node { }`.
    Node,
    /// Inside `vrouter { }`.
    Vrouter,
    /// Inside `ipsec-peer { }`.
    IpsecPeer,
    /// Inside `policy { }`.
    Policy,
    /// Inside `policy-test { }`.
    PolicyTest,
    /// The top level of cvland.kdl / vrouterd.kdl.
    Host,
    /// The top level of controller.kdl.
    Controller,
}

/// What may be written for one node name in one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRule {
    /// The node name.
    pub name: &'static str,
    /// The arguments, as the reference writes them (empty: none).
    pub args: &'static str,
    /// The properties allowed.
    pub props: &'static [&'static str],
    /// The context of the node's `{ }` block, if it takes one.
    pub block: Option<Context>,
    /// True when the node may appear more than once in one block.
    pub repeat: bool,
}

/// A node that may appear at most once per block.
const fn rule(
    name: &'static str,
    args: &'static str,
    props: &'static [&'static str],
    block: Option<Context>,
) -> NodeRule {
    NodeRule {
        name,
        args,
        props,
        block,
        repeat: false,
    }
}

/// A node that may appear any number of times.
const fn many(
    name: &'static str,
    args: &'static str,
    props: &'static [&'static str],
    block: Option<Context>,
) -> NodeRule {
    NodeRule {
        name,
        args,
        props,
        block,
        repeat: true,
    }
}

const TOP: &[NodeRule] = &[
    rule("network", "NAME", &["tenant"], Some(Context::Network)),
    rule("controller", "NAME", &["address", "public-key"], None),
    many("relay", "NAME", &["region", "address", "public-key"], None),
    many("group", "NAME", &[], Some(Context::Group)),
    many("node", "NAME", &[], Some(Context::Node)),
    many("vrouter", "NAME", &[], Some(Context::Vrouter)),
    many("policy", "", &[], Some(Context::Policy)),
    many("policy-test", "DESCRIPTION", &[], Some(Context::PolicyTest)),
    many("include", "PATH", &[], None),
];

const NETWORK: &[NodeRule] = &[
    rule("overlay", "CIDR", &[], None),
    rule("overlay6", "CIDR", &[], None),
    rule("dns", "", &["domain"], None),
    rule("listen-port", "PORT", &[], None),
    rule("key-expiry", "DURATION", &[], None),
];

const GROUP: &[NodeRule] = &[many("member", "EMAIL...", &[], None)];

const NODE: &[NodeRule] = &[
    rule("owner", "EMAIL", &[], None),
    many("tags", "TAG...", &[], None),
    rule("public-key", "KEY", &[], None),
    many("address", "ADDRESS...", &[], None),
    many("endpoint", "ADDRESS:PORT...", &[], None),
    many("protocols", "PROTOCOL...", &[], None),
    many("routes", "CIDR...", &[], None),
    rule("home-relay", "RELAY", &[], None),
];

const VROUTER: &[NodeRule] = &[
    rule("address", "ADDRESS", &[], None),
    rule("public-key", "KEY", &[], None),
    rule("listen", "ADDRESS:PORT", &[], None),
    many("ipsec-peer", "NAME", &[], Some(Context::IpsecPeer)),
];

const IPSEC_PEER: &[NodeRule] = &[
    rule("remote", "ADDRESS|%any", &[], None),
    rule("id", "", &["local", "remote"], None),
    rule("auth", "psk|cert", &["secret-file", "secret-env"], None),
    many("local-ts", "CIDR...", &[], None),
    many("remote-ts", "CIDR...", &[], None),
    many("proposals", "", &["ike", "esp"], None),
    rule("lifetime", "", &["ike", "child"], None),
    rule("dpd", "DURATION", &[], None),
];

const RULE_PROPS: &[&str] = &["from", "to", "ports", "proto"];
const POLICY: &[NodeRule] = &[
    many("allow", "NAME", RULE_PROPS, None),
    many("deny", "NAME", RULE_PROPS, None),
];

const TEST_PROPS: &[&str] = &["from", "to", "port"];
const POLICY_TEST: &[NodeRule] = &[
    many("accept", "", TEST_PROPS, None),
    many("reject", "", TEST_PROPS, None),
];

const HOST: &[NodeRule] = &[
    rule("node", "NAME", &[], None),
    rule("vrouter", "NAME", &[], None),
    rule("state-dir", "PATH", &[], None),
    rule("socket", "PATH", &[], None),
    rule("tun", "NAME", &[], None),
    rule(
        "source",
        "file|git|controller",
        &[
            "path",
            "url",
            "branch",
            "interval",
            "address",
            "public-key",
            "auth-key-file",
        ],
        None,
    ),
    rule("icmp-prohibited", "BOOL", &[], None),
    rule("listen-port", "PORT", &[], None),
    rule("dns", "", &["listen"], None),
    rule("metrics", "", &["listen"], None),
];

const CONTROLLER: &[NodeRule] = &[
    rule("listen", "ADDRESS:PORT", &[], None),
    rule("key-file", "PATH", &[], None),
    rule("database", "sqlite|postgres", &["path", "url-env"], None),
    rule("network-file", "PATH", &[], None),
    rule("metrics", "", &["listen"], None),
];

impl Context {
    /// Every context, in reference order.
    pub const ALL: [Context; 10] = [
        Context::Top,
        Context::Network,
        Context::Group,
        Context::Node,
        Context::Vrouter,
        Context::IpsecPeer,
        Context::Policy,
        Context::PolicyTest,
        Context::Host,
        Context::Controller,
    ];

    /// The context's name as the reference and messages write it.
    pub fn name(self) -> &'static str {
        match self {
            Context::Top => "network.kdl",
            Context::Network => "network",
            Context::Group => "group",
            Context::Node => "node",
            Context::Vrouter => "vrouter",
            Context::IpsecPeer => "ipsec-peer",
            Context::Policy => "policy",
            Context::PolicyTest => "policy-test",
            Context::Host => "cvland.kdl",
            Context::Controller => "controller.kdl",
        }
    }

    /// Where in a file this context is, for messages ("at the top level", "inside `node`").
    pub fn place(self) -> String {
        match self {
            Context::Top | Context::Host | Context::Controller => {
                format!("at the top level of {}", self.name())
            }
            _ => format!("inside `{}`", self.name()),
        }
    }

    /// The nodes allowed in this context.
    pub fn rules(self) -> &'static [NodeRule] {
        match self {
            Context::Top => TOP,
            Context::Network => NETWORK,
            Context::Group => GROUP,
            Context::Node => NODE,
            Context::Vrouter => VROUTER,
            Context::IpsecPeer => IPSEC_PEER,
            Context::Policy => POLICY,
            Context::PolicyTest => POLICY_TEST,
            Context::Host => HOST,
            Context::Controller => CONTROLLER,
        }
    }

    /// The rule for `name` in this context.
    pub fn rule(self, name: &str) -> Option<&'static NodeRule> {
        self.rules().iter().find(|r| r.name == name)
    }

    /// The allowed node names, comma-separated, for messages.
    pub fn allowed(self) -> String {
        let names: Vec<&str> = self.rules().iter().map(|r| r.name).collect();
        names.join(", ")
    }
}
