//! `nodes`, `node expire NAME` and `node delete NAME`: the controller's registry.

use cvlan_proto::convert::key_from_bytes;
use cvlan_proto::v1;
use serde::Serialize;

use super::Admin;
use crate::live::{rfc3339, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_table, table};

/// One node as `nodes --json` prints it.
#[derive(Debug, Serialize)]
pub struct NodeJson {
    name: String,
    addresses: Vec<String>,
    public_key: String,
    online: bool,
    last_seen: Option<String>,
    endpoints: Vec<String>,
    key_expiry: Option<String>,
    tags: Vec<String>,
}

impl From<v1::Node> for NodeJson {
    fn from(node: v1::Node) -> Self {
        Self {
            public_key: key_from_bytes("node_key", &node.node_key)
                .map(|k| k.to_base64())
                .unwrap_or_default(),
            online: node.status == v1::NodeStatus::Online as i32,
            last_seen: time(node.last_seen.as_ref()).map(rfc3339),
            key_expiry: time(node.key_expiry.as_ref()).map(rfc3339),
            endpoints: node.endpoints.into_iter().map(|e| e.address).collect(),
            name: node.name,
            addresses: node.addresses,
            tags: node.tags,
        }
    }
}

#[derive(Debug, Serialize)]
struct NodesJson {
    nodes: Vec<NodeJson>,
}

/// `nodes`.
pub async fn list(mut admin: Admin, json: bool) -> Outcome {
    let response = admin
        .list_nodes(v1::ListNodesRequest::default())
        .await?
        .into_inner();
    let nodes: Vec<NodeJson> = response.nodes.into_iter().map(NodeJson::from).collect();
    if json {
        print_json(&NodesJson { nodes })?;
    } else {
        print_nodes(&nodes)?;
    }
    Ok(Answer::Yes)
}

fn print_nodes(nodes: &[NodeJson]) -> Outcome {
    let mut t = table(&[
        "name",
        "addresses",
        "online",
        "last seen",
        "key",
        "endpoints",
        "tags",
    ]);
    for n in nodes {
        t.add_row([
            n.name.clone(),
            n.addresses.join(","),
            if n.online { "yes" } else { "no" }.to_owned(),
            n.last_seen.clone().unwrap_or_else(|| "-".to_owned()),
            n.public_key.chars().take(8).collect(),
            n.endpoints.join(","),
            n.tags.join(","),
        ]);
    }
    print_table(&t)?;
    Ok(Answer::Yes)
}

/// Which change `node` makes.
#[derive(Debug, Clone, Copy)]
pub enum NodeChange {
    /// `node expire`.
    Expire,
    /// `node delete`.
    Delete,
}

/// `node expire NAME`, `node delete NAME`: prints the node after (or, deleted, before) it.
pub async fn change(mut admin: Admin, change: NodeChange, name: String, json: bool) -> Outcome {
    let node = match change {
        NodeChange::Expire => {
            let request = v1::ExpireNodeRequest {
                network: String::new(),
                name,
            };
            admin.expire_node(request).await?.into_inner().node
        }
        NodeChange::Delete => {
            let request = v1::DeleteNodeRequest {
                network: String::new(),
                name,
            };
            admin.delete_node(request).await?.into_inner().node
        }
    };
    let node = NodeJson::from(node.unwrap_or_default());
    if json {
        print_json(&node)?;
        Ok(Answer::Yes)
    } else {
        print_nodes(std::slice::from_ref(&node))
    }
}
