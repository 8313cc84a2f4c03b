//! Planted bugs: realistic mistakes the simulation must find
//! ([`crate::types::Bug`]), compiled only with the `planted-bugs`
//! feature. Without it [`Planted`] holds nothing, [`planted!`] is
//! `false` without looking at its argument, and no code path of the
//! machine names a bug.

use crate::types::Epoch;

/// `planted!(planted, Bug)`: whether the planted bug `Bug` is on in
/// `planted` (a [`Planted`]). Always `false` without the feature.
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($planted:expr, $bug:ident) => {
        $planted.on(crate::types::Bug::$bug)
    };
}

/// `planted!(planted, Bug)`: always `false` without the `planted-bugs`
/// feature (`planted` is only borrowed).
#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($planted:expr, $bug:ident) => {{
        let _: &$crate::machine::Planted = &$planted;
        false
    }};
}

/// The planted bugs a machine runs with: none, and nothing to hold any,
/// without the `planted-bugs` feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planted {
    #[cfg(feature = "planted-bugs")]
    bugs: std::collections::BTreeSet<crate::types::Bug>,
}

#[cfg(feature = "planted-bugs")]
impl Planted {
    /// These bugs switched on.
    pub fn new(bugs: impl IntoIterator<Item = crate::types::Bug>) -> Self {
        Self {
            bugs: bugs.into_iter().collect(),
        }
    }

    /// Whether `bug` is on.
    pub fn on(&self, bug: crate::types::Bug) -> bool {
        self.bugs.contains(&bug)
    }
}

impl super::Machine {
    /// The epoch commands and record writes carry under `epoch`: with the
    /// `SkipFencing` planted bug its negation, which the simulated world
    /// takes as "not fenced".
    pub(super) fn fence(&self, epoch: Epoch) -> Epoch {
        if planted!(self.ctx.planted, SkipFencing) {
            Epoch(-epoch.get())
        } else {
            epoch
        }
    }
}
