//! `Reconnecting`: a connection to one of several targets that is reopened after it fails, and
//! the `TargetPolicy` that decides which target comes next. `RoundRobin` (try the next target
//! after a failure) is the only policy today; a leader-aware policy (follow a redirect in an
//! error reply, ask a node who leads) implements the same trait.

use super::connection::{ConnectOptions, Connection};
use super::error::ClientError;

/// Chooses which target to connect to.
pub trait TargetPolicy: Send {
    /// The target to try after target `failed` failed with `error`.
    fn after_failure(&mut self, targets: &[String], failed: usize, error: &ClientError) -> usize;

    /// Called with every error reply received from target `current`. Returning `Some(target)`
    /// drops the connection and makes the next connection go to `target` (a redirect to the
    /// leader, say). The default ignores error replies.
    fn after_error_reply(
        &mut self,
        _targets: &[String],
        _current: usize,
        _reply: &str,
    ) -> Option<usize> {
        None
    }
}

/// After a failure, the next target in the list, wrapping around.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

impl TargetPolicy for RoundRobin {
    fn after_failure(&mut self, targets: &[String], failed: usize, _error: &ClientError) -> usize {
        (failed + 1) % targets.len().max(1)
    }
}

/// A connection that is opened lazily and reopened (to the target the policy picks) after it
/// fails.
pub struct Reconnecting {
    targets: Vec<String>,
    options: ConnectOptions,
    policy: Box<dyn TargetPolicy>,
    current: usize,
    connection: Option<Connection>,
    /// Connections opened after the first one.
    reconnects: u64,
    opened: u64,
}

impl Reconnecting {
    /// Starts with the first target; connects on first use. `targets` must not be empty.
    pub fn new(
        targets: Vec<String>,
        options: ConnectOptions,
        policy: Box<dyn TargetPolicy>,
    ) -> Self {
        assert!(!targets.is_empty(), "at least one target");
        Self {
            targets,
            options,
            policy,
            current: 0,
            connection: None,
            reconnects: 0,
            opened: 0,
        }
    }

    /// The target in use, or tried next.
    pub fn target(&self) -> &str {
        &self.targets[self.current]
    }

    /// How many times a connection was opened again after the first.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// How many targets there are to cycle through.
    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// The open connection, connecting to the current target if there is none. One attempt: on
    /// failure the policy has already picked the target of the next call.
    pub async fn connection(&mut self) -> Result<&mut Connection, ClientError> {
        if self.connection.is_none() {
            match Connection::connect(&self.targets[self.current], &self.options).await {
                Ok(connection) => {
                    if self.opened > 0 {
                        self.reconnects += 1;
                    }
                    self.opened += 1;
                    self.connection = Some(connection);
                }
                Err(error) => {
                    self.failed(&error);
                    return Err(error);
                }
            }
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// Drops the connection after `error`; the next [`Reconnecting::connection`] goes to the
    /// target the policy picks.
    pub fn failed(&mut self, error: &ClientError) {
        self.connection = None;
        self.current = self
            .policy
            .after_failure(&self.targets, self.current, error)
            .min(self.targets.len() - 1);
    }

    /// Shows an error reply to the policy; true if it switched targets (the connection is then
    /// dropped, and replies still in flight on it are lost).
    pub fn error_reply(&mut self, reply: &str) -> bool {
        match self
            .policy
            .after_error_reply(&self.targets, self.current, reply)
        {
            Some(next) => {
                self.connection = None;
                self.current = next.min(self.targets.len() - 1);
                true
            }
            None => false,
        }
    }
}
