//! The etcd key layout of one group, in one place: the live world writes
//! and reads these keys, `arbiter status` reads them, and operators write
//! `switchover` (with `arbiter switchover` or `etcdctl`) and `control`
//! (with `arbiter pause`, `resume` and `allow-data-loss`).
//!
//! Under the configured prefix (`[live] prefix`, e.g. `arbiter/mygroup`):
//! - `election/<instance>`: one key per candidate, attached to its lease;
//!   the lowest create revision leads, and that revision is its epoch;
//! - `record`: the group record as JSON, written only by a transaction
//!   guarded by the writer's election key and epoch;
//! - `switchover`: an operator's request (the target node's name), taken
//!   and deleted by the leader;
//! - `switchover-status`: the answer to the latest request, a
//!   [`SwitchoverAnswer`](super::switchover::SwitchoverAnswer) as JSON;
//!   its `request` is the etcd mod revision the request had in
//!   `switchover`, so that the operator who wrote it knows the answer is
//!   to that very request;
//! - `control`: the group's operator state, a
//!   [`GroupControl`](super::control::GroupControl) as JSON (`paused`, a
//!   one-time `allow_data_loss` grant), written by the `arbiter` commands
//!   with a compare-and-swap on its mod revision, read by every instance
//!   at every check and laid over its file's `[settings]`;
//! - `control-ack`: the leader's acknowledgement, a
//!   [`ControlAck`](super::control::ControlAck) as JSON: the mod revision
//!   of `control` its machine runs with, written (guarded by its epoch)
//!   once it has taken that revision in;
//! - `heartbeat/<instance>`: the leader's heartbeat, attached to its lease,
//!   rewritten at the start of every check and before every Redis command
//!   it sends; its value is the longest it says it goes between two beats
//!   (milliseconds). A follower that sees it unchanged for longer while a
//!   primary is down deletes the leader's election key and heartbeat in
//!   one transaction guarded by both (issue 19);
//! - `members/<instance>`: one key per running instance, attached to a
//!   lease of its follower, saying where it serves clients (a
//!   [`Member`](super::follow::Member) as JSON).

/// The keys of one group under its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The prefix without a trailing `/`.
    prefix: String,
}

impl Keys {
    /// The layout under `prefix` (a trailing `/` is ignored).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// The prefix, without a trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `PREFIX/election/`: the range every candidate's key is in.
    pub fn election(&self) -> String {
        format!("{}/election/", self.prefix)
    }

    /// `PREFIX/election/<instance>`: one candidate's key.
    pub fn candidate(&self, instance: &str) -> String {
        format!("{}/election/{instance}", self.prefix)
    }

    /// `PREFIX/heartbeat/<instance>`: a leader's heartbeat.
    pub fn heartbeat(&self, instance: &str) -> String {
        format!("{}/heartbeat/{instance}", self.prefix)
    }

    /// `PREFIX/record`: the group record.
    pub fn record(&self) -> String {
        format!("{}/record", self.prefix)
    }

    /// `PREFIX/switchover`: an operator's switchover request.
    pub fn switchover(&self) -> String {
        format!("{}/switchover", self.prefix)
    }

    /// `PREFIX/switchover-status`: the answer to the latest request.
    pub fn switchover_status(&self) -> String {
        format!("{}/switchover-status", self.prefix)
    }

    /// `PREFIX/members/`: the range every running instance's key is in.
    pub fn members(&self) -> String {
        format!("{}/members/", self.prefix)
    }

    /// `PREFIX/members/<instance>`: one running instance's key.
    pub fn member(&self, instance: &str) -> String {
        format!("{}/members/{instance}", self.prefix)
    }

    /// `PREFIX/control`: the group's operator state (pause, a one-time
    /// permission to lose data).
    pub fn control(&self) -> String {
        format!("{}/control", self.prefix)
    }

    /// `PREFIX/control-ack`: which revision of `control` the leader runs
    /// with.
    pub fn control_ack(&self) -> String {
        format!("{}/control-ack", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn every_key_is_under_the_prefix_whatever_its_trailing_slash() {
        for prefix in ["arbiter/g", "arbiter/g/", "arbiter/g//"] {
            let k = Keys::new(prefix);
            assert_eq!(k.prefix(), "arbiter/g");
            assert_eq!(k.election(), "arbiter/g/election/");
            assert_eq!(k.candidate("arbiter-1"), "arbiter/g/election/arbiter-1");
            assert_eq!(k.record(), "arbiter/g/record");
            assert_eq!(k.switchover(), "arbiter/g/switchover");
            assert_eq!(k.switchover_status(), "arbiter/g/switchover-status");
            assert_eq!(k.members(), "arbiter/g/members/");
            assert_eq!(k.member("h-1"), "arbiter/g/members/h-1");
            assert_eq!(k.control(), "arbiter/g/control");
            assert_eq!(k.control_ack(), "arbiter/g/control-ack");
        }
    }
}
