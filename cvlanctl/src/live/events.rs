//! `cvlanctl events`: the daemon's event stream, buffered events first.

use std::collections::BTreeMap;

use cvlan_proto::v1::{
    EventLevel, WatchEventsRequest, WatchEventsResponse, watch_events_request::Start,
};
use serde::Serialize;
use tokio_stream::StreamExt;

use crate::cli::EventsArgs;
use crate::live::{Client, rfc3339, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_text};

/// One event in JSON.
#[derive(Debug, Serialize)]
struct EventJson {
    seq: u64,
    time: Option<String>,
    kind: String,
    level: &'static str,
    message: String,
    fields: BTreeMap<String, String>,
}

/// The JSON document of `events --json` (without `--follow`).
#[derive(Debug, Serialize)]
struct EventsJson {
    events: Vec<EventJson>,
}

/// Runs `events`. With `--follow --json` each event is one JSON object per line.
pub async fn run(mut client: Client, args: &EventsArgs, json: bool) -> Outcome {
    let request = WatchEventsRequest {
        start: Some(Start::Last(args.last)),
        kinds: args.kind.clone(),
        follow: args.follow,
    };
    let mut stream = client.watch_events(request).await?.into_inner();
    let mut collected = Vec::new();
    while let Some(event) = stream.next().await {
        let event = to_json(event?);
        match (json, args.follow) {
            (true, false) => collected.push(event),
            (true, true) => {
                print_text(&serde_json::to_string(&event).map_err(std::io::Error::from)?)?
            }
            (false, _) => print_text(&human(&event))?,
        }
    }
    if json && !args.follow {
        print_json(&EventsJson { events: collected })?;
    }
    Ok(Answer::Yes)
}

fn to_json(event: WatchEventsResponse) -> EventJson {
    EventJson {
        seq: event.seq,
        time: time(event.time.as_ref()).map(rfc3339),
        level: match event.level() {
            EventLevel::Debug => "debug",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
            EventLevel::Info | EventLevel::Unspecified => "info",
        },
        kind: event.kind,
        message: event.message,
        fields: event.fields.into_iter().collect(),
    }
}

fn human(event: &EventJson) -> String {
    let fields: String = event
        .fields
        .iter()
        .map(|(k, v)| format!(" {k}={v}"))
        .collect();
    format!(
        "{} {:<5} {:<16} {}{fields}",
        event.time.as_deref().unwrap_or("-"),
        event.level,
        event.kind,
        event.message
    )
}
