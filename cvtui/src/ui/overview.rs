//! The Overview view: this node's identity, source and revision, the last apply (with its
//! diagnostics when the newest file was rejected), peer counts, uptime and the resolver.

use std::time::Duration;

use cvlan_proto::v1;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::format::{self, ago};
use super::{block, short_revision};
use crate::app::App;

/// Peer counts: from the live table once it has arrived, else from the status.
pub(super) fn peer_counts(app: &App) -> v1::PeerCounts {
    if app.peers.loaded {
        app.peers.counts()
    } else {
        app.status
            .as_ref()
            .and_then(|s| s.peers)
            .unwrap_or_default()
    }
}

/// How long the daemon has run, as of the dashboard's clock.
pub(super) fn uptime(app: &App) -> Option<Duration> {
    let status = app.status.as_ref()?;
    match format::time(status.started_at) {
        Some(started) => Some(app.now.duration_since(started).unwrap_or_default()),
        None => format::duration(status.uptime),
    }
}

/// Draws the Overview.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(status) = &app.status else {
        return;
    };
    let block = block(app, " Overview ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (node, apply) = (identity(app, status), last_apply(app, status));
    if inner.width >= super::layout::WIDE {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(inner);
        frame.render_widget(Paragraph::new(node).wrap(Wrap { trim: false }), left);
        frame.render_widget(Paragraph::new(apply).wrap(Wrap { trim: false }), right);
    } else {
        let mut lines = node;
        lines.push(Line::from(""));
        lines.extend(apply);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

fn field<'a>(label: &'static str, value: impl Into<Span<'a>>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{label:<11}"), Style::new().fg(Color::Cyan)),
        value.into(),
    ])
}

fn identity<'a>(app: &App, status: &'a v1::StatusResponse) -> Vec<Line<'a>> {
    let kind = match status.kind() {
        v1::DaemonKind::Vrouter => "vrouter",
        v1::DaemonKind::Node | v1::DaemonKind::Unspecified => "node",
    };
    let mut network = status.network.clone();
    if !status.tenant.is_empty() {
        network = format!("{network} (tenant {})", status.tenant);
    }
    let counts = peer_counts(app);
    let mut lines = vec![
        field("node", Span::from(status.name.as_str()).bold()),
        field("kind", format!("{kind} · cvland {}", status.version)),
        field("network", or_dash(network)),
        field("addresses", or_dash(status.addresses.join(", "))),
        field("public key", format::short_key(&status.public_key)),
        field(
            "tun",
            format!(
                "{} · udp port {}",
                or_dash(status.tun.clone()),
                status.listen_port
            ),
        ),
        field(
            "peers",
            format!(
                "{} configured · {} connected ({} direct, {} relayed)",
                counts.total, counts.connected, counts.direct, counts.relayed
            ),
        ),
        field(
            "uptime",
            uptime(app).map_or_else(|| format::UNKNOWN.to_owned(), format::age),
        ),
    ];
    if let Some(dns) = app.dns.as_ref().filter(|d| !d.domain.is_empty()) {
        lines.push(dns_line(dns));
    }
    if let Some(source) = &status.source {
        lines.extend(source_lines(app, source));
    }
    lines
}

/// The resolver: domain, address, records, and how the host reaches it (or why it does not
/// serve).
fn dns_line(dns: &v1::DnsStatusResponse) -> Line<'static> {
    if !dns.serving {
        let why = if dns.error.is_empty() {
            "not serving".to_owned()
        } else {
            dns.error.clone()
        };
        return field("dns", Span::from(format!("{} · {why}", dns.domain)).red());
    }
    let host = match dns.host_mode() {
        v1::HostDnsMode::SystemdResolved => "systemd-resolved",
        v1::HostDnsMode::Manual => "host not configured (cvlanctl dns status)",
        v1::HostDnsMode::Failed => "systemd-resolved refused",
        v1::HostDnsMode::Off | v1::HostDnsMode::Unspecified => "-",
    };
    field(
        "dns",
        format!(
            "{} on {} · {} records · {host}",
            dns.domain, dns.listen, dns.records
        ),
    )
}

fn source_lines<'a>(app: &App, source: &'a v1::SourceInfo) -> Vec<Line<'a>> {
    let kind = match source.kind() {
        v1::SourceKind::File => "file",
        v1::SourceKind::Git => "git",
        v1::SourceKind::Controller => "controller",
        v1::SourceKind::Unspecified => "-",
    };
    let mut place = format!("{kind} {}", source.location);
    if !source.branch.is_empty() {
        place.push_str(&format!(" @ {}", source.branch));
    }
    if !source.path.is_empty() {
        place.push_str(&format!(" : {}", source.path));
    }
    let mut lines = vec![
        field("source", place),
        field(
            "contact",
            format!("{} ago", ago(app.now, format::time(source.last_contact))),
        ),
    ];
    if !source.last_error.is_empty() {
        lines.push(field(
            "source err",
            Span::from(source.last_error.as_str()).red(),
        ));
    }
    lines
}

fn last_apply<'a>(app: &App, status: &'a v1::StatusResponse) -> Vec<Line<'a>> {
    let running = if status.revision.is_empty() {
        "none applied yet".to_owned()
    } else {
        format!(
            "{} · applied {} ago",
            short_revision(&status.revision),
            ago(app.now, format::time(status.applied_at))
        )
    };
    let mut lines = vec![field("revision", running)];
    let Some(last) = &status.last_apply else {
        lines.push(field("last apply", "nothing attempted yet"));
        return lines;
    };
    let outcome = match last.outcome() {
        v1::ApplyOutcome::Applied => Span::from("applied").green(),
        v1::ApplyOutcome::Unchanged => Span::from("unchanged").green(),
        v1::ApplyOutcome::Rejected => Span::from("REJECTED").red().bold(),
        v1::ApplyOutcome::Failed => Span::from("FAILED").red().bold(),
        v1::ApplyOutcome::Unspecified => Span::from("-"),
    };
    lines.push(Line::from(vec![
        Span::styled(
            format!("{:<11}", "last apply"),
            Style::new().fg(Color::Cyan),
        ),
        outcome,
        Span::from(format!(
            " · rev {} · {} ago · {} actions",
            short_revision(&last.revision),
            ago(app.now, format::time(last.time)),
            last.actions
        )),
    ]));
    if !last.message.is_empty() {
        lines.push(field("", last.message.as_str()));
    }
    if !last.diagnostics.is_empty() {
        lines.push(Line::from(
            format!("diagnostics ({})", last.diagnostics.len()).bold(),
        ));
        for d in &last.diagnostics {
            lines.push(diagnostic(d));
        }
    }
    lines
}

fn diagnostic(d: &v1::Diagnostic) -> Line<'_> {
    let severity = match d.severity() {
        v1::Severity::Warning => Span::from("warning").yellow(),
        v1::Severity::Error | v1::Severity::Unspecified => Span::from("error").red(),
    };
    let place = if d.file.is_empty() {
        format!("{}:{}", d.line, d.column)
    } else {
        format!("{}:{}:{}", d.file, d.line, d.column)
    };
    Line::from(vec![
        Span::from("  "),
        severity,
        Span::from(format!(" {} {place} ", d.code)).dark_gray(),
        Span::from(d.message.as_str()),
    ])
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        format::UNKNOWN.to_owned()
    } else {
        text
    }
}
