//! DNS for overlay names: the node's resolver answers `<node>.<domain>` and
//! `<vrouter>.<domain>` (A, AAAA) and PTR for overlay addresses, for itself and the peers it
//! may see, and refuses everything else. [`zone`] builds the records from a netmap and
//! [`answer`] answers one query (both pure); [`server`] holds the UDP and TCP sockets;
//! [`split`] tells systemd-resolved to route the domain here. [`Dns`] is what a daemon owns:
//! fed every applied netmap, it swaps the zone in whole, (re)binds when the address changes,
//! and publishes `dns.*` events; a port it cannot bind is an error event, never the daemon's
//! end. [`DnsStatus`] is what the local API reads.

pub mod answer;
pub mod server;
pub mod split;
pub mod zone;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use cvlan_core::netmap::NetMap;

use crate::events::{EventBus, EventLevel};
use server::{Counts, Listener, Serving};
use split::HostDns;
use zone::Zone;

/// The resolver's port when `dns listen=` does not say.
pub const DEFAULT_PORT: u16 = 53;

/// What the resolver is doing, as `cvlanctl dns status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The network's domain; `None` when the network has no `dns domain=` (no resolver).
    pub domain: Option<String>,
    /// Where it answers (or would: see `error`).
    pub listen: Option<SocketAddr>,
    /// True while the sockets are bound.
    pub serving: bool,
    /// Names and pointers in the zone.
    pub records: usize,
    /// Why it does not serve, when it should.
    pub error: Option<String>,
    /// What the host's resolver was told.
    pub host: HostDns,
    /// Queries seen.
    pub counts: Counts,
}

/// The resolver's state shared with the local API.
#[derive(Debug)]
pub struct DnsStatus {
    serving: Arc<Serving>,
    report: RwLock<Report>,
}

impl DnsStatus {
    /// The report now, with the current counts.
    pub fn report(&self) -> Report {
        let mut report = self
            .report
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        report.counts = self.serving.counters.read();
        report
    }

