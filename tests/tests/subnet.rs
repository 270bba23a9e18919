//! A subnet router end to end (tests/labs/subnet.kdl): the router advertises the office LAN
//! (`routes "10.9.0.0/24"`), cvland turns IP forwarding on for it, and the laptop reaches a
//! printer there that runs no CloudVLAN software: ping and the web port the policy allows,
//! while another port is refused at once and the printer cannot open connections back.

use std::time::Duration;

use cvlan_lab::{Lab, LabOptions, require_root};
use cvlan_tests::{bin_dir, ctl, one_at_a_time, root, wait_for};

#[test]
fn the_laptop_reaches_the_office_lan_through_the_router_as_the_policy_allows() {
    let Some(_root) = require_root() else { return };
    let _serial = one_at_a_time();
    let options = LabOptions {
        bin_dir: Some(bin_dir()),
        ..LabOptions::default()
    };
    let lab = Lab::start_file(&root().join("tests/labs/subnet.kdl"), options)
        .expect("the subnet lab starts");
    let (laptop, router, printer) = (lab.host("laptop"), lab.host("router"), lab.host("printer"));

    // The router forwards now, and said so.
    let forwarding = router
        .exec(&["cat", "/proc/sys/net/ipv4/ip_forward"])
        .expect("sysctl");
    assert_eq!(String::from_utf8_lossy(&forwarding.stdout).trim(), "1");
    let (code, events) = ctl(&router.socket_path(), &["events"]);
    assert_eq!(code, 0, "{events}");
    assert!(
        events.to_string().contains("forwarding.enabled"),
        "{events}"
    );

    // The laptop has the office LAN routed into the mesh.
    let routes = laptop.exec(&["ip", "route"]).expect("ip route");
    assert!(
        String::from_utf8_lossy(&routes.stdout).contains("10.9.0.0/24 dev"),
        "{}",
        String::from_utf8_lossy(&routes.stdout)
    );

    let printer_ip = "10.9.0.5".parse().expect("address");
    wait_for(Duration::from_secs(10), || {
        laptop.ping(printer_ip, 1).is_ok()
    })
    .expect("the laptop pings the printer through the router");

    let _web = printer
        .spawn(&["socat", "TCP-LISTEN:8080,reuseaddr,fork", "EXEC:cat"])
        .expect("socat");
    let _ssh = printer
        .spawn(&["socat", "TCP-LISTEN:22,reuseaddr,fork", "EXEC:cat"])
        .expect("socat");
    for port in [8080, 22] {
        printer
            .wait_listening(port, Duration::from_secs(5))
            .expect("the printer listens");
    }
    let talk = |port: u16| {
        laptop
            .exec(&[
                "sh",
                "-c",
                &format!("echo hello | socat -t 1 - TCP:10.9.0.5:{port},connect-timeout=5"),
            ])
            .expect("socat runs")
    };
    let web = talk(8080);
    assert!(
        web.status.success(),
        "{}",
        String::from_utf8_lossy(&web.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&web.stdout), "hello\n");
    let ssh = talk(22);
    assert!(
        !ssh.status.success(),
        "port 22 on the printer is not allowed"
    );
    assert!(
        String::from_utf8_lossy(&ssh.stderr).contains("No route to host"),
        "refused by the laptop's own filter: {}",
        String::from_utf8_lossy(&ssh.stderr)
    );

    // Nothing on the office LAN may open connections into the mesh.
    let laptop_ip = cvlan_tests::overlay(&lab, "laptop");
    let back = printer
        .exec(&[
            "sh",
            "-c",
            &format!("echo hi | socat -t 1 - TCP:{laptop_ip}:8080,connect-timeout=3"),
        ])
        .expect("socat runs");
    assert!(!back.status.success(), "the printer reached the laptop");

    // The router counted the allowed web connection on its rule.
    let (_, hits) = ctl(&router.socket_path(), &["policy", "hits"]);
    let office_web = hits["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["rule"] == "office-web")
        .expect("the rule is listed");
    assert!(
        office_web["inbound"]["packets"].as_u64().unwrap_or(0) >= 3,
        "{hits}"
    );
}
