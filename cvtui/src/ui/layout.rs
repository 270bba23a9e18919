//! The screen's geometry, shared by `render` (where to draw) and `update` (how many rows a
//! table shows, to scroll by pages and keep the selection visible).

use ratatui::layout::{Constraint, Layout, Rect};

/// Columns from which the peer detail pane sits beside the table rather than below it.
pub const WIDE: u16 = 120;

/// Rows of the peer detail pane when it sits below the table.
pub const DETAIL_BELOW: u16 = 12;

/// Columns of the peer detail pane when it sits beside the table.
pub const DETAIL_BESIDE: u16 = 56;

/// Rows of the explain panel under the policy table.
pub const EXPLAIN_ROWS: u16 = 12;

/// The four bands of the screen: tabs, status line, body, footer.
pub fn bands(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The body band of a terminal of `size`.
pub fn body(size: (u16, u16)) -> Rect {
    bands(Rect::new(0, 0, size.0, size.1))[2]
}

/// The peer table and, when open, the detail pane.
pub fn peers(body: Rect, detail: bool) -> (Rect, Option<Rect>) {
    if !detail {
        return (body, None);
    }
    if body.width >= WIDE {
        let [table, pane] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(DETAIL_BESIDE)])
                .areas(body);
        (table, Some(pane))
    } else {
        let [table, pane] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(DETAIL_BELOW)]).areas(body);
        (table, Some(pane))
    }
}

/// The policy table and, when open, the explain panel.
pub fn policy(body: Rect, explain: bool) -> (Rect, Option<Rect>) {
    if !explain {
        return (body, None);
    }
    let [table, panel] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(EXPLAIN_ROWS)]).areas(body);
    (table, Some(panel))
}

/// Data rows a bordered table with a header row shows in `area`.
fn table_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(3)).max(1)
}

/// Peer rows visible on a terminal of `size`.
pub fn peer_rows(size: (u16, u16), detail: bool) -> usize {
    table_rows(peers(body(size), detail).0)
}

/// Rule rows visible on a terminal of `size` (the last line of the table block is the
/// selected rule's in/out breakdown).
pub fn policy_rows(size: (u16, u16), explain: bool) -> usize {
    table_rows(policy(body(size), explain).0)
        .saturating_sub(1)
        .max(1)
}

/// Event lines visible on a terminal of `size`.
pub fn event_rows(size: (u16, u16)) -> usize {
    usize::from(body(size).height.saturating_sub(2)).max(1)
}
