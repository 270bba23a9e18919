//! The admin service cvlanctl calls with an API key (`authorization: Bearer …`): apply and
//! rollback (validated, policy-tests run, refused with diagnostics and nothing changed),
//! revisions, nodes, node expire/delete, auth keys, API keys, audit. Each call names the
//! scope it needs; a secret leaves the controller only in the response that creates it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::local::BoxStream;
use cvlan_proto::transport::noise::NoisePeer;
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_server::AdminService;
use sha2::{Digest as _, Sha256};
use tonic::{Request, Response, Status};

use super::hub::Hub;
use super::status;
use crate::store::{
    Actor, ApiKeyInfo, AsyncStore, AuditEntry, AuthKey, NewAuthKey, NewRevision, Node, Revision,
    RevisionInfo, Scope,
};

/// The admin service.
#[derive(Clone)]
pub struct Admin {
    store: AsyncStore,
    hub: Arc<Hub>,
}

impl Admin {
    /// The service over `store` and `hub`.
    pub fn new(store: AsyncStore, hub: Arc<Hub>) -> Self {
        Self { store, hub }
    }

    /// The caller, when its API key is known, not revoked, and allows `needed`.
    async fn authorize<T>(&self, request: &Request<T>, needed: Scope) -> Result<Actor, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(secret) = header.strip_prefix("Bearer ").map(str::to_owned) else {
            return Err(Status::unauthenticated(
                "no API key: send it as `authorization: Bearer <key>` (CVLAN_API_KEY or --api-key-file)",
            ));
        };
        let key = self
            .store
            .call(move |store| store.authenticate(&secret, SystemTime::now()))
            .await
            .map_err(status)?
            .ok_or_else(|| Status::unauthenticated("the API key is unknown or revoked"))?;
        if !key.scope.allows(needed) {
            return Err(Status::permission_denied(format!(
                "the API key {} has scope {}; this needs {}",
                key.id,
                key.scope.as_str(),
                needed.as_str()
            )));
        }
        let from = request
            .extensions()
            .get::<NoisePeer>()
            .map(|p| p.addr.to_string());
        Ok(Actor {
            name: format!("apikey:{}", key.id),
            from,
        })
    }

    /// Validates `text`, runs its policy-tests, and commits it unless it is refused or the
    /// running revision already holds it.
    async fn commit(
        &self,
        name: String,
        text: String,
        message: String,
        expected: u64,
        actor: Actor,
    ) -> Result<v1::ApplyResponse, Status> {
        let checking = text.clone();
        let (report, diagnostics) = tokio::task::spawn_blocking(move || {
            let report = cvlan_core::check(cvlan_schema::parse_network(&name, &checking));
            let diagnostics: Vec<v1::Diagnostic> = report
                .diagnostics
                .iter()
                .map(|d| v1::Diagnostic::from_schema(d, &report.sources))
                .collect();
            (report, diagnostics)
        })
        .await
        .map_err(|e| Status::internal(format!("the check failed: {e}")))?;
        let tests = v1::PolicyTestSummary {
            passed: u32::try_from(report.tests.passed).unwrap_or(u32::MAX),
            failed: u32::try_from(report.tests.failed).unwrap_or(u32::MAX),
        };
        let Some(network) = report.network.as_ref().filter(|_| report.is_ok()) else {
            return Ok(v1::ApplyResponse {
                applied: false,
                revision: None,
                diagnostics,
                tests: Some(tests),
                changes: Vec::new(),
            });
        };
        let latest = self
            .store
            .call(|store| store.latest_revision())
            .await
            .map_err(status)?;
        let running = latest.as_ref().map_or(0, |r| r.info.id);
        if expected != 0 && u64::try_from(running).ok() != Some(expected) {
            return Err(Status::aborted(format!(
                "the running revision is {running}, not {expected}: plan again"
            )));
        }
        let hash = hex_sha256(&text);
        if let Some(latest) = latest.filter(|r| r.info.hash == hash) {
            return Ok(v1::ApplyResponse {
                applied: false,
                revision: Some(revision_proto(&latest.info, &latest.network, None)),
                diagnostics,
                tests: Some(tests),
                changes: Vec::new(),
            });
        }
        let json = cvlan_schema::report::to_json(&report.sources, &report.diagnostics);
        let new = NewRevision {
            tenant: network.tenant.value.clone(),
            network: network.name.value.clone(),
            text,
            author: actor.name.clone(),
            message,
            diagnostics: json,
        };
        let revision = self
            .store
            .call(move |store| store.commit_revision(new, &actor, SystemTime::now()))
            .await
            .map_err(status)?;
        self.hub.changed();
        tracing::info!(revision = revision.info.id, "revision committed");
        Ok(v1::ApplyResponse {
            applied: true,
            revision: Some(revision_proto(&revision.info, &revision.network, None)),
            diagnostics,
            tests: Some(tests),
            changes: Vec::new(),
        })
    }
}

