//! CurveZMQ: keys, certificate files in the ZPL format that pyzmq writes, and the ZAP
//! handler that admits only the client keys of an allow-list directory.

pub mod cert;
pub mod z85;
pub(crate) mod zap;

use std::fmt;

pub use cert::{
    create_certificates, read_certificate, read_key_pair, read_public_key, write_certificates,
    Certificate,
};
pub use zap::{AllowList, AuthDecision};

use crate::error::CertificateError;

/// Length of a CURVE key in bytes.
pub const KEY_LEN: usize = 32;

/// Why a text is not a CURVE key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not Z85 text.
    #[error("not a Z85 key: {0}")]
    Z85(#[from] z85::Z85Error),
    /// Z85, but not 40 characters (32 bytes).
    #[error("a CURVE key has 40 Z85 characters, this one has {0}")]
    Length(usize),
}

fn key_from_z85(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let characters = text.chars().count();
    if characters != 40 {
        return Err(KeyError::Length(characters));
    }
    let bytes = z85::decode(text)?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(characters))
}

fn key_to_z85(key: &[u8; KEY_LEN]) -> String {
    // 32 is a multiple of 4, so encoding cannot fail.
    z85::encode(key).unwrap_or_default()
}

/// A CURVE public key: what a certificate's `.key` file holds and what the allow-list matches.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Parses a 40-character Z85 key.
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        key_from_z85(text).map(Self)
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        key_to_z85(&self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A key from its raw 32 bytes (as ZAP requests carry it).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

/// A CURVE secret key. Its `Debug` form does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Parses a 40-character Z85 key.
    pub fn from_z85(text: &str) -> Result<Self, KeyError> {
        key_from_z85(text).map(Self)
    }

    /// The key as 40 Z85 characters (for writing a `.key_secret` file).
    pub fn to_z85(&self) -> String {
        key_to_z85(&self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// A CURVE key pair whose halves are known to belong together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    public: PublicKey,
    secret: SecretKey,
}

impl KeyPair {
    /// A fresh key pair from libzmq (libsodium's random source).
    pub fn generate() -> Result<Self, CertificateError> {
        let pair = zmq::CurveKeyPair::new().map_err(CertificateError::Zmq)?;
        Ok(Self {
            public: PublicKey(pair.public_key),
            secret: SecretKey(pair.secret_key),
        })
    }

    /// Joins a public and a secret key; `None` if the secret key's public half is another key.
    pub fn from_parts(
        public: PublicKey,
        secret: SecretKey,
    ) -> Result<Option<Self>, CertificateError> {
        let derived = public_of(&secret)?;
        Ok((derived == public).then_some(Self { public, secret }))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The secret half.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }
}

// libzmq's function (zmq.h, 4.2+); zmq-sys declares it but does not export it.
extern "C" {
    fn zmq_curve_public(
        z85_public_key: *mut std::os::raw::c_char,
        z85_secret_key: *const std::os::raw::c_char,
    ) -> std::os::raw::c_int;
}

/// The public key of a secret key (Curve25519 scalar multiplication, done by libzmq).
fn public_of(secret: &SecretKey) -> Result<PublicKey, CertificateError> {
    let secret_z85 = std::ffi::CString::new(secret.to_z85())
        .map_err(|_| CertificateError::Zmq(zmq::Error::EINVAL))?;
    let mut public_z85 = [0u8; 41];
    // SAFETY: zmq_curve_public reads a NUL-terminated 40-character Z85 secret key and writes
    // a NUL-terminated 40-character Z85 public key into a 41-byte buffer; both buffers live
    // across the call.
    let rc = unsafe { zmq_curve_public(public_z85.as_mut_ptr().cast(), secret_z85.as_ptr()) };
    if rc != 0 {
        return Err(CertificateError::Zmq(zmq::Error::from_raw(
            // SAFETY: reads libzmq's thread-local errno; no arguments.
            unsafe { zmq_sys::zmq_errno() },
        )));
    }
    let text = std::str::from_utf8(&public_z85[..40])
        .map_err(|_| CertificateError::Zmq(zmq::Error::EINVAL))?;
    PublicKey::from_z85(text).map_err(|_| CertificateError::Zmq(zmq::Error::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_check_out_and_differ() {
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public(), b.public());
        let same = KeyPair::from_parts(*a.public(), a.secret().clone()).unwrap();
        assert_eq!(same.as_ref(), Some(&a));
        let crossed = KeyPair::from_parts(*a.public(), b.secret().clone()).unwrap();
        assert_eq!(crossed, None);
    }

    #[test]
    fn z85_keys_round_trip_and_reject_wrong_lengths() {
        let pair = KeyPair::generate().unwrap();
        let text = pair.public().to_z85();
        assert_eq!(text.len(), 40);
        assert_eq!(PublicKey::from_z85(&text), Ok(*pair.public()));
        assert_eq!(PublicKey::from_z85("HelloWorld"), Err(KeyError::Length(10)));
        assert!(!format!("{:?}", pair.secret()).contains(&pair.secret().to_z85()));
    }
}
