//! `cvlanctl ping`: probes a node through the tunnel and prints each round trip and path.

use cvlan_proto::v1::PingRequest;
use serde::Serialize;
use tokio_stream::StreamExt;

use crate::live::{Client, duration};
use crate::outcome::{Answer, Outcome};
use crate::output::{millis, print_json, print_text};

/// One probe in `ping --json`.
#[derive(Debug, Serialize)]
struct ProbeJson {
    seq: u32,
    /// Round-trip time; null when no reply came in time.
    rtt_ms: Option<f64>,
    path: Option<String>,
    endpoint: Option<String>,
}

/// The JSON document of `ping --json`.
#[derive(Debug, Serialize)]
struct PingJson {
    node: String,
    address: String,
    sent: u32,
    received: u32,
    probes: Vec<ProbeJson>,
}

/// Runs `ping`.
pub async fn run(mut client: Client, node: String, count: u32, json: bool) -> Outcome {
    let request = PingRequest {
        node: node.clone(),
        count,
        ..Default::default()
    };
    let mut replies = client.ping(request).await?.into_inner();
    let mut document = PingJson {
        node,
        address: String::new(),
        sent: 0,
        received: 0,
        probes: Vec::new(),
    };
    while let Some(reply) = replies.next().await {
        let reply = reply?;
        document.sent += 1;
        document.node = reply.node.clone();
        document.address = reply.address.clone();
        let rtt = duration(reply.rtt.as_ref());
        let path = reply.path.as_ref().map(ToString::to_string);
        let endpoint = (!reply.endpoint.is_empty()).then(|| reply.endpoint.clone());
        if let Some(rtt) = rtt {
            document.received += 1;
            if !json {
                let via = endpoint
                    .as_ref()
                    .map(|e| format!(" {e}"))
                    .unwrap_or_default();
                print_text(&format!(
                    "reply from {} ({}): seq={} time={} path={}{via}",
                    reply.node,
                    reply.address,
                    reply.seq,
                    millis(rtt),
                    path.as_deref().unwrap_or("-"),
                ))?;
            }
        } else if !json {
            print_text(&format!(
                "no reply from {} ({}): seq={}",
                reply.node, reply.address, reply.seq
            ))?;
        }
        document.probes.push(ProbeJson {
            seq: reply.seq,
            rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
            path,
            endpoint,
        });
    }
    if json {
        print_json(&document)?;
    } else {
        let loss = (100 * (document.sent - document.received))
            .checked_div(document.sent)
            .unwrap_or(100);
        print_text(&format!(
            "--- {} ping: {} sent, {} received, {loss}% loss",
            document.node, document.sent, document.received
        ))?;
    }
    Ok(Answer::from_ok(document.received > 0))
}
