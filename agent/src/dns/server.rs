//! The resolver's sockets: UDP and TCP on one address, each packet handed to the pure
//! [`answer`](super::answer::answer) with the zone of the moment (read lock-free; the
//! reconciler swaps it whole per apply), and counted. Nothing here decides what to answer.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::answer::{Dropped, MAX_QUERY, Transport, answer};
use super::zone::Zone;

/// Tasks reading the one UDP socket (the daemon's runtime has two workers).
const UDP_WORKERS: usize = 2;
/// TCP connections served at once; more are closed on accept.
const MAX_TCP_CONNECTIONS: usize = 64;
/// How long a TCP connection may sit idle or take to send one query.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What the resolver has seen since it started.
#[derive(Debug, Default)]
pub struct Counters {
    answered: AtomicU64,
    nxdomain: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
}

/// A copy of the [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Replies with records or an empty NOERROR.
    pub answered: u64,
    /// NXDOMAIN replies (a name of the domain that does not exist).
    pub nxdomain: u64,
    /// REFUSED replies (a name that is not the resolver's).
    pub refused: u64,
    /// Other replies (FORMERR, NOTIMP).
    pub other: u64,
    /// Packets dropped unanswered: not a DNS query.
    pub malformed: u64,
    /// Packets dropped unanswered: longer than a query can be.
    pub oversized: u64,
}

impl Counters {
    /// The counts now.
    pub fn read(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            answered: get(&self.answered),
            nxdomain: get(&self.nxdomain),
            refused: get(&self.refused),
            other: get(&self.other),
            malformed: get(&self.malformed),
            oversized: get(&self.oversized),
        }
    }

    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The zone served and the counters, shared by the sockets' tasks and the status readers.
#[derive(Debug, Default)]
pub struct Serving {
    /// The zone answered from; `None` answers nothing (every packet is dropped as foreign).
    pub zone: ArcSwapOption<Zone>,
    /// What was seen.
    pub counters: Counters,
}

impl Serving {
    /// The reply to one packet, counted; `None` when it is dropped.
    pub fn reply(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let zone = self.zone.load();
        let c = &self.counters;
        let Some(zone) = zone.as_deref() else {
            c.count(&c.refused);
            return None;
        };
        match answer(zone, packet, transport) {
            Ok(reply) => {
                c.count(match reply.code {
                    ResponseCode::NoError => &c.answered,
                    ResponseCode::NXDomain => &c.nxdomain,
                    ResponseCode::Refused => &c.refused,
                    _ => &c.other,
                });
                Some(reply.bytes)
            }
            Err(dropped) => {
                self.dropped(dropped);
                None
            }
        }
    }

    /// Counts a packet dropped unanswered.
    pub fn dropped(&self, why: Dropped) {
        let c = &self.counters;
        c.count(match why {
            Dropped::Malformed => &c.malformed,
            Dropped::Oversized => &c.oversized,
        });
    }
}

/// A resolver listening on one address; its tasks end when it is dropped.
#[derive(Debug)]
pub struct Listener {
    address: SocketAddr,
    tasks: JoinSet<()>,
}

impl Listener {
    /// Binds UDP and TCP at `address` and serves `serving` there.
    pub async fn bind(address: SocketAddr, serving: Arc<Serving>) -> io::Result<Self> {
        let udp = Arc::new(UdpSocket::bind(address).await?);
        // The TCP port must be the same as the UDP one when UDP's was chosen by the system.
        let tcp = TcpListener::bind(udp.local_addr()?).await?;
        let address = udp.local_addr()?;
        let mut tasks = JoinSet::new();
        for _ in 0..UDP_WORKERS {
            tasks.spawn(serve_udp(udp.clone(), serving.clone()));
        }
        tasks.spawn(serve_tcp(tcp, serving));
        Ok(Self { address, tasks })
    }

    /// Where it listens (with the port the system chose when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, serving: Arc<Serving>) {
    // One byte more than a query may have: a longer datagram shows as oversized.
    let mut buf = vec![0u8; MAX_QUERY + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors for earlier replies surface here; the socket stays usable.
                tracing::debug!(error = %e, "dns: receive failed");
                continue;
            }
        };
        let Some(reply) = serving.reply(&buf[..len], Transport::Udp) else {
            continue;
        };
        if let Err(e) = socket.send_to(&reply, from).await {
            tracing::debug!(error = %e, %from, "dns: cannot send a reply");
        }
    }
}

async fn serve_tcp(listener: TcpListener, serving: Arc<Serving>) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "dns: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let serving = serving.clone();
        connections.spawn(async move {
            let _slot = slot;
            let _ = serve_connection(stream, &serving).await;
        });
    }
}

/// Length-prefixed queries on one connection until the client closes it, idles, sends a
/// length longer than a query may be, or an error.
async fn serve_connection(mut stream: TcpStream, serving: &Serving) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_QUERY];
    loop {
        let Ok(len) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else {
            return Ok(());
        };
        let len = usize::from(len?);
        if len > MAX_QUERY {
            // Reading it to skip it would let one client tie up the connection: close it.
            serving.dropped(Dropped::Oversized);
            return Ok(());
        }
        let query = &mut buf[..len];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(query)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        let Some(reply) = serving.reply(query, Transport::Tcp) else {
            continue;
        };
        let prefix = u16::try_from(reply.len()).unwrap_or(u16::MAX).to_be_bytes();
        stream.write_all(&prefix).await?;
        stream.write_all(&reply).await?;
    }
}
