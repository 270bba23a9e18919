//! Keys: what each action from the key table does in the view shown, and typing into the
//! filters and the explain form.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::policy::{Explanation, FORM_FIELDS};
use crate::app::{App, Editing, View};
use crate::keys::{Action, Context, lookup};
use crate::msg::Cmd;
use crate::ui::layout;

/// How many probes `p` sends.
pub const PING_COUNT: u32 = 5;

/// Handles one key.
pub(super) fn key(app: &mut App, key: &KeyEvent) -> Vec<Cmd> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    if let Some(editing) = app.editing {
        return typing(app, editing, key);
    }
    let context = match app.view {
        View::Peers => Context::Peers,
        View::Policy => Context::Policy,
        View::Events => Context::Events,
        View::Relays => Context::Relays,
        View::Overview | View::Sas => Context::Global,
    };
    if app.help {
        match lookup(Context::Global, key) {
            Some(Action::Quit) => return vec![Cmd::Quit],
            Some(Action::Help | Action::Back) => app.help = false,
            _ => {}
        }
        return Vec::new();
    }
    let Some(action) = lookup(context, key) else {
        return Vec::new();
    };
    match action {
        Action::Quit => return vec![Cmd::Quit],
        Action::Help => app.help = true,
        Action::NextView => switch_view(app, 1),
        Action::PrevView => switch_view(app, -1),
        Action::GotoView => {
            if let KeyCode::Char(digit) = key.code
                && let Some(n) = digit.to_digit(10)
                && let Some(&view) = app.views().get(n as usize - 1)
            {
                app.view = view;
            }
        }
        _ => return view_action(app, action),
    }
    Vec::new()
}

fn switch_view(app: &mut App, step: isize) {
    let views = app.views();
    let here = views.iter().position(|v| *v == app.view).unwrap_or(0);
    let next = (here as isize + step).rem_euclid(views.len() as isize) as usize;
    app.view = views[next];
}

fn view_action(app: &mut App, action: Action) -> Vec<Cmd> {
    match app.view {
        View::Peers => return peers_action(app, action),
        View::Policy => policy_action(app, action),
        View::Events => events_action(app, action),
        View::Relays if action == Action::Refresh => return vec![Cmd::RefreshRelays],
        View::Overview | View::Relays | View::Sas => {}
    }
    Vec::new()
}

fn peers_action(app: &mut App, action: Action) -> Vec<Cmd> {
    let peers = &mut app.peers;
    let page = layout::peer_rows(app.size, peers.detail);
    let last = peers.visible_len().saturating_sub(1);
    match action {
        Action::Up => peers.selected = peers.selected.saturating_sub(1),
        Action::Down => peers.selected = (peers.selected + 1).min(last),
        Action::PageUp => peers.selected = peers.selected.saturating_sub(page),
        Action::PageDown => peers.selected = (peers.selected + page).min(last),
        Action::Top => peers.selected = 0,
        Action::Bottom => peers.selected = last,
        Action::Sort | Action::Reverse => {
            if action == Action::Sort {
                peers.sort = peers.sort.next();
            } else {
                peers.reversed = !peers.reversed;
            }
            let keep = peers.selected_name().map(str::to_owned);
            peers.refresh_order(keep.as_deref());
        }
        Action::Filter => app.editing = Some(Editing::PeerFilter),
        Action::Detail => peers.detail = !peers.detail,
        Action::Ping => {
            let Some(node) = peers.selected_name().map(str::to_owned) else {
                app.notice = Some("no peer selected to ping".into());
                return Vec::new();
            };
            peers.detail = true;
            keep_selection_visible(app);
            return vec![super::start_ping(app, node, PING_COUNT)];
        }
        Action::Back => {
            if peers.detail {
                peers.detail = false;
            } else if !peers.filter.is_empty() {
                peers.filter.clear();
                let keep = peers.selected_name().map(str::to_owned);
                peers.refresh_order(keep.as_deref());
            }
        }
        _ => {}
    }
    keep_selection_visible(app);
    Vec::new()
}

fn policy_action(app: &mut App, action: Action) {
    let policy = &mut app.policy;
    let last = policy.rules.len().saturating_sub(1);
    match action {
        Action::Up => policy.selected = policy.selected.saturating_sub(1),
        Action::Down => policy.selected = (policy.selected + 1).min(last),
        Action::Top => policy.selected = 0,
        Action::Bottom => policy.selected = last,
        Action::Explain => {
            policy.form.open = true;
            app.editing = Some(Editing::Explain);
        }
        Action::Back => {
            policy.form.open = false;
            policy.explanation = None;
        }
        _ => {}
    }
    keep_selection_visible(app);
}

