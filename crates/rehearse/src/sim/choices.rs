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

/// A `rand::RngCore` drawing from a [`Sim`]'s choice sequence.
#[derive(Clone, Debug)]
pub struct SimRng {
    pub(super) sim: Sim,
}

impl rand::RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        (self.sim.choice() >> 32) as u32
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
