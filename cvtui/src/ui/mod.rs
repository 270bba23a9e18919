//! `render`: draws the dashboard from an [`App`] and changes nothing. One module per view,
//! plus the frame around them (tabs, status line, footer) and the help.

mod events;
pub mod format;
mod help;
pub mod layout;
mod overview;
mod peers;
mod policy;
mod relays;
mod sas;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};

use crate::app::{App, Conn, Editing, View};
use crate::keys::{self, Context};

/// Draws the whole dashboard.
pub fn render(app: &App, frame: &mut Frame) {
    let [tabs, status, body, footer] = layout::bands(frame.area());
    render_tabs(app, frame, tabs);
    render_status(app, frame, status);
    if app.status.is_none() && !app.conn.is_up() {
        render_unreachable(app, frame, body);
    } else {
        match app.view {
            View::Overview => overview::render(app, frame, body),
            View::Peers => peers::render(app, frame, body),
            View::Policy => policy::render(app, frame, body),
            View::Events => events::render(app, frame, body),
            View::Relays => relays::render(app, frame, body),
            View::Sas => sas::render(app, frame, body),
        }
    }
    render_footer(app, frame, footer);
    if app.help {
        help::render(app, frame, frame.area());
    }
}

/// The style of a selected table row.
pub(crate) fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// A bordered block with a title; dimmed while the data in it may be stale.
pub(crate) fn block<'a>(app: &App, title: impl Into<Line<'a>>) -> Block<'a> {
    let block = Block::bordered().title(title.into());
    if app.conn.is_up() {
        block
    } else {
        block.border_style(Style::new().fg(Color::DarkGray))
    }
}

/// A message in the middle of `area`, for a view with nothing to show yet.
pub(crate) fn placeholder_text(frame: &mut Frame, area: Rect, block: Block<'_>, text: &str) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [middle] = Layout::vertical([Constraint::Length(2)])
        .flex(ratatui::layout::Flex::Center)
        .areas(inner);
    frame.render_widget(
        Paragraph::new(text.to_owned())
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .dark_gray(),
        middle,
    );
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect) {
    let views = app.views();
    let titles = views
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{} {}", i + 1, v.title()));
    let selected = views.iter().position(|v| *v == app.view);
    let tabs = Tabs::new(titles)
        .select(selected)
        .highlight_style(Style::new().bold().reversed())
        .divider("│");
    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(6)]).areas(area);
    frame.render_widget(tabs, left);
    frame.render_widget(Line::from("cvtui").right_aligned().bold(), right);
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let line = match &app.conn {
        Conn::Up { .. } => {
            let mut spans = vec![Span::from("● ").green()];
            if let Some(status) = &app.status {
                spans.push(Span::from(status.name.clone()).bold());
                if !status.network.is_empty() {
                    spans.push(format!(" · network {}", status.network).into());
                }
                if !status.revision.is_empty() {
                    spans.push(format!(" · rev {}", short_revision(&status.revision)).into());
                }
                let counts = overview::peer_counts(app);
                spans.push(format!(" · {}/{} peers up", counts.connected, counts.total).into());
                if let Some(uptime) = overview::uptime(app) {
                    spans.push(format!(" · up {}", format::age(uptime)).into());
                }
            }
            Line::from(spans)
        }
        Conn::Connecting { attempt } => Line::from(vec![
            Span::from("◌ ").yellow(),
            Span::from(format!("connecting to {}", app.socket)),
            Span::from(if *attempt > 0 {
                format!(" (attempt {})", attempt + 1)
            } else {
                String::new()
            }),
        ]),
        Conn::Down {
            error, retry_at, ..
        } => {
            let wait = retry_at.duration_since(app.now).unwrap_or_default();
            let stale = if app.status.is_some() {
                " · stale data"
            } else {
                ""
            };
            Line::from(vec![
                Span::from("✖ ").red().bold(),
                Span::from(error.clone()).red(),
                Span::from(format!(" · retry in {}s{stale}", wait.as_secs_f64().ceil())),
            ])
        }
    };
    frame.render_widget(line, area);
}

fn render_unreachable(app: &App, frame: &mut Frame, area: Rect) {
    let (headline, detail) = match &app.conn {
        Conn::Down { error, .. } => ("Not connected", error.as_str()),
        _ => ("Connecting…", ""),
    };
    let text = vec![
        Line::from(headline).bold(),
        Line::from(""),
        Line::from(detail.to_owned()).red(),
        Line::from(""),
        Line::from(format!("socket: {}", app.socket)),
        Line::from("cvtui keeps trying and shows the node as soon as cvland answers."),
        Line::from("Start cvland, or pass --socket PATH for another daemon."),
    ];
    let block = Block::bordered().title(" cvland ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [middle] = Layout::vertical([Constraint::Length(8)])
        .flex(ratatui::layout::Flex::Center)
        .areas(inner);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        middle,
    );
}

fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let mut spans: Vec<Span> = Vec::new();
    if let Some(editing) = app.editing {
        let what = match editing {
            Editing::PeerFilter => "peer filter",
            Editing::EventFilter => "event kind filter",
            Editing::Explain => "explain form",
        };
        spans.push(Span::from(format!(" typing: {what} ")).reversed());
        spans.push(" Enter done · Esc cancel".into());
        if editing == Editing::Explain {
            spans.push(" · Tab next field".into());
        }
    } else {
        let context = match app.view {
            View::Peers => Some(Context::Peers),
            View::Policy => Some(Context::Policy),
            View::Events => Some(Context::Events),
            View::Relays => Some(Context::Relays),
            View::Overview | View::Sas => None,
        };
        let bindings = context
            .into_iter()
            .flat_map(keys::of)
            .chain(keys::of(Context::Global));
        for b in bindings {
            if let Some(word) = b.hint {
                spans.push(Span::from(format!(" {} ", b.label)).reversed());
                spans.push(Span::from(format!(" {word} ")));
            }
        }
    }
    let [hints, notice] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Line::from(spans),
        if app.notice.is_some() { hints } else { area },
    );
    if let Some(text) = &app.notice {
        frame.render_widget(Line::from(text.clone()).yellow().right_aligned(), notice);
    }
}

/// A revision shortened like a git commit id (12 characters).
pub(crate) fn short_revision(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}
