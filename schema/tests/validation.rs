//! Targeted validation behaviour: every problem reported in one run, "did you mean" help,
//! the model's defaults, and the rules that the invalid examples do not pin down alone.

use cvlan_schema::model::{IpsecAuth, Proto, Remote, SecretSource, Selector, Transport};
use cvlan_schema::{Checked, parse_network};

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

fn check(body: &str) -> Checked {
    let text = format!(
        "network \"n\" {{\n    overlay \"100.64.0.0/16\"\n    overlay6 \"fd00:1::/48\"\n}}\ncontroller \"c\" address=\"c.example:7443\" public-key=\"{KEY_A}\"\ngroup \"eng\" {{\n    member \"alice@x.example\"\n}}\n{body}"
    );
    parse_network("n.kdl", &text)
}

fn codes(checked: &Checked) -> Vec<&'static str> {
    checked.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn reports_every_problem_in_one_run() {
    let checked = check(
        "node \"A\" {\n    owner \"alice\"\n    address \"100.65.0.1\"\n    publickey \"x\"\n}\nnode \"b\" {\n    routes \"100.64.1.0/24\"\n}\npolicy {\n    allow \"r\" from=\"tag:nope\" to=\"8.8.8.8\" ports=\"99999\"\n}\n",
    );
    assert_eq!(
        codes(&checked),
        [
            "cvlan::invalid-name",
            "cvlan::invalid-user",
            "cvlan::address-outside-overlay",
            "cvlan::unknown-node",
            "cvlan::overlap",
            "cvlan::unknown-selector",
            "cvlan::selector-outside",
            "cvlan::invalid-ports",
        ]
    );
    assert!(checked.network.is_none());
    let unknown = &checked.diagnostics[3];
    assert_eq!(
        unknown
            .help
            .as_deref()
            .map(|h| h.starts_with("did you mean `public-key`?")),
        Some(true)
    );
}

#[test]
fn did_you_mean_for_selectors_and_references() {
    let body = format!(
        "relay \"fra1\" region=\"eu\" address=\"r.example:3340\" public-key=\"{KEY_B}\"\nnode \"db-1\" {{\n    tags \"database\"\n    home-relay \"fra2\"\n}}\npolicy {{\n    allow \"r\" from=\"group:engg,user:alice@x.example\" to=\"tag:databse,db-2\"\n}}\npolicy-test \"t\" {{\n    accept from=\"db-11\" to=\"db-1\" port=\"22/tcp\"\n}}\n"
    );
    let checked = check(&body);
    let helps: Vec<(&str, &str)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.code, d.help.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        helps,
        [
            ("cvlan::unknown-reference", "did you mean `fra1`?"),
            ("cvlan::unknown-selector", "did you mean `eng`?"),
            ("cvlan::unknown-selector", "did you mean `database`?"),
            ("cvlan::unknown-selector", "did you mean `db-1`?"),
            ("cvlan::unknown-reference", "did you mean `db-1`?"),
        ]
    );
}

#[test]
fn model_carries_values_and_defaults() {
    let checked = check(&format!(
        "node \"gw\" {{\n    owner \"alice@x.example\"\n    public-key \"{KEY_B}\"\n    address \"100.64.0.9\" \"fd00:1::9\"\n    routes \"10.1.0.0/16\"\n}}\nvrouter \"v\" {{\n    ipsec-peer \"p\" {{\n        remote \"%any\"\n        id local=\"a.example\" remote=\"b.example\"\n        auth \"psk\" secret-env=\"PSK_P\"\n        remote-ts \"192.168.9.0/24\"\n    }}\n}}\npolicy {{\n    deny \"d\" from=\"route:gw,ipsec:p\" to=\"vrouter:v,fd00:1::/64\" ports=\"53,1000-2000/udp\" proto=\"udp\"\n}}\n"
    ));
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let net = checked.network.expect("valid");
    assert_eq!(net.tenant.value, "default");
    assert_eq!(net.listen_port.value, 51820);
    let gw = net.node("gw").expect("node");
    assert_eq!(gw.addresses.len(), 2);
    let (_, peer) = net.ipsec_peer("p").expect("peer");
    assert_eq!(peer.remote.value, Remote::Any);
    assert_eq!(
        peer.auth.value,
        IpsecAuth::Psk(SecretSource::Env("PSK_P".into()))
    );
    assert_eq!(peer.local_ts.len(), 2, "defaults to both overlays");
    assert_eq!(peer.ike_lifetime.value.as_secs(), 24 * 3600);
    assert_eq!(peer.child_lifetime.value.as_secs(), 3600);
    assert_eq!(
        peer.ike_proposals[0].value.to_string(),
        "aes256gcm16-prfsha256-x25519"
    );
    assert_eq!(peer.esp_proposals[0].value.to_string(), "aes256gcm16");
    assert_eq!(peer.dpd, None);
    let rule = &net.rules[0];
    assert_eq!(rule.from[0].value, Selector::Route("gw".into()));
    assert_eq!(rule.from[1].value, Selector::Ipsec("p".into()));
    assert_eq!(rule.to[0].value, Selector::Vrouter("v".into()));
    assert_eq!(rule.proto.map(|p| p.value), Some(Proto::Udp));
    assert_eq!(rule.ports[0].transport, Transport::Both);
}

