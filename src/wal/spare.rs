//! The segment preparer: a helper thread of the writer that makes `next.spare` ready before
//! rollover needs it, so group commit never waits for zero-filling or its fsync.
//!
//! Owns `next.spare` from the writer's request until it reports the file ready (created,
//! zero-filled to `segment_bytes`, fsynced); from then on the writer owns it until it asks for
//! the next one, so the two threads never touch the file at the same time. A failure is a
//! device error: it is handed to the writer once, and the preparer stops without retrying.

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::vfs::{Caching, OpenMode, Vfs};

/// Name of the preallocated, zero-filled file that becomes the next segment.
pub const SPARE_FILE_NAME: &str = "next.spare";
/// Zeroes written per call while filling the spare: bounds the zero buffer and how long a stop
/// request waits for the preparer.
const SPARE_STEP_BYTES: u64 = 256 << 10;
/// Zeroes written between syncs of the spare. A batch's fdatasync ends with a device cache
/// flush, which also waits for whatever spare data is being written back at that moment; one
/// sync of a whole 64 MiB spare held concurrent batches for ~20 ms, slices of 4 MiB for a few.
const SPARE_SYNC_BYTES: u64 = 4 << 20;
const _: () = assert!(SPARE_SYNC_BYTES % SPARE_STEP_BYTES == 0);

/// Where the current spare is, as the writer and the preparer agree on it.
#[derive(Debug)]
enum Stage {
    /// Nothing asked for: the writer has taken the last spare (or none was requested yet).
    Idle,
    /// The writer asked for a spare; the preparer is making it.
    Requested,
    /// `next.spare` is full-size, zeroed and synced; the writer may take it.
    Ready,
    /// Preparing failed; holds the error until the writer takes it.
    Failed(Option<io::Error>),
}

#[derive(Debug)]
struct State {
    stage: Stage,
    /// Set when the writer stops (close, poison, drop); the preparer exits at its next step.
    stopping: bool,
}

#[derive(Debug)]
struct Handoff {
    state: Mutex<State>,
    changed: Condvar,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer's handle on the preparer thread; dropping it stops and joins the thread.
#[derive(Debug)]
pub(crate) struct SparePreparer {
    handoff: Arc<Handoff>,
    thread: Option<JoinHandle<()>>,
    /// Set for an inline writer: each request prepares the spare at once, on the caller.
    inline: Option<InlineSpare>,
}

/// What an inline preparer needs to make a spare without a thread.
struct InlineSpare {
    vfs: Arc<dyn Vfs>,
    path: std::path::PathBuf,
    segment_bytes: u64,
}

impl std::fmt::Debug for InlineSpare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineSpare")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What the writer learns from [`SparePreparer::status`].
#[derive(Debug)]
pub(crate) enum SpareStatus {
    /// A requested spare is still being prepared: it may yet fail.
    Preparing,
    /// Nothing can fail until the writer asks for another spare.
    Settled,
    /// Preparing failed (reported once).
    Failed(io::Error),
}

enum Outcome {
    Ready,
    Stopped,
}

fn io_context(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl SparePreparer {
    /// Starts the preparer thread for the log in `dir`; it waits for the first request. An
    /// inline writer gets a preparer without a thread.
    pub fn spawn(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segment_bytes: u64,
        mode: super::WriterMode,
    ) -> io::Result<Self> {
        let handoff = Arc::new(Handoff {
            state: Mutex::new(State {
                stage: Stage::Idle,
                stopping: false,
            }),
            changed: Condvar::new(),
        });
        let path = dir.join(SPARE_FILE_NAME);
        if mode == super::WriterMode::Inline {
            return Ok(SparePreparer {
                handoff,
                thread: None,
                inline: Some(InlineSpare {
                    vfs,
                    path,
                    segment_bytes,
                }),
            });
        }
        let thread = std::thread::Builder::new()
            .name("tandem-wal-spare".into())
            .spawn({
                let handoff = handoff.clone();
                move || run(&handoff, &*vfs, &path, segment_bytes)
            })?;
        Ok(SparePreparer {
            handoff,
            thread: Some(thread),
            inline: None,
        })
    }

    /// Asks for a new spare; the writer calls it once it has taken the previous one.
    pub fn request(&self) {
        let mut state = self.handoff.lock();
        debug_assert!(
            matches!(state.stage, Stage::Idle),
            "spare requested while {:?}",
            state.stage
        );
        if matches!(state.stage, Stage::Idle) {
            state.stage = Stage::Requested;
            self.handoff.changed.notify_all();
        }
        drop(state);
        self.prepare_inline();
    }

    /// For an inline preparer: makes the requested spare now.
    fn prepare_inline(&self) {
        let Some(inline) = &self.inline else {
            return;
        };
        if !matches!(self.handoff.lock().stage, Stage::Requested) {
            return;
        }
        let zeros = vec![0u8; SPARE_STEP_BYTES as usize];
        let outcome = prepare(
            &self.handoff,
            &*inline.vfs,
            &inline.path,
            inline.segment_bytes,
            &zeros,
        );
        let mut state = self.handoff.lock();
        match outcome {
            Ok(Outcome::Ready) => state.stage = Stage::Ready,
            Ok(Outcome::Stopped) => {}
            Err(error) => state.stage = Stage::Failed(Some(error)),
        }
    }

    /// Blocks until the requested spare is ready, then hands it to the writer; returns how long
    /// it waited (zero unless rollover came before the preparer had finished).
    pub fn take_ready(&self) -> io::Result<Duration> {
        let started = Instant::now();
        let mut waited = false;
        let mut state = self.handoff.lock();
        debug_assert!(
            !matches!(state.stage, Stage::Idle),
            "spare taken without a request"
        );
        if matches!(state.stage, Stage::Idle) {
            state.stage = Stage::Requested;
            self.handoff.changed.notify_all();
            drop(state);
            self.prepare_inline();
            state = self.handoff.lock();
        }
        loop {
            let stopping = state.stopping;
            match &mut state.stage {
                Stage::Ready => {
                    state.stage = Stage::Idle;
                    return Ok(if waited {
                        started.elapsed()
                    } else {
                        Duration::ZERO
                    });
                }
                Stage::Failed(error) => {
                    return Err(error
                        .take()
                        .unwrap_or_else(|| io::Error::other("spare preparation failed earlier")));
                }
                Stage::Requested | Stage::Idle if stopping => {
                    return Err(io::Error::other("spare preparer stopped"));
                }
                Stage::Requested | Stage::Idle if self.inline.is_some() => {
                    // Nothing else would ever make it: the inline request ran and stopped.
                    return Err(io::Error::other("spare preparation did not finish"));
                }
                Stage::Requested | Stage::Idle => {
                    waited = true;
                    state = self.handoff.wait(state);
                }
            }
        }
    }

    /// Where preparation stands, read in one step so a failure can never slip in between
    /// "not failed" and "not in progress"; hands a failure to the caller once.
    pub fn status(&self) -> SpareStatus {
        match &mut self.handoff.lock().stage {
            Stage::Requested => SpareStatus::Preparing,
            Stage::Failed(error) => error
                .take()
                .map_or(SpareStatus::Settled, SpareStatus::Failed),
            Stage::Idle | Stage::Ready => SpareStatus::Settled,
        }
    }

    /// Tells the preparer to stop at its next step, without waiting for it.
    pub fn cancel(&self) {
        self.handoff.lock().stopping = true;
        self.handoff.changed.notify_all();
    }

    /// Stops and joins the preparer; returns its error if it failed and nobody took it yet.
    pub fn stop(&mut self) -> Option<io::Error> {
        self.cancel();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                return Some(io::Error::other("spare preparer thread panicked"));
            }
        }
        match self.status() {
            SpareStatus::Failed(error) => Some(error),
            SpareStatus::Preparing | SpareStatus::Settled => None,
        }
    }
}

