//! The control transport end to end on a real TCP listener: a `ControlService` handler sees
//! the caller's proven key through `NoisePeer`; a client with the wrong server key fails; 50
//! bad clients (random bytes, truncated handshakes, a recorded handshake replayed) are counted
//! as failed and dropped while a good client keeps working; more idle connections than
//! handshake slots do not keep a good client out.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cvlan_proto::transport::noise::frame::{self, FrameDecoder};
use cvlan_proto::transport::noise::session::Initiator;
use cvlan_proto::transport::noise::{
    self, HandshakeCounters, MAX_HANDSHAKES_IN_FLIGHT, NoiseError, NoiseIncoming, NoisePeer,
};
use cvlan_proto::v1;
use cvlan_proto::v1::control_service_client::ControlServiceClient;
use cvlan_proto::v1::control_service_server::{ControlService, ControlServiceServer};
use cvlan_types::{PrivateKey, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// A controller that admits one machine key and remembers who called.
struct TestController {
    admitted: PublicKey,
    seen: Mutex<Vec<NoisePeer>>,
}

#[tonic::async_trait]
impl ControlService for TestController {
    async fn ack_netmap(
        &self,
        request: Request<v1::AckNetmapRequest>,
    ) -> Result<Response<v1::AckNetmapResponse>, Status> {
        let Some(peer) = request.extensions().get::<NoisePeer>().copied() else {
            return Err(Status::unauthenticated("no Noise peer on the request"));
        };
        self.seen.lock().expect("lock").push(peer);
        if peer.key != self.admitted {
            return Err(Status::permission_denied(format!(
                "machine key {} is not admitted",
                peer.key
            )));
        }
        Ok(Response::new(v1::AckNetmapResponse {}))
    }
}

struct Running {
    addr: SocketAddr,
    server_key: PrivateKey,
    counters: std::sync::Arc<HandshakeCounters>,
    controller: std::sync::Arc<TestController>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

async fn start(admitted: PublicKey) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let server_key = PrivateKey::generate();
    let incoming = NoiseIncoming::new(listener, &server_key);
    let counters = incoming.counters();
    let controller = std::sync::Arc::new(TestController {
        admitted,
        seen: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = ControlServiceServer::from_arc(controller.clone());
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    Running {
        addr,
        server_key,
        counters,
        controller,
        stop,
        task,
    }
}

async fn ack(channel: &Channel, version: u64) -> Result<(), Status> {
    ControlServiceClient::new(channel.clone())
        .ack_netmap(v1::AckNetmapRequest { version })
        .await
        .map(|_| ())
}

/// Waits (up to 15 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A small deterministic generator for the garbage clients.
fn noise_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_be_bytes()[0]
        })
        .collect()
}

/// Reads one frame's body from `tcp`.
async fn read_frame(tcp: &mut TcpStream) -> Vec<u8> {
    let mut decoder = FrameDecoder::new();
    let mut buf = [0u8; 256];
    loop {
        let read = tcp.read(&mut buf).await.expect("read");
        assert!(read > 0, "the server closed before its message");
        let mut input = &buf[..read];
        if let Some(frame) = decoder.decode(&mut input).expect("a frame") {
            return frame;
        }
    }
}

/// Sends `bytes` then waits for the server to drop the connection.
async fn send_and_wait_for_close(mut tcp: TcpStream, bytes: &[u8]) {
    tcp.write_all(bytes).await.expect("write");
    tcp.shutdown().await.expect("shutdown");
    let mut rest = Vec::new();
    // The server answers nothing a client could use; a reset is as good as a close.
    let _ = tcp.read_to_end(&mut rest).await;
}

