//! Point-in-time restore: a backup plus the WAL archive, replayed up to a chosen log index or
//! log time (`tandem restore --from FILE --wal-archive DIR --until POINT`).
//!
//! The archive's files are read in archiving order; a file that starts at index `i` replaces
//! every entry from `i` on that earlier files held, as the truncation that rewrote them did in
//! the node's log. The entries after the backup's position are applied offline through the
//! node's own state machine, so the result is byte for byte what a node that applied exactly
//! that prefix holds; a gap in the archive or a corrupt archive file stops the restore.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::EntryPayload;

use super::{ensure_empty, seed, summary, verify, BackupSummary};
use crate::raft::{decode_entry, Entry, StateMachine};
use crate::snapshot;
use crate::wal::archive::{list_archive, read_archive, ArchiveFile};

/// Entries handed to the state machine at once.
const APPLY_BATCH_ENTRIES: usize = 1024;
/// How often a long restore reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// The staging directory inside the new data directory while entries are applied.
const STAGING_DIR: &str = "pitr-staging";

/// Where a point-in-time restore stops: the last entry at or before this point is the last
/// one applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// A log index.
    Index(u64),
    /// A log time, milliseconds since the Unix epoch (entries carry their leader's clock).
    TimeMs(u64),
}

impl FromStr for Until {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Until::Index)
                .map_err(|e| format!("log index {text:?}: {e}"));
        }
        parse_time_ms(text).map(Until::TimeMs).ok_or_else(|| {
            format!(
                "{text:?} is neither a log index nor an RFC 3339 time (2026-11-29T16:05:00Z, 2026-11-29T17:05:00.250+01:00)"
            )
        })
    }
}

/// What a point-in-time restore did.
#[derive(Clone, Debug)]
pub struct PitrSummary {
    /// The backup it started from.
    pub backup: BackupSummary,
    /// The restored state (the snapshot written into the data directory).
    pub restored: BackupSummary,
    /// Entries applied on top of the backup.
    pub entries_applied: u64,
    /// Archive files read.
    pub archive_files_read: usize,
    /// Log time of the last applied entry that carries one (0 = none applied).
    pub last_time_ms: u64,
    /// Set when the archive ends before the point asked for (a time past its last entry).
    pub archive_ended_at: Option<u64>,
}

/// One stretch of the final log and the archive file that holds it.
struct Stretch {
    file: usize,
    first: u64,
    last: u64,
}

/// The log as the archive files describe it, in index order: later files replace the entries
/// of earlier ones from their first index on.
fn stretches(files: &[ArchiveFile]) -> Vec<Stretch> {
    let mut out: Vec<Stretch> = Vec::new();
    for (file, f) in files.iter().enumerate() {
        while let Some(last) = out.last_mut() {
            if last.first >= f.first_index {
                out.pop();
                continue;
            }
            last.last = last.last.min(f.first_index - 1);
            break;
        }
        out.push(Stretch {
            file,
            first: f.first_index,
            last: f.last_index,
        });
    }
    out
}

