//! The Peers view: the table (only the visible rows are built, so 10,000 peers draw as fast as
//! 20), its sort and filter in the title, and the detail pane with the last ping.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::format::{self, ago, byte_rate, rtt};
use super::{block, layout, placeholder_text, selected_style};
use crate::app::peers::PeerRow;
use crate::app::{App, Editing};
use crate::msg::Feed;

/// Columns from which the endpoint column is shown.
const ENDPOINT_FROM: u16 = 100;

/// Draws the Peers view.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let peers = &app.peers;
    let (table_area, pane) = layout::peers(area, peers.detail);
    let block = block(app, title(app));
    if app.is_unserved(Feed::Peers) {
        placeholder_text(
            frame,
            table_area,
            block,
            "this daemon does not serve WatchPeers",
        );
    } else if !peers.loaded {
        placeholder_text(frame, table_area, block, "waiting for the peer table…");
    } else if peers.visible_len() == 0 {
        let text = if peers.rows().is_empty() {
            "no peers: this node sees nobody yet"
        } else {
            "no peer matches the filter (Esc clears it)"
        };
        placeholder_text(frame, table_area, block, text);
    } else {
        table(app, frame, table_area, block);
    }
    if let Some(pane) = pane {
        detail(app, frame, pane);
    }
}

fn title(app: &App) -> Line<'static> {
    let peers = &app.peers;
    let mut spans = vec![Span::from(format!(
        " Peers {}/{} ",
        peers.visible_len(),
        peers.rows().len()
    ))];
    let arrow = if peers.reversed { "↑" } else { "↓" };
    spans.push(format!("· sort {} {arrow} ", peers.sort.label()).into());
    let typing = app.editing == Some(Editing::PeerFilter);
    if typing || !peers.filter.is_empty() {
        let cursor = if typing { "▏" } else { "" };
        spans.push(Span::from(format!("· filter: {}{cursor} ", peers.filter)).yellow());
    }
    Line::from(spans)
}

fn table(app: &App, frame: &mut Frame, area: Rect, block: ratatui::widgets::Block<'_>) {
    let peers = &app.peers;
    let rows_shown = usize::from(area.height.saturating_sub(3)).max(1);
    let wide = area.width >= ENDPOINT_FROM;
    let mut header = vec!["PEER", "ADDRESS"];
    let mut widths = vec![Constraint::Fill(1), Constraint::Length(15)];
    if wide {
        header.push("ENDPOINT");
        widths.push(Constraint::Length(21));
    }
    header.extend(["PATH", "HANDSHAKE", "RX/s", "TX/s", "RTT"]);
    widths.extend([
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
    ]);
    let rows: Vec<Row> = peers
        .visible(peers.offset, rows_shown)
        .map(|row| peer_row(app, row, wide))
        .collect();
    let selected = peers.selected.checked_sub(peers.offset);
    let table = Table::new(rows, widths)
        .header(Row::new(header).bold().fg(Color::Cyan))
        .row_highlight_style(selected_style())
        .block(block);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

fn peer_row<'a>(app: &App, row: &'a PeerRow, wide: bool) -> Row<'a> {
    let p = &row.peer;
    let path = p
        .path
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let handshake = row.handshake();
    let stale = handshake.is_none_or(|t| {
        app.now.duration_since(t).unwrap_or_default() > crate::app::peers::CONNECTED_WITHIN
    });
    let mut cells = vec![
        Cell::from(p.name.as_str()),
        Cell::from(p.addresses.first().map_or("-", String::as_str)),
    ];
    if wide {
        cells.push(Cell::from(if p.endpoint.is_empty() {
            "-"
        } else {
            &p.endpoint
        }));
    }
    let handshake_cell = Cell::from(ago(app.now, handshake));
    cells.extend([
        Cell::from(path),
        if stale {
            handshake_cell.style(Style::new().fg(Color::Red))
        } else {
            handshake_cell
        },
        Cell::from(byte_rate(row.rx.rate())),
        Cell::from(byte_rate(row.tx.rate())),
        Cell::from(rtt(row.latency())),
    ]);
    Row::new(cells)
}

fn detail(app: &App, frame: &mut Frame, area: Rect) {
    let Some(row) = app.peers.selected_row() else {
        placeholder_text(frame, area, block(app, " Detail "), "no peer selected");
        return;
    };
    let p = &row.peer;
    let label = |l: &'static str| Span::styled(format!("{l:<11}"), Style::new().fg(Color::Cyan));
    let line = |l: &'static str, v: String| Line::from(vec![label(l), Span::from(v)]);
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut lines = vec![
        line("addresses", list(&p.addresses)),
        line("key", format::key(&p.public_key)),
        line(
            "endpoint",
            if p.endpoint.is_empty() {
                "-".into()
            } else {
                p.endpoint.clone()
            },
        ),
        line(
            "path",
            p.path
                .as_ref()
                .map_or_else(|| "-".into(), ToString::to_string),
        ),
        line("tunnel", tunnel(p.tunnel()).into()),
        line(
            "handshake",
            format!("{} ago", ago(app.now, row.handshake())),
        ),
        line(
            "rx",
            format!(
                "{} ({} pkts) · {}/s",
                format::bytes(p.rx_bytes),
                p.rx_packets,
                byte_rate(row.rx.rate())
            ),
        ),
        line(
            "tx",
            format!(
                "{} ({} pkts) · {}/s",
                format::bytes(p.tx_bytes),
                p.tx_packets,
                byte_rate(row.tx.rate())
            ),
        ),
        line("rtt", rtt(row.latency())),
        line("dropped", p.dropped_packets.to_string()),
        line("allowed", list(&p.allowed_ips)),
        line("candidates", list(&p.candidate_endpoints)),
        line(
            "owner",
            if p.owner.is_empty() {
                "-".into()
            } else {
                p.owner.clone()
            },
        ),
        line("tags", list(&p.tags)),
    ];
    if let Some(run) = app.peers.ping.as_ref().filter(|r| r.node == p.name) {
        lines.insert(0, ping_summary(run));
        for reply in run.replies.iter().rev().take(3) {
            lines.insert(1, ping_line(reply));
        }
    }
    let title = format!(" {} ", p.name);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(app, title)),
        area,
    );
}

/// A peer's tunnel state in words.
fn tunnel(state: cvlan_proto::v1::PeerTunnel) -> &'static str {
    match state {
        cvlan_proto::v1::PeerTunnel::Warm => "warm (session up)",
        cvlan_proto::v1::PeerTunnel::Cold => "cold (wakes on first packet)",
        cvlan_proto::v1::PeerTunnel::Unspecified => "-",
    }
}

fn ping_summary(run: &crate::app::peers::PingRun) -> Line<'static> {
    let got = run.replies.iter().filter(|r| r.rtt.is_some()).count();
    let state = match (&run.error, run.done) {
        (Some(error), _) => Span::from(format!("failed: {error}")).red(),
        (None, true) => Span::from(format!("{got}/{} replies", run.replies.len())).green(),
        (None, false) => Span::from(format!("{}/{} sent…", run.replies.len(), run.count)),
    };
    Line::from(vec![Span::from("ping      ").bold(), state])
}

fn ping_line(reply: &cvlan_proto::v1::PingResponse) -> Line<'static> {
    let path = reply
        .path
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let result = match format::duration(reply.rtt) {
        Some(d) => format!("{} via {path}", rtt(Some(d))),
        None => "no reply".to_owned(),
    };
    Line::from(format!("  seq {:<3} {result}", reply.seq))
}
