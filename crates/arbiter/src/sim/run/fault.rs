//! The fault kinds a run can inject, by name (`--faults` and the
//! `simulate` summary use the names), and which profile allows which.

use std::fmt;

/// One kind of fault the world can suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// `redis.crash`: a node dies, mostly to restart 5-30 s later.
    RedisCrash,
    /// `redis.empty_restart`: a node dies and comes back empty.
    RedisEmptyRestart,
    /// `redis.pause`: a node stops answering for a while (SIGSTOP).
    RedisPause,
    /// `net.partition`: some endpoints are cut off, possibly one way.
    NetPartition,
    /// `arbiter.pause`: an instance stops for longer than its lease.
    ArbiterPause,
    /// `arbiter.crash`: an instance's process dies.
    ArbiterCrash,
    /// `arbiter.crash_after_promote`: an instance dies right after a
    /// promotion, before repointing.
    ArbiterCrashAfterPromote,
    /// `etcd.lease_revoke`: an instance's lease is revoked early.
    EtcdLeaseRevoke,
    /// `etcd.unavailable`: etcd loses quorum for a while.
    EtcdUnavailable,
    /// `config.change`: the group's check interval changes.
    ConfigChange,
    /// `clock.jump`: an instance's clock jumps forward.
    ClockJump,
    /// `operator.switchover`: an operator asks for a switchover.
    OperatorSwitchover,
    /// `calls`: the call points of `Faulty` (any world call may fail).
    Calls,
    /// `redis.restart_with_data`: a node restarts by its persistence mode.
    RedisRestartWithData,
    /// `redis.auth_mismatch`: a node's password changes for a while.
    RedisAuthMismatch,
    /// `arbiter.all_away`: every instance goes away for longer than
    /// `stale_after_ms`.
    ArbiterAllAway,
    /// `operator.bad_switchover`: a switchover to something that cannot be
    /// one.
    OperatorBadSwitchover,
    /// `config.conflict`: one host's configuration is edited, the others
    /// not.
    ConfigConflict,
}

impl FaultKind {
    /// Every kind, in the order a run draws them: those before issue 22,
    /// then what real operations do.
    pub const ALL: [Self; 18] = [
        Self::RedisCrash,
        Self::RedisEmptyRestart,
        Self::RedisPause,
        Self::NetPartition,
        Self::ArbiterPause,
        Self::ArbiterCrash,
        Self::ArbiterCrashAfterPromote,
        Self::EtcdLeaseRevoke,
        Self::EtcdUnavailable,
        Self::ConfigChange,
        Self::ClockJump,
        Self::OperatorSwitchover,
        Self::Calls,
        // Issue 22: what real operations do.
        Self::RedisRestartWithData,
        Self::RedisAuthMismatch,
        Self::ArbiterAllAway,
        Self::OperatorBadSwitchover,
        Self::ConfigConflict,
    ];

    /// How many kinds there were before issue 22 (the first ones of
    /// [`FaultKind::ALL`]).
    pub const BEFORE_ISSUE_22: usize = 13;

    /// The kinds of [`Profile::Trial`](super::Profile::Trial) besides its
    /// scripted departure.
    pub const TRIAL: [Self; 6] = [
        Self::RedisCrash,
        Self::RedisRestartWithData,
        Self::RedisAuthMismatch,
        Self::OperatorBadSwitchover,
        Self::OperatorSwitchover,
        Self::ConfigConflict,
    ];

    /// Its name (`redis.crash`...), as `--faults` and the summary spell it;
    /// also its fault point's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RedisCrash => "redis.crash",
            Self::RedisEmptyRestart => "redis.empty_restart",
            Self::RedisPause => "redis.pause",
            Self::NetPartition => "net.partition",
            Self::ArbiterPause => "arbiter.pause",
            Self::ArbiterCrash => "arbiter.crash",
            Self::ArbiterCrashAfterPromote => "arbiter.crash_after_promote",
            Self::EtcdLeaseRevoke => "etcd.lease_revoke",
            Self::EtcdUnavailable => "etcd.unavailable",
            Self::ConfigChange => "config.change",
            Self::ClockJump => "clock.jump",
            Self::OperatorSwitchover => "operator.switchover",
            Self::Calls => "calls",
            Self::RedisRestartWithData => "redis.restart_with_data",
            Self::RedisAuthMismatch => "redis.auth_mismatch",
            Self::ArbiterAllAway => "arbiter.all_away",
            Self::OperatorBadSwitchover => "operator.bad_switchover",
            Self::ConfigConflict => "config.conflict",
        }
    }

    /// The kind named `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Every name in `names` as a kind, or the error `simulate` prints for
    /// the unknown ones (`unknown fault kinds [...]; known: ...`).
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<Vec<Self>, String> {
        let names: Vec<&String> = names.into_iter().collect();
        let unknown: Vec<&String> = names.iter().copied().filter(|n| Self::named(n).is_none()).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown fault kinds {unknown:?}; known: {}",
                FAULT_KINDS.join(", ")
            ));
        }
        Ok(names.into_iter().filter_map(|n| Self::named(n)).collect())
    }

    /// Whether the scheduler injects it each second of the fault window
    /// (`calls` fire at the world's call points, a crash after a promotion
    /// right after the step that promoted).
    pub fn injected_each_second(self) -> bool {
        !matches!(self, Self::Calls | Self::ArbiterCrashAfterPromote)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const fn names<const N: usize>(kinds: [FaultKind; N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = kinds[i].name();
        i += 1;
    }
    out
}

/// The fault kinds a run can inject (`--faults` chooses among them): those
/// before issue 22, then what real operations do ([`FaultKind::ALL`] by
/// name).
pub const FAULT_KINDS: &[&str] = &names(FaultKind::ALL);

/// The fault kinds before issue 22 widened the world (tests that must stay
/// clean against a controller without its fixes use them, with every node's
/// persistence off: [`SimOptions::before_issue_22`](super::SimOptions::before_issue_22)):
/// the first ones of [`FAULT_KINDS`].
pub const FAULT_KINDS_BEFORE_ISSUE_22: &[&str] = FAULT_KINDS.split_at(FaultKind::BEFORE_ISSUE_22).0;

/// The fault kinds of [`Profile::Trial`](super::Profile::Trial) besides its
/// scripted departure.
pub const TRIAL_FAULTS: &[&str] = &names(FaultKind::TRIAL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_ones_are_named() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::named(kind.name()), Some(kind));
        }
        assert_eq!(FAULT_KINDS[0], "redis.crash");
        assert_eq!(FAULT_KINDS_BEFORE_ISSUE_22.last(), Some(&"calls"));
        let e = FaultKind::parse_all(&["redis.crash".to_string(), "redis.explode".to_string()]).unwrap_err();
        assert!(
            e.starts_with(r#"unknown fault kinds ["redis.explode"]; known: redis.crash, "#),
            "{e}"
        );
    }
}
