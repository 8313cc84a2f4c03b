//! A live run's recording, cut into files of a bounded size that each
//! replay on their own.
//!
//! A recording is a scenario: `arbiter replay` drives a fresh machine with
//! it from [`State::Init`](crate::State::Init). A file cut in the middle
//! of a run cannot replay that way, so every file after the first starts
//! with a snapshot of the machine at the cut: call 0 is
//! [`Resume::snapshot`], whose output is the [`Snapshot`] (state, context
//! and the pending output), and the calls after it are the ones the
//! machine made from there. [`Driver::for_recording`] resumes from it, and
//! the replay makes the same decisions as the original run did after the
//! cut. Cuts are made only between two steps when the machine waits for
//! its next tick (its pending output is [`Output::Wait`]), so the first
//! call after the snapshot is always `Host::sleep_until`.
//!
//! [`Recording`] does the bookkeeping for `arbiter run`: it locks the file
//! (a second process given the same file refuses to start), moves an
//! earlier run's file aside at start, and, between two steps, rotates once
//! the file has grown past `record.max_bytes`: the file becomes
//! `NAME.1.ron` (the older ones shift to `.2`, `.3`, ..., and those past
//! `record.keep` are removed) and a new `NAME.ron` starts with the
//! snapshot. The numbering is [`rehearse::Rotation`]'s.

use std::fs::File;
use std::path::{Path, PathBuf};

use rehearse::{Recorder, Replayer, Rotation, Tape, TapeOptions};

use crate::io::Driver;
use crate::machine::{Machine, Output, Snapshot};
use crate::world::World;

/// What a rotated recording file starts with: the machine it resumes.
///
/// Not a world of the machine (the machine never calls it): only
/// [`Recording`] records it, as call 0 of every file after the first, and
/// [`Driver::for_recording`] replays it.
#[rehearse::world]
pub trait Resume {
    /// The machine as it was when the file was started.
    fn snapshot(&self) -> Snapshot;
}

/// The name call 0 of a resumed file has (`Resume::snapshot`).
pub const SNAPSHOT_CALL: &str = "Resume::snapshot";

/// Answers [`Resume::snapshot`] with the snapshot it holds, to record it.
struct Holds(Snapshot);

impl Resume for Holds {
    fn snapshot(&self) -> Snapshot {
        self.0.clone()
    }
}

/// Opens `path` (without truncating it) and takes an exclusive lock on it,
/// held as long as the returned file lives; an error naming the file when
/// another process holds it.
fn lock(path: &Path) -> Result<File, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("record.path: cannot open {}: {e}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(format!(
            "record.path: {} is being recorded by another running process (it holds the file's lock); \
             give each instance its own file with {} in record.path, e.g. \"arbiter-{}.ron\"",
            path.display(),
            crate::config::INSTANCE_PLACEHOLDER,
            crate::config::INSTANCE_PLACEHOLDER,
        )),
        Err(e) => Err(format!("record.path: cannot lock {}: {e}", path.display())),
    }
}

/// A rotation [`Recording::after_step`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// Where the file just finished now is (`NAME.1.ron`), or `None` when
    /// `record.keep` is 0 and it was removed.
    pub finished: Option<PathBuf>,
    /// The calls it holds.
    pub calls: usize,
    /// The number of the file started (1 is the one started with the
    /// process), written in its header as `part`.
    pub part: u64,
}

/// A live run's recording: the tape of the current file, its lock, and
/// when to rotate. See the [module documentation](self).
#[derive(Debug)]
pub struct Recording {
    rotation: Rotation,
    max_bytes: u64,
    options: TapeOptions,
    tape: Tape,
    /// Held while the current file is recorded.
    lock: Option<File>,
    part: u64,
    /// Calls in the files finished so far.
    earlier_calls: usize,
    /// Why recording stopped before the end of the run.
    stopped: Option<String>,
    /// Where the file an earlier run left at the path was moved at start.
    earlier: Option<PathBuf>,
}

impl Recording {
    /// Starts recording to `path`: takes its lock (refused, naming the
    /// file, when another running process records to it), moves a file an
    /// earlier run left there to `NAME.1.ron` (shifting the older ones,
    /// keeping `keep` of them), and creates the file with `options`'
    /// header plus `part: "1"`. The file is rotated once it holds
    /// `max_bytes` or more ([`Recording::after_step`]).
    pub fn start(path: PathBuf, max_bytes: u64, keep: usize, options: TapeOptions) -> Result<Self, String> {
        let rotation = Rotation::new(path, keep);
        let mut lock_held = lock(rotation.path())?;
        let mut earlier = None;
        if lock_held.metadata().map_or(0, |m| m.len()) > 0 {
            rotation.rotate().map_err(|e| format!("record.path: {e}"))?;
            // The lock moved with the file: take the new file's.
            lock_held = lock(rotation.path())?;
            earlier = (keep > 0).then(|| rotation.older(1));
        }
        let tape = Self::create(&rotation, &options, 1)?;
        Ok(Self {
            rotation,
            max_bytes,
            options,
            tape,
            lock: Some(lock_held),
            part: 1,
            earlier_calls: 0,
            stopped: None,
            earlier,
        })
    }