#[tokio::test]
async fn handlers_see_the_callers_key_and_bad_clients_are_counted_and_dropped() {
    let client_key = PrivateKey::generate();
    let running = start(client_key.public_key()).await;
    let addr = running.addr.to_string();
    let server_pub = running.server_key.public_key();

    // A good client: its call reaches the handler with its key and address.
    let channel = noise::connect(&addr, &client_key, &server_pub)
        .await
        .expect("connect");
    ack(&channel, 1).await.expect("an admitted key is served");
    {
        let seen = running.controller.seen.lock().expect("lock");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].key, client_key.public_key());
        assert!(seen[0].addr.ip().is_loopback());
    }

    // Another machine key gets through the transport and is told apart by the handler.
    let stranger = PrivateKey::generate();
    let other = noise::connect_lazy(&addr, &stranger, &server_pub).expect("lazy channel");
    let refused = ack(&other, 1).await.expect_err("not admitted");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(
        refused
            .message()
            .contains(&stranger.public_key().to_base64())
    );

    // The wrong server key fails at connect, with the handshake's own error.
    let wrong = PrivateKey::generate().public_key();
    let error = noise::connect(&addr, &client_key, &wrong)
        .await
        .expect_err("the wrong server key");
    assert!(matches!(error, NoiseError::ClosedInHandshake), "{error:?}");
    eventually("the wrong-key handshake to count", || {
        running.counters.failed() == 1
    })
    .await;

    // A recorded handshake of the good client: message 1 and its key confirmation.
    let mut tcp = TcpStream::connect(running.addr).await.expect("tcp");
    let mut message_1 = Vec::new();
    let initiator =
        Initiator::start(&client_key, &server_pub, Instant::now(), &mut message_1).expect("start");
    tcp.write_all(&message_1).await.expect("write");
    let message_2 = read_frame(&mut tcp).await;
    let mut confirmation = Vec::new();
    initiator
        .finish(&message_2, Instant::now(), &mut confirmation)
        .expect("a real handshake");
    tcp.write_all(&confirmation).await.expect("write");
    drop(tcp);
    eventually("the recorded handshake to be accepted", || {
        running.counters.accepted() == 3
    })
    .await;

    // 50 bad clients at once, while the good client keeps calling.
    let mut bad = Vec::new();
    for n in 0..50u64 {
        let (target, message_1, confirmation) =
            (running.addr, message_1.clone(), confirmation.clone());
        bad.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(target).await.expect("tcp");
            match n % 5 {
                // Random bytes, of random lengths.
                0 | 1 => {
                    let len = 1 + (noise_bytes(n, 1)[0] as usize) * 2;
                    send_and_wait_for_close(tcp, &noise_bytes(n + 100, len)).await;
                }
                // A well-framed message 1 of random bytes.
                2 => {
                    let mut wire = Vec::new();
                    frame::encode(&noise_bytes(n, 96), &mut wire).expect("frame");
                    send_and_wait_for_close(tcp, &wire).await;
                }
                // A truncated real message 1.
                3 => {
                    let cut = 1 + (n as usize % (message_1.len() - 1));
                    send_and_wait_for_close(tcp, &message_1[..cut]).await;
                }
                // The recorded handshake replayed: message 2 comes, the confirmation fails.
                _ => {
                    tcp.write_all(&message_1).await.expect("write");
                    let _message_2 = read_frame(&mut tcp).await;
                    send_and_wait_for_close(tcp, &confirmation).await;
                }
            }
        }));
    }
    for version in 2..12 {
        ack(&channel, version)
            .await
            .expect("the good client is served");
    }
    for client in bad {
        client.await.expect("bad client task");
    }
    eventually("50 more failed handshakes", || {
        running.counters.failed() == 51
    })
    .await;
    assert_eq!(running.counters.accepted(), 3, "no bad client got through");

    // The server still serves the good client, and still accepts new ones.
    ack(&channel, 12).await.expect("still served");
    let fresh = noise::connect(&addr, &client_key, &server_pub)
        .await
        .expect("a new connection");
    ack(&fresh, 13).await.expect("served");
    eventually("the new connection to count", || {
        running.counters.accepted() == 4
    })
    .await;
    let seen = running.controller.seen.lock().expect("lock").len();
    assert_eq!(seen, 1 + 1 + 10 + 2, "every call reached the handler");

    running.stop.send(()).expect("server running");
    drop((channel, other, fresh));
    tokio::time::timeout(Duration::from_secs(10), running.task)
        .await
        .expect("the server stops")
        .expect("server task")
        .expect("server result");
}

#[tokio::test]
async fn idle_connections_beyond_the_handshake_slots_do_not_keep_a_good_client_out() {
    let client_key = PrivateKey::generate();
    let running = start(client_key.public_key()).await;
    let server_pub = running.server_key.public_key();
    // Every slot taken by a connection that never says a word, and some more.
    let extra = 20;
    let mut idle = Vec::new();
    for _ in 0..MAX_HANDSHAKES_IN_FLIGHT + extra {
        idle.push(TcpStream::connect(running.addr).await.expect("tcp"));
    }
    let started = Instant::now();
    let channel = noise::connect(&running.addr.to_string(), &client_key, &server_pub)
        .await
        .expect("a good client gets a slot");
    ack(&channel, 1).await.expect("and is served");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the good client waited {:?}",
        started.elapsed()
    );
    // The oldest idle ones made room, and count as failed.
    eventually("the evicted handshakes to count", || {
        running.counters.failed() > extra as u64
    })
    .await;
    assert_eq!(running.counters.accepted(), 1);
    drop(idle);
}
