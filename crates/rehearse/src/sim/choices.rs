//! Where choices come from and how they are written down: the seed's
//! generator, the `meta.choices` text of a scenario header, and [`SimRng`].

use super::Sim;

/// SplitMix64: tiny, fast, and the generator every seed's fresh choices
/// come from. Its sequence for a seed never changes across versions.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    #[inline]
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Encodes a choice sequence for a scenario header (`meta.choices`).
pub(crate) fn encode_choices(choices: &[u64]) -> String {
    let mut s = String::with_capacity(choices.len() * 8);
    for (i, c) in choices.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{c:x}"));
    }
    s
}

/// Decodes the `meta.choices` text of a scenario header (comma-separated
/// hex `u64`s, as a sweep writes them).
pub fn decode_choices(text: &str) -> Result<Vec<u64>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            u64::from_str_radix(part.trim(), 16).map_err(|e| format!("choice {i} `{part}` is not a hex u64: {e}"))
        })
        .collect()
}

/// How a run read one choice: what the shrinker needs to try the values
/// that draw can give (a `below(3)` draw has three, not 2^64).
///
/// Each kind maps the raw `u64` to a *level*, monotonically: smaller raw
/// choices give smaller (or equal) levels, and level 0 is what a zero
/// choice gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    /// [`Sim::choice`], `next_u64` and bytes: the value itself.
    Raw,
    /// [`Sim::below`]`(n)`: `(choice * n) >> 64`.
    Below(u64),
    /// [`Sim::chance`]: fires (level 1) when the choice is above this.
    Above(u64),
    /// `SimRng::next_u32`: the low 32 bits.
    Low32,
}

impl Draw {
    /// The level the raw choice `v` gives.
    pub(crate) fn level(self, v: u64) -> u64 {
        match self {
            Self::Raw => v,
            Self::Below(n) => ((u128::from(v) * u128::from(n)) >> 64) as u64,
            Self::Above(t) => u64::from(v > t),
            Self::Low32 => v & 0xFFFF_FFFF,
        }
    }

    /// The smallest raw choice that gives `level` (levels past the top
    /// give the top one).
    pub(crate) fn raw(self, level: u64) -> u64 {
        match self {
            Self::Raw => level,
            Self::Below(n) => {
                if n == 0 || level == 0 {
                    return 0;
                }
                let level = level.min(n - 1);
                // ceil(level * 2^64 / n)
                let x = (u128::from(level) << 64).div_ceil(u128::from(n));
                x.min(u128::from(u64::MAX)) as u64
            }
            Self::Above(t) => {
                if level == 0 {
                    0
                } else {
                    t.saturating_add(1)
                }
            }
            Self::Low32 => level.min(0xFFFF_FFFF),
        }
    }
}

/// A `rand::RngCore` drawing from a [`Sim`]'s choice sequence.
///
/// `next_u32` is the choice's low 32 bits and `next_u64` the choice, so
/// smaller choices give smaller numbers: `next_u32() % n` and
/// `random_range` shrink toward the low end of their range.
#[derive(Clone, Debug)]
pub struct SimRng {
    pub(super) sim: Sim,
}

impl rand::RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        // The low bits: a choice shrunk to k gives k (the high bits would
        // make every small choice 0, and `% n` could not shrink to 1).
        self.sim.state.borrow_mut().draw(Draw::Low32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.sim.choice()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.sim.choice().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