fn events_action(app: &mut App, action: Action) {
    let rows = layout::event_rows(app.size);
    let events = &mut app.events;
    match action {
        Action::Up => events.scroll_up(1, rows),
        Action::Down => events.scroll_down(1),
        Action::PageUp => events.scroll_up(rows, rows),
        Action::PageDown => events.scroll_down(rows),
        Action::Top => events.scroll_to_oldest(rows),
        Action::Bottom => events.follow(),
        Action::Filter => app.editing = Some(Editing::EventFilter),
        Action::Back => {
            events.filter.clear();
            events.follow();
        }
        _ => {}
    }
}

/// A key while typing into a filter or the explain form.
fn typing(app: &mut App, editing: Editing, key: &KeyEvent) -> Vec<Cmd> {
    let action = lookup(Context::Typing, key);
    let text = match editing {
        Editing::PeerFilter => &mut app.peers.filter,
        Editing::EventFilter => &mut app.events.filter,
        Editing::Explain => &mut app.policy.form.fields[app.policy.form.focus],
    };
    let mut changed = false;
    match action {
        Some(Action::Quit) => return vec![Cmd::Quit],
        Some(Action::DeleteChar) => changed = text.pop().is_some(),
        Some(Action::Cancel) => {
            changed = !text.is_empty();
            text.clear();
            if editing == Editing::Explain {
                app.policy.form.open = false;
            }
            app.editing = None;
        }
        Some(Action::Accept) if editing == Editing::Explain => return submit_explain(app),
        Some(Action::Accept) => app.editing = None,
        Some(Action::NextField | Action::PrevField) if editing == Editing::Explain => {
            let step = if action == Some(Action::NextField) {
                1
            } else {
                FORM_FIELDS.len() - 1
            };
            let form = &mut app.policy.form;
            form.focus = (form.focus + step) % FORM_FIELDS.len();
        }
        Some(_) => {}
        None => {
            if let KeyCode::Char(c) = key.code
                && !key.modifiers.contains(KeyModifiers::CONTROL)
            {
                text.push(c);
                changed = true;
            }
        }
    }
    if changed {
        filter_changed(app, editing);
    }
    Vec::new()
}

fn filter_changed(app: &mut App, editing: Editing) {
    match editing {
        Editing::PeerFilter => {
            let keep = app.peers.selected_name().map(str::to_owned);
            app.peers.refresh_order(keep.as_deref());
            keep_selection_visible(app);
        }
        Editing::EventFilter => app.events.follow(),
        Editing::Explain => {}
    }
}

fn submit_explain(app: &mut App) -> Vec<Cmd> {
    let Some((from, to, port)) = app.policy.request() else {
        let form = &mut app.policy.form;
        if let Some(empty) = form.fields.iter().position(|f| f.trim().is_empty()) {
            form.focus = empty;
        }
        app.notice = Some("fill in from, to and port to explain a packet".into());
        return Vec::new();
    };
    app.editing = None;
    app.notice = None;
    app.policy.explanation = Some(Explanation::Pending);
    vec![Cmd::Explain { from, to, port }]
}

/// Keeps the selected peer and rule inside their tables' visible rows.
pub(super) fn keep_selection_visible(app: &mut App) {
    let rows = layout::peer_rows(app.size, app.peers.detail);
    app.peers.offset = scrolled(app.peers.offset, app.peers.selected, rows);
    let rows = layout::policy_rows(
        app.size,
        app.policy.form.open || app.policy.explanation.is_some(),
    );
    app.policy.offset = scrolled(app.policy.offset, app.policy.selected, rows);
}

/// The first visible row after the least scrolling that shows `selected` in `rows` rows.
fn scrolled(offset: usize, selected: usize, rows: usize) -> usize {
    let rows = rows.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + rows {
        selected + 1 - rows
    } else {
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::scrolled;

    #[test]
    fn scrolling_moves_only_as_far_as_the_selection_needs() {
        assert_eq!(scrolled(0, 5, 10), 0);
        assert_eq!(scrolled(0, 10, 10), 1);
        assert_eq!(scrolled(20, 5, 10), 5);
        assert_eq!(scrolled(3, 12, 10), 3);
        assert_eq!(scrolled(0, 3, 0), 3);
    }
}
