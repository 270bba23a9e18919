//! The SQLite store against real files in a temporary directory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cvlan_types::PrivateKey;

use super::*;
use crate::store::AuthKeyRefusal;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn admin() -> Actor {
    Actor {
        name: "apikey:test".into(),
        from: Some("192.0.2.7:50000".into()),
    }
}

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db/controller.db")).unwrap();
    (dir, store)
}

fn revision(text: &str) -> NewRevision {
    NewRevision {
        tenant: "acme".into(),
        network: "corp".into(),
        text: text.into(),
        author: "alice".into(),
        message: format!("commit {text}"),
        diagnostics: vec![],
    }
}

fn registration(name: &str, machine: &PrivateKey) -> NodeRegistration {
    NodeRegistration {
        name: name.into(),
        machine_key: machine.public_key(),
        node_key: PrivateKey::generate().public_key(),
        addresses: vec!["100.64.0.1".parse().unwrap()],
        capabilities: vec!["ipv6".into()],
        tags: vec!["server".into()],
        key_expiry: Some(t(86_400)),
    }
}

fn user_version(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn migrations_are_idempotent_and_set_user_version() {
    let (dir, store) = open();
    let path = dir.path().join("db/controller.db");
    store
        .commit_revision(revision("a"), &admin(), t(1))
        .unwrap();
    drop(store);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 1);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(again.revisions().unwrap().len(), 1, "data kept");
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("db")), 0o700);
    let conn = Connection::open(&path).unwrap();
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn a_database_from_a_newer_controller_is_refused() {
    let (dir, store) = open();
    drop(store);
    let path = dir.path().join("db/controller.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew { found: 2, known: 1 })
    ));
}

#[test]
fn revisions_come_newest_first_with_their_audit_entries() {
    let (_dir, store) = open();
    assert!(store.latest_revision().unwrap().is_none());
    let first = store
        .commit_revision(revision("one"), &admin(), t(1))
        .unwrap();
    let second = store
        .commit_revision(revision("two"), &admin(), t(2))
        .unwrap();
    assert_eq!((first.info.id, second.info.id), (1, 2));
    assert_eq!(first.info.hash, sha256_hex("one"));
    assert_eq!(
        (first.tenant.as_str(), first.network.as_str()),
        ("acme", "corp")
    );
    let ids: Vec<_> = store.revisions().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, [2, 1]);
    assert_eq!(store.latest_revision().unwrap().unwrap().text, "two");
    assert_eq!(store.revision(1).unwrap().unwrap(), first);
    assert!(store.revision(3).unwrap().is_none());
    let audit = store.audit_since(t(0)).unwrap();
    let entries: Vec<_> = audit
        .iter()
        .map(|a| {
            (
                a.entry.action.as_str(),
                a.entry.target.as_str(),
                a.entry.before.clone(),
                a.entry.after.clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("revision.commit", "1", None, Some(sha256_hex("one"))),
            (
                "revision.commit",
                "2",
                Some(sha256_hex("one")),
                Some(sha256_hex("two"))
            ),
        ]
    );
    assert_eq!(audit[0].entry.actor, admin());
    assert_eq!(
        store.audit_since(t(2)).unwrap().len(),
        1,
        "since is inclusive"
    );
}

#[test]
fn a_node_re_registering_with_another_machine_key_is_refused() {
    let (_dir, store) = open();
    let machine = PrivateKey::generate();
    let node = store
        .register_node(registration("db-1", &machine), &admin(), t(1))
        .unwrap();
    assert_eq!(node.last_seen, Some(t(1)));
    assert_eq!(node.created, t(1));
    let thief = PrivateKey::generate();
    let err = store
        .register_node(registration("db-1", &thief), &admin(), t(2))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MachineKeyMismatch { ref name } if name == "db-1"),
        "{err}"
    );
    assert_eq!(store.node("db-1").unwrap().unwrap(), node, "unchanged");
    // The same machine may re-register with a new node key; an expired node comes back.
    store.expire_node("db-1", &admin(), t(3)).unwrap();
    let again = store
        .register_node(registration("db-1", &machine), &admin(), t(4))
        .unwrap();
    assert_ne!(again.registration.node_key, node.registration.node_key);
    assert!(!again.expired);
    assert_eq!(again.created, t(1), "first registration kept");
}

#[test]
fn nodes_report_endpoints_are_seen_expire_and_are_deleted() {
    let (_dir, store) = open();
    let reg = registration("web-1", &PrivateKey::generate());
    store.register_node(reg.clone(), &admin(), t(1)).unwrap();
    let endpoints = [
        "198.51.100.4:51820".parse().unwrap(),
        "[2001:db8::4]:51820".parse().unwrap(),
    ];
    let node = store.set_endpoints("web-1", &endpoints).unwrap();
    assert_eq!(node.endpoints, endpoints);
    assert_eq!(node.registration, reg);
    store.touch_node("web-1", t(9)).unwrap();
    let expired = store.expire_node("web-1", &admin(), t(10)).unwrap();
    assert!(expired.expired);
    assert_eq!(expired.last_seen, Some(t(9)));
    assert_eq!(store.nodes().unwrap(), std::slice::from_ref(&expired));
    assert_eq!(
        store.delete_node("web-1", &admin(), t(11)).unwrap(),
        expired
    );
    assert!(store.nodes().unwrap().is_empty());
    assert!(matches!(
        store.touch_node("web-1", t(12)),
        Err(StoreError::NotFound { what: "node", .. })
    ));
    let actions: Vec<_> = store
        .audit_since(t(0))
        .unwrap()
        .into_iter()
        .map(|a| a.entry.action)
        .collect();
    assert_eq!(actions, ["node.register", "node.expire", "node.delete"]);
}

