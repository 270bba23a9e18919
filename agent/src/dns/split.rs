//! Split DNS on the host: when systemd-resolved runs, the TUN link gets the resolver as its
//! DNS server and `~DOMAIN` as its routing domain (so only the overlay's names go there), and
//! `resolvectl revert` undoes it on exit. Without systemd-resolved the host's resolver is left
//! alone (never /etc/resolv.conf) and [`HostDns::Manual`] says what to add. The commands are
//! computed purely; [`configure`] and [`revert`] run them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// Where systemd-resolved keeps its runtime state while it runs.
const RESOLVED_RUNTIME: &str = "/run/systemd/resolve";

/// How the host's resolver sends the domain's names to this resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDns {
    /// No resolver runs, so nothing was asked of the host.
    Off,
    /// systemd-resolved routes `~DOMAIN` to the resolver through this link.
    Resolved {
        /// The TUN link configured.
        link: String,
    },
    /// systemd-resolved is not running: the host needs this configured by hand.
    Manual {
        /// What to add.
        hint: String,
    },
    /// systemd-resolved runs but refused the configuration.
    Failed {
        /// What resolvectl said.
        error: String,
    },
}

impl HostDns {
    /// The mode's name in status: `off`, `systemd-resolved`, `manual`, `failed`.
    pub fn mode(&self) -> &'static str {
        match self {
            HostDns::Off => "off",
            HostDns::Resolved { .. } => "systemd-resolved",
            HostDns::Manual { .. } => "manual",
            HostDns::Failed { .. } => "failed",
        }
    }
}

/// The resolvectl invocations that route `domain` to `listen` through `link`.
pub fn commands(link: &str, listen: SocketAddr, domain: &str) -> [Vec<String>; 2] {
    // resolvectl takes a bare address for port 53 and ADDRESS:PORT ([v6]:port) otherwise.
    let server = if listen.port() == 53 {
        listen.ip().to_string()
    } else {
        listen.to_string()
    };
    [
        vec!["dns".into(), link.into(), server],
        vec!["domain".into(), link.into(), format!("~{domain}")],
    ]
}

/// What to tell an operator whose host has no systemd-resolved.
pub fn manual_hint(listen: SocketAddr, domain: &str) -> String {
    let ip = listen.ip();
    let port = listen.port();
    format!(
        "systemd-resolved is not running, so the host's resolver was left alone: send {domain} to {listen}, \
         e.g. dnsmasq `server=/{domain}/{ip}#{port}`, or unbound `forward-zone: name: \"{domain}\" forward-addr: {ip}@{port}`"
    )
}

/// True when systemd-resolved runs on this host.
pub fn resolved_running() -> bool {
    Path::new(RESOLVED_RUNTIME).is_dir()
}

/// Routes `domain` to `listen` through `link` when systemd-resolved runs; says what was done.
pub fn configure(link: &str, listen: SocketAddr, domain: &str) -> HostDns {
    if !resolved_running() {
        return HostDns::Manual {
            hint: manual_hint(listen, domain),
        };
    }
    for args in commands(link, listen, domain) {
        if let Err(error) = resolvectl(&args) {
            return HostDns::Failed { error };
        }
    }
    HostDns::Resolved {
        link: link.to_owned(),
    }
}

/// Undoes [`configure`] on `link` (when it had configured it).
pub fn revert(host: &HostDns) {
    if let HostDns::Resolved { link } = host
        && let Err(error) = resolvectl(&["revert".into(), link.clone()])
    {
        tracing::warn!(%error, "cannot revert the split DNS of {link}");
    }
}

fn resolvectl(args: &[String]) -> Result<(), String> {
    let output = Command::new("resolvectl")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run resolvectl: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "resolvectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_gets_the_server_and_the_routing_domain() {
        let listen: SocketAddr = "100.64.0.1:53".parse().expect("address");
        let [dns, domain] = commands("cvl0", listen, "corp.cvlan");
        assert_eq!(dns, ["dns", "cvl0", "100.64.0.1"]);
        assert_eq!(domain, ["domain", "cvl0", "~corp.cvlan"]);
        let odd: SocketAddr = "[fd7a::1]:5353".parse().expect("address");
        assert_eq!(commands("cvl0", odd, "c.x")[0][2], "[fd7a::1]:5353");
        let hint = manual_hint(listen, "corp.cvlan");
        assert!(hint.contains("server=/corp.cvlan/100.64.0.1#53"), "{hint}");
    }
}
