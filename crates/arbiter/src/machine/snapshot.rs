//! A machine between two steps, as data: the [`Snapshot`] a rotated
//! recording file starts with.

use serde::{Deserialize, Serialize};

use super::{Context, Machine, Output, State};

/// Everything a [`Machine`] is between two steps: its state, its
/// knowledge, and the output it waits to have answered.
///
/// The machine is pure, so a machine rebuilt from a snapshot
/// ([`Machine::from_snapshot`]) given the same inputs makes the same
/// decisions as the one it was taken from. That is what lets a recording
/// be cut into several files that each replay on their own: every file
/// after the first starts with the snapshot of the machine at the cut
/// (`arbiter::recording`). Planted bugs are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The state.
    pub state: State,
    /// The knowledge the states share.
    pub context: Context,
    /// The output polled next ([`Machine::poll_next_message`]), not yet
    /// answered.
    pub pending: Option<Output>,
}

impl Machine {
    /// The machine as it is now, pending output included.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state.clone(),
            context: self.ctx.clone(),
            pending: self.outbox.clone(),
        }
    }

    /// The machine a [`Snapshot`] was taken of: its next
    /// [`Machine::poll_next_message`] gives the snapshot's pending output,
    /// and it goes on from there exactly as the original would. A snapshot
    /// whose context does not fit its state is not checked here: the first
    /// step that notices lands in [`State::Failure`], as with
    /// [`Machine::restore`].
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self {
            state: snapshot.state,
            ctx: snapshot.context,
            outbox: snapshot.pending,
        }
    }
}

#[cfg(test)]
mod tests {
    //! A snapshot of a machine that has led, failed over and repointed
    //! survives serialization whole, and rebuilds the same machine.

    use super::*;

    #[test]
    fn a_snapshot_round_trips_and_rebuilds_the_machine() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/live_rejoin.ron");
        let replayer = rehearse::Replayer::open(path).unwrap();
        let mut driver = crate::Driver::new(replayer.clone());
        driver.run_to_end_of_recording(1_000_000).unwrap();
        let machine = driver.machine();
        let snapshot = machine.snapshot();
        assert!(!snapshot.context.views.is_empty() && snapshot.context.record.is_some());
        let text = serde_json::to_string(&snapshot).unwrap();
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot);
        let rebuilt = Machine::from_snapshot(back);
        assert_eq!(rebuilt.state(), machine.state());
        assert_eq!(rebuilt.context(), machine.context());
        assert_eq!(rebuilt.peek_next_message(), machine.peek_next_message());
    }
}
