//! The local API over a real Unix socket in a temp dir: a unary call and server streams round
//! trip, the socket's mode, the errors a client gets when no daemon is there, stale-socket
//! replacement, refusal to take over a live socket or a non-socket, and removal on shutdown.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cvlan_proto::local::{self, BoxStream, ConnectError, LocalApiService, LocalSocket, ServeError};
use cvlan_proto::v1;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

/// A minimal daemon: a fixed status, and an event stream that replays `last` numbered events
/// and then stays open, as a live stream does.
struct TestDaemon {
    name: String,
}

const KEY: [u8; 32] = [9; 32];

#[tonic::async_trait]
impl LocalApiService for TestDaemon {
    async fn status(
        &self,
        _request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        Ok(Response::new(v1::StatusResponse {
            name: self.name.clone(),
            kind: v1::DaemonKind::Node.into(),
            addresses: vec!["100.64.0.10".into(), "fd7a:115c:a1e0::a".into()],
            public_key: KEY.to_vec(),
            last_apply: Some(v1::ApplyResult {
                outcome: v1::ApplyOutcome::Rejected.into(),
                revision: "abc123".into(),
                diagnostics: vec![v1::Diagnostic {
                    severity: v1::Severity::Error.into(),
                    code: "cvlan::overlap".into(),
                    line: 3,
                    column: 5,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            uptime: Some(prost_types::Duration {
                seconds: 42,
                nanos: 0,
            }),
            ..Default::default()
        }))
    }

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<BoxStream<v1::WatchEventsResponse>>, Status> {
        let replay = match request.into_inner().start {
            Some(v1::watch_events_request::Start::Last(n)) => n,
            _ => {
                return Err(Status::invalid_argument(
                    "this test daemon only replays `last`",
                ));
            }
        };
        let events = (1..=u64::from(replay)).map(|seq| {
            Ok(v1::WatchEventsResponse {
                seq,
                kind: "peer.handshake".into(),
                level: v1::EventLevel::Info.into(),
                message: format!("handshake {seq}"),
                fields: [("peer".to_owned(), "db-1".to_owned())].into(),
                ..Default::default()
            })
        });
        let stream =
            tokio_stream::StreamExt::chain(tokio_stream::iter(events), tokio_stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A daemon serving in the background, stopped by `stop`.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    async fn start(socket: &Path) -> Self {
        let bound = LocalSocket::bind(socket).await.expect("binds");
        let (stop, stopped) = oneshot::channel::<()>();
        let daemon = TestDaemon {
            name: "laptop-alice".into(),
        };
        let task = tokio::spawn(bound.serve(daemon, async {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.send(()).expect("server still running");
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returns after shutdown within the grace")
            .expect("serve task did not panic")
            .expect("serve ended without error");
    }
}

fn socket_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("run").join("cvland.sock")
}

#[tokio::test]
async fn unary_and_stream_calls_round_trip_over_the_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = socket_in(&dir);
    let daemon = Running::start(&socket).await;
    let mut client = local::connect(&socket).await.expect("connects");

    let status = client
        .status(v1::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.name, "laptop-alice");
    assert_eq!(status.kind(), v1::DaemonKind::Node);
    assert_eq!(status.addresses, ["100.64.0.10", "fd7a:115c:a1e0::a"]);
    assert_eq!(
        cvlan_proto::convert::key_from_bytes("public_key", &status.public_key),
        Ok(cvlan_schema::PublicKey(KEY))
    );
    let last = status.last_apply.expect("last apply");
    assert_eq!(last.outcome(), v1::ApplyOutcome::Rejected);
    assert_eq!(last.diagnostics[0].code, "cvlan::overlap");
    assert_eq!(
        (last.diagnostics[0].line, last.diagnostics[0].column),
        (3, 5)
    );
    assert_eq!(status.uptime.map(|d| d.seconds), Some(42));

    let mut events = client
        .watch_events(v1::WatchEventsRequest {
            start: Some(v1::watch_events_request::Start::Last(3)),
            kinds: vec![],
            follow: true,
        })
        .await
        .expect("stream opens")
        .into_inner();
    for seq in 1..=3 {
        let event = events.message().await.expect("event").expect("stream open");
        assert_eq!(event.seq, seq);
        assert_eq!(event.kind, "peer.handshake");
        assert_eq!(event.message, format!("handshake {seq}"));
        assert_eq!(event.fields.get("peer").map(String::as_str), Some("db-1"));
    }
    // The stream stays open after the replay: no fourth event arrives, and it has not ended.
    let more = tokio::time::timeout(Duration::from_millis(200), events.message()).await;
    assert!(
        more.is_err(),
        "a live stream neither ends nor invents events"
    );

    // A call the daemon does not serve answers UNIMPLEMENTED rather than hanging or failing
    // the connection.
    let sas = client.sas(v1::SasRequest::default()).await;
    assert_eq!(
        sas.expect_err("not served").code(),
        tonic::Code::Unimplemented
    );

    // A server error travels as a status.
    let bad = client.watch_events(v1::WatchEventsRequest::default()).await;
    assert_eq!(
        bad.expect_err("refused").code(),
        tonic::Code::InvalidArgument
    );

    // Shutdown with the event stream still open returns and removes the socket.
    daemon.stop().await;
    assert!(!socket.exists(), "socket removed on shutdown");
}

#[tokio::test]
async fn the_socket_is_0660_and_belongs_to_group_cvlan_when_it_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = socket_in(&dir);
    let daemon = Running::start(&socket).await;

    let metadata = std::fs::symlink_metadata(&socket).expect("socket exists");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o660);
    match nix::unistd::Group::from_name(local::SOCKET_GROUP).expect("group lookup") {
        Some(group) => assert_eq!(metadata.gid(), group.gid.as_raw()),
        None => eprintln!(
            "group `{}` does not exist here: only the mode is checked",
            local::SOCKET_GROUP
        ),
    }
    // Nothing but the socket is left in its directory (the staging name was renamed away).
    let entries: Vec<_> = std::fs::read_dir(socket.parent().expect("parent"))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from("cvland.sock")]);

    daemon.stop().await;
}

#[tokio::test]
async fn a_missing_daemon_is_a_clear_error_naming_the_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = socket_in(&dir);

    let error = local::connect(&socket).await.expect_err("nothing there");
    assert!(matches!(error, ConnectError::NotRunning { ref path } if path == &socket));
    let message = error.to_string();
    assert!(message.contains(&socket.display().to_string()), "{message}");
    assert!(message.contains("does not exist"), "{message}");

    // A socket file nobody listens on: refused, also naming the socket.
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("mkdir");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let error = local::connect(&socket).await.expect_err("nobody listens");
    assert!(matches!(error, ConnectError::Refused { ref path } if path == &socket));
    assert!(error.to_string().contains(&socket.display().to_string()));
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = socket_in(&dir);
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("mkdir");
    // What a daemon that died leaves behind: the socket file, nobody accepting.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());

    let daemon = Running::start(&socket).await;
    let mut client = local::connect(&socket)
        .await
        .expect("connects to the new daemon");
    client.status(v1::StatusRequest {}).await.expect("status");

    // A second daemon must not steal the socket of a live one.
    let second = LocalSocket::bind(&socket).await.expect_err("in use");
    assert!(matches!(second, ServeError::InUse { ref path } if path == &socket));
    client
        .status(v1::StatusRequest {})
        .await
        .expect("first daemon still answers");

    daemon.stop().await;
    assert!(!socket.exists());
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cvland.sock");
    std::fs::write(&path, "precious").expect("write");

    let error = local::serve(&path, TestDaemon { name: "x".into() }, async {})
        .await
        .expect_err("not a socket");
    assert!(matches!(error, ServeError::NotASocket { .. }));
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "precious"
    );
}

#[tokio::test]
async fn dropping_a_bound_socket_removes_it_but_not_a_replacement() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = socket_in(&dir);
    let bound = LocalSocket::bind(&socket).await.expect("binds");
    assert_eq!(bound.path(), socket);
    drop(bound);
    assert!(!socket.exists(), "dropped socket removed");

    // If something replaced the socket meanwhile, dropping the old one leaves the new alone.
    let old = LocalSocket::bind(&socket).await.expect("binds");
    std::fs::remove_file(&socket).expect("remove");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("another socket"));
    drop(old);
    assert!(socket.exists(), "a socket we did not create survives");
}
