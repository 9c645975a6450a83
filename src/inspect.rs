//! `tandem inspect DIR`: the operator's view of a data directory — WAL segments, records,
//! metadata and snapshots — with every checksum verified and nothing changed (unless the
//! documented `--truncate-at` repair is asked for).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::raft::{LogStoreMeta, RECORD_KIND_ENTRY};
use crate::snapshot;
use crate::wal::{self, RealFs};

/// The printed report and how many problems it found.
#[derive(Debug)]
pub struct InspectOutput {
    pub text: String,
    pub problems: usize,
}

/// Why inspect could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    #[error("{path} is neither a Tandem data directory (with wal/) nor a WAL directory")]
    NotADataDir { path: PathBuf },
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    #[error("--truncate-at takes <segment>:<offset>, got {given:?}")]
    BadTruncateAt { given: String },
}

/// Resolves `dir` to (wal dir, snapshot dir if any).
fn layout(dir: &Path) -> Result<(PathBuf, Option<PathBuf>), InspectError> {
    if dir.join("wal").is_dir() {
        let snapshots = dir.join("snapshots");
        return Ok((dir.join("wal"), snapshots.is_dir().then_some(snapshots)));
    }
    let has_segments = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        })
        .unwrap_or(false);
    if has_segments {
        return Ok((dir.to_path_buf(), None));
    }
    Err(InspectError::NotADataDir {
        path: dir.to_path_buf(),
    })
}

/// Lists and verifies everything in `dir`; `records` also lists each record.
pub fn inspect(dir: &Path, records: bool) -> Result<InspectOutput, InspectError> {
    let (wal_dir, snapshot_dir) = layout(dir)?;
    let mut out = String::new();
    let mut problems = 0usize;
    let report = wal::inspect(&wal_dir)?;
    let _ = writeln!(out, "WAL {}", wal_dir.display());
    let _ = writeln!(
        out,
        "  {:<32} {:>10} {:>10} {:>9} {:>12} {:>12}  status",
        "segment", "first", "last", "records", "bytes used", "file bytes"
    );
    for seg in &report.segments {
        let status = if seg.problems.is_empty() {
            "ok".to_string()
        } else {
            problems += seg.problems.len();
            seg.problems.join("; ")
        };
        let _ = writeln!(
            out,
            "  {:<32} {:>10} {:>10} {:>9} {:>12} {:>12}  {}{}",
            seg.name,
            seg.first_index.map_or("-".into(), |i| i.to_string()),
            seg.last_index.map_or("-".into(), |i| i.to_string()),
            seg.records,
            seg.bytes_used,
            seg.file_bytes,
            if seg.reset { "(starts a new log) " } else { "" },
            status
        );
    }
    for name in &report.obsolete {
        let _ = writeln!(
            out,
            "  {name}: obsolete (left by an interrupted truncate or purge; open deletes it)"
        );
    }
    if let Some(torn) = &report.torn_tail {
        let _ = writeln!(
            out,
            "  torn tail in {} at offset {} ({} bytes): an unfinished write; open truncates it (no acknowledged data is lost)",
            torn.segment, torn.offset, torn.bytes_discarded
        );
    }
    if let Some(fatal) = &report.fatal {
        problems += 1;
        let _ = writeln!(out, "  REFUSES TO START: {fatal}");
    }
    match wal::meta::load_meta(&RealFs, &wal_dir) {
        Ok(Some(bytes)) => match LogStoreMeta::decode(&bytes) {
            Ok(meta) => {
                let _ = writeln!(
                    out,
                    "  metadata: vote {}, purged through {}",
                    meta.vote.map_or("none".into(), |v| v.to_string()),
                    meta.last_purged
                        .map_or("nothing".into(), |id| id.index.to_string())
                );
            }
            Err(e) => {
                problems += 1;
                let _ = writeln!(out, "  metadata: does not decode: {e}");
            }
        },
        Ok(None) => {
            let _ = writeln!(out, "  metadata: none yet (no vote cast)");
        }
        Err(e) => {
            problems += 1;
            let _ = writeln!(out, "  metadata: {e}");
        }
    }
    if records {
        for image in wal::read_segments(&RealFs, &wal_dir)? {
            let Ok(scan) = image.scan() else { continue };
            let _ = writeln!(out, "  records of {}:", image.name);
            for (offset, record) in &scan.records {
                let kind = if record.kind == RECORD_KIND_ENTRY {
                    "entry".to_string()
                } else {
                    format!("kind {}", record.kind)
                };
                let _ = writeln!(
                    out,
                    "    offset {offset:>10}  index {:>10}  term {:>6}  {kind}  {} bytes",
                    record.index,
                    record.term,
                    record.payload.len()
                );
            }
        }
    }
    if let Some(snapshot_dir) = snapshot_dir {
        let _ = writeln!(out, "snapshots {}", snapshot_dir.display());
        let list = snapshot::list(&snapshot_dir).unwrap_or_default();
        if list.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for path in list {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            match snapshot::verify(&path) {
                Ok(info) => {
                    let _ = writeln!(
                        out,
                        "  {name}: ok, through index {}, {} keys, {} bytes",
                        info.header
                            .meta
                            .last_log_id
                            .map_or("-".into(), |id| id.index.to_string()),
                        info.record_count,
                        info.file_bytes
                    );
                }
                Err(e) => {
                    problems += 1;
                    let _ = writeln!(out, "  {name}: {e}");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if problems == 0 {
            "all checksums verified: OK".to_string()
        } else {
            format!("{problems} problem(s) found")
        }
    );
    Ok(InspectOutput {
        text: out,
        problems,
    })
}

/// The documented way out of a corrupt WAL: zero everything from `segment:offset` on and delete
/// later segments. Records from there on are lost on this node.
pub fn truncate_at(dir: &Path, spec: &str) -> Result<(), InspectError> {
    let (wal_dir, _) = layout(dir)?;
    let (segment, offset) = spec
        .rsplit_once(':')
        .and_then(|(s, o)| Some((s, o.parse::<u64>().ok()?)))
        .ok_or_else(|| InspectError::BadTruncateAt {
            given: spec.to_string(),
        })?;
    wal::repair_truncate_at(&wal_dir, segment, offset)?;
    Ok(())
}
