//! How the APIs of `v1` travel. Today one transport: [`unix`], the local API as gRPC over a
//! Unix socket between a daemon and the clients on its host. The controller's transport
//! (Noise over TCP) will sit beside it.

pub mod unix;
