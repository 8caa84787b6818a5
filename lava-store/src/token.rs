//! API tokens: generated from the OS's random source, stored only as SHA-256 digests.
//!
//! A token is 32 random bytes, so an unsalted fast digest is enough: nobody can guess one
//! from its digest, and equal digests identify the token without a per-row salt lookup.

use crate::error::{Result, StoreError};
use sha2::{Digest, Sha256};
use std::io::Read;

/// The hex SHA-256 digest of a token secret, as the stores keep it.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new token secret: 32 bytes from `/dev/urandom`, as 64 lowercase hex digits.
pub fn generate_token() -> Result<String> {
    let path = std::path::Path::new("/dev/urandom");
    let mut bytes = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        // The SHA-256 test vector of FIPS 180-2 for "abc".
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_tokens_differ() {
        let a = generate_token().ok();
        let b = generate_token().ok();
        assert!(a.is_some());
        assert_eq!(a.as_ref().map(String::len), Some(64));
        assert_ne!(a, b);
    }
}
