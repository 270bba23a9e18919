//! The driver over the in-memory backends, with a small test machine: TUN packets leave as
//! datagrams (grouped for GSO, on the socket the machine picks), datagrams come back as TUN
//! packets (more than one batch holds when the machine asks), timers and commands run, and a
//! stop sends what was queued first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cvlan_netio::memory::{MemoryNet, MemoryTun, MemoryTunHost, MemoryUdp};
use cvlan_netio::{
    Control, DatagramBatch, Devices, Flow, IoCounters, Machine, Output, Running, Socket, Transmit,
    TunIo, UdpIo,
};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};

const WAIT: Duration = Duration::from_secs(5);

/// Sends TUN packets to `peer` (from the secondary socket when they start with `2`), writes
/// datagrams to the TUN (`many N` asks for N copies, handed over in rounds), and sends `tick`
/// when its timer fires.
struct Echo {
    peer: SocketAddr,
    copies: Vec<Vec<u8>>,
    tick_at: Option<Instant>,
    ticks: Vec<u8>,
}

enum Cmd {
    Routes(Vec<IpNet>, oneshot::Sender<Vec<IpNet>>),
    Counters(oneshot::Sender<IoCounters>),
    TickIn(Duration),
    SendAndStop(Vec<u8>),
}

impl Machine for Echo {
    type Command = Cmd;

    fn handle_tun_packet(&mut self, _: Instant, packet: &[u8], out: &mut Output) {
        let socket = if packet.first() == Some(&b'2') {
            Socket::Secondary
        } else {
            Socket::Primary
        };
        out.udp(socket).push(self.peer, packet);
    }

    fn handle_datagram(
        &mut self,
        _: Instant,
        _: Socket,
        _: SocketAddr,
        datagram: &mut [u8],
        out: &mut Output,
    ) {
        let many = std::str::from_utf8(datagram)
            .ok()
            .and_then(|text| text.strip_prefix("many "))
            .and_then(|n| n.parse::<u16>().ok());
        match many {
            Some(n) => self.copies.extend((0..n).map(|i| i.to_be_bytes().to_vec())),
            None => assert!(out.tun().push(datagram), "room for one packet per datagram"),
        }
    }

