//! A small async RESP client: connect (with a timeout, AUTH, optional `HELLO 3`), send pipelines,
//! read any RESP2/RESP3 reply. It owns the reply parser ([`Value`]) and reconnection
//! ([`Reconnecting`], with a pluggable [`TargetPolicy`] for following the leader). It talks to
//! Tandem and to Redis alike; `tandem bench` is built on it.
//!
//! [`Client`] is the one for applications: exactly-once writes through a client session,
//! resent across failovers until a deadline, with a circuit breaker.

mod connection;
mod error;
mod reconnect;
mod retrying;

pub use crate::resp::{
    parse_value, Value, ValueError, BULK_BYTES_MAX, LINE_BYTES_MAX, VALUE_DEPTH_MAX,
};
pub use connection::{Auth, ClientTls, ConnectOptions, Connection};
pub use error::ClientError;
pub use reconnect::{Reconnecting, RoundRobin, TargetPolicy};
pub use retrying::{CallError, Client, ClientOptions, ClientStats, Outcome};
