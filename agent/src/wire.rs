//! The one place the agent's own types become local-API messages (and requests become the
//! agent's types): everything inside the daemons speaks the agent's vocabulary; only the API
//! edge speaks `cvlan_proto::v1`.

use std::time::SystemTime;

use cvlan_proto::v1;
use cvlan_proto::v1::watch_events_request::Start as WireStart;
use cvlan_schema::report::JsonDiagnostic;

use crate::apply::{ApplyResult, Outcome};
use crate::events::{Event, EventLevel, Query, Start};
use crate::live::LiveCounts;
use crate::source::{SourceKind, SourceStatus};

/// An event as `WatchEvents` sends it.
pub fn event(e: Event) -> v1::WatchEventsResponse {
    v1::WatchEventsResponse {
        seq: e.seq,
        time: Some(e.time.into()),
        kind: e.kind,
        level: level(e.level).into(),
        message: e.message,
        fields: e.fields.into_iter().collect(),
    }
}

/// An event level as the API names it.
pub fn level(level: EventLevel) -> v1::EventLevel {
    match level {
        EventLevel::Debug => v1::EventLevel::Debug,
        EventLevel::Info => v1::EventLevel::Info,
        EventLevel::Warn => v1::EventLevel::Warn,
        EventLevel::Error => v1::EventLevel::Error,
    }
}

/// What a `WatchEvents` request asks of the bus (an unreadable `since` replays everything).
pub fn query(request: &v1::WatchEventsRequest) -> Query {
    let start = match &request.start {
        None => Start::Now,
        Some(WireStart::AfterSeq(after)) => Start::AfterSeq(*after),
        Some(WireStart::Last(n)) => Start::Last(*n),
        Some(WireStart::Since(since)) => {
            Start::Since(SystemTime::try_from(*since).unwrap_or(SystemTime::UNIX_EPOCH))
        }
    };
    Query {
        start,
        kinds: request.kinds.clone(),
        follow: request.follow,
    }
}

/// An apply attempt as `Status` and `Reload` report it.
pub fn apply_result(r: &ApplyResult) -> v1::ApplyResult {
    v1::ApplyResult {
        outcome: outcome(r.outcome).into(),
        revision: r.revision.clone(),
        time: Some(r.time.into()),
        message: r.message.clone(),
        diagnostics: r.diagnostics.iter().map(diagnostic).collect(),
        actions: r.actions,
    }
}

/// An apply outcome as the API names it.
pub fn outcome(outcome: Outcome) -> v1::ApplyOutcome {
    match outcome {
        Outcome::Applied => v1::ApplyOutcome::Applied,
        Outcome::Unchanged => v1::ApplyOutcome::Unchanged,
        Outcome::Rejected => v1::ApplyOutcome::Rejected,
        Outcome::Failed => v1::ApplyOutcome::Failed,
    }
}

/// A diagnostic as the API carries it (the same fields `cvlanctl check --format json` prints).
pub fn diagnostic(d: &JsonDiagnostic) -> v1::Diagnostic {
    let number = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    v1::Diagnostic {
        severity: match d.severity.as_str() {
            "error" => v1::Severity::Error,
            "warning" => v1::Severity::Warning,
            _ => v1::Severity::Unspecified,
        }
        .into(),
        code: d.code.clone(),
        message: d.message.clone(),
        file: d.file.clone(),
        line: number(d.line),
        column: number(d.column),
        labels: d
            .labels
            .iter()
            .map(|l| v1::DiagnosticLabel {
                line: number(l.line),
                column: number(l.column),
                text: l.text.clone(),
            })
            .collect(),
        help: d.help.clone(),
    }
}

/// The source as `Status` shows it.
pub fn source(s: &SourceStatus) -> v1::SourceInfo {
    v1::SourceInfo {
        kind: match s.kind {
            SourceKind::Unknown => v1::SourceKind::Unspecified,
            SourceKind::File => v1::SourceKind::File,
            SourceKind::Git => v1::SourceKind::Git,
            SourceKind::Controller => v1::SourceKind::Controller,
        }
        .into(),
        location: s.location.clone(),
        branch: s.branch.clone(),
        path: s.path.clone(),
        interval: s
            .interval
            .and_then(|i| prost_types::Duration::try_from(i).ok()),
        last_contact: s.last_contact.map(Into::into),
        last_error: s.last_error.clone(),
    }
}

/// The live views' counters as Status carries them.
pub fn live_views(c: LiveCounts) -> v1::LiveViewCounts {
    v1::LiveViewCounts {
        open: c.open,
        opened: c.opened,
        slow_dropped: c.slow_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_schema::report::JsonLabel;

    #[test]
    fn a_diagnostic_keeps_every_field_across_the_edge() {
        let json = JsonDiagnostic {
            severity: "warning".into(),
            code: "cvlan::unused".into(),
            message: "m".into(),
            file: "network.kdl".into(),
            line: 3,
            column: 7,
            labels: vec![JsonLabel {
                line: 3,
                column: 9,
                text: "here".into(),
            }],
            help: Some("h".into()),
        };
        let wire = diagnostic(&json);
        assert_eq!(wire.severity(), v1::Severity::Warning);
        assert_eq!(cvlan_schema::report::JsonDiagnostic::from(wire), json);
    }

    #[test]
    fn an_event_query_reads_every_start() {
        let request = |start| v1::WatchEventsRequest {
            start,
            kinds: vec!["peer".into()],
            follow: true,
        };
        assert_eq!(query(&request(None)).start, Start::Now);
        assert_eq!(
            query(&request(Some(WireStart::AfterSeq(4)))).start,
            Start::AfterSeq(4)
        );
        assert_eq!(
            query(&request(Some(WireStart::Last(2)))).start,
            Start::Last(2)
        );
        let q = query(&request(Some(WireStart::Since(
            SystemTime::UNIX_EPOCH.into(),
        ))));
        assert_eq!(q.start, Start::Since(SystemTime::UNIX_EPOCH));
        assert!(q.follow && q.kinds == ["peer"]);
    }
}
