//! The IPsec SAs view (only for a daemon that serves WatchSas): each IKE SA with its child
//! SAs below it, their state, algorithms, SPIs and traffic rates.

use cvlan_proto::v1;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::widgets::{Cell, Row, Table};

use super::format::{self, ago, byte_rate};
use super::{block, placeholder_text};
use crate::app::App;

/// Draws the IPsec SAs view.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let block = block(app, " IPsec SAs ");
    if app.sas.sas.is_empty() {
        placeholder_text(frame, area, block, "no IKE SAs");
        return;
    }
    let header = Row::new([
        "PEER / CHILD",
        "STATE",
        "REMOTE / TS",
        "ALGORITHMS",
        "AGE",
        "IN/s",
        "OUT/s",
    ])
    .bold()
    .fg(Color::Cyan);
    let mut rows = Vec::new();
    for sa in &app.sas.sas {
        let state = match sa.state() {
            v1::IkeSaState::Established => Cell::from("established").green(),
            v1::IkeSaState::Connecting => Cell::from("connecting").yellow(),
            v1::IkeSaState::Rekeying => Cell::from("rekeying").yellow(),
            v1::IkeSaState::Deleting => Cell::from("deleting").red(),
            v1::IkeSaState::Unspecified => Cell::from("-"),
        };
        let nat = match (sa.nat_local, sa.nat_remote) {
            (true, true) => " (NAT both)",
            (true, false) => " (NAT here)",
            (false, true) => " (NAT there)",
            (false, false) => "",
        };
        rows.push(Row::new([
            Cell::from(sa.peer.clone()).bold(),
            state,
            Cell::from(format!("{}{nat}", sa.remote_address)),
            Cell::from(join(&[
                &sa.encryption,
                &sa.integrity,
                &sa.prf,
                &sa.dh_group,
            ])),
            Cell::from(ago(app.now, format::time(sa.established_at))),
            Cell::from(""),
            Cell::from(""),
        ]));
        for child in &sa.children {
            let meters = app.sas.child(child.unique_id);
            let state = v1::ChildSaState::try_from(child.state).map_or_else(
                |_| "-".to_owned(),
                |s| {
                    s.as_str_name()
                        .trim_start_matches("CHILD_SA_STATE_")
                        .to_lowercase()
                },
            );
            rows.push(Row::new([
                Cell::from(format!(
                    "  └ {} {:08x}/{:08x}",
                    child.name, child.spi_in, child.spi_out
                )),
                Cell::from(state),
                Cell::from(format!(
                    "{} ⇄ {}",
                    child.local_ts.join(","),
                    child.remote_ts.join(",")
                )),
                Cell::from(join(&[
                    &child.encryption,
                    &child.integrity,
                    &child.dh_group,
                ])),
                Cell::from(ago(app.now, format::time(child.installed_at))),
                Cell::from(byte_rate(meters.bytes_in.rate())),
                Cell::from(byte_rate(meters.bytes_out.rate())),
            ]));
        }
    }
    let widths = [
        Constraint::Fill(2),
        Constraint::Length(11),
        Constraint::Fill(2),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn join(parts: &[&String]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join("/")
}