    fn create(rotation: &Rotation, options: &TapeOptions, part: u64) -> Result<Tape, String> {
        options
            .clone()
            .meta("part", part.to_string())
            .create(rotation.path())
            .map_err(|e| format!("record.path: {e}"))
    }

    /// The tape of the current file (to record with:
    /// `Recorder::new(world, recording.tape().clone())`).
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        self.rotation.path()
    }

    /// The number of the current file (1 for the one started with the
    /// process).
    pub fn part(&self) -> u64 {
        self.part
    }

    /// Where the file an earlier run had left at the path was moved at
    /// start (`NAME.1.ron`), if there was one and `keep` is above 0.
    pub fn earlier_file(&self) -> Option<&Path> {
        self.earlier.as_deref()
    }

    /// Why recording stopped before the end of the run, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// To call between two steps of `driver`, whose recorder records on
    /// this recording's tape: when the machine waits for its next tick and
    /// the current file holds `max_bytes` or more, finishes the file,
    /// rotates it and starts the next one with the machine's
    /// [`Snapshot`], switching the recorder to it.
    ///
    /// `Ok(None)` when nothing was done. An error (a file that cannot be
    /// written, moved or locked) stops the recording: the recorder is
    /// switched to a disabled tape, the run goes on unrecorded, and
    /// [`Recording::finish`] reports the error again.
    pub fn after_step<W>(&mut self, driver: &mut Driver<Recorder<W>>) -> Result<Option<Rotated>, String>
    where
        Recorder<W>: World,
    {
        if self.stopped.is_some() || !matches!(driver.machine().peek_next_message(), Some(Output::Wait { .. })) {
            return Ok(None);
        }
        // Once per tick: the writer is idle by then, and the flush makes
        // the file's size exact.
        let size = self
            .tape
            .flush()
            .map_err(|e| format!("record.path: {e}"))
            .map(|()| std::fs::metadata(self.rotation.path()).map_or(0, |m| m.len()));
        if size.as_ref().is_ok_and(|size| *size < self.max_bytes) {
            return Ok(None);
        }
        match size.and_then(|_| self.rotate(driver.machine())) {
            Ok((tape, rotated)) => {
                driver.world_mut().replace_tape(tape);
                Ok(Some(rotated))
            }
            Err(e) => {
                driver.world_mut().replace_tape(Tape::disabled());
                let e = format!("{e}; recording stopped, the controller runs on");
                self.stopped = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Finishes the current file, rotates, and starts the next one with
    /// `machine`'s snapshot; the new tape and what was done.
    fn rotate(&mut self, machine: &Machine) -> Result<(Tape, Rotated), String> {
        self.tape.finish().map_err(|e| format!("record.path: {e}"))?;
        let calls = self.tape.len();
        self.earlier_calls += calls;
        self.tape = Tape::disabled();
        self.rotation.rotate().map_err(|e| format!("record.path: {e}"))?;
        let lock_held = lock(self.rotation.path())?;
        // The old file's lock goes once the new file is held.
        self.lock = Some(lock_held);
        let tape = Self::create(&self.rotation, &self.options, self.part + 1)?;
        Recorder::new(Holds(machine.snapshot()), tape.clone()).snapshot();
        self.part += 1;
        self.tape = tape.clone();
        let finished = (self.rotation.keep() > 0).then(|| self.rotation.older(1));
        Ok((
            tape,
            Rotated {
                finished,
                calls,
                part: self.part,
            },
        ))
    }

    /// Finishes the current file: the calls recorded by this process in
    /// every file (snapshots included), or why the recording is incomplete.
    pub fn finish(self) -> Result<usize, String> {
        let done = self.tape.finish().map_err(|e| format!("record.path: {e}"));
        let calls = self.earlier_calls + self.tape.len();
        drop(self.lock);
        match (self.stopped, done) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(calls),
        }
    }
}

impl Driver<Replayer> {
    /// A driver for a recording: a fresh machine, or, when the recording
    /// is a file a rotating [`Recording`] started after the first (call 0
    /// is [`Resume::snapshot`]), the machine of that snapshot, resumed
    /// ([`Driver::resume`]) with the snapshot call consumed.
    ///
    /// An error when the snapshot does not decode (the divergence names the
    /// file and the line).
    #[allow(clippy::result_large_err)]
    pub fn for_recording(replayer: Replayer) -> Result<Self, rehearse::Divergence> {
        let resumes = replayer
            .trace()
            .calls()
            .first()
            .is_some_and(|c| c.name == SNAPSHOT_CALL);
        if !resumes {
            return Ok(Self::new(replayer));
        }
        let snapshot: Snapshot = replayer.try_replay(SNAPSHOT_CALL, &[])?;
        Ok(Self::resume(replayer, Machine::from_snapshot(snapshot)))
    }
}
