//! A replication run on a real `Sim`, saved as a format 2 scenario: fault
//! marks (`Sim::fault_with`, `Sim::fault`, a `Faulty` world's injected
//! errors), notes and a lane per follower. Shared by the tests that run
//! the `rehearse` command on it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rehearse::{Faulty, InjectFault, Recorder, Sim};
use serde::{Deserialize, Serialize};

/// A refused delivery; its text says nothing about faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Refused;

impl InjectFault for Refused {
    fn inject_fault(_point: &str, _sim: &Sim) -> Self {
        Self
    }
}

/// One leader's log entries delivered to followers.
#[rehearse::world]
pub(crate) trait Wire {
    fn deliver(&mut self, from: String, to: String, entry: u64) -> Result<u64, Refused>;
}

#[derive(Default)]
struct Logs {
    len: BTreeMap<String, u64>,
}

impl Wire for Logs {
    fn deliver(&mut self, _from: String, to: String, _entry: u64) -> Result<u64, Refused> {
        let len = self.len.entry(to).or_default();
        *len += 1;
        Ok(*len)
    }
}

pub(crate) const SEED: u64 = 3;

/// Runs the replication on `sim`, recording on its main tape; returns
/// the number of notes written.
pub(crate) fn replicate(sim: &Sim) -> usize {
    sim.set_fault_rate("net::drop", 0.2);
    sim.set_fault_rate("net::crash", 0.1);
    sim.set_fault_rate("Wire::deliver", 0.1);
    let mut wire = Recorder::new(Faulty::new(Logs::default(), sim.clone()), sim.tape());
    sim.note("3 nodes; n0 leads");
    let mut notes = 1;
    for entry in 0..40u64 {
        sim.advance(Duration::from_millis(10));
        for to in ["n1", "n2"] {
            sim.set_node(Some(to));
            if sim.fault_with("net::drop", || format!("n0 -> {to}: Append({entry})")) {
                continue;
            }
            if sim.fault("net::crash") {
                sim.note(&format!("{to} restarts with what it synced"));
                notes += 1;
                continue;
            }
            let _ = wire.deliver("n0".into(), to.into(), entry);
        }
    }
    sim.set_node(None);
    notes
}

/// Runs the replication on seed `SEED` and saves its tape to `path`;
/// returns what the simulation says fired per point, and the notes written.
pub(crate) fn simulate(path: &Path) -> (BTreeMap<String, u64>, usize) {
    let sim = Sim::new(SEED);
    let notes = replicate(&sim);
    sim.tape().save(path).unwrap();
    (sim.faults_fired(), notes)
}
