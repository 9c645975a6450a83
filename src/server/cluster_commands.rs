//! Cluster commands on the client port: `READONLY` / `READWRITE` (stale reads on a follower),
//! and `TANDEM STATUS | CHECK | ADD-NODE | REMOVE-NODE | TRANSFER-LEADER | BACKUP | ARCHIVE`,
//! which the `tandem status`, `tandem check` and `tandem cluster` tools send. Status and check
//! answer a JSON bulk string; membership changes run on the leader wherever they are sent.

use bytes::Bytes;

use super::connection::{node_error_reply, Connection, Flow};
use crate::cluster::rpc::AdminRequest;
use crate::cluster::ReadConsistency;
use crate::command::Reply;

impl Connection {
    /// READONLY: this connection's reads may be served by this node even if it is a follower
    /// (bounded staleness). READWRITE: back to linearizable reads.
    pub(crate) async fn read_mode(&mut self, consistency: ReadConsistency) -> Flow {
        self.read_consistency = consistency;
        let name = match consistency {
            ReadConsistency::Stale => "readonly",
            ReadConsistency::Linearizable => "readwrite",
        };
        self.reply(Some(name), Reply::Ok).await
    }

    /// TANDEM BACKUP: builds a snapshot now and replies with the newest snapshot file's bytes
    /// (`tandem backup` verifies them; see src/backup.rs).
    async fn backup_command(&mut self) -> Flow {
        let name = Some("tandem");
        if let Err(e) = self.shared.node.snapshot().await {
            return self.reply(name, node_error_reply(&e)).await;
        }
        let dir = self.shared.node.data_dir().join("snapshots");
        // A newer snapshot may replace the file between listing and reading: list again.
        let read = tokio::task::spawn_blocking(move || {
            let mut last_error = None;
            for _ in 0..3 {
                let newest = match crate::snapshot::list(&dir) {
                    Ok(files) => files.into_iter().next(),
                    Err(e) => return Err(e.to_string()),
                };
                let Some(newest) = newest else {
                    return Err("no snapshot to back up".into());
                };
                match std::fs::read(&newest) {
                    Ok(bytes) => return Ok(bytes),
                    Err(e) => last_error = Some(format!("{}: {e}", newest.display())),
                }
            }
            Err(last_error.unwrap_or_default())
        })
        .await;
        match read {
            Ok(Ok(bytes)) => self.reply(name, Reply::Bulk(Bytes::from(bytes))).await,
            Ok(Err(reason)) => {
                self.error(name, format!("ERR backup failed: {reason}"))
                    .await
            }
            Err(e) => self.error(name, format!("ERR backup failed: {e}")).await,
        }
    }

    /// TANDEM subcommand [arguments]
    pub(crate) async fn tandem_command(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("tandem");
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let cluster = self.shared.node.cluster().clone();
        let node_id = |a: &Bytes| {
            std::str::from_utf8(a)
                .ok()?
                .parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
        };
        match sub.as_str() {
            "session" => return self.session_command(args).await,
            "req" => return self.tagged_request(args.to_vec()).await,
            "outcome" => return self.outcome_command(args).await,
            "backup" if args.len() == 2 => return self.backup_command().await,
            "archive" if args.len() == 2 => {
                // TANDEM ARCHIVE: copy the active WAL segment to the WAL archive now.
                return match self.shared.node.archive_wal().await {
                    Ok(()) => self.reply(name, Reply::Ok).await,
                    Err(e) => self.error(name, format!("ERR archive failed: {e}")).await,
                };
            }
            _ => {}
        }
        let admin = match (sub.as_str(), args.len()) {
            ("status" | "check", 2) => {
                let status = cluster.cluster_status(sub == "check").await;
                let json = serde_json::to_string(&status).unwrap_or_default();
                return self.reply(name, Reply::Bulk(Bytes::from(json))).await;
            }
            ("add-node", 4) => match node_id(&args[2]) {
                Some(node_id) => AdminRequest::AddNode {
                    node_id,
                    peer_addr: String::from_utf8_lossy(&args[3]).into_owned(),
                },
                None => return self.error(name, "ERR node id must be a positive integer").await,
            },
            ("remove-node", 3) => match node_id(&args[2]) {
                Some(node_id) => AdminRequest::RemoveNode { node_id },
                None => return self.error(name, "ERR node id must be a positive integer").await,
            },
            ("transfer-leader", 3) => match node_id(&args[2]) {
                Some(node_id) => AdminRequest::TransferLeader { node_id },
                None => return self.error(name, "ERR node id must be a positive integer").await,
            },
            ("status" | "check" | "add-node" | "remove-node" | "transfer-leader", _) => {
                return self.error(name, format!("ERR wrong number of arguments for 'tandem|{sub}' command")).await
            }
            _ => {
                return self
                    .error(
                        name,
                        format!("ERR unknown subcommand '{sub}'. Try STATUS, CHECK, ADD-NODE, REMOVE-NODE, TRANSFER-LEADER, BACKUP, ARCHIVE, SESSION, REQ, OUTCOME."),
                    )
                    .await
            }
        };
        match cluster.admin(admin).await {
            Ok(text) => self.reply(name, Reply::Simple(text)).await,
            Err(e) => self.reply(name, node_error_reply(&e)).await,
        }
    }
}
