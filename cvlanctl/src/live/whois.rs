//! `cvlanctl whois`: which node, vrouter, routed prefix or ipsec peer owns an address.

use cvlan_proto::v1::{WhoisKind, WhoisRequest};
use serde::Serialize;

use crate::live::{Client, key_text};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_err, print_json, print_text};

/// The JSON document of `whois --json`.
#[derive(Debug, Serialize)]
struct WhoisJson {
    address: String,
    /// `node`, `vrouter`, `route` or `ipsec-peer`.
    kind: &'static str,
    name: String,
    owner: Option<String>,
    tags: Vec<String>,
    addresses: Vec<String>,
    public_key: Option<String>,
    /// The prefix that matched.
    prefix: String,
    /// For an ipsec peer: the vrouter terminating it.
    via: Option<String>,
}

/// Runs `whois`; an address nobody owns answers "no" (exit 1).
pub async fn run(mut client: Client, address: String, json: bool) -> Outcome {
    let response = match client
        .whois(WhoisRequest {
            address: address.clone(),
        })
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => {
            print_err(&format!(
                "{address}: no node, vrouter, route or ipsec peer owns it\n"
            ));
            return Ok(Answer::No);
        }
        Err(status) => return Err(status.into()),
    };
    let document = WhoisJson {
        kind: match response.kind() {
            WhoisKind::Vrouter => "vrouter",
            WhoisKind::IpsecPeer => "ipsec-peer",
            WhoisKind::Route => "route",
            WhoisKind::Node | WhoisKind::Unspecified => "node",
        },
        public_key: (!response.public_key.is_empty()).then(|| key_text(&response.public_key)),
        owner: (!response.owner.is_empty()).then(|| response.owner.clone()),
        via: (!response.via.is_empty()).then(|| response.via.clone()),
        address: response.address,
        name: response.name,
        tags: response.tags,
        addresses: response.addresses,
        prefix: response.prefix,
    };
    if json {
        print_json(&document)?;
        return Ok(Answer::Yes);
    }
    let mut text = format!(
        "{} is {} {} (prefix {})\n",
        document.address, document.kind, document.name, document.prefix
    );
    if let Some(owner) = &document.owner {
        text.push_str(&format!("  owner      {owner}\n"));
    }
    if !document.tags.is_empty() {
        text.push_str(&format!("  tags       {}\n", document.tags.join(", ")));
    }
    if !document.addresses.is_empty() {
        text.push_str(&format!("  addresses  {}\n", document.addresses.join(", ")));
    }
    if let Some(key) = &document.public_key {
        text.push_str(&format!("  public key {key}\n"));
    }
    if let Some(via) = &document.via {
        text.push_str(&format!("  via        vrouter {via}\n"));
    }
    print_text(&text)?;
    Ok(Answer::Yes)
}
