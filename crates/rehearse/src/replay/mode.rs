//! [`Mode`] and [`Scenario`]: what a scenario test may do to its recording,
//! in one word, like VCR's record modes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{Replayer, Tape, TraceError, TraceErrorKind};

/// The environment variable that selects the [`Mode`].
const MODE_VAR: &str = "REHEARSE";

/// What a scenario test does with its scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Run against the real world and record. An existing scenario is not
    /// overwritten: the new recording goes to `NAME.ron.new` for review.
    Record,
    /// Replay the scenario; a missing file is an error.
    Replay,
    /// Replay when the scenario exists, record it when it does not. Under
    /// CI (the `CI` variable is set) a missing scenario is an error instead.
    #[default]
    Auto,
}

/// A bad mode, or a scenario that cannot be used in this mode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModeError {
    /// `REHEARSE` holds something else than record, replay or auto.
    #[error("{MODE_VAR}={0:?} is not a mode: use record, replay or auto")]
    BadMode(String),
    /// The scenario does not exist and this run may not record it.
    #[error("scenario {} does not exist{}; record it by running this test with {MODE_VAR}=record against the real world", .path.display(), if *.ci { " (CI never records)" } else { "" })]
    Missing {
        /// The scenario path.
        path: PathBuf,
        /// True when `CI` is why recording was not allowed.
        ci: bool,
    },
    /// The scenario exists but is unreadable, or the recording cannot be created.
    #[error(transparent)]
    Trace(#[from] TraceError),
}

impl Mode {
    /// Parses `record`, `replay` or `auto` (case-insensitive).
    pub fn parse(text: &str) -> Result<Self, ModeError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "record" => Ok(Self::Record),
            "replay" => Ok(Self::Replay),
            "auto" | "" => Ok(Self::Auto),
            _ => Err(ModeError::BadMode(text.to_string())),
        }
    }

    /// The mode from `REHEARSE`; unset means [`Mode::Auto`].
    pub fn from_env() -> Result<Self, ModeError> {
        match std::env::var_os(MODE_VAR) {
            None => Ok(Self::Auto),
            Some(v) => Self::parse(&v.to_string_lossy()),
        }
    }
}

/// Where a recorded scenario is being written.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The tape to record on (finish it when the test is done).
    pub tape: Tape,
    /// The file being written.
    pub path: PathBuf,
    /// True when this is `NAME.ron.new` beside an existing scenario, waiting
    /// for review (`rehearse review`).
    pub pending: bool,
}

/// What a scenario test should do: replay, or record against the real world.
#[derive(Debug)]
pub enum Scenario {
    /// Replay the existing scenario.
    Replay(Replayer),
    /// Run against the real world, recording here.
    Record(Recording),
}

/// `NAME.ron.new` beside `NAME.ron`.
fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".new");
    path.with_file_name(name)
}

impl Scenario {
    /// Decides from `REHEARSE` and `CI` what to do with the scenario at `path`
    /// (relative to the working directory: under `cargo test`, the
    /// package's root).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ModeError> {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        Self::open_with(path, Mode::from_env()?, ci)
    }

    /// Decides with an explicit mode and CI flag.
    pub fn open_with(path: impl AsRef<Path>, mode: Mode, ci: bool) -> Result<Self, ModeError> {
        let path = path.as_ref();
        let exists = path.exists();
        match (mode, exists) {
            (Mode::Replay | Mode::Auto, true) => Ok(Self::Replay(Replayer::open(path)?)),
            (Mode::Replay, false) => Err(ModeError::Missing {
                path: path.to_path_buf(),
                ci,
            }),
            (Mode::Auto, false) if ci => Err(ModeError::Missing {
                path: path.to_path_buf(),
                ci,
            }),
            (Mode::Auto | Mode::Record, false) => Self::record_to(path.to_path_buf(), false),
            (Mode::Record, true) => Self::record_to(pending_path(path), true),
        }
    }

    fn record_to(path: PathBuf, pending: bool) -> Result<Self, ModeError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| TraceError::new(Some(dir), TraceErrorKind::Io(e)))?;
        }
        let tape = Tape::create(&path)?;
        Ok(Self::Record(Recording { tape, path, pending }))
    }
}
