//! The regressions file: failing seeds appended to it, and run first on
//! every sweep (like proptest's).

use std::fmt::Write as _;

use super::{FailureReport, Sweep};

impl Sweep {
    pub(super) fn read_regressions(&self) -> Vec<u64> {
        let Some(path) = &self.regressions else {
            return Vec::new();
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| l.split('#').next())
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("seed ")
                    .map(str::trim)
                    .and_then(|s| s.parse().ok())
            })
            .collect()
    }

    pub(super) fn write_regressions(&self, known: &[u64], failures: &[FailureReport]) {
        let Some(path) = &self.regressions else { return };
        if std::env::var_os("CI").is_some() {
            return;
        }
        let mut new: Vec<&FailureReport> = failures.iter().filter(|f| !known.contains(&f.seed)).collect();
        // by seed: the report lists the shrunk failures first
        new.sort_by_key(|f| f.seed);
        if new.is_empty() {
            return;
        }
        let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| {
            format!(
                "# Seeds that failed sweep `{}`; they run first on every sweep. Commit this file.\n",
                self.name
            )
        });
        for f in new {
            let _ = writeln!(text, "seed {} # {}", f.seed, f.message.lines().next().unwrap_or(""));
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(path, text);
    }
}
