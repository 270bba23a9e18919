//! cvlan-ipsec: sans-IO IKEv2 (RFC 7296) and ESP-in-UDP (RFC 4303, RFC 3948).
//!
//! Nothing here opens a socket, reads a clock or owns a random number generator: time and
//! randomness are passed in, datagrams go in through `handle_datagram` and come out of
//! `poll_transmit`, and what happened comes out of `poll_event`.

pub mod crypto;
pub mod esp;
pub mod transforms;
pub mod ts;
pub mod wire;