#[test]
fn address_rules() {
    let cases = [
        ("address \"100.64.255.255\"", "cvlan::reserved-address"),
        ("address \"fd00:1::\"", "cvlan::reserved-address"),
        ("address \"fd00:2::1\"", "cvlan::address-outside-overlay"),
        (
            "address \"100.64.0.1\" \"100.64.0.2\"",
            "cvlan::invalid-address",
        ),
        ("routes \"fd00:1:0:5::/64\"", "cvlan::overlap"),
        ("routes \"10.0.0.0\"", "cvlan::invalid-cidr"),
        ("endpoint \"host:51820\"", "cvlan::invalid-endpoint"),
        ("protocols \"ipsec\"", "cvlan::invalid-value"),
        ("public-key \"AAAA\"", "cvlan::invalid-key"),
        (
            "owner \"alice@x.example\"\n    owner \"alice@x.example\"",
            "cvlan::duplicate-property",
        ),
    ];
    for (line, code) in cases {
        let checked = check(&format!("node \"a\" {{\n    {line}\n}}\n"));
        assert_eq!(codes(&checked), [code], "{line}");
    }
}

#[test]
fn ipsec_rules() {
    let peer = |lines: &str| {
        check(&format!(
            "vrouter \"v\" {{\n    ipsec-peer \"p\" {{\n        remote \"192.0.2.1\"\n        id local=\"a\" remote=\"b\"\n        auth \"cert\"\n        remote-ts \"192.168.9.0/24\"\n        {lines}\n    }}\n}}\n"
        ))
    };
    let cases = [
        (
            "proposals ike=\"aes256-sha1-modp2048\"",
            "cvlan::unsupported-proposal",
        ),
        (
            "proposals esp=\"aes256gcm16-prfsha256\"",
            "cvlan::invalid-proposal",
        ),
        (
            "proposals ike=\"aes256gcm16-prfsha256-x25519,blowfish-sha256-ecp256\"",
            "cvlan::unsupported-proposal",
        ),
        ("lifetime ike=\"1 day\"", "cvlan::invalid-duration"),
        ("dpd \"0s\"", "cvlan::invalid-duration"),
        ("remote-ts \"100.64.3.0/24\"", "cvlan::overlap"),
        ("remote \"192.0.2.2\"", "cvlan::duplicate-property"),
        ("dpd \"1m\" psk=\"x\"", "cvlan::inline-secret"),
    ];
    for (line, code) in cases {
        assert_eq!(codes(&peer(line)), [code], "{line}");
    }
    // A node that is refused is not read, but a secret in it is still reported and masked.
    for line in [
        "auth \"cert\" secret=\"hunter2\"",
        "authh \"psk\" secret=\"hunter2\"",
    ] {
        let checked = peer(line);
        assert!(codes(&checked).contains(&"cvlan::inline-secret"), "{line}");
        let text = &checked
            .sources
            .get(cvlan_schema::SourceId(0))
            .expect("source")
            .text;
        assert!(!text.contains("hunter2"), "{line}");
    }
    let ok = peer(
        "proposals ike=\"aes128-sha512-ecp256\" esp=\"aes128gcm16-x25519\"\n        proposals ike=\"aes256gcm16-prfsha384-modp2048\"",
    );
    let net = ok.network.expect("valid");
    assert_eq!(net.vrouters[0].peers[0].ike_proposals.len(), 2);
}

#[test]
fn missing_keys_only_without_a_controller() {
    let text = "network \"n\" {\n}\nnode \"a\" {\n}\nvrouter \"v\" {\n}\n";
    let checked = parse_network("n.kdl", text);
    assert_eq!(
        codes(&checked),
        ["cvlan::missing-key", "cvlan::missing-key"]
    );
    let dup = check(&format!(
        "node \"a\" {{\n    public-key \"{KEY_B}\"\n}}\nnode \"b\" {{\n    public-key \"{KEY_B}\"\n}}\n"
    ));
    assert_eq!(codes(&dup), ["cvlan::duplicate-key"]);
}

#[test]
fn a_file_with_errors_is_read_as_far_as_it_goes_but_never_checked() {
    // No key on `b` (no controller) and a bad address on `c`: invalid, yet readable.
    let text = format!(
        "network \"n\" {{ overlay \"100.64.0.0/16\"; listen-port 51000; }}\nnode \"a\" {{ public-key \"{KEY_A}\"; address \"100.64.0.1\"; }}\nnode \"b\" {{ address \"100.64.0.2\"; endpoint \"192.0.2.2:51000\"; }}\nnode \"c\" {{ public-key \"{KEY_B}\"; address \"not-an-address\"; }}\n"
    );
    let partial = cvlan_schema::parse_network_partial("n.kdl", &text);
    assert!(!partial.is_ok());
    let network = partial.network.clone().expect("readable");
    assert_eq!(network.listen_port.value, 51000);
    let b = network.node("b").expect("b is read");
    assert!(b.public_key.is_none());
    assert_eq!(b.addresses[0].value.to_string(), "100.64.0.2");
    assert_eq!(b.endpoints[0].value.to_string(), "192.0.2.2:51000");
    assert!(network.node("c").expect("c is read").addresses.is_empty());
    // The same diagnostics as a check, and no model there.
    let checked = parse_network("n.kdl", &text);
    assert_eq!(checked.diagnostics, partial.diagnostics);
    assert!(checked.network.is_none());
    let converted: Checked = partial.into();
    assert!(converted.network.is_none());

    // A valid file: the partial model is the checked one.
    let valid = format!(
        "network \"n\" {{ overlay \"100.64.0.0/16\"; }}\nnode \"a\" {{ public-key \"{KEY_A}\"; }}\n"
    );
    let partial = cvlan_schema::parse_network_partial("n.kdl", &valid);
    assert!(partial.is_ok());
    assert_eq!(partial.network, parse_network("n.kdl", &valid).network);

    // Text that is not KDL has no model at all.
    let broken = cvlan_schema::parse_network_partial("n.kdl", "node \"a\" {");
    assert!(broken.network.is_none());
    assert!(broken.diagnostics.iter().any(|d| d.code == "cvlan::syntax"));
}
