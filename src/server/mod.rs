//! The network server: RESP2/RESP3 over TCP in front of a node.

pub mod resp;