/// Lowercase hex SHA-256 of `text`, as revisions are hashed.
pub fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn revision_proto(info: &RevisionInfo, network: &str, text: Option<&str>) -> v1::NetworkRevision {
    v1::NetworkRevision {
        network: network.to_owned(),
        revision: u64::try_from(info.id).unwrap_or_default(),
        sha256: info.hash.clone(),
        author: info.author.clone(),
        message: info.message.clone(),
        created_at: Some(info.time.into()),
        rolled_back_to: 0,
        files: text
            .map(|text| {
                vec![v1::SourceFile {
                    name: "network.kdl".to_owned(),
                    text: text.to_owned(),
                }]
            })
            .unwrap_or_default(),
    }
}

/// A registered node as the admin API and `Register` show it.
pub fn node_proto(node: &Node, online: bool) -> v1::Node {
    let r = &node.registration;
    let status = if node.expired {
        v1::NodeStatus::Expired
    } else if online {
        v1::NodeStatus::Online
    } else {
        v1::NodeStatus::Offline
    };
    v1::Node {
        name: r.name.clone(),
        tags: r.tags.clone(),
        node_key: key_to_bytes(&r.node_key),
        machine_key: key_to_bytes(&r.machine_key),
        addresses: r.addresses.iter().map(ToString::to_string).collect(),
        endpoints: node
            .endpoints
            .iter()
            .map(|e| v1::NodeEndpoint {
                address: e.to_string(),
                source: v1::EndpointSource::Local.into(),
                reported_at: None,
            })
            .collect(),
        capabilities: r.capabilities.clone(),
        status: status.into(),
        last_seen: node.last_seen.map(Into::into),
        key_expiry: r.key_expiry.map(Into::into),
        registered_at: Some(node.created.into()),
        ..Default::default()
    }
}

fn auth_key_proto(key: &AuthKey, now: SystemTime) -> v1::AuthKey {
    let status = if key.revoked.is_some() {
        v1::ApiKeyStatus::Revoked
    } else if key.spec.expires.is_some_and(|t| t <= now) {
        v1::ApiKeyStatus::Expired
    } else {
        v1::ApiKeyStatus::Active
    };
    v1::AuthKey {
        id: key.id.clone(),
        tags: key.spec.tags.clone(),
        reusable: key.spec.reusable,
        ephemeral: key.spec.ephemeral,
        status: status.into(),
        created_at: Some(key.created.into()),
        expires_at: key.spec.expires.map(Into::into),
        uses: u32::from(key.used.is_some()),
        ..Default::default()
    }
}

fn api_key_proto(key: &ApiKeyInfo) -> v1::ApiKey {
    let scope = match key.key.scope {
        Scope::Read => v1::ApiScope::Read,
        Scope::Write => v1::ApiScope::Write,
        Scope::Admin => v1::ApiScope::Admin,
    };
    let status = if key.revoked.is_some() {
        v1::ApiKeyStatus::Revoked
    } else {
        v1::ApiKeyStatus::Active
    };
    v1::ApiKey {
        id: key.key.id.clone(),
        scopes: vec![scope.into()],
        status: status.into(),
        created_at: Some(key.created.into()),
        last_used_at: key.last_used.map(Into::into),
        ..Default::default()
    }
}

