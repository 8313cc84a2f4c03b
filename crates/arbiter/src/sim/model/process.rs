//! The arbiter instances' processes as the world sees them: clock
//! offsets, pauses, crashes and restarts, and a host's own configuration.

use crate::types::{GroupConfig, Millis, NodeId};

/// What the model knows of one arbiter instance's process.
#[derive(Debug, Clone, Default)]
pub struct InstanceModel {
    /// Added to virtual time on this instance's clock (jumps forward only:
    /// it is a monotonic clock, and a jump looks like a suspend).
    pub clock_offset_ms: Millis,
    /// Paused (SIGSTOP) until then.
    pub paused_until: Millis,
    /// Crashed: the process is gone until restarted.
    pub crashed: bool,
    /// Restarts so far.
    pub incarnation: u32,
    /// SIGTERM received (a deploy stops it): it resigns at its next wait,
    /// as the live world's `sleep_until` wakes with `Wake::Shutdown`.
    pub stopping: bool,
    /// Its last process refused to start (its configuration named a node
    /// in cluster mode); the operator fixes the file before restarting it.
    pub refused: bool,
    /// A configuration of this instance's own that differs from the
    /// group's (an operator edited one host only), and its version.
    pub config_override: Option<(GroupConfig, u64)>,
}

/// The election id of incarnation `incarnation` of instance `index`
/// (`arbiter-1`, then `arbiter-1.1` after a restart), also its tape's name.
pub fn instance_id(index: usize, incarnation: u32) -> NodeId {
    if incarnation == 0 {
        NodeId(format!("arbiter-{}", index + 1))
    } else {
        NodeId(format!("arbiter-{}.{}", index + 1, incarnation))
    }
}