#[test]
fn a_single_use_auth_key_is_redeemed_once() {
    let (_dir, store) = open();
    let spec = NewAuthKey {
        tags: vec!["server".into()],
        ..NewAuthKey::default()
    };
    let (created, issued) = store.create_auth_key(spec.clone(), &admin(), t(1)).unwrap();
    assert_eq!(created.spec, spec);
    assert_eq!(created.used, None);
    let redeemed = store.redeem_auth_key(issued.reveal(), t(2)).unwrap();
    assert_eq!(redeemed.used, Some(t(2)));
    assert!(matches!(
        store.redeem_auth_key(issued.reveal(), t(3)),
        Err(StoreError::AuthKey(AuthKeyRefusal::Spent))
    ));
    assert_eq!(
        store.auth_keys().unwrap()[0].used,
        Some(t(2)),
        "first use kept"
    );
}

#[test]
fn a_reusable_key_is_redeemed_again_an_expired_or_revoked_one_never() {
    let (_dir, store) = open();
    let reusable = NewAuthKey {
        reusable: true,
        expires: Some(t(100)),
        ..NewAuthKey::default()
    };
    let (_, issued) = store.create_auth_key(reusable, &admin(), t(1)).unwrap();
    store.redeem_auth_key(issued.reveal(), t(2)).unwrap();
    store.redeem_auth_key(issued.reveal(), t(3)).unwrap();
    assert!(matches!(
        store.redeem_auth_key(issued.reveal(), t(100)),
        Err(StoreError::AuthKey(AuthKeyRefusal::Expired))
    ));
    let (key, revoked) = store
        .create_auth_key(NewAuthKey::default(), &admin(), t(1))
        .unwrap();
    let after = store.revoke_auth_key(&key.id, &admin(), t(5)).unwrap();
    assert_eq!(after.revoked, Some(t(5)));
    assert_eq!(
        store
            .revoke_auth_key(&key.id, &admin(), t(6))
            .unwrap()
            .revoked,
        Some(t(5))
    );
    assert!(matches!(
        store.redeem_auth_key(revoked.reveal(), t(6)),
        Err(StoreError::AuthKey(AuthKeyRefusal::Revoked))
    ));
    let listed = store.auth_keys().unwrap();
    let revoked_key = listed.iter().find(|k| k.id == key.id).unwrap();
    assert_eq!(revoked_key.used, None, "a refusal changes nothing");
    // A right id with a wrong secret is as unknown as garbage.
    let forged = format!("cvlan-auth-{}-{}", key.id, "0".repeat(64));
    for text in [forged.as_str(), "cvlan-auth-nonsense", ""] {
        assert!(matches!(
            store.redeem_auth_key(text, t(2)),
            Err(StoreError::AuthKey(AuthKeyRefusal::Unknown))
        ));
    }
}

#[test]
fn api_keys_authenticate_until_revoked() {
    let (_dir, store) = open();
    let (info, issued) = store.create_api_key(Scope::Write, &admin(), t(1)).unwrap();
    assert_eq!(info.last_used, None);
    let key = store.authenticate(issued.reveal(), t(2)).unwrap().unwrap();
    assert_eq!(
        key,
        ApiKey {
            id: info.key.id.clone(),
            scope: Scope::Write
        }
    );
    assert!(key.scope.allows(Scope::Read) && !key.scope.allows(Scope::Admin));
    assert_eq!(store.api_keys().unwrap()[0].last_used, Some(t(2)));
    let forged = format!("cvlan-api-{}-{}", info.key.id, "f".repeat(64));
    assert_eq!(store.authenticate(&forged, t(3)).unwrap(), None);
    assert_eq!(store.authenticate("not a key", t(3)).unwrap(), None);
    store.revoke_api_key(&info.key.id, &admin(), t(4)).unwrap();
    assert_eq!(store.authenticate(issued.reveal(), t(5)).unwrap(), None);
    assert_eq!(store.api_keys().unwrap()[0].revoked, Some(t(4)));
    assert!(matches!(
        store.revoke_api_key("0000000000000000", &admin(), t(5)),
        Err(StoreError::NotFound {
            what: "API key",
            ..
        })
    ));
}

#[test]
fn the_database_never_holds_a_secret_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("controller.db");
    let store = SqliteStore::open(&path).unwrap();
    let (_, api) = store.create_api_key(Scope::Admin, &admin(), t(1)).unwrap();
    let (_, auth) = store
        .create_auth_key(NewAuthKey::default(), &admin(), t(1))
        .unwrap();
    store.redeem_auth_key(auth.reveal(), t(2)).unwrap();
    store.authenticate(api.reveal(), t(2)).unwrap().unwrap();
    let mut bytes = Vec::new();
    for name in ["controller.db", "controller.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            bytes.extend(b);
        }
    }
    drop(store);
    bytes.extend(std::fs::read(&path).unwrap());
    assert!(
        bytes
            .windows(api.id().len())
            .any(|w| w == api.id().as_bytes()),
        "ids are stored"
    );
    for key in [api.reveal(), auth.reveal()] {
        let secret = key.rsplit('-').next().unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is in the database file"
        );
    }
}

#[test]
fn appended_audit_entries_are_listed_since_a_time() {
    let (_dir, store) = open();
    let entry = NewAuditEntry {
        actor: admin(),
        action: "apply.refused".into(),
        target: "network.kdl".into(),
        before: Some("aa".into()),
        after: None,
    };
    let stored = store.append_audit(entry.clone(), t(7)).unwrap();
    assert_eq!((stored.time, &stored.entry), (t(7), &entry));
    assert_eq!(store.audit_since(t(7)).unwrap(), [stored]);
    assert!(store.audit_since(t(8)).unwrap().is_empty());
}
