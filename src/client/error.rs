//! `ClientError`: why a connection failed. An error *reply* is not here: it is a
//! [`super::Value::Error`], one command's answer on a healthy connection.

use crate::resp::ValueError;

/// Why a connection could not be opened or can no longer be used. After any of these the
/// connection is dropped: replies in flight are lost and could not be matched to commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("connecting to {target} timed out after {timeout_ms} ms")]
    ConnectTimeout { target: String, timeout_ms: u64 },
    #[error("{target}: {source}")]
    Io {
        target: String,
        source: std::io::Error,
    },
    #[error("{target}: no reply within {timeout_ms} ms")]
    ReplyTimeout { target: String, timeout_ms: u64 },
    #[error("{target} closed the connection")]
    Closed { target: String },
    #[error("{target} sent a malformed reply: {source}")]
    Malformed { target: String, source: ValueError },
    /// A reply arrived with no command waiting for it.
    #[error("{target} sent a reply to no command")]
    UnexpectedReply { target: String },
    /// AUTH or HELLO was answered with an error (wrong password, unknown user, no RESP3).
    #[error("{target} refused the handshake: {reply}")]
    Handshake { target: String, reply: String },
}

impl ClientError {
    /// A short class for counting: `io`, `timeout`, `protocol` or `handshake`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect { .. } | ClientError::Io { .. } | ClientError::Closed { .. } => {
                "io"
            }
            ClientError::ConnectTimeout { .. } | ClientError::ReplyTimeout { .. } => "timeout",
            ClientError::Malformed { .. } | ClientError::UnexpectedReply { .. } => "protocol",
            ClientError::Handshake { .. } => "handshake",
        }
    }
}
