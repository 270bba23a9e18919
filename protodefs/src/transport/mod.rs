//! How the APIs of `v1` travel. Two transports: [`unix`], the local API as gRPC over a Unix
//! socket between a daemon and the clients on its host; and [`noise`], the control and admin
//! APIs as gRPC over a Noise IK session over TCP between the controller and the nodes and
//! cvlanctl that dial it.

pub mod noise;
pub mod unix;
