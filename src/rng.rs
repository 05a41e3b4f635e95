//! A small deterministic generator (splitmix64), so what is made from a seed (the demo data,
//! the seeded property tests, request ids) is the same on every run. Never for secrets: those
//! come from the OS (`auth::secret`).

/// splitmix64: the state steps by a constant and each output is [`mix`] of it.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

/// splitmix64's step.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A number below `n` (`n` must not be 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// splitmix64's finalizer: a bijection on `u64` that spreads every input bit over the output,
/// so distinct inputs (a counter) give distinct, unpatterned outputs.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_splitmix64() {
        // The first outputs for seed 0 of the reference splitmix64 (Vigna).
        let mut r = Rng(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert!(r.below(7) < 7);
    }
}
