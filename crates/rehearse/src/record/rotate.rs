//! [`Rotation`]: a scenario file and its numbered older files, for runs
//! too long to keep in one file.

use std::io;
use std::path::{Path, PathBuf};

use crate::format::{TraceError, TraceErrorKind};

/// A scenario file and its numbered older files, newest first:
/// `run.ron`, then `run.1.ron`, `run.2.ron`, ... up to `run.<keep>.ron`
/// (the number goes before the extension, so that every file is still a
/// `.ron` scenario to the tools).
///
/// [`Rotation::rotate`] moves each file one place older and removes what
/// falls past `keep`; the caller then starts a new tape at
/// [`Rotation::path`] (and switches its recorder to it with
/// [`Recorder::replace_tape`](crate::Recorder::replace_tape)). When to
/// rotate, and what each new file must start with to be useful on its own,
/// is the caller's decision: a file that does not start where the code
/// under test starts only replays from a point the code can resume from.
///
/// ```
/// use rehearse::Rotation;
///
/// let dir = tempfile::tempdir().unwrap();
/// let rotation = Rotation::new(dir.path().join("run.ron"), 2);
/// for part in 1..=4 {
///     if part > 1 {
///         rotation.rotate().unwrap();
///     }
///     std::fs::write(rotation.path(), format!("part {part}")).unwrap();
/// }
/// // Parts 2 to 4 are kept, oldest first; part 1 was removed.
/// let kept: Vec<String> = rotation
///     .files()
///     .iter()
///     .map(|f| std::fs::read_to_string(f).unwrap())
///     .collect();
/// assert_eq!(kept, ["part 2", "part 3", "part 4"]);
/// assert_eq!(rotation.older(1), dir.path().join("run.1.ron"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    path: PathBuf,
    keep: usize,
}

impl Rotation {
    /// The file `path` (the one being written) and at most `keep` older
    /// files beside it (0: none, a rotation removes the current file).
    pub fn new(path: impl Into<PathBuf>, keep: usize) -> Self {
        Self {
            path: path.into(),
            keep,
        }
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many older files are kept.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// The `n`-th older file (`run.<n>.ron`; 1 is the newest of them); 0
    /// is the current file.
    pub fn older(&self, n: usize) -> PathBuf {
        if n == 0 {
            return self.path.clone();
        }
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        let name = match self.path.extension() {
            Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{n}"),
        };
        self.path.with_file_name(name)
    }

    /// The older files that exist, counted from `run.1.ron` up to the
    /// first missing number.
    fn existing_older(&self) -> usize {
        let mut n = 0;
        while self.older(n + 1).exists() {
            n += 1;
        }
        n
    }

    /// Every file of the rotation that exists, oldest first, the current
    /// file last: the order to read or replay them in.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = (1..=self.existing_older()).rev().map(|n| self.older(n)).collect();
        if self.path.exists() {
            files.push(self.path.clone());
        }
        files
    }

    /// Moves every file one place older (`run.ron` to `run.1.ron`,
    /// `run.1.ron` to `run.2.ron`, ...) and removes the ones that would be
    /// older than `keep` (also ones left by an earlier, larger `keep`).
    /// Afterwards [`Rotation::path`] does not exist. A missing current file
    /// is not an error. The error names the file that could not be moved
    /// or removed.
    pub fn rotate(&self) -> Result<(), TraceError> {
        let existing = self.existing_older();
        // After the move, older file n becomes n + 1: remove those past keep.
        for n in (self.keep.max(1)..=existing).rev() {
            remove(&self.older(n))?;
        }
        for n in (1..=existing.min(self.keep.saturating_sub(1))).rev() {
            rename(&self.older(n), &self.older(n + 1))?;
        }
        if !self.path.exists() {
            return Ok(());
        }
        if self.keep == 0 {
            remove(&self.path)
        } else {
            rename(&self.path, &self.older(1))
        }
    }
}

fn remove(path: &Path) -> Result<(), TraceError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TraceError::new(
            Some(path),
            TraceErrorKind::Io(io::Error::new(e.kind(), format!("cannot remove: {e}"))),
        )),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), TraceError> {
    std::fs::rename(from, to).map_err(|e| {
        TraceError::new(
            Some(from),
            TraceErrorKind::Io(io::Error::new(
                e.kind(),
                format!("cannot rename to {}: {e}", to.display()),
            )),
        )
    })
}

#[cfg(test)]
mod tests {
    //! The numbering, the shift, `keep` (also 0 and a smaller one than
    //! before) and the order of `files`.

    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn older_files_are_numbered_before_the_extension() {
        let r = Rotation::new("/var/lib/arbiter/arbiter-db1.example-42.ron", 3);
        assert_eq!(r.older(0), Path::new("/var/lib/arbiter/arbiter-db1.example-42.ron"));
        assert_eq!(r.older(2), Path::new("/var/lib/arbiter/arbiter-db1.example-42.2.ron"));
        assert_eq!(Rotation::new("dir/run", 1).older(1), Path::new("dir/run.1"));
    }

    #[test]
    fn each_rotation_shifts_the_files_and_drops_the_oldest_past_keep() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rotation::new(dir.path().join("run.ron"), 3);
        r.rotate().unwrap(); // nothing yet: not an error
        for part in 1..=6 {
            if part > 1 {
                r.rotate().unwrap();
                assert!(!r.path().exists());
            }
            write(r.path(), &part.to_string());
        }
        let kept: Vec<String> = r.files().iter().map(|f| read(f)).collect();
        assert_eq!(kept, ["3", "4", "5", "6"]);
        assert!(!r.older(4).exists());
        assert_eq!(read(&r.older(1)), "5");
    }

    #[test]
    fn keep_zero_keeps_only_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rotation::new(dir.path().join("run.ron"), 0);
        write(r.path(), "1");
        r.rotate().unwrap();
        assert!(r.files().is_empty());
        write(r.path(), "2");
        assert_eq!(r.files(), [r.path().to_path_buf()]);
    }

    #[test]
    fn a_smaller_keep_than_before_removes_the_extra_files() {
        let dir = tempfile::tempdir().unwrap();
        let wide = Rotation::new(dir.path().join("run.ron"), 5);
        for part in 1..=6 {
            if part > 1 {
                wide.rotate().unwrap();
            }
            write(wide.path(), &part.to_string());
        }
        assert_eq!(wide.files().len(), 6);
        let narrow = Rotation::new(dir.path().join("run.ron"), 2);
        narrow.rotate().unwrap();
        write(narrow.path(), "7");
        let kept: Vec<String> = narrow.files().iter().map(|f| read(f)).collect();
        assert_eq!(kept, ["5", "6", "7"]);
        assert!(!narrow.older(3).exists());
    }

    #[test]
    fn a_file_that_cannot_be_moved_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rotation::new(dir.path().join("run.ron"), 1);
        // The place of the older file is a directory that is not empty.
        std::fs::create_dir(r.older(1)).unwrap();
        write(&r.older(1).join("x"), "");
        write(r.path(), "1");
        let e = r.rotate().unwrap_err().to_string();
        assert!(e.contains("run.1.ron"), "{e}");
    }
}
