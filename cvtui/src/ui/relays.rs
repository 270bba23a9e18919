//! The Relays view (only for a daemon that serves Relays): the node's network position from
//! Netcheck, then one row per relay with its state, latency, peers and traffic rates.

use cvlan_proto::v1;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row, Table};

use super::format::{self, ago, byte_rate, rtt};
use super::{block, placeholder_text};
use crate::app::App;

/// Columns from which the region column is shown.
const REGION_FROM: u16 = 100;

/// Draws the Relays view.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let [position, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(netcheck_line(app), position);
    let block = block(app, " Relays ");
    let relays = &app.relays;
    if relays.relays.is_empty() {
        placeholder_text(frame, table_area, block, "no relay paths reported");
        return;
    }
    let wide = area.width >= REGION_FROM;
    let mut header = vec!["RELAY"];
    let mut widths = vec![Constraint::Fill(1)];
    if wide {
        header.push("REGION");
        widths.push(Constraint::Fill(1));
    }
    header.extend(["ADDRESS", "STATE", "RTT", "UP FOR", "PEERS", "RX/s", "TX/s"]);
    widths.extend([
        Constraint::Fill(2),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
    ]);
    let header = Row::new(header).bold().fg(Color::Cyan);
    let rows = relays.relays.iter().map(|row| {
        let r = &row.relay;
        let name = if r.home {
            format!("{} ⌂", r.name)
        } else {
            r.name.clone()
        };
        let state = match r.state() {
            v1::RelayConnectionState::Connected => Cell::from("connected").green(),
            v1::RelayConnectionState::Connecting => Cell::from("connecting").yellow(),
            _ if !r.last_error.is_empty() => Cell::from(r.last_error.clone()).red(),
            _ => Cell::from("idle"),
        };
        let up = format::time(r.connected_since)
            .map_or_else(|| format::UNKNOWN.to_owned(), |t| ago(app.now, Some(t)));
        let mut cells = vec![Cell::from(name)];
        if wide {
            cells.push(Cell::from(r.region.clone()));
        }
        cells.extend([
            Cell::from(r.address.clone()),
            state,
            Cell::from(rtt(format::duration(r.latency))),
            Cell::from(up),
            Cell::from(r.peers.len().to_string()),
            Cell::from(byte_rate(row.rx.rate())),
            Cell::from(byte_rate(row.tx.rate())),
        ]);
        Row::new(cells)
    });
    frame.render_widget(
        Table::new(rows, widths).header(header).block(block),
        table_area,
    );
}

fn netcheck_line(app: &App) -> Line<'static> {
    let Some(n) = &app.relays.netcheck else {
        return Line::from(" network position: not measured").dark_gray();
    };
    let nat = v1::NatType::try_from(n.nat_type)
        .map_or_else(|_| "unknown".to_owned(), |t| t.as_str_name().to_lowercase());
    let nat = nat.trim_start_matches("nat_type_").replace('_', " ");
    let public = [&n.public_v4, &n.public_v6]
        .into_iter()
        .filter(|a| !a.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    Line::from(format!(
        " udp {} · nat {nat} · public {} · home relay {} · measured {} ago",
        if n.udp { "ok" } else { "blocked" },
        if public.is_empty() { "-" } else { &public },
        if n.preferred_relay.is_empty() {
            "-"
        } else {
            &n.preferred_relay
        },
        ago(app.now, format::time(n.measured_at)),
    ))
}
