//! The lab's one random source: scheduler order, multinode group ids and tokens all draw
//! from it.
//!
//! ChaCha20 seeded from the operating system, so tokens cannot be guessed; a seed set in the
//! configuration makes a whole run reproducible (tests, reproducing a scheduling decision),
//! at the price of predictable tokens.

use crate::error::{LabError, Result};
use rand::rngs::{ChaCha20Rng, SysRng};
use rand::{Rng, RngExt, SeedableRng};
use std::sync::{Mutex, PoisonError};

/// Letters and digits: LAVA's worker and job tokens are 32 of these.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A seeded cryptographic random source, shared by the lab's operations.
#[derive(Debug)]
pub struct Random(Mutex<ChaCha20Rng>);

impl Random {
    /// A source seeded with `seed` (reproducible), or from the operating system.
    pub fn new(seed: Option<u64>) -> Result<Self> {
        let rng = match seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            None => ChaCha20Rng::try_from_rng(&mut SysRng)
                .map_err(|e| LabError::Random(e.to_string()))?,
        };
        Ok(Random(Mutex::new(rng)))
    }

    fn with<T>(&self, f: impl FnOnce(&mut ChaCha20Rng) -> T) -> T {
        // A panic while holding the lock cannot leave the generator half-updated in a way
        // that matters: keep drawing from it.
        let mut rng = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut rng)
    }

    /// A random 64-bit number (e.g. the seed of one scheduling pass's device order).
    pub fn next_u64(&self) -> u64 {
        self.with(|rng| rng.next_u64())
    }

    /// A token as LAVA makes worker and job tokens: 32 letters and digits.
    pub fn token(&self) -> String {
        self.with(|rng| {
            (0..32)
                .map(|_| {
                    let i = rng.random_range(0..ALPHANUMERIC.len());
                    char::from(ALPHANUMERIC[i])
                })
                .collect()
        })
    }

    /// An API token secret: 32 random bytes as 64 hex digits (only its digest is stored).
    pub fn api_token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.with(|rng| rng.fill_bytes(&mut bytes));
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A random (version 4) UUID in its usual text form, as LAVA names multinode groups.
    pub fn uuid(&self) -> String {
        let mut b = [0u8; 16];
        self.with(|rng| rng.fill_bytes(&mut b));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_makes_it_reproducible() {
        let a = Random::new(Some(7)).unwrap();
        let b = Random::new(Some(7)).unwrap();
        assert_eq!(a.token(), b.token());
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(a.token(), a.token());
    }

    #[test]
    fn shapes_are_lavas() {
        let r = Random::new(None).unwrap();
        let token = r.token();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|c| c.is_ascii_alphanumeric()), "{token}");
        assert_eq!(r.api_token().len(), 64);
        let uuid = r.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
    }
}