/// `tandem restore --from FILE --wal-archive DIR --until POINT --data DATA`: seeds the empty
/// `data` with the backup plus every archived entry after it up to and including the last one
/// at or before `until`, as the only voter `node_id`. `progress` hears a line now and then.
pub fn restore_until(
    file: &Path,
    archive: &Path,
    until: Until,
    data: &Path,
    node_id: u64,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<PitrSummary> {
    if node_id == 0 {
        bail!("node ids start at 1");
    }
    let backup = verify(file)?;
    ensure_empty(data)?;
    let files = list_archive(archive)
        .with_context(|| format!("cannot list the WAL archive {}", archive.display()))?;
    if files.is_empty() {
        bail!("{} holds no WAL archive files", archive.display());
    }
    let (backup_info, keyspace) = snapshot::load(file)
        .with_context(|| format!("{} is not a usable backup", file.display()))?;
    let start = backup.log_index + 1;
    match until {
        Until::Index(index) if index < backup.log_index => bail!(
            "the backup already covers log index {} (after --until {index}): restore from an older backup",
            backup.log_index
        ),
        Until::TimeMs(ms) if ms < backup_info.header.last_time_ms => bail!(
            "the backup already holds entries up to {} (after --until {}): restore from an older backup",
            format_time_ms(backup_info.header.last_time_ms),
            format_time_ms(ms)
        ),
        _ => {}
    }
    let until_index = match until {
        Until::Index(index) => index,
        Until::TimeMs(_) => u64::MAX,
    };

    // Check that the archive covers start..=until without a gap before reading any of it.
    let plan: Vec<Stretch> = stretches(&files)
        .into_iter()
        .filter(|s| start <= until_index && s.last >= start && s.first <= until_index)
        .collect();
    let mut expected = start;
    for stretch in &plan {
        if stretch.first > expected {
            let before = plan
                .iter()
                .rev()
                .find(|s| s.last < stretch.first)
                .map(|s| files[s.file].path.display().to_string());
            bail!(
                "the WAL archive has a gap: log entries {expected}..={} are in no archive file (the backup ends at index {}; {}next file {}): restore from a backup taken after the gap, or stop before it with --until {}",
                stretch.first - 1,
                backup.log_index,
                before.map_or(String::new(), |b| format!("last file before the gap {b}, ")),
                files[stretch.file].path.display(),
                expected - 1,
            );
        }
        expected = stretch.last + 1;
    }
    // The last index the archive covers without a gap from the backup on.
    let archive_end = expected - 1;
    if let Until::Index(index) = until {
        if index > archive_end {
            bail!(
                "the WAL archive ends at log index {archive_end}, before --until {index}: archive the active segment first (TANDEM ARCHIVE on the node) or choose an earlier point"
            );
        }
    }

    let staging = data.join(STAGING_DIR);
    let result = replay(
        &staging,
        &backup_info.header,
        &keyspace,
        &files,
        &plan,
        start,
        until,
        until_index,
        progress,
    );
    let (header, restored_keyspace, stats) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::remove_dir_all(&staging)
        .with_context(|| format!("cannot remove {}", staging.display()))?;
    let restored = seed(data, node_id, &header, &restored_keyspace)?;
    // A time past the archive's last entry: say so (newer writes may not be archived yet).
    let archive_ended_at =
        (matches!(until, Until::TimeMs(_)) && !stats.stopped_by_time).then_some(archive_end);
    Ok(PitrSummary {
        backup,
        restored,
        entries_applied: stats.entries_applied,
        archive_files_read: stats.files_read,
        last_time_ms: stats.last_time_ms,
        archive_ended_at,
    })
}

#[derive(Default)]
struct ReplayStats {
    entries_applied: u64,
    files_read: usize,
    last_time_ms: u64,
    applied_last_index: u64,
    /// An entry after the requested time ended the replay.
    stopped_by_time: bool,
}

/// Applies the planned entries on top of the backup in `staging` and returns the resulting
/// snapshot's header and keyspace.
#[allow(clippy::too_many_arguments)]
fn replay(
    staging: &Path,
    header: &snapshot::SnapshotHeader,
    keyspace: &crate::keyspace::Keyspace,
    files: &[ArchiveFile],
    plan: &[Stretch],
    start: u64,
    until: Until,
    until_index: u64,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(
    snapshot::SnapshotHeader,
    crate::keyspace::Keyspace,
    ReplayStats,
)> {
    std::fs::create_dir_all(staging)?;
    snapshot::write(staging, header, keyspace)?;
    let (mut sm, _shared) = StateMachine::open(staging)
        .with_context(|| format!("cannot open the staged backup in {}", staging.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stats = ReplayStats::default();
    let total = plan
        .iter()
        .map(|s| s.last.min(until_index) - s.first.max(start) + 1)
        .sum::<u64>();
    let mut batch: Vec<Entry> = Vec::with_capacity(APPLY_BATCH_ENTRIES);
    let mut last_report = Instant::now();
    let mut apply = |batch: &mut Vec<Entry>, stats: &mut ReplayStats| -> anyhow::Result<()> {
        let count = batch.len() as u64;
        if let Some(last) = batch.last() {
            stats.applied_last_index = last.log_id.index;
        }
        runtime
            .block_on(sm.apply(std::mem::take(batch)))
            .map_err(|e| anyhow::anyhow!("applying archived entries: {e}"))?;
        stats.entries_applied += count;
        Ok(())
    };
    'files: for stretch in plan {
        let file = &files[stretch.file];
        let records = read_archive(file)?;
        stats.files_read += 1;
        let (first, last) = (stretch.first.max(start), stretch.last.min(until_index));
        for record in records.iter().filter(|r| (first..=last).contains(&r.index)) {
            let entry = decode_entry(record)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.path.display()))?;
            if let EntryPayload::Normal(proposal) = &entry.payload {
                if let Until::TimeMs(ms) = until {
                    if proposal.time_ms > ms {
                        stats.stopped_by_time = true;
                        break 'files;
                    }
                }
                stats.last_time_ms = stats.last_time_ms.max(proposal.time_ms);
            }
            batch.push(entry);
            if batch.len() >= APPLY_BATCH_ENTRIES {
                apply(&mut batch, &mut stats)?;
                if last_report.elapsed() >= PROGRESS_INTERVAL {
                    last_report = Instant::now();
                    progress(&format!(
                        "applied {} of at most {total} entries (through index {}, log time {})",
                        stats.entries_applied,
                        stats.applied_last_index,
                        format_time_ms(stats.last_time_ms)
                    ));
                }
            }
        }
    }
    apply(&mut batch, &mut stats)?;
    let built = runtime
        .block_on(async {
            let mut builder = sm.get_snapshot_builder().await;
            builder.build_snapshot().await
        })
        .map_err(|e| anyhow::anyhow!("writing the restored snapshot: {e}"))?;
    drop(built);
    drop(sm);
    let newest = snapshot::list(staging)?
        .into_iter()
        .next()
        .context("the restored snapshot is missing")?;
    let (info, restored) = snapshot::load(&newest)?;
    // Report the same way backups are reported (and check the file once more).
    let _ = summary(&info)?;
    Ok((info.header, restored, stats))
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.fff]` then `Z`
/// or `±HH:MM`; a space may replace the `T`).
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if bytes[at] == b'.' {
        let digits = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let fraction = &text[at + 1..at + 1 + digits];
        let padded: String = fraction.chars().chain("000".chars()).take(3).collect();
        millis = padded.parse().ok()?;
        at += 1 + digits;
    }
    let offset_minutes = match &text[at..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) => {
            if zone.as_bytes()[3] != b':' {
                return None;
            }
            let hours = number(at + 1..at + 3)?;
            let minutes = number(at + 4..at + 6)?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1_000 + millis).ok()
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T16:05:00.250Z`.
pub fn format_time_ms(ms: u64) -> String {
    let seconds = (ms / 1_000) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        ms % 1_000
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from March, so the
/// leap day ends a year: an era is 400 years of 146,097 days.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn times_parse_and_format() {
        assert_eq!(parse_time_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time_ms("1970-01-02T00:00:01.5Z"), Some(86_401_500));
        let ms = parse_time_ms("2026-11-29T16:05:00.250Z").unwrap();
        assert_eq!(format_time_ms(ms), "2026-11-29T16:05:00.250Z");
        assert_eq!(parse_time_ms("2026-11-29T17:05:00.250+01:00"), Some(ms));
        assert_eq!(
            parse_time_ms("2024-02-29T00:00:00Z")
                .map(format_time_ms)
                .as_deref(),
            Some("2024-02-29T00:00:00.000Z")
        );
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-11-29",
            "2026-11-29T16:05:00",
            "x",
        ] {
            assert_eq!(parse_time_ms(bad), None, "{bad}");
        }
        assert_eq!("42".parse::<Until>(), Ok(Until::Index(42)));
        assert_eq!(
            "1970-01-01T00:00:01Z".parse::<Until>(),
            Ok(Until::TimeMs(1_000))
        );
        assert!("yesterday".parse::<Until>().is_err());
    }

    fn file(ordinal: u64, first_index: u64, last_index: u64) -> ArchiveFile {
        ArchiveFile {
            ordinal,
            first_index,
            last_index,
            path: PathBuf::from(format!("{ordinal}")),
        }
    }

    /// A later archive file replaces what earlier files held from its first index on (a
    /// truncated and rewritten log suffix, or a re-archived active segment).
    #[test]
    fn later_files_replace_the_suffix_they_start() {
        let files = [
            file(1, 1, 100),
            file(2, 101, 150),
            file(3, 101, 200),
            file(4, 180, 190),
        ];
        let plan: Vec<(usize, u64, u64)> = stretches(&files)
            .into_iter()
            .map(|s| (s.file, s.first, s.last))
            .collect();
        assert_eq!(plan, vec![(0, 1, 100), (2, 101, 179), (3, 180, 190)]);
    }
}
