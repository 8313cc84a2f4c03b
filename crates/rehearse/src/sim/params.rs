//! The run's parameters: the flags and sizes a run was started with
//! (`--bug lost-sync`, `--nodes 3`), kept by the [`Sim`] and written into
//! the header of every tape of the run, so that a saved scenario says how
//! to re-run it and a sweep's repro line is built from it.

use std::collections::BTreeMap;
use std::fmt::Display;

use super::Sim;
use crate::Tape;

impl Sim {
    /// Sets a parameter of this run: a flag or size that re-running it
    /// needs beside the seed (`sim.set_param("bug", "lost-sync")`,
    /// `sim.set_param("nodes", 3)`). It goes into the header (`params`) of
    /// every tape of the run, named tapes included, and the sweep's repro
    /// line is built from it (see [`Sweep::command`](crate::Sweep::command)).
    /// Setting a key again replaces its value. Parameters every run of a
    /// sweep shares are better given once to
    /// [`Sweep::param`](crate::Sweep::param).
    ///
    /// ```
    /// let sim = rehearse::Sim::new(7);
    /// sim.set_param("nodes", 3);
    /// assert_eq!(sim.param("nodes").as_deref(), Some("3"));
    /// assert_eq!(sim.tape().header().unwrap().params["nodes"], "3");
    /// ```
    pub fn set_param(&self, key: impl Into<String>, value: impl Display) {
        let (key, value) = (key.into(), value.to_string());
        let mut s = self.state.borrow_mut();
        // Sim tapes are memory tapes, whose headers can always change.
        let _ = s.tape.set_header_param(key.clone(), value.clone());
        for (_, tape) in &s.named_tapes {
            let _ = tape.set_header_param(key.clone(), value.clone());
        }
        s.params.insert(key, value);
    }

    /// A parameter of this run, if set.
    pub fn param(&self, key: &str) -> Option<String> {
        self.state.borrow().params.get(key).cloned()
    }

    /// Every parameter of this run, by key.
    pub fn params(&self) -> BTreeMap<String, String> {
        self.state.borrow().params.clone()
    }
}

/// Writes the run's parameters into a tape created after they were set.
pub(super) fn write_params(tape: &Tape, params: &BTreeMap<String, String>) {
    for (k, v) in params {
        let _ = tape.set_header_param(k.clone(), v.clone());
    }
}
