//! The help screen (`?`): the keys of the view shown, every key that applies everywhere, and
//! the typing keys, listed from the one key table `update` uses.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::app::{App, View};
use crate::keys::{self, Context};

/// Draws the help over the whole screen.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let mut contexts = vec![Context::Global];
    let (view_context, typing) = match app.view {
        View::Peers => (Some(Context::Peers), true),
        View::Policy => (Some(Context::Policy), true),
        View::Events => (Some(Context::Events), true),
        View::Relays => (Some(Context::Relays), false),
        View::Overview | View::Sas => (None, false),
    };
    contexts.extend(view_context);
    if typing {
        contexts.push(Context::Typing);
    }
    let mut lines: Vec<Line> = Vec::new();
    for context in contexts {
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(context.title()).bold().fg(Color::Cyan));
        for b in keys::of(context) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<10}", b.label), Style::new().bold()),
                Span::from(b.help),
            ]));
        }
    }
    let block = Block::bordered().title(format!(" Keys · {} · Esc or ? closes ", app.view.title()));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let half = lines.len().div_ceil(2);
    let columns = if usize::from(inner.height) >= lines.len() {
        1
    } else {
        2
    };
    if columns == 1 {
        frame.render_widget(Paragraph::new(lines), inner);
    } else {
        let right = lines.split_off(half);
        let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(lines), l);
        frame.render_widget(Paragraph::new(right), r);
    }
}
