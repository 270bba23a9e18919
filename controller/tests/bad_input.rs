//! The real `cvlan-controller` binary under bad input on its control port (issue 12, "Bad
//! input"): garbage, truncated and replayed Noise handshakes; garbage frames after a good
//! handshake; half-open TCP connections; malformed gRPC requests; a flood of registrations;
//! and a netmap client that stops reading. After each, the process is alive, a good client is
//! answered promptly, the controller's memory stays bounded, and nothing it says or logs
//! repeats a secret it was sent.

// Test helpers unwrap and print like the tests they serve.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

mod common;
use common::*;

use cvlan_proto::convert::key_to_bytes;
use cvlan_proto::transport::noise::{self, NoiseStream, frame, session::Initiator};
use cvlan_proto::v1;
use cvlan_proto::v1::admin_service_client::AdminServiceClient;
use cvlan_proto::v1::control_service_client::ControlServiceClient;
use cvlan_types::{PrivateKey, PublicKey};
use hyper_util::rt::TokioIo;
use rand::{Rng as _, RngCore as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// Waits up to `within` for the server to close `tcp` (end of stream or a reset).
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A handshake done by hand on a raw connection: message 1, message 2, the confirmation.
/// Returns the connection, the session, and every byte the client sent.
async fn handshake_by_hand(
    addr: &str,
    server: &PublicKey,
) -> (TcpStream, noise::session::Transport, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut sent = Vec::new();
    let initiator =
        Initiator::start(&PrivateKey::generate(), server, Instant::now(), &mut sent).unwrap();
    tcp.write_all(&sent).await.unwrap();
    let mut decoder = frame::FrameDecoder::new();
    let mut buf = [0u8; 256];
    let message_2 = loop {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed during a good handshake");
        let mut input = &buf[..n];
        if let Some(frame) = decoder.decode(&mut input).unwrap() {
            break frame;
        }
    };
    let mut confirmation = Vec::new();
    let transport = initiator
        .finish(&message_2, Instant::now(), &mut confirmation)
        .unwrap();
    tcp.write_all(&confirmation).await.unwrap();
    sent.extend_from_slice(&confirmation);
    (tcp, transport, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_and_frames_are_dropped_and_good_clients_still_served() {
    let mut ctl = Controller::start().await;
    let (rss_before, _) = ctl.memory();
    let addr = ctl.addr.clone();
    let mut rng = rand::thread_rng();

    // Garbage: random bytes of many lengths, each on its own connection, then the end of
    // what the client sends.
    for len in [1usize, 2, 3, 50, 95, 96, 97, 98, 500, 4096, 70_000] {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        // The server may close before it has read everything: a reset is fine.
        let _ = tcp.write_all(&bytes).await;
        let _ = tcp.shutdown().await;
        assert!(
            closed_by_server(&mut tcp, Duration::from_secs(5)).await,
            "{len} random bytes did not get the connection closed"
        );
    }
    // Garbage in whole frames: the server need not wait for more.
    for len in [1usize, 95, 96, 97, 2000] {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        let mut body = vec![0u8; len];
        rng.fill_bytes(&mut body);
        let mut wire = Vec::new();
        frame::encode(&body, &mut wire).unwrap();
        tcp.write_all(&wire).await.unwrap();
        assert!(
            closed_by_server(&mut tcp, Duration::from_secs(5)).await,
            "a frame of {len} random bytes did not get the connection closed"
        );
    }
    // A frame announcing zero bytes, and one announcing the most, then nothing.
    for prefix in [&[0u8, 0][..], &[0xff, 0xff, 1, 2, 3][..]] {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(prefix).await.unwrap();
        if prefix.len() == 2 {
            assert!(closed_by_server(&mut tcp, Duration::from_secs(5)).await);
        }
    }
    // A well-formed message 1 of a wrong length, and one to another server key.
    for server in [PrivateKey::generate().public_key(), ctl.key] {
        let mut wire = Vec::new();
        Initiator::start(&PrivateKey::generate(), &server, Instant::now(), &mut wire).unwrap();
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        if server == ctl.key {
            // Truncated: the frame says 96 bytes, only 40 come, then the client goes.
            tcp.write_all(&wire[..42]).await.unwrap();
            drop(tcp);
        } else {
            tcp.write_all(&wire).await.unwrap();
            assert!(
                closed_by_server(&mut tcp, Duration::from_secs(5)).await,
                "a handshake to another key was not dropped"
            );
        }
    }
    // A recorded good handshake, replayed byte for byte on a new connection: the server's
    // message 2 differs, so the recorded confirmation does not authenticate.
    let (good, _, recorded) = handshake_by_hand(&addr, &ctl.key).await;
    drop(good);
    let mut replay = TcpStream::connect(&addr).await.unwrap();
    replay.write_all(&recorded).await.unwrap();
    assert!(
        closed_by_server(&mut replay, Duration::from_secs(5)).await,
        "a replayed handshake was not dropped"
    );
    // A good handshake, then frames that do not authenticate.
    let (mut tcp, _, _) = handshake_by_hand(&addr, &ctl.key).await;
    let mut garbage = Vec::new();
    let mut body = vec![0u8; 300];
    rng.fill_bytes(&mut body);
    frame::encode(&body, &mut garbage).unwrap();
    tcp.write_all(&garbage).await.unwrap();
    assert!(
        closed_by_server(&mut tcp, Duration::from_secs(5)).await,
        "a forged frame did not end the session"
    );
    // A good handshake, then a good frame replayed.
    let (mut tcp, mut transport, _) = handshake_by_hand(&addr, &ctl.key).await;
    let mut sealed = Vec::new();
    transport
        .seal(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &mut sealed)
        .unwrap();
    tcp.write_all(&sealed).await.unwrap();
    tcp.write_all(&sealed).await.unwrap();
    assert!(
        closed_by_server(&mut tcp, Duration::from_secs(5)).await,
        "a replayed frame did not end the session"
    );
    // A good session carrying garbage instead of HTTP/2.
    let mut stream: NoiseStream<TcpStream> = noise::dial(&addr, &PrivateKey::generate(), &ctl.key)
        .await
        .unwrap();
    let mut junk = vec![0u8; 10_000];
    rng.fill_bytes(&mut junk);
    let _ = stream.write_all(&junk).await;
    let _ = stream.flush().await;
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "a session of garbage HTTP/2 was not closed");
    ctl.assert_alive();
    eprintln!(
        "bad handshakes: a good call took {:?}",
        ctl.good_call().await
    );

    // Half-open connections: TCP up, not a byte of handshake. More than the server runs
    // handshakes for at once; a good client arriving meanwhile must still get through.
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let during = tokio::time::timeout(Duration::from_secs(30), ctl.try_connect()).await;
    let waited = started.elapsed();
    eprintln!(
        "half-open: a good client with 300 idle connections held took {waited:?}: {:?}",
        during.as_ref().map(Result::is_ok)
    );
    drop(idle);
    let after = ctl.good_call().await;
    eprintln!("half-open: after they closed, a good call took {after:?}");
    assert!(after < Duration::from_secs(1));
    assert!(
        matches!(during, Ok(Ok(_))) && waited < Duration::from_secs(2),
        "300 idle connections kept a good client out for {waited:?}"
    );

    // The unknown auth key is refused in its own words.
    let mut control = ControlServiceClient::new(ctl.channel().await);
    let refused = control
        .register(v1::RegisterRequest {
            auth_key: "cvlan-auth-0123456789abcdef-".to_owned() + &"ab".repeat(32),
            node_name: "alpha".to_owned(),
            node_key: key_to_bytes(&PrivateKey::generate().public_key()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("not known"), "{refused:?}");

    let (rss_after, threads) = ctl.memory();
    eprintln!(
        "bad handshakes: RSS {rss_before} KiB before, {rss_after} KiB after, {threads} threads"
    );
    assert!(rss_after < rss_before + 50 * 1024);
    ctl.assert_healthy(&[]);
    // Every bad connection above was counted: 11 + 5 + 2 garbage, 2 bad message 1s, the
    // replay, 300 half-open, and the 3 sessions that broke after a good handshake are not
    // handshake failures.
    let failed = ctl.stop_and_count("handshakes_failed");
    eprintln!("bad handshakes: the controller counted {failed} failed handshakes");
    assert!(failed >= 11 + 5 + 2 + 2 + 1 + 300, "{failed}");
}

fn assert_status(result: Result<impl std::fmt::Debug, Status>, code: Code, what: &str) -> Status {
    let status = result.expect_err(what);
    assert_eq!(status.code(), code, "{what}: {status:?}");
    assert!(
        !status.message().is_empty() && status.message().len() < 1024,
        "{what}: a short message that says why, not {} bytes",
        status.message().len()
    );
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_statuses() {
    let mut ctl = Controller::start().await;
    let machine = PrivateKey::generate();
    let channel = ctl.channel_as(&machine).await;
    let mut control = ControlServiceClient::new(channel.clone());
    let mut admin = AdminServiceClient::new(ctl.channel().await);
    let auth_key = ctl.auth_key(&mut admin).await;

    // Calls that need a registration, before it.
    assert_status(
        control
            .report_endpoints(v1::ReportEndpointsRequest::default())
            .await,
        Code::Unauthenticated,
        "ReportEndpoints before Register",
    );
    assert_status(
        control
            .ack_netmap(v1::AckNetmapRequest { version: 1 })
            .await,
        Code::Unauthenticated,
        "AckNetmap before Register",
    );
    assert_status(
        control
            .watch_netmap(v1::WatchNetmapRequest::default())
            .await
            .map(|_| ()),
        Code::Unauthenticated,
        "WatchNetmap before Register",
    );

    // Register, malformed.
    let mut short_key = register_request(&auth_key, "alpha");
    short_key.node_key.truncate(31);
    let status = assert_status(
        control.register(short_key).await,
        Code::InvalidArgument,
        "a 31-byte node key",
    );
    assert!(status.message().contains("node_key"), "{status:?}");
    assert_status(
        control.register(register_request(&auth_key, "")).await,
        Code::InvalidArgument,
        "an empty node name",
    );
    assert_status(
        control
            .register(register_request(&auth_key, "Alpha ../../etc"))
            .await,
        Code::InvalidArgument,
        "a name that cannot be a node name",
    );
    let status = assert_status(
        control.register(register_request(&auth_key, "zulu")).await,
        Code::PermissionDenied,
        "a name not in network.kdl",
    );
    assert!(
        status.message().contains("not in network.kdl"),
        "{status:?}"
    );
    let huge = "a".repeat(1 << 20);
    assert_status(
        control.register(register_request(&auth_key, &huge)).await,
        Code::InvalidArgument,
        "a 1 MB node name",
    );
    // Larger than the server decodes: refused by the gRPC layer, the connection survives.
    let too_big = control
        .register(register_request(&auth_key, &"b".repeat(5 << 20)))
        .await
        .expect_err("a 5 MB request");
    eprintln!("a 5 MB Register: {:?}", too_big.code());
    // A wrong auth key is refused without being repeated.
    let secret = format!(
        "cvlan-auth-00000000deadbeef-{}",
        "c0ffee".repeat(10) + "abcd"
    );
    let status = assert_status(
        control.register(register_request(&secret, "alpha")).await,
        Code::PermissionDenied,
        "an unknown auth key",
    );
    assert!(!status.message().contains("c0ffee"), "{status:?}");
    // A wrong API key likewise.
    let mut request = Request::new(v1::ListNodesRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    let status = assert_status(
        admin.list_nodes(request).await,
        Code::Unauthenticated,
        "an unknown API key",
    );
    assert!(!status.message().contains("c0ffee"), "{status:?}");

    // The same connection still registers for real, and then refuses bad reports.
    let registered = control
        .register(register_request(&auth_key, "alpha"))
        .await
        .unwrap()
        .into_inner();
    assert!(registered.created);
    let endpoint = |address: &str| v1::NodeEndpoint {
        address: address.to_owned(),
        ..Default::default()
    };
    let status = assert_status(
        control
            .report_endpoints(v1::ReportEndpointsRequest {
                endpoints: vec![endpoint("not an endpoint")],
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "a garbage endpoint",
    );
    assert!(status.message().contains("endpoints"), "{status:?}");
    assert_status(
        control
            .report_endpoints(v1::ReportEndpointsRequest {
                endpoints: (0..1000)
                    .map(|i| endpoint(&format!("192.0.2.1:{}", 1000 + i)))
                    .collect(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "a thousand endpoints",
    );
    control
        .report_endpoints(v1::ReportEndpointsRequest {
            endpoints: vec![endpoint("192.0.2.1:51820")],
            ..Default::default()
        })
        .await
        .unwrap();
    // Another machine may not take the name.
    let mut other = ControlServiceClient::new(ctl.channel().await);
    let fresh = ctl.auth_key(&mut admin).await;
    assert_status(
        other.register(register_request(&fresh, "alpha")).await,
        Code::PermissionDenied,
        "a name another machine holds",
    );
    assert!(ctl.good_call().await < Duration::from_secs(1));
    ctl.assert_healthy(&["c0ffeec0ffee", &auth_key, &fresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_leaves_the_controller_responsive_and_bounded() {
    const CALLS: usize = 2_000;
    const CONNECTIONS: usize = 4;
    const WORKERS_PER_CONNECTION: usize = 16;
    const FRESH_CONNECTIONS: usize = 200;
    let ctl = Controller::start().await;
    // Warm up, so the baseline includes what any serving controller holds.
    ctl.good_call().await;
    let (rss_before, threads_before) = ctl.memory();
    let ctl = Arc::new(ctl);

    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (ctl, done) = (ctl.clone(), done.clone());
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut probes = 0;
            let mut admin = AdminServiceClient::new(ctl.channel().await);
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answered = tokio::time::timeout(
                    Duration::from_secs(5),
                    admin.list_nodes(ctl.authed(v1::ListNodesRequest::default())),
                )
                .await;
                assert!(matches!(answered, Ok(Ok(_))), "{answered:?}");
                worst = worst.max(started.elapsed());
                probes += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (worst, probes)
        })
    };

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    let per_worker = (CALLS - FRESH_CONNECTIONS).div_ceil(CONNECTIONS * WORKERS_PER_CONNECTION);
    for _ in 0..CONNECTIONS {
        let channel = ctl.channel().await;
        for w in 0..WORKERS_PER_CONNECTION {
            let mut control = ControlServiceClient::new(channel.clone());
            workers.spawn(async move {
                let mut refused = 0;
                for i in 0..per_worker {
                    // Well-formed keys with an unknown id, and plain garbage.
                    let key = if (i + w) % 2 == 0 {
                        format!(
                            "cvlan-auth-{:016x}-{}",
                            rand::thread_rng().r#gen::<u64>(),
                            "f1".repeat(32)
                        )
                    } else {
                        "not-a-key-flood".repeat(4)
                    };
                    let status = control
                        .register(register_request(&key, "bravo"))
                        .await
                        .unwrap_err();
                    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                    refused += 1;
                }
                refused
            });
        }
    }
    // Registrations each on a fresh connection (a new machine key and handshake).
    for _ in 0..8 {
        let ctl = ctl.clone();
        workers.spawn(async move {
            let mut refused = 0;
            for _ in 0..FRESH_CONNECTIONS / 8 {
                let mut control = ControlServiceClient::new(ctl.channel().await);
                let status = control
                    .register(register_request("flood", "carol"))
                    .await
                    .unwrap_err();
                assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
                refused += 1;
            }
            refused
        });
    }
    let mut refused = 0;
    while let Some(n) = workers.join_next().await {
        refused += n.unwrap();
    }
    let took = started.elapsed();
    let (rss_peak, threads_peak) = ctl.memory();
    done.store(true, Ordering::Relaxed);
    let (worst, probes) = probe.await.unwrap();
    let after = ctl.good_call().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_after, threads_after) = ctl.memory();
    eprintln!(
        "flood: {refused} registrations refused in {took:?} ({:.0}/s); {probes} probes, \
         the slowest {worst:?}; a good call after {after:?}; \
         RSS {rss_before} KiB before, {rss_peak} KiB at the end, {rss_after} KiB 1 s later; \
         threads {threads_before} / {threads_peak} / {threads_after}",
        refused as f64 / took.as_secs_f64()
    );
    assert_eq!(
        refused,
        per_worker * CONNECTIONS * WORKERS_PER_CONNECTION + FRESH_CONNECTIONS
    );
    assert!(
        worst < Duration::from_secs(1),
        "a good call waited {worst:?}"
    );
    assert!(after < Duration::from_secs(1));
    assert!(
        rss_peak.max(rss_after) < rss_before + 50 * 1024,
        "RSS grew from {rss_before} KiB to {rss_peak} KiB"
    );
    let mut ctl = Arc::into_inner(ctl).unwrap();
    ctl.assert_healthy(&["f1f1f1f1f1f1", "not-a-key-flood"]);
    assert_eq!(ctl.stop_and_count("registrations_refused"), refused as u64);
}

/// A connection whose reading can be stopped, as a client that stops reading its socket:
/// while paused, nothing is read from the kernel; [`Pausable::cut`] ends it.
struct Pausable {
    inner: NoiseStream<TcpStream>,
    control: Arc<PauseControl>,
}

#[derive(Default)]
struct PauseControl {
    paused: AtomicBool,
    cut: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl PauseControl {
    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl AsyncRead for Pausable {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.control.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionAborted.into()));
        }
        if this.control.paused.load(Ordering::SeqCst) {
            *this.control.waker.lock().unwrap() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pausable {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.control.cut.load(Ordering::SeqCst) {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A channel over one [`Pausable`] connection with small HTTP/2 windows, so the server soon
/// has nothing it may send.
async fn pausable_channel(ctl: &Controller, machine: &PrivateKey) -> (Channel, Arc<PauseControl>) {
    let stream = noise::dial(&ctl.addr, machine, &ctl.key).await.unwrap();
    let control = Arc::new(PauseControl::default());
    let slot = Arc::new(Mutex::new(Some(Pausable {
        inner: stream,
        control: control.clone(),
    })));
    let connector = tower::service_fn(move |_| {
        let taken = slot.lock().unwrap().take();
        async move {
            taken
                .map(TokioIo::new)
                .ok_or_else(|| std::io::Error::other("this test channel connects once"))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{}", ctl.addr))
        .unwrap()
        .initial_stream_window_size(Some(2048))
        .initial_connection_window_size(Some(2048))
        .http2_adaptive_window(false)
        .connect_with_connector(connector)
        .await
        .unwrap();
    (channel, control)
}

/// The next update on `stream`, skipping keepalives; its revision (0 for a delta that keeps it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_delays_no_one() {
    let mut ctl = Controller::start().await;
    let mut admin = AdminServiceClient::new(ctl.channel().await);

    // alpha: registered for real, streams, and then stops reading its connection.
    let alpha = PrivateKey::generate();
    let (channel, stall) = pausable_channel(&ctl, &alpha).await;
    let mut stalled = ControlServiceClient::new(channel);
    let key = ctl.auth_key(&mut admin).await;
    stalled
        .register(register_request(&key, "alpha"))
        .await
        .unwrap();
    let mut stalled_stream = stalled
        .watch_netmap(v1::WatchNetmapRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_revision(&mut stalled_stream).await, 1);
    stall.pause();

    // bravo: a good node that reads.
    let bravo = PrivateKey::generate();
    let mut good = ControlServiceClient::new(ctl.channel_as(&bravo).await);
    let key = ctl.auth_key(&mut admin).await;
    good.register(register_request(&key, "bravo"))
        .await
        .unwrap();
    let mut good_stream = good
        .watch_netmap(v1::WatchNetmapRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut revision = next_revision(&mut good_stream).await;
    assert_eq!(revision, 1);
    let (rss_before, threads_before) = ctl.memory();

    // Revisions that each add twenty nodes: deltas alpha cannot take.
    let mut extra = String::new();
    let mut slowest = Duration::ZERO;
    for round in 0..12 {
        for i in 0..20 {
            let n = round * 20 + i;
            extra.push_str(&format!(
                "node \"extra-{n}\" {{ address \"100.64.{}.{}\"; }}\n",
                1 + n / 200,
                10 + n % 200
            ));
        }
        let started = Instant::now();
        let applied = ctl
            .apply(&mut admin, network(ctl.port, &ctl.key.to_string(), &extra))
            .await;
        while revision != applied {
            let got = next_revision(&mut good_stream).await;
            if got != 0 {
                revision = got;
            }
        }
        slowest = slowest.max(started.elapsed());
    }
    let (rss_stalled, threads_stalled) = ctl.memory();
    assert_eq!(
        ctl.node_status(&mut admin, "alpha").await,
        v1::NodeStatus::Online as i32,
        "alpha's stream is held while it does not read"
    );

    // alpha's connection goes: its stream task ends, alpha goes offline.
    stall.cut();
    drop(stalled_stream);
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctl.node_status(&mut admin, "alpha").await != v1::NodeStatus::Offline as i32 {
        assert!(
            Instant::now() < deadline,
            "alpha stayed online after its connection went"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // bravo still gets what follows.
    let applied = ctl
        .apply(&mut admin, network(ctl.port, &ctl.key.to_string(), ""))
        .await;
    let started = Instant::now();
    while revision != applied {
        let got = next_revision(&mut good_stream).await;
        if got != 0 {
            revision = got;
        }
    }
    let last = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_after, threads_after) = ctl.memory();
    eprintln!(
        "stalled reader: bravo's slowest update {slowest:?} (apply to delivery), {last:?} \
         after alpha left; RSS {rss_before} KiB before, {rss_stalled} KiB while stalled, \
         {rss_after} KiB after; threads {threads_before} / {threads_stalled} / {threads_after}"
    );
    assert!(slowest < Duration::from_secs(2), "bravo waited {slowest:?}");
    assert!(last < Duration::from_secs(2));
    assert!(rss_stalled.max(rss_after) < rss_before + 50 * 1024);
    assert!(ctl.good_call().await < Duration::from_secs(1));
    ctl.assert_healthy(&[]);
}
