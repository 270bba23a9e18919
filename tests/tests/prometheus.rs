//! A real Prometheus (Debian's `prometheus`) scrapes a lab node (tests/labs/trio.kdl): run in
//! alpha's namespace, it scrapes alpha's cvland at its metrics address every second, and its
//! HTTP API (asked with `promtool query instant`) shows alpha's byte counter for bravo growing
//! while a ping to bravo runs.

use std::time::Duration;

use cvlan_lab::hostd::METRICS;
use cvlan_lab::{HostHandle, require_root};
use cvlan_tests::{PingRun, one_at_a_time, overlay, trio_lab, wait_for};

/// Where the test's Prometheus answers, in alpha's namespace.
const PROMETHEUS: &str = "127.0.0.1:9090";

/// True when `prometheus` and `promtool` are installed; otherwise a loud skip, or a failure
/// with CI=true.
fn prometheus_installed() -> bool {
    let installed = ["prometheus", "promtool"].iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !installed {
        assert!(
            std::env::var("CI").ok().as_deref() != Some("true"),
            "prometheus is not installed (Debian package `prometheus`; scripts/lib.sh installs it) and CI=true forbids skipping"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("\n=== SKIP: the Prometheus test needs the `prometheus` package ===\n");
        }
    }
    installed
}

/// The value of the one series `query` selects now, as Prometheus answers it; `None` while
/// it has none.
fn query(host: &HostHandle<'_>, query: &str) -> Option<f64> {
    let url = format!("http://{PROMETHEUS}");
    let out = host
        .exec(&["promtool", "query", "instant", "-o", "json", &url, query])
        .expect("promtool runs");
    if !out.status.success() {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let series = answer.as_array()?;
    assert!(series.len() <= 1, "one series for {query}: {answer}");
    series.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_sees_a_peer_byte_counter_grow_while_a_ping_runs() {
    let Some(_root) = require_root() else { return };
    if !prometheus_installed() {
        return;
    }
    let _serial = one_at_a_time();
    let lab = trio_lab();
    let alpha = lab.host("alpha");
    let bravo = overlay(&lab, "bravo");
    alpha.ping(bravo, 2).expect("the mesh is up");

    let config = alpha.dir().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: cvland\n    static_configs:\n      - targets: [\"{METRICS}\"]\n"
        ),
    )
    .expect("write prometheus.yml");
    let storage = alpha.dir().join("prometheus-data");
    let _prometheus = alpha
        .spawn(&[
            "prometheus".to_owned(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", storage.display()),
            format!("--web.listen-address={PROMETHEUS}"),
        ])
        .expect("prometheus starts");
    alpha
        .wait_listening(9090, Duration::from_secs(30))
        .expect("prometheus listens");

    // Prometheus scrapes cvland: the target is up and the counter is there.
    let counter = "cvlan_peer_tx_bytes_total{job=\"cvland\",peer=\"bravo\"}";
    let mut before = None;
    wait_for(Duration::from_secs(20), || {
        before = query(&alpha, counter);
        query(&alpha, "up{job=\"cvland\"}") == Some(1.0) && before.is_some()
    })
    .unwrap_or_else(|| panic!("Prometheus did not scrape alpha's cvland at {METRICS}"));
    let before = before.expect("a value");
    assert!(before > 0.0, "alpha has sent to bravo already: {before}");

    // While a ping runs, Prometheus sees the counter grow (a scrape a second).
    let ping = PingRun::start(&alpha, bravo, 40, 200);
    let mut during = None;
    wait_for(Duration::from_secs(6), || {
        during = query(&alpha, counter);
        during.is_some_and(|v| v > before)
    })
    .unwrap_or_else(|| panic!("the counter did not grow during the ping: {before} → {during:?}"));
    let count = ping.finish();
    assert!(count.received > 0, "the ping was answered: {count:?}");
    let during = during.expect("a value");
    eprintln!(
        "Prometheus: cvlan_peer_tx_bytes_total{{peer=\"bravo\"}} {before} → {during} during the ping"
    );
}
