//! The Events view: the daemon's events, newest at the bottom, following live unless scrolled
//! back; filtered by kind prefix; lost and dropped counts in the title.

use cvlan_proto::v1;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::clock;
use super::{block, layout, placeholder_text};
use crate::app::{App, Editing};
use crate::msg::Feed;

/// Draws the Events view.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let block = block(app, title(app));
    if app.is_unserved(Feed::Events) {
        placeholder_text(frame, area, block, "this daemon does not serve WatchEvents");
        return;
    }
    let rows = layout::event_rows(app.size).min(usize::from(area.height.saturating_sub(2)));
    let window = app.events.window(rows);
    if window.is_empty() {
        let text = if app.events.is_empty() {
            "no events yet"
        } else {
            "no event matches the kind filter (Esc clears it)"
        };
        placeholder_text(frame, area, block, text);
        return;
    }
    let lines: Vec<Line> = window.iter().map(|s| event_line(&s.event)).collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn title(app: &App) -> Line<'static> {
    let events = &app.events;
    let mut spans = vec![Span::from(format!(
        " Events {}/{} ",
        events.matching(),
        events.len()
    ))];
    spans.push(if events.following() {
        Span::from("· following ").green()
    } else {
        Span::from("· paused (End follows) ").yellow()
    });
    let typing = app.editing == Some(Editing::EventFilter);
    if typing || !events.filter.is_empty() {
        let cursor = if typing { "▏" } else { "" };
        spans.push(Span::from(format!("· kind: {}{cursor} ", events.filter)).yellow());
    }
    if events.lost > 0 {
        spans.push(Span::from(format!("· {} lost by the daemon ", events.lost)).red());
    }
    if events.dropped > 0 {
        spans.push(Span::from(format!("· {} oldest dropped ", events.dropped)).dark_gray());
    }
    Line::from(spans)
}

fn event_line(event: &v1::WatchEventsResponse) -> Line<'_> {
    let (level, style) = match event.level() {
        v1::EventLevel::Error => ("ERROR", Style::new().fg(Color::Red).bold()),
        v1::EventLevel::Warn => ("WARN ", Style::new().fg(Color::Yellow)),
        v1::EventLevel::Debug => ("DEBUG", Style::new().fg(Color::DarkGray)),
        v1::EventLevel::Info | v1::EventLevel::Unspecified => ("INFO ", Style::new()),
    };
    let time = super::format::time(event.time).map_or_else(|| "--:--:--".to_owned(), clock);
    let mut spans = vec![
        Span::from(time).dark_gray(),
        Span::from(" "),
        Span::styled(level, style),
        Span::from(" "),
        Span::from(format!("{:<16}", event.kind)).fg(Color::Cyan),
        Span::from(" "),
        Span::from(event.message.as_str()),
    ];
    // Fields in a fixed order, so lines do not shuffle between frames.
    let mut fields: Vec<(&String, &String)> = event.fields.iter().collect();
    fields.sort();
    for (k, v) in fields {
        spans.push(Span::from(format!(" {k}={v}")).dark_gray());
    }
    Line::from(spans)
}