    fn update(&self, change: impl FnOnce(&mut Report)) {
        change(
            &mut self
                .report
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
}

/// A daemon's resolver: owned by its reconciler, fed each applied netmap.
#[derive(Debug)]
pub struct Dns {
    configured: Option<SocketAddr>,
    link: String,
    events: Arc<EventBus>,
    status: Arc<DnsStatus>,
    /// The bound sockets, with the address they were asked for (port 0 binds any port).
    listener: Option<(SocketAddr, Listener)>,
}

impl Dns {
    /// A resolver that will answer at `configured` (`dns listen=`; else the node's first
    /// overlay address, port 53), routed to through the TUN `link`; nothing runs until the
    /// first netmap.
    pub fn new(configured: Option<SocketAddr>, link: &str, events: Arc<EventBus>) -> Self {
        let status = DnsStatus {
            serving: Arc::new(Serving::default()),
            report: RwLock::new(Report {
                domain: None,
                listen: None,
                serving: false,
                records: 0,
                error: None,
                host: HostDns::Off,
                counts: Counts::default(),
            }),
        };
        Self {
            configured,
            link: link.to_owned(),
            events,
            status: Arc::new(status),
            listener: None,
        }
    }

    /// The state the local API reads.
    pub fn status(&self) -> Arc<DnsStatus> {
        self.status.clone()
    }

    /// Serves the names of `map` from now on: the zone is swapped in whole, the sockets are
    /// (re)bound when the address changed, were not bound yet, or `restarted` says the TUN
    /// they live on was brought up again; the host is told when that or the domain changed.
    pub async fn apply(&mut self, map: &NetMap, restarted: bool) {
        let zone = match Zone::from_netmap(map) {
            Ok(Some(zone)) => zone,
            Ok(None) => return self.off().await,
            Err(e) => {
                self.fail(None, format!("cannot serve this netmap's names: {e}"));
                return;
            }
        };
        let domain = zone.domain().to_ascii().trim_end_matches('.').to_owned();
        let records = zone.record_count();
        let Some(listen) = self.configured.or_else(|| default_listen(map)) else {
            self.fail(
                None,
                "this node has no overlay address to answer on".to_owned(),
            );
            return;
        };
        self.status.serving.zone.store(Some(Arc::new(zone)));
        let mut tell_host = false;
        self.status.update(|r| {
            tell_host = r.domain.as_deref() != Some(domain.as_str());
            r.domain = Some(domain.clone());
            r.records = records;
        });
        let requested = self.listener.as_ref().map(|(requested, _)| *requested);
        if requested != Some(listen) || restarted {
            tell_host = true;
            if let Some((_, old)) = self.listener.take() {
                old.stop().await;
            }
            match Listener::bind(listen, self.status.serving.clone()).await {
                Ok(listener) => {
                    let address = listener.address();
                    self.listener = Some((listen, listener));
                    self.status.update(|r| {
                        r.listen = Some(address);
                        r.serving = true;
                        r.error = None;
                    });
                    self.events.publish(
                        "dns.started",
                        EventLevel::Info,
                        format!("answering for {domain} on {address} (UDP and TCP)"),
                        [
                            ("listen", address.to_string()),
                            ("domain", domain.clone()),
                            ("records", records.to_string()),
                        ],
                    );
                }
                Err(e) => {
                    let message = format!(
                        "cannot answer for {domain} on {listen}: {e}{}; names do not resolve, the mesh keeps running",
                        if e.kind() == std::io::ErrorKind::AddrInUse {
                            " (another resolver holds the port: set `dns listen=` in cvland.kdl)"
                        } else {
                            ""
                        }
                    );
                    self.fail(Some(listen), message);
                    return;
                }
            }
        }
        let Some(address) = self.listener.as_ref().map(|(_, l)| l.address()) else {
            return;
        };
        if !tell_host {
            return;
        }
        let link = self.link.clone();
        let host = tokio::task::spawn_blocking(move || split::configure(&link, address, &domain))
            .await
            .unwrap_or_else(|e| HostDns::Failed {
                error: e.to_string(),
            });
        if let HostDns::Failed { error } = &host {
            self.events.publish(
                "dns.host-failed",
                EventLevel::Warn,
                format!("systemd-resolved did not take the overlay's domain: {error}"),
                [],
            );
        }
        self.status.update(|r| r.host = host);
    }

    /// Stops answering and reverts the host (the daemon stops).
    pub async fn shutdown(mut self) {
        self.off().await;
    }

    async fn off(&mut self) {
        self.status.serving.zone.store(None);
        let host = self.status.report().host;
        if let Some((_, listener)) = self.listener.take() {
            listener.stop().await;
            self.events
                .publish("dns.stopped", EventLevel::Info, "the resolver stopped", []);
        }
        let _ = tokio::task::spawn_blocking(move || split::revert(&host)).await;
        self.status.update(|r| {
            r.domain = None;
            r.serving = false;
            r.records = 0;
            r.error = None;
            r.host = HostDns::Off;
        });
    }

    fn fail(&self, listen: Option<SocketAddr>, message: String) {
        self.events.publish(
            "dns.failed",
            EventLevel::Error,
            message.clone(),
            listen.map(|l| ("listen", l.to_string())),
        );
        self.status.update(|r| {
            r.listen = listen;
            r.serving = false;
            r.error = Some(message);
        });
    }
}

/// The node's first overlay address, port 53.
fn default_listen(map: &NetMap) -> Option<SocketAddr> {
    let first: IpAddr = *map.node.addresses.first()?;
    Some(SocketAddr::new(first, DEFAULT_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Query, Start};
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};
    use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn query(name: &str) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.id = 42;
        message.add_query(hickory_proto::op::Query::query(
            Name::from_ascii(name).expect("name"),
            RecordType::A,
        ));
        message.to_bytes().expect("encodes")
    }

    async fn udp(to: SocketAddr, packet: &[u8]) -> Message {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        socket.send_to(packet, to).await.expect("send");
        let mut buf = vec![0u8; 1500];
        let len = tokio::time::timeout(std::time::Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .expect("a reply in time")
            .expect("receive");
        Message::from_bytes(&buf[..len]).expect("a DNS reply")
    }

    async fn tcp(to: SocketAddr, packet: &[u8]) -> Message {
        let mut stream = tokio::net::TcpStream::connect(to).await.expect("connect");
        let len = u16::try_from(packet.len()).expect("short");
        stream.write_all(&len.to_be_bytes()).await.expect("write");
        stream.write_all(packet).await.expect("write");
        let len = usize::from(stream.read_u16().await.expect("length"));
        let mut buf = vec![0u8; len];
        stream.read_exact(&mut buf).await.expect("reply");
        Message::from_bytes(&buf).expect("a DNS reply")
    }

    fn kinds(events: &EventBus) -> Vec<String> {
        let all = Query {
            start: Start::Last(100),
            kinds: Vec::new(),
            follow: false,
        };
        events
            .subscribe(&all)
            .replay
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[tokio::test]
    async fn serves_udp_and_tcp_swaps_the_zone_per_apply_and_counts_garbage() {
        let events = Arc::new(EventBus::default());
        let mut dns = Dns::new("127.0.0.1:0".parse().ok(), "cvl0", events.clone());
        let status = dns.status();
        dns.apply(&zone::tests::map_of("alpha", Some("corp.cvlan")), false)
            .await;
        let report = status.report();
        assert!(report.serving, "{report:?}");
        assert_eq!(report.domain.as_deref(), Some("corp.cvlan"));
        assert_eq!(report.records, 6);
        assert!(matches!(
            report.host,
            HostDns::Manual { .. } | HostDns::Resolved { .. } | HostDns::Failed { .. }
        ));
        let at = report.listen.expect("an address");
        assert_ne!(at.port(), 0);
        assert!(kinds(&events).contains(&"dns.started".to_owned()));

        let reply = udp(at, &query("bravo.corp.cvlan.")).await;
        assert_eq!(reply.metadata.id, 42);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        let addresses: Vec<RData> = reply.answers.iter().map(|r| r.data.clone()).collect();
        assert_eq!(
            addresses,
            [RData::A(hickory_proto::rr::rdata::A(
                [100, 64, 0, 2].into()
            ))]
        );
        let reply = tcp(at, &query("example.com.")).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::Refused);

        // charlie's netmap: charlie sees nobody, so bravo is gone after this one apply, and
        // the sockets stay where they are.
        dns.apply(&zone::tests::map_of("charlie", Some("corp.cvlan")), false)
            .await;
        assert_eq!(status.report().listen, Some(at));
        let reply = udp(at, &query("bravo.corp.cvlan.")).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        let reply = tcp(at, &query("charlie.corp.cvlan.")).await;
        assert_eq!(reply.answers.len(), 1);

        // Garbage and an oversized datagram get no reply and are counted; service goes on.
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        socket.send_to(b"garbage", at).await.expect("send");
        socket.send_to(&[0u8; 1400], at).await.expect("send");
        let reply = udp(at, &query("charlie.corp.cvlan.")).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        let counts = status.report().counts;
        assert_eq!((counts.malformed, counts.oversized), (1, 1), "{counts:?}");
        assert_eq!(counts.nxdomain, 1);
        assert_eq!(counts.refused, 1);

        // Without a domain, no resolver runs.
        dns.apply(&zone::tests::map_of("charlie", None), false)
            .await;
        let report = status.report();
        assert!(!report.serving && report.domain.is_none(), "{report:?}");
        assert!(kinds(&events).contains(&"dns.stopped".to_owned()));
    }

    #[tokio::test]
    async fn a_taken_port_is_an_error_event_and_status_not_a_crash() {
        let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let at = taken.local_addr().expect("address");
        let events = Arc::new(EventBus::default());
        let mut dns = Dns::new(Some(at), "cvl0", events.clone());
        dns.apply(&zone::tests::map_of("alpha", Some("corp.cvlan")), false)
            .await;
        let report = dns.status().report();
        assert!(!report.serving);
        assert_eq!(report.listen, Some(at));
        let error = report.error.expect("an error");
        assert!(error.contains("another resolver holds the port"), "{error}");
        assert!(error.contains("the mesh keeps running"), "{error}");
        assert!(kinds(&events).contains(&"dns.failed".to_owned()));
        // Freed, the next apply binds.
        drop(taken);
        dns.apply(&zone::tests::map_of("alpha", Some("corp.cvlan")), false)
            .await;
        let report = dns.status().report();
        assert!(report.serving && report.error.is_none(), "{report:?}");
        dns.shutdown().await;
    }
}