fn audit_proto(entry: &AuditEntry) -> v1::AuditLog {
    let e = &entry.entry;
    v1::AuditLog {
        id: u64::try_from(entry.id).unwrap_or_default(),
        time: Some(entry.time.into()),
        actor_type: if e.actor.name.starts_with("apikey:") {
            v1::ActorType::ApiKey
        } else if e.actor.name.starts_with("node:") {
            v1::ActorType::Node
        } else {
            v1::ActorType::System
        }
        .into(),
        actor_name: e.actor.name.clone(),
        source_address: e.actor.from.clone().unwrap_or_default(),
        action: e.action.clone(),
        resource: e.target.clone(),
        before_hash: e.before.clone().unwrap_or_default(),
        after_hash: e.after.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn scope_of(scopes: &[i32]) -> Result<Scope, Status> {
    match scopes.iter().copied().max().map(v1::ApiScope::try_from) {
        Some(Ok(v1::ApiScope::Read)) => Ok(Scope::Read),
        Some(Ok(v1::ApiScope::Write)) => Ok(Scope::Write),
        Some(Ok(v1::ApiScope::Admin)) => Ok(Scope::Admin),
        _ => Err(Status::invalid_argument(
            "give a scope: read, write or admin",
        )),
    }
}

/// The one file of an apply: a controller revision is one network.kdl.
fn one_file(files: Vec<v1::SourceFile>) -> Result<v1::SourceFile, Status> {
    let mut files = files.into_iter();
    let root = files
        .next()
        .ok_or_else(|| Status::invalid_argument("no file sent"))?;
    if files.next().is_some() {
        return Err(Status::invalid_argument(
            "the controller takes one network.kdl per revision: inline its includes",
        ));
    }
    Ok(root)
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!("this controller does not serve {what} yet"))
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn plan(
        &self,
        _request: Request<v1::PlanRequest>,
    ) -> Result<Response<v1::PlanResponse>, Status> {
        Err(Status::unimplemented(
            "plans are made by cvlanctl against the running revision: `cvlanctl plan --file F --controller`",
        ))
    }

    async fn apply(
        &self,
        request: Request<v1::ApplyRequest>,
    ) -> Result<Response<v1::ApplyResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let request = request.into_inner();
        let file = one_file(request.files)?;
        let response = self
            .commit(
                file.name,
                file.text,
                request.message,
                request.expected_revision,
                actor,
            )
            .await?;
        Ok(Response::new(response))
    }

    async fn list_revisions(
        &self,
        request: Request<v1::ListRevisionsRequest>,
    ) -> Result<Response<v1::ListRevisionsResponse>, Status> {
        self.authorize(&request, Scope::Read).await?;
        let request = request.into_inner();
        let limit = match request.pagination.map_or(0, |p| p.page_size) {
            0 => usize::MAX,
            n => n as usize,
        };
        let include_files = request.include_files;
        let revisions = self
            .store
            .call(move |store| {
                let mut out = Vec::new();
                for info in store.revisions()?.into_iter().take(limit) {
                    let whole = if include_files {
                        store.revision(info.id)?
                    } else {
                        None
                    };
                    out.push((info, whole));
                }
                Ok(out)
            })
            .await
            .map_err(status)?;
        let revisions = revisions
            .iter()
            .map(|(info, whole): &(RevisionInfo, Option<Revision>)| {
                let network = whole.as_ref().map_or("", |r| r.network.as_str());
                revision_proto(info, network, whole.as_ref().map(|r| r.text.as_str()))
            })
            .collect();
        Ok(Response::new(v1::ListRevisionsResponse {
            revisions,
            meta: None,
        }))
    }

    async fn rollback(
        &self,
        request: Request<v1::RollbackRequest>,
    ) -> Result<Response<v1::RollbackResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let request = request.into_inner();
        let id = i64::try_from(request.revision)
            .map_err(|_| Status::invalid_argument("no such revision"))?;
        let old = self
            .store
            .call(move |store| store.revision(id))
            .await
            .map_err(status)?
            .ok_or_else(|| Status::not_found(format!("no revision {}", request.revision)))?;
        let message = if request.message.is_empty() {
            format!("rollback to revision {}", request.revision)
        } else {
            request.message
        };
        let name = format!("revision {}", request.revision);
        let outcome = self.commit(name, old.text, message, 0, actor).await?;
        Ok(Response::new(v1::RollbackResponse {
            outcome: Some(outcome),
        }))
    }

    async fn list_nodes(
        &self,
        request: Request<v1::ListNodesRequest>,
    ) -> Result<Response<v1::ListNodesResponse>, Status> {
        self.authorize(&request, Scope::Read).await?;
        let nodes = self
            .store
            .call(|store| store.nodes())
            .await
            .map_err(status)?;
        let mut listed: Vec<v1::Node> = nodes
            .iter()
            .map(|n| node_proto(n, self.hub.is_online(&n.registration.name)))
            .collect();
        // The nodes the file declares that never registered.
        let generation = self.hub.up_to_date().await;
        for (name, declared) in generation.declared.iter() {
            if !nodes.iter().any(|n| &n.registration.name == name) {
                listed.push(v1::Node {
                    name: name.clone(),
                    tags: declared.tags.clone(),
                    addresses: declared.addresses.iter().map(ToString::to_string).collect(),
                    status: v1::NodeStatus::Pending.into(),
                    ..Default::default()
                });
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::new(v1::ListNodesResponse {
            nodes: listed,
            meta: None,
        }))
    }

    async fn expire_node(
        &self,
        request: Request<v1::ExpireNodeRequest>,
    ) -> Result<Response<v1::ExpireNodeResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let name = request.into_inner().name;
        let node = self
            .store
            .call(move |store| store.expire_node(&name, &actor, SystemTime::now()))
            .await
            .map_err(status)?;
        self.hub.changed();
        Ok(Response::new(v1::ExpireNodeResponse {
            node: Some(node_proto(&node, false)),
        }))
    }

    async fn delete_node(
        &self,
        request: Request<v1::DeleteNodeRequest>,
    ) -> Result<Response<v1::DeleteNodeResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let name = request.into_inner().name;
        let deleting = name.clone();
        let node = self
            .store
            .call(move |store| store.delete_node(&deleting, &actor, SystemTime::now()))
            .await
            .map_err(status)?;
        self.hub.forget(&name);
        self.hub.changed();
        Ok(Response::new(v1::DeleteNodeResponse {
            node: Some(node_proto(&node, false)),
        }))
    }

    async fn create_auth_key(
        &self,
        request: Request<v1::CreateAuthKeyRequest>,
    ) -> Result<Response<v1::CreateAuthKeyResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let request = request.into_inner();
        let now = SystemTime::now();
        let expires = request
            .expires_in
            .map(Duration::try_from)
            .transpose()
            .map_err(|_| Status::invalid_argument("expires_in must be positive"))?
            .map(|d| now + d);
        let spec = NewAuthKey {
            tags: request.tags,
            reusable: request.reusable,
            ephemeral: request.ephemeral,
            expires,
        };
        let (key, issued) = self
            .store
            .call(move |store| store.create_auth_key(spec, &actor, now))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::CreateAuthKeyResponse {
            key: Some(auth_key_proto(&key, now)),
            secret: issued.reveal().to_owned(),
        }))
    }

    async fn list_auth_keys(
        &self,
        request: Request<v1::ListAuthKeysRequest>,
    ) -> Result<Response<v1::ListAuthKeysResponse>, Status> {
        self.authorize(&request, Scope::Read).await?;
        let now = SystemTime::now();
        let keys = self
            .store
            .call(|store| store.auth_keys())
            .await
            .map_err(status)?;
        Ok(Response::new(v1::ListAuthKeysResponse {
            keys: keys.iter().rev().map(|k| auth_key_proto(k, now)).collect(),
            meta: None,
        }))
    }

    async fn revoke_auth_key(
        &self,
        request: Request<v1::RevokeAuthKeyRequest>,
    ) -> Result<Response<v1::RevokeAuthKeyResponse>, Status> {
        let actor = self.authorize(&request, Scope::Write).await?;
        let id = request.into_inner().id;
        let now = SystemTime::now();
        let key = self
            .store
            .call(move |store| store.revoke_auth_key(&id, &actor, now))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::RevokeAuthKeyResponse {
            key: Some(auth_key_proto(&key, now)),
        }))
    }

    async fn create_api_key(
        &self,
        request: Request<v1::CreateApiKeyRequest>,
    ) -> Result<Response<v1::CreateApiKeyResponse>, Status> {
        let actor = self.authorize(&request, Scope::Admin).await?;
        let scope = scope_of(&request.get_ref().scopes)?;
        let (key, issued) = self
            .store
            .call(move |store| store.create_api_key(scope, &actor, SystemTime::now()))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::CreateApiKeyResponse {
            key: Some(api_key_proto(&key)),
            secret: issued.reveal().to_owned(),
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<v1::ListApiKeysRequest>,
    ) -> Result<Response<v1::ListApiKeysResponse>, Status> {
        self.authorize(&request, Scope::Admin).await?;
        let keys = self
            .store
            .call(|store| store.api_keys())
            .await
            .map_err(status)?;
        Ok(Response::new(v1::ListApiKeysResponse {
            keys: keys.iter().rev().map(api_key_proto).collect(),
            meta: None,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<v1::RevokeApiKeyRequest>,
    ) -> Result<Response<v1::RevokeApiKeyResponse>, Status> {
        let actor = self.authorize(&request, Scope::Admin).await?;
        let id = request.into_inner().id;
        let key = self
            .store
            .call(move |store| store.revoke_api_key(&id, &actor, SystemTime::now()))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::RevokeApiKeyResponse {
            key: Some(api_key_proto(&key)),
        }))
    }

    async fn list_audit(
        &self,
        request: Request<v1::ListAuditRequest>,
    ) -> Result<Response<v1::ListAuditResponse>, Status> {
        self.authorize(&request, Scope::Read).await?;
        let request = request.into_inner();
        let since = request
            .since
            .and_then(|t| SystemTime::try_from(t).ok())
            .unwrap_or(UNIX_EPOCH);
        let until = request.until.and_then(|t| SystemTime::try_from(t).ok());
        let entries = self
            .store
            .call(move |store| store.audit_since(since))
            .await
            .map_err(status)?;
        Ok(Response::new(v1::ListAuditResponse {
            entries: entries
                .iter()
                .filter(|e| until.is_none_or(|u| e.time < u))
                .map(audit_proto)
                .collect(),
            meta: None,
        }))
    }

    async fn export_audit(
        &self,
        _request: Request<v1::ExportAuditRequest>,
    ) -> Result<Response<BoxStream<v1::ExportAuditResponse>>, Status> {
        Err(Status::unimplemented(
            "audit exports are written by cvlanctl: `cvlanctl audit --format csv|json`",
        ))
    }

    async fn create_v_router(
        &self,
        _request: Request<v1::CreateVRouterRequest>,
    ) -> Result<Response<v1::CreateVRouterResponse>, Status> {
        Err(unsupported("vrouter registration"))
    }

    async fn create_join_token(
        &self,
        _request: Request<v1::CreateJoinTokenRequest>,
    ) -> Result<Response<v1::CreateJoinTokenResponse>, Status> {
        Err(unsupported("vrouter join tokens"))
    }

    async fn list_v_routers(
        &self,
        _request: Request<v1::ListVRoutersRequest>,
    ) -> Result<Response<v1::ListVRoutersResponse>, Status> {
        Err(unsupported("vrouter registration"))
    }

    async fn revoke_v_router(
        &self,
        _request: Request<v1::RevokeVRouterRequest>,
    ) -> Result<Response<v1::RevokeVRouterResponse>, Status> {
        Err(unsupported("vrouter registration"))
    }

    async fn list_groups(
        &self,
        _request: Request<v1::ListGroupsRequest>,
    ) -> Result<Response<v1::ListGroupsResponse>, Status> {
        Err(unsupported("group listings"))
    }

    async fn list_tags(
        &self,
        _request: Request<v1::ListTagsRequest>,
    ) -> Result<Response<v1::ListTagsResponse>, Status> {
        Err(unsupported("tag listings"))
    }
}
