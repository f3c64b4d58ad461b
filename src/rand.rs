//! A small seedable generator (SplitMix64) for choices that must look random but need not be
//! secure: which requests a bin's fault rate fails, how far a retry delay is jittered.
//!
//! Pure: no clock, no I/O, no state of its own (the caller owns the seed); uses nothing else in
//! the crate.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The generator's state after `draws` draws from `seed` (SplitMix64 only adds its increment),
/// so a draw counter kept elsewhere (the shared store) gives the same sequence.
pub fn after_draws(seed: u64, draws: u64) -> u64 {
    seed.wrapping_add(draws.wrapping_mul(GAMMA))
}

/// Advances `state` and returns a uniform number in [0, 1).
pub fn next_f64(state: &mut u64) -> f64 {
    *state = state.wrapping_add(GAMMA);
    unit(*state)
}

/// [`next_f64`] for a generator shared between threads: the same sequence for the same seed.
pub fn next_f64_shared(state: &AtomicU64) -> f64 {
    unit(
        state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA),
    )
}

/// The next 64 random bits of a generator shared between threads.
pub fn next_u64_shared(state: &AtomicU64) -> u64 {
    mix(state
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA))
}

/// SplitMix64's output mix of the advanced state.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The mixed state as the top 53 bits of a fraction.
fn unit(z: u64) -> f64 {
    (mix(z) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_after_n_draws_continues_the_same_sequence() {
        let mut plain = 7;
        for _ in 0..5 {
            next_f64(&mut plain);
        }
        let mut jumped = after_draws(7, 5);
        assert_eq!(next_f64(&mut plain), next_f64(&mut jumped));
    }

    #[test]
    fn the_shared_generator_draws_the_same_sequence_as_the_plain_one() {
        let mut plain = 42;
        let shared = AtomicU64::new(42);
        for _ in 0..100 {
            let (a, b) = (next_f64(&mut plain), next_f64_shared(&shared));
            assert_eq!(a, b);
            assert!((0.0..1.0).contains(&a), "{a}");
        }
    }

    #[test]
    fn splitmix64_gives_the_reference_outputs_for_seed_zero() {
        // the first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation)
        let mut s = 0;
        let first = [0xE220_A839_7B1D_CDAF_u64, 0x6E78_9E6A_A1B9_65F4];
        for want in first {
            assert_eq!(next_f64(&mut s), (want >> 11) as f64 / (1u64 << 53) as f64);
        }
    }
}