impl Drop for SparePreparer {
    fn drop(&mut self) {
        if let Some(error) = self.stop() {
            tracing::warn!(error = %error, "wal: spare preparation failed while closing");
        }
    }
}

/// The preparer thread: one spare per request, until stopped or failed.
fn run(handoff: &Handoff, vfs: &dyn Vfs, path: &Path, segment_bytes: u64) {
    let zeros = vec![0u8; SPARE_STEP_BYTES as usize];
    loop {
        {
            let mut state = handoff.lock();
            while !state.stopping && !matches!(state.stage, Stage::Requested) {
                state = handoff.wait(state);
            }
            if state.stopping {
                return;
            }
        }
        let outcome = prepare(handoff, vfs, path, segment_bytes, &zeros);
        let mut state = handoff.lock();
        match outcome {
            Ok(Outcome::Ready) => state.stage = Stage::Ready,
            Ok(Outcome::Stopped) => return,
            Err(error) => state.stage = Stage::Failed(Some(error)),
        }
        handoff.changed.notify_all();
        if matches!(state.stage, Stage::Failed(_)) {
            return;
        }
    }
}

/// Creates `path` and fills it with zeroes up to `segment_bytes`, fsyncing every
/// `SPARE_SYNC_BYTES` and at the end. Writes plain zeroes rather than `fallocate`: blocks that
/// were really written are overwritten later without a metadata update, so each batch's
/// fdatasync stays a data-only sync.
fn prepare(
    handoff: &Handoff,
    vfs: &dyn Vfs,
    path: &Path,
    segment_bytes: u64,
    zeros: &[u8],
) -> io::Result<Outcome> {
    let file = vfs
        .open(path, OpenMode::CreateTruncate, Caching::Buffered)
        .map_err(|e| io_context("create spare", path, e))?;
    let mut written = 0;
    let mut unsynced = 0;
    while written < segment_bytes {
        if handoff.lock().stopping {
            return Ok(Outcome::Stopped);
        }
        let n = SPARE_STEP_BYTES.min(segment_bytes - written);
        file.write_at(&zeros[..n as usize], written)
            .map_err(|e| io_context("zero-fill spare", path, e))?;
        written += n;
        unsynced += n;
        if unsynced >= SPARE_SYNC_BYTES || written == segment_bytes {
            file.sync().map_err(|e| io_context("sync spare", path, e))?;
            unsynced = 0;
        }
    }
    Ok(Outcome::Ready)
}