    async fn handle_command<T: TunIo>(
        &mut self,
        now: Instant,
        command: Cmd,
        control: &mut Control<'_, T>,
    ) -> Flow {
        match command {
            Cmd::Routes(routes, reply) => {
                let wanted = cvlan_netio::off_link(control.tun_addresses(), routes);
                control.set_routes(wanted).await.expect("memory routes");
                let _ = reply.send(control.routes().to_vec());
            }
            Cmd::Counters(reply) => {
                let _ = reply.send(control.counters());
            }
            Cmd::TickIn(delay) => self.tick_at = Some(now + delay),
            Cmd::SendAndStop(datagram) => {
                self.ticks = datagram;
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.tick_at
    }

    fn handle_timeout(&mut self, _: Instant) {
        self.tick_at = None;
        self.ticks = b"tick".to_vec();
    }

    fn poll_output(&mut self, _: Instant, out: &mut Output) -> bool {
        if !self.ticks.is_empty() {
            out.udp(Socket::Primary).push(self.peer, &self.ticks);
            self.ticks.clear();
        }
        while let Some(copy) = self.copies.last() {
            if !out.tun().push(copy) {
                return true;
            }
            self.copies.pop();
        }
        false
    }

    fn flushed(&mut self, _: Instant) {}
}

/// A memory socket that records every send.
struct Recording {
    inner: MemoryUdp,
    sends: Arc<Mutex<Vec<Transmit>>>,
}

impl UdpIo for Recording {
    async fn recv(&mut self, batch: &mut DatagramBatch) -> std::io::Result<()> {
        self.inner.recv(batch).await
    }

    async fn send(&mut self, transmit: &Transmit, contents: &[u8]) -> std::io::Result<()> {
        self.sends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(*transmit);
        self.inner.send(transmit, contents).await
    }

    fn max_segments(&self) -> usize {
        self.inner.max_segments()
    }

    fn local_port(&self) -> u16 {
        self.inner.local_port()
    }
}

struct Setup {
    running: Running<Cmd>,
    tun: MemoryTunHost,
    /// The peer's socket on the memory network.
    peer: MemoryUdp,
    /// Sends from the primary socket.
    sends: Arc<Mutex<Vec<Transmit>>>,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// A driver on 10.0.0.1 (primary :4500, secondary :500 when `secondary`), its peer on
/// 10.0.0.2:4500, with `before` already written into its TUN.
async fn start(secondary: bool, before: &[&[u8]]) -> Setup {
    let net = MemoryNet::new();
    let peer = net.bind(addr("10.0.0.2:4500"), 1);
    let (tun, host) = MemoryTun::new(vec!["100.64.0.1/10".parse().expect("net")]);
    for packet in before {
        assert!(host.write(packet));
    }
    let sends = Arc::new(Mutex::new(Vec::new()));
    let primary = Recording {
        inner: net.bind(addr("10.0.0.1:4500"), 64),
        sends: sends.clone(),
    };
    let second = secondary.then(|| Recording {
        inner: net.bind(addr("10.0.0.1:500"), 1),
        sends: Arc::default(),
    });
    let machine = Echo {
        peer: addr("10.0.0.2:4500"),
        copies: Vec::new(),
        tick_at: None,
        ticks: Vec::new(),
    };
    let running = cvlan_netio::spawn("netio-test", move || {
        let devices = Devices {
            tun,
            primary,
            secondary: second,
        };
        Ok::<_, std::io::Error>((machine, devices))
    })
    .await
    .expect("the driver starts");
    assert_eq!(running.local_port(), 4500);
    Setup {
        running,
        tun: host,
        peer,
        sends,
    }
}

/// The next datagram at `socket`, with its sender.
async fn recv(socket: &mut MemoryUdp) -> (SocketAddr, Vec<u8>) {
    let mut batch = DatagramBatch::new(1, 2048);
    tokio::time::timeout(WAIT, socket.recv(&mut batch))
        .await
        .expect("a datagram in time")
        .expect("the network is up");
    let (from, datagram) = batch.datagrams().next().expect("one datagram");
    (from, datagram.to_vec())
}

/// Sends `datagram` from the peer to the driver's primary socket.
async fn send_to_driver(peer: &mut MemoryUdp, datagram: &[u8]) {
    let transmit = Transmit {
        destination: addr("10.0.0.1:4500"),
        size: datagram.len(),
        segment_size: None,
    };
    peer.send(&transmit, datagram).await.expect("send");
}

/// Sends a command that needs no reply.
async fn tell(running: &Running<Cmd>, command: Cmd) {
    running
        .commands()
        .send(command)
        .await
        .expect("the driver runs");
}

async fn ask<R>(running: &Running<Cmd>, command: impl FnOnce(oneshot::Sender<R>) -> Cmd) -> R {
    let (tx, rx) = oneshot::channel();
    tell(running, command(tx)).await;
    rx.await.expect("a reply")
}

#[tokio::test]
async fn tun_packets_leave_in_one_gso_send_and_datagrams_come_back() {
    let packets: [&[u8]; 4] = [b"aaaa", b"bbbb", b"cccc", b"dd"];
    let mut s = start(false, &packets).await;
    for packet in packets {
        let (from, datagram) = recv(&mut s.peer).await;
        assert_eq!((from, &datagram[..]), (addr("10.0.0.1:4500"), packet));
    }
    let sends = s
        .sends
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(
        sends,
        vec![Transmit {
            destination: addr("10.0.0.2:4500"),
            size: 14,
            segment_size: Some(4),
        }]
    );
    send_to_driver(&mut s.peer, b"hello").await;
    let back = tokio::time::timeout(WAIT, s.tun.read())
        .await
        .expect("in time");
    assert_eq!(back.as_deref(), Some(&b"hello"[..]));
    let counters = ask(&s.running, Cmd::Counters).await;
    assert_eq!((counters.tun_in, counters.tun_out), (4, 1));
    assert_eq!((counters.send_errors, counters.io_errors), (0, 0));
    s.running.stop().await.expect("stops");
}

#[tokio::test]
async fn output_larger_than_one_tun_batch_is_written_in_rounds() {
    let mut s = start(false, &[]).await;
    send_to_driver(&mut s.peer, b"many 300").await;
    let mut got = Vec::new();
    while got.len() < 300 {
        let packet = tokio::time::timeout(WAIT, s.tun.read())
            .await
            .expect("in time");
        got.push(packet.expect("the device runs"));
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 300, "every copy once");
    let counters = ask(&s.running, Cmd::Counters).await;
    assert_eq!(counters.tun_out, 300);
    s.running.stop().await.expect("stops");
}

#[tokio::test]
async fn the_secondary_socket_sends_its_own_and_falls_back_to_the_primary() {
    let mut s = start(true, &[b"2nd"]).await;
    assert_eq!(
        recv(&mut s.peer).await,
        (addr("10.0.0.1:500"), b"2nd".to_vec())
    );
    s.running.stop().await.expect("stops");

    let mut s = start(false, &[b"2nd"]).await;
    assert_eq!(
        recv(&mut s.peer).await,
        (addr("10.0.0.1:4500"), b"2nd".to_vec())
    );
    s.running.stop().await.expect("stops");
}

#[tokio::test]
async fn timers_fire_and_routes_skip_on_link_prefixes() {
    let mut s = start(false, &[]).await;
    tell(&s.running, Cmd::TickIn(Duration::from_millis(20))).await;
    assert_eq!(recv(&mut s.peer).await.1, b"tick".to_vec());
    let routes = ask(&s.running, |reply| {
        Cmd::Routes(
            vec![
                "100.64.0.9/32".parse().expect("net"),
                "10.9.0.0/16".parse().expect("net"),
            ],
            reply,
        )
    })
    .await;
    let want: Vec<IpNet> = vec!["10.9.0.0/16".parse().expect("net")];
    assert_eq!((routes, s.tun.routes()), (want.clone(), want));
    s.running.stop().await.expect("stops");
}

#[tokio::test]
async fn a_stopping_command_sends_what_it_queued_and_the_devices_close() {
    let mut s = start(false, &[]).await;
    tell(&s.running, Cmd::SendAndStop(b"bye".to_vec())).await;
    assert_eq!(recv(&mut s.peer).await.1, b"bye".to_vec());
    let closed = tokio::time::timeout(WAIT, s.tun.read())
        .await
        .expect("in time");
    assert_eq!(closed, None, "the TUN closed with the driver");
    tokio::time::timeout(WAIT, s.running.commands().closed())
        .await
        .expect("nothing takes commands any more");
}

#[tokio::test]
async fn dropping_the_handle_stops_the_driver() {
    let Setup {
        running, mut tun, ..
    } = start(false, &[]).await;
    let commands: mpsc::Sender<Cmd> = running.commands().clone();
    drop(running);
    let closed = tokio::time::timeout(WAIT, tun.read())
        .await
        .expect("in time");
    assert_eq!(closed, None);
    tokio::time::timeout(WAIT, commands.closed())
        .await
        .expect("nothing takes commands any more");
}
