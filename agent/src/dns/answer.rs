//! One DNS query in, one reply (or a reason to drop it) out: the resolver's whole protocol
//! logic, pure, so the fuzz target and the tests drive it without sockets. Requests are
//! parsed and replies built with hickory-server's request and response types. Names of the
//! zone are answered authoritatively (A, AAAA, PTR; NXDOMAIN for a name that is not there);
//! every other name is REFUSED: nothing is looked up elsewhere, so the resolver cannot be used
//! for amplification.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hickory_server::zone_handler::MessageResponseBuilder;

use super::zone::{Found, TTL, Zone};

/// The largest query accepted. A query carries one question (a name is at most 255 bytes) and
/// perhaps an OPT record with a cookie; anything longer is dropped unread.
pub const MAX_QUERY: usize = 512;

/// The UDP payload this resolver advertises in its EDNS replies (the DNS flag day size).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Why a packet gets no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Longer than [`MAX_QUERY`].
    Oversized,
    /// Not a DNS message, or a response (never answered: that is how reflection starts).
    Malformed,
}

/// A reply, and the response code it carries (for the counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoded message.
    pub bytes: Vec<u8>,
    /// Its response code.
    pub code: ResponseCode,
}

/// How a query arrived: replies over UDP keep to the payload the client allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A datagram.
    Udp,
    /// A TCP stream (length-prefixed messages).
    Tcp,
}

/// The reply to `packet` from the resolver serving `zone`.
pub fn answer(zone: &Zone, packet: &[u8], transport: Transport) -> Result<Reply, Dropped> {
    if packet.len() > MAX_QUERY {
        return Err(Dropped::Oversized);
    }
    let protocol = match transport {
        Transport::Udp => Protocol::Udp,
        Transport::Tcp => Protocol::Tcp,
    };
    // The source address is not used by the parser; the reply goes back where the packet came.
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let request = Request::from_bytes(packet.to_vec(), unspecified, protocol)
        .map_err(|_| Dropped::Malformed)?;
    if request.metadata.message_type != MessageType::Query {
        return Err(Dropped::Malformed);
    }
    let mut metadata = Metadata::response_from_request(&request.metadata);
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    let edns = request.edns.as_ref().map(|_| &edns);
    let (code, answers, soa) = match (request.metadata.op_code, request.queries.queries()) {
        (OpCode::Query, [query]) if query.query_class() == DNSClass::IN => {
            let found = zone.find(query.name());
            let records = records(found, query.original().name(), query.query_type());
            metadata.authoritative = found != Found::Foreign;
            match found {
                Found::Foreign => (ResponseCode::Refused, Vec::new(), None),
                Found::Missing => (ResponseCode::NXDomain, Vec::new(), Some(soa_of(zone))),
                _ if records.is_empty() => (ResponseCode::NoError, records, Some(soa_of(zone))),
                _ => (ResponseCode::NoError, records, None),
            }
        }
        (OpCode::Query, [_]) => (ResponseCode::Refused, Vec::new(), None),
        (OpCode::Query, _) => (ResponseCode::FormErr, Vec::new(), None),
        _ => (ResponseCode::NotImp, Vec::new(), None),
    };
    metadata.response_code = code;
    let max = match transport {
        Transport::Udp => request.max_payload(),
        Transport::Tcp => u16::MAX,
    };
    let mut builder = MessageResponseBuilder::from_message_request(&request);
    if let Some(edns) = edns {
        builder.edns(edns);
    }
    let response = builder.build(metadata, &answers, [], soa.as_ref(), []);
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max);
    if response.destructive_emit(&mut encoder).is_err() {
        // Too long for the client's buffer: the header alone, truncated, so it retries on TCP.
        bytes.clear();
        metadata.truncation = true;
        let mut builder = MessageResponseBuilder::from_message_request(&request);
        if let Some(edns) = edns {
            builder.edns(edns);
        }
        let mut encoder = BinEncoder::new(&mut bytes);
        builder
            .build_no_records(metadata)
            .destructive_emit(&mut encoder)
            .map_err(|_| Dropped::Malformed)?;
    }
    Ok(Reply { bytes, code })
}

