//! The Policy view: every rule in order with allow/deny, packet and byte counts, rates and a
//! sparkline of its packet rate, the default-deny row last; and the explain form and answer.

use cvlan_proto::v1;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::format::{self, ago, byte_rate, count, packet_rate};
use super::{block, layout, placeholder_text, selected_style};
use crate::app::policy::{Explanation, FORM_FIELDS, RuleRow};
use crate::app::{App, Editing};
use crate::msg::Feed;

/// Columns of the sparkline column.
const HISTORY_COLUMNS: u16 = 24;

/// Draws the Policy view.
pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let policy = &app.policy;
    let explain_open = policy.form.open || policy.explanation.is_some();
    let (table_area, panel) = layout::policy(area, explain_open);
    let title = if policy.revision.is_empty() {
        " Policy ".to_owned()
    } else {
        format!(
            " Policy · rev {} · counting for {} ",
            super::short_revision(&policy.revision),
            ago(policy.time.unwrap_or(app.now), policy.since)
        )
    };
    let block = block(app, title);
    if app.is_unserved(Feed::PolicyHits) {
        placeholder_text(
            frame,
            table_area,
            block,
            "this daemon does not serve WatchPolicyHits",
        );
    } else if !policy.loaded {
        placeholder_text(
            frame,
            table_area,
            block,
            "waiting for the policy hit counters…",
        );
    } else {
        rules(app, frame, table_area, block);
    }
    if let Some(panel) = panel {
        explain(app, frame, panel);
    }
}

fn rules(app: &App, frame: &mut Frame, area: Rect, block: ratatui::widgets::Block<'_>) {
    let policy = &app.policy;
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table_area, breakdown] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    let history_width = HISTORY_COLUMNS.min(inner.width / 4);
    let [table_area, history_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(history_width)])
            .spacing(1)
            .areas(table_area);
    let shown = usize::from(table_area.height.saturating_sub(1)).max(1);
    let visible: Vec<&RuleRow> = policy
        .rules
        .iter()
        .skip(policy.offset)
        .take(shown)
        .collect();
    let rows = visible.iter().map(|row| rule_row(row));
    let widths = [
        Constraint::Length(3),
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let header = Row::new(["#", "RULE", "ACTION", "PKTS", "BYTES", "PKT/s", "B/s"])
        .bold()
        .fg(Color::Cyan);
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(selected_style());
    let mut state = TableState::default().with_selected(policy.selected.checked_sub(policy.offset));
    frame.render_stateful_widget(table, table_area, &mut state);

    frame.render_widget(
        Line::from("HISTORY (pkt/s)").bold().fg(Color::Cyan),
        Rect {
            height: 1,
            ..history_area
        },
    );
    for (i, row) in visible.iter().enumerate() {
        let y = history_area.y + 1 + i as u16;
        if y >= history_area.bottom() {
            break;
        }
        let width = usize::from(history_area.width);
        let recent: Vec<u64> = row
            .history
            .iter()
            .rev()
            .take(width)
            .rev()
            .copied()
            .collect();
        let style = match row.hits.action() {
            v1::PolicyAction::Allow => Style::new().fg(Color::Green),
            _ => Style::new().fg(Color::Red),
        };
        frame.render_widget(
            Sparkline::default().data(&recent).style(style),
            Rect {
                y,
                height: 1,
                ..history_area
            },
        );
    }
    if let Some(row) = policy.rules.get(policy.selected) {
        frame.render_widget(in_out(row), breakdown);
    }
}

fn rule_row(row: &RuleRow) -> Row<'_> {
    let hits = &row.hits;
    let position = if hits.default_deny {
        "-".to_owned()
    } else {
        (hits.index + 1).to_string()
    };
    let action = match hits.action() {
        v1::PolicyAction::Allow => Cell::from("allow").green(),
        _ => Cell::from("deny").red(),
    };
    let name = if hits.default_deny {
        Cell::from("default-deny").italic()
    } else {
        Cell::from(hits.rule.as_str())
    };
    Row::new([
        Cell::from(position),
        name,
        action,
        Cell::from(count(row.packets() as f64)),
        Cell::from(format::bytes(row.bytes())),
        Cell::from(packet_rate(row.packet_rate())),
        Cell::from(byte_rate(row.byte_rate())),
    ])
}

fn in_out(row: &RuleRow) -> Line<'_> {
    let side = |label: &'static str, c: Option<v1::HitCounters>, rate: Option<f64>| {
        let c = c.unwrap_or_default();
        format!(
            "{label} {} pkts, {} ({} pkt/s)",
            count(c.packets as f64),
            format::bytes(c.bytes),
            packet_rate(rate)
        )
    };
    Line::from(vec![
        Span::from(format!("{}: ", row.hits.rule)).bold(),
        Span::from(side("in", row.hits.inbound, row.in_packets.rate())),
        Span::from(" · "),
        Span::from(side("out", row.hits.outbound, row.out_packets.rate())),
    ])
}

fn explain(app: &App, frame: &mut Frame, area: Rect) {
    let policy = &app.policy;
    let block = block(app, " Explain a packet ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [form_area, answer_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let typing = app.editing == Some(Editing::Explain);
    let mut spans = Vec::new();
    for (i, name) in FORM_FIELDS.iter().enumerate() {
        spans.push(Span::from(format!("{name} ")).fg(Color::Cyan));
        let text = format!("{:<14}", policy.form.fields[i]);
        let field = if typing && policy.form.focus == i {
            Span::from(format!("{text}▏")).reversed()
        } else {
            Span::from(text).underlined()
        };
        spans.push(field);
        spans.push(Span::from("  "));
    }
    frame.render_widget(Line::from(spans), form_area);
    let lines = match &policy.explanation {
        None => vec![Line::from(
            "Type the sender and receiver (names or addresses) and a port (5432/tcp, 53/udp, icmp); Enter asks the daemon.",
        )
        .dark_gray()],
        Some(Explanation::Pending) => vec![Line::from("asking the daemon…")],
        Some(Explanation::Failed(error)) => vec![Line::from(error.clone()).red()],
        Some(Explanation::Answer(answer)) => answer_lines(answer),
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        answer_area,
    );
}

fn answer_lines(answer: &v1::PolicyExplainResponse) -> Vec<Line<'_>> {
    let verdict = match answer.verdict() {
        v1::Verdict::Accept => Span::from("ACCEPT").green().bold(),
        _ => Span::from("REJECT").red().bold(),
    };
    let by = match answer.rule_index {
        Some(i) => format!(" by rule {} (#{})", answer.rule, i + 1),
        None => format!(" by {}", answer.rule),
    };
    let end = |e: Option<&v1::ExplainEndpoint>| {
        e.map_or_else(String::new, |e| match e.name.is_empty() {
            true => e.address.clone(),
            false => format!("{} ({})", e.name, e.address),
        })
    };
    let mut lines = vec![Line::from(vec![
        verdict,
        Span::from(by),
        Span::from(format!(
            ": {} → {} {}",
            end(answer.from.as_ref()),
            end(answer.to.as_ref()),
            answer.port
        )),
    ])];
    if let Some(m) = &answer.matched {
        for (side, sel) in [("from", m.from.as_ref()), ("to", m.to.as_ref())] {
            if let Some(sel) = sel {
                lines.push(Line::from(format!(
                    "  {side} {}: {}",
                    sel.selector, sel.reason
                )));
            }
        }
        lines.push(Line::from(format!("  port {}", m.port)).dark_gray());
    }
    lines
}
