//! `audit [--since 1h|RFC3339] [--format json|csv]`: the controller's audit log, oldest first.

use std::time::SystemTime;

use cvlan_proto::v1;
use serde::Serialize;

use super::Admin;
use crate::cli::AuditFormat;
use crate::live::{rfc3339, time};
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{print_json, print_table, print_text, table};

/// One entry as `audit` prints it.
#[derive(Debug, Serialize)]
struct EntryJson {
    time: Option<String>,
    actor: String,
    action: String,
    target: String,
    before: String,
    after: String,
}

#[derive(Debug, Serialize)]
struct AuditJson {
    entries: Vec<EntryJson>,
}

/// `--since`: a duration ago (`1h`, `7d`) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<SystemTime, Failure> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| Failure::Usage(format!("--since {text} reaches before the epoch")));
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| {
        Failure::Usage(format!(
            "--since {text}: give a duration (1h, 7d) or an RFC 3339 time (2026-12-01T00:00:00Z)"
        ))
    })
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// `audit`.
pub async fn run(
    mut admin: Admin,
    since: Option<&str>,
    format: Option<AuditFormat>,
    json: bool,
) -> Outcome {
    let since = since.map(parse_since).transpose()?;
    let request = v1::ListAuditRequest {
        since: since.map(Into::into),
        ..Default::default()
    };
    let response = admin.list_audit(request).await?.into_inner();
    let entries: Vec<EntryJson> = response
        .entries
        .into_iter()
        .map(|e| EntryJson {
            time: time(e.time.as_ref()).map(rfc3339),
            actor: if e.actor_name.is_empty() {
                e.actor_id
            } else {
                e.actor_name
            },
            action: e.action,
            target: e.resource,
            before: e.before_hash,
            after: e.after_hash,
        })
        .collect();
    match (format, json) {
        (Some(AuditFormat::Json), _) | (None, true) => print_json(&AuditJson { entries })?,
        (Some(AuditFormat::Csv), _) => {
            let mut text = String::from("time,actor,action,target,before,after\n");
            for e in &entries {
                let fields = [
                    e.time.clone().unwrap_or_default(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.before.clone(),
                    e.after.clone(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                text.push_str(&line.join(","));
                text.push('\n');
            }
            print_text(&text)?;
        }
        (None, false) => {
            let mut t = table(&["time", "actor", "action", "target"]);
            for e in &entries {
                t.add_row([
                    e.time.clone().unwrap_or_default(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                ]);
            }
            print_table(&t)?;
        }
    }
    Ok(Answer::Yes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let hour_ago = parse_since("1h").unwrap();
        let age = SystemTime::now().duration_since(hour_ago).unwrap();
        assert!(age.as_secs() >= 3600 && age.as_secs() < 3660, "{age:?}");
        let t = parse_since("2026-12-01T00:00:00Z").unwrap();
        assert_eq!(rfc3339(t), "2026-12-01T00:00:00Z");
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("apply"), "apply");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