/// The answer records for a question of type `qtype` about `name`, which the zone says is
/// `found`.
fn records(found: Found<'_>, name: &Name, qtype: RecordType) -> Vec<Record> {
    let record = |rdata| Record::from_rdata(name.clone(), TTL, rdata);
    match found {
        Found::Host(addresses) => addresses
            .iter()
            .filter_map(|address| match (address, qtype) {
                (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(RData::A(A(*v4))),
                (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => {
                    Some(RData::AAAA(AAAA(*v6)))
                }
                _ => None,
            })
            .map(record)
            .collect(),
        Found::Pointer(target) if matches!(qtype, RecordType::PTR | RecordType::ANY) => {
            vec![record(RData::PTR(PTR(target.clone())))]
        }
        _ => Vec::new(),
    }
}

/// The zone's SOA, for negative answers (their TTL is how long a miss may be cached).
fn soa_of(zone: &Zone) -> Record {
    let domain = zone.domain().clone();
    let hostmaster = Name::from_ascii("hostmaster")
        .and_then(|h| h.append_domain(&domain))
        .unwrap_or_else(|_| domain.clone());
    let soa = SOA::new(domain.clone(), hostmaster, 1, 3600, 600, 86400, TTL);
    Record::from_rdata(domain, TTL, RData::SOA(soa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};
    use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};

    fn zone() -> Zone {
        let map = crate::dns::zone::tests::map_of("alpha", Some("corp.cvlan"));
        Zone::from_netmap(&map).expect("valid").expect("a zone")
    }

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.id = 7;
        message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        message.to_bytes().expect("encodes")
    }

    fn ask(name: &str, qtype: RecordType) -> Message {
        let reply = answer(&zone(), &query(name, qtype), Transport::Udp).expect("a reply");
        let message = Message::from_bytes(&reply.bytes).expect("a valid reply");
        assert_eq!(message.metadata.response_code, reply.code);
        assert_eq!(message.metadata.id, 7);
        assert!(!message.metadata.recursion_available);
        message
    }

    #[test]
    fn a_name_of_the_domain_gets_its_address_authoritatively() {
        let reply = ask("bravo.corp.cvlan.", RecordType::A);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        let addresses: Vec<_> = reply.answers.iter().map(|r| r.data.clone()).collect();
        assert_eq!(addresses, [RData::A(A("100.64.0.2".parse().expect("ip")))]);
    }

    #[test]
    fn a_pointer_names_the_host() {
        let reply = ask("1.0.64.100.in-addr.arpa.", RecordType::PTR);
        let targets: Vec<_> = reply.answers.iter().map(|r| r.data.clone()).collect();
        let alpha = Name::from_ascii("alpha.corp.cvlan.").expect("name");
        assert_eq!(targets, [RData::PTR(PTR(alpha))]);
    }

    #[test]
    fn misses_are_nxdomain_with_the_soa_and_others_refused() {
        let missing = ask("zulu.corp.cvlan.", RecordType::A);
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert!(missing.metadata.authoritative);
        assert_eq!(
            missing.authorities.len(),
            1,
            "the SOA, for negative caching"
        );
        let nodata = ask("alpha.corp.cvlan.", RecordType::MX);
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        let refused = ask("example.com.", RecordType::A);
        assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
        assert!(!refused.metadata.authoritative);
        assert!(refused.answers.is_empty() && refused.authorities.is_empty());
    }

    #[test]
    fn malformed_oversized_and_response_packets_are_dropped() {
        let zone = zone();
        assert_eq!(
            answer(&zone, &[0u8; 5], Transport::Udp),
            Err(Dropped::Malformed)
        );
        let mut garbage = query("alpha.corp.cvlan.", RecordType::A);
        garbage.truncate(garbage.len() - 3);
        assert_eq!(
            answer(&zone, &garbage, Transport::Tcp),
            Err(Dropped::Malformed)
        );
        assert_eq!(
            answer(&zone, &vec![0u8; MAX_QUERY + 1], Transport::Udp),
            Err(Dropped::Oversized)
        );
        let mut response = Message::query();
        response.metadata.message_type = MessageType::Response;
        let bytes = response.to_bytes().expect("encodes");
        assert_eq!(
            answer(&zone, &bytes, Transport::Udp),
            Err(Dropped::Malformed)
        );
    }
}
