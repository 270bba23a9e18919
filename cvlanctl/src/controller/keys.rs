//! `authkey create|list|revoke` and `apikey create|list|revoke`. A key is printed once, when it
//! is created; lists and revocations show only its record.

use std::time::Duration;

use cvlan_proto::v1;
use serde::Serialize;

use super::Admin;
use crate::cli::Scope;
use crate::live::{rfc3339, time};
use crate::outcome::{Answer, Outcome};
use crate::output::{print_json, print_table, print_text, table};

/// An auth key's record as the commands print it; `key` only when just created.
#[derive(Debug, Serialize)]
struct AuthKeyJson {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    tags: Vec<String>,
    reusable: bool,
    ephemeral: bool,
    expires: Option<String>,
    status: &'static str,
    uses: u32,
}

fn status(value: i32) -> &'static str {
    match v1::ApiKeyStatus::try_from(value) {
        Ok(v1::ApiKeyStatus::Active) => "active",
        Ok(v1::ApiKeyStatus::Revoked) => "revoked",
        Ok(v1::ApiKeyStatus::Expired) => "expired",
        _ => "unknown",
    }
}

impl AuthKeyJson {
    fn new(key: v1::AuthKey, secret: Option<String>) -> Self {
        Self {
            status: status(key.status),
            expires: time(key.expires_at.as_ref()).map(rfc3339),
            id: key.id,
            key: secret,
            tags: key.tags,
            reusable: key.reusable,
            ephemeral: key.ephemeral,
            uses: key.uses,
        }
    }
}

/// The secret, with a line on stderr saying it is shown once (human output).
fn print_secret(id: &str, secret: &str) -> Outcome {
    print_text(&format!("id:  {id}\nkey: {secret}"))?;
    crate::output::print_err("The key is shown this once; store it now.\n");
    Ok(Answer::Yes)
}

/// `authkey create`.
pub async fn create_auth(
    mut admin: Admin,
    tags: Vec<String>,
    reusable: bool,
    ephemeral: bool,
    expires: Option<Duration>,
    json: bool,
) -> Outcome {
    let request = v1::CreateAuthKeyRequest {
        network: String::new(),
        tags,
        reusable,
        ephemeral,
        expires_in: expires.and_then(|d| d.try_into().ok()),
    };
    let response = admin.create_auth_key(request).await?.into_inner();
    let record = AuthKeyJson::new(response.key.unwrap_or_default(), Some(response.secret));
    if json {
        print_json(&record)?;
        return Ok(Answer::Yes);
    }
    print_secret(&record.id, record.key.as_deref().unwrap_or_default())
}

#[derive(Debug, Serialize)]
struct AuthKeysJson {
    keys: Vec<AuthKeyJson>,
}

/// `authkey list`.
pub async fn list_auth(mut admin: Admin, json: bool) -> Outcome {
    let request = v1::ListAuthKeysRequest {
        include_inactive: true,
        ..Default::default()
    };
    let response = admin.list_auth_keys(request).await?.into_inner();
    let keys: Vec<AuthKeyJson> = response
        .keys
        .into_iter()
        .map(|k| AuthKeyJson::new(k, None))
        .collect();
    if json {
        print_json(&AuthKeysJson { keys })?;
        return Ok(Answer::Yes);
    }
    let mut t = table(&[
        "id",
        "status",
        "tags",
        "reusable",
        "ephemeral",
        "uses",
        "expires",
    ]);
    for k in &keys {
        t.add_row([
            k.id.clone(),
            k.status.to_owned(),
            k.tags.join(","),
            k.reusable.to_string(),
            k.ephemeral.to_string(),
            k.uses.to_string(),
            k.expires.clone().unwrap_or_else(|| "never".to_owned()),
        ]);
    }
    print_table(&t)?;
    Ok(Answer::Yes)
}

/// `authkey revoke ID`.
pub async fn revoke_auth(mut admin: Admin, id: String, json: bool) -> Outcome {
    let response = admin
        .revoke_auth_key(v1::RevokeAuthKeyRequest { id })
        .await?
        .into_inner();
    let record = AuthKeyJson::new(response.key.unwrap_or_default(), None);
    if json {
        print_json(&record)?;
    } else {
        print_text(&format!("revoked auth key {}", record.id))?;
    }
    Ok(Answer::Yes)
}

/// An API key's record as the commands print it; `key` only when just created.
#[derive(Debug, Serialize)]
struct ApiKeyJson {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    scope: &'static str,
    expires: Option<String>,
    status: &'static str,
    last_used: Option<String>,
}

fn scope_name(scopes: &[i32]) -> &'static str {
    let highest = scopes.iter().copied().max().unwrap_or_default();
    match v1::ApiScope::try_from(highest) {
        Ok(v1::ApiScope::Admin) => "admin",
        Ok(v1::ApiScope::Write) => "write",
        Ok(v1::ApiScope::Read) => "read",
        _ => "none",
    }
}

impl ApiKeyJson {
    fn new(key: v1::ApiKey, secret: Option<String>) -> Self {
        Self {
            scope: scope_name(&key.scopes),
            status: status(key.status),
            expires: time(key.expires_at.as_ref()).map(rfc3339),
            last_used: time(key.last_used_at.as_ref()).map(rfc3339),
            id: key.id,
            key: secret,
        }
    }
}

/// `apikey create --scope S`.
pub async fn create_api(mut admin: Admin, scope: Scope, json: bool) -> Outcome {
    let scope = match scope {
        Scope::Read => v1::ApiScope::Read,
        Scope::Write => v1::ApiScope::Write,
        Scope::Admin => v1::ApiScope::Admin,
    };
    let request = v1::CreateApiKeyRequest {
        name: String::new(),
        scopes: vec![scope as i32],
        expires_in: None,
    };
    let response = admin.create_api_key(request).await?.into_inner();
    let record = ApiKeyJson::new(response.key.unwrap_or_default(), Some(response.secret));
    if json {
        print_json(&record)?;
        return Ok(Answer::Yes);
    }
    print_secret(&record.id, record.key.as_deref().unwrap_or_default())
}

#[derive(Debug, Serialize)]
struct ApiKeysJson {
    keys: Vec<ApiKeyJson>,
}

/// `apikey list`.
pub async fn list_api(mut admin: Admin, json: bool) -> Outcome {
    let request = v1::ListApiKeysRequest {
        include_inactive: true,
        ..Default::default()
    };
    let response = admin.list_api_keys(request).await?.into_inner();
    let keys: Vec<ApiKeyJson> = response
        .keys
        .into_iter()
        .map(|k| ApiKeyJson::new(k, None))
        .collect();
    if json {
        print_json(&ApiKeysJson { keys })?;
        return Ok(Answer::Yes);
    }
    let mut t = table(&["id", "scope", "status", "last used", "expires"]);
    for k in &keys {
        t.add_row([
            k.id.clone(),
            k.scope.to_owned(),
            k.status.to_owned(),
            k.last_used.clone().unwrap_or_else(|| "-".to_owned()),
            k.expires.clone().unwrap_or_else(|| "never".to_owned()),
        ]);
    }
    print_table(&t)?;
    Ok(Answer::Yes)
}

/// `apikey revoke ID`.
pub async fn revoke_api(mut admin: Admin, id: String, json: bool) -> Outcome {
    let response = admin
        .revoke_api_key(v1::RevokeApiKeyRequest { id })
        .await?
        .into_inner();
    let record = ApiKeyJson::new(response.key.unwrap_or_default(), None);
    if json {
        print_json(&record)?;
    } else {
        print_text(&format!("revoked API key {}", record.id))?;
    }
    Ok(Answer::Yes)
}
