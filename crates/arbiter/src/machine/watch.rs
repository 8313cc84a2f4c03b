//! What an instance's own polls, leading or following, saw of each node's
//! reachability: the [`Watch`] that lets a new leader start with
//! down-after already running.

use serde::{Deserialize, Serialize};

use crate::types::Millis;

/// A gap of more than this many check intervals between two polls of a
/// node (this instance did not poll meanwhile: it had no election entry, or
/// its round stalled) means the watch says nothing of the time between:
/// it starts over.
pub const WATCH_GAP_INTERVALS: u64 = 3;

/// When a node last answered and since when it has not, as this instance's
/// own polls saw it, whether it led or followed meanwhile.
///
/// Down-after counts from the last valid answer, as Sentinel counts from
/// its last valid reply (issue 19): a node that answered in the round at
/// `t` and then stopped is down for down-after at `t + down_after`, not
/// one check interval plus a poll timeout later. (The round's time, when
/// its poll was sent, stands for the answer's: at most one poll timeout
/// earlier.) With no answer since this instance's polls began (or since a
/// gap in them), from its first unanswered poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// The latest poll's round.
    pub polled_at: Option<Millis>,
    /// The round of the latest poll the node answered (a refused password
    /// is an answer: the node is up).
    pub answered_at: Option<Millis>,
    /// Since when the node has not answered: the round of its last answer
    /// (`answered_at`), or, with none since the watch began, the first
    /// poll that got no answer.
    pub down_since: Option<Millis>,
    /// The node's latest status claimed primary (kept while it does not
    /// answer): a follower that sees such a node down looks at the
    /// election soon, to take over the moment the leader's lease ends.
    pub claimed_primary: bool,
}

impl Watch {
    /// Records a poll at `now` that the node `answered` or not (`Some`:
    /// whether its status claimed primary; a refused password is an answer
    /// without a status, `Some(false)`), polls being `interval` apart.
    pub fn observe(&mut self, now: Millis, answered: Option<bool>, interval: Millis) {
        let gap = WATCH_GAP_INTERVALS.saturating_mul(interval);
        if self.polled_at.is_some_and(|at| now.saturating_sub(at) > gap) {
            *self = Self::default();
        }
        self.polled_at = Some(now);
        if let Some(primary) = answered {
            self.answered_at = Some(now);
            self.down_since = None;
            self.claimed_primary = primary;
        } else {
            let since = self.answered_at.unwrap_or(now);
            self.down_since.get_or_insert(since);
        }
    }

    /// The node claimed primary when it last answered and has not answered
    /// since.
    pub fn primary_down(&self) -> bool {
        self.claimed_primary && self.down_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::Watch;

    #[test]
    fn down_counts_from_the_last_answer() {
        let mut w = Watch::default();
        w.observe(1000, Some(true), 1000);
        w.observe(2000, None, 1000);
        assert_eq!(w.down_since, Some(1000));
        assert!(w.primary_down());
        w.observe(3000, None, 1000);
        assert_eq!(w.down_since, Some(1000), "the outage keeps its start");
        w.observe(4000, Some(false), 1000);
        assert_eq!((w.down_since, w.answered_at), (None, Some(4000)));
        assert!(!w.primary_down(), "it answered as a replica");
        // never answered since the watch began: from the first miss
        let mut w = Watch::default();
        w.observe(5000, None, 1000);
        assert_eq!(w.down_since, Some(5000));
    }

    #[test]
    fn a_gap_in_the_polls_starts_over() {
        let mut w = Watch::default();
        w.observe(1000, Some(true), 1000);
        w.observe(2000, None, 1000);
        assert_eq!(w.down_since, Some(1000));
        // the instance did not poll for a minute
        w.observe(61_000, None, 1000);
        assert_eq!(w.down_since, Some(61_000));
        assert_eq!(w.answered_at, None);
    }
}
