//! HTTP basic authentication as LAVA reads it: `Authorization: Basic base64(USER:TOKEN)`,
//! which lavacli sends for `http://USER:TOKEN@host/RPC2`.
//!
//! A request without the header is anonymous. A header that cannot be read is answered
//! with HTTP 400, and a user/token pair that does not match with HTTP 401, before any
//! method runs (LAVA's `linaro_django_xmlrpc.views.handler`).

use base64::Engine;
use thiserror::Error;

/// Why the `Authorization` header was refused, with LAVA's HTTP status and text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No space between scheme and value.
    #[error("Invalid HTTP_AUTHORIZATION header")]
    Malformed,
    /// A scheme other than Basic.
    #[error("Unsupported HTTP_AUTHORIZATION header, only Basic scheme is supported")]
    UnsupportedScheme,
    /// The value is not base64 of UTF-8.
    #[error("Corrupted HTTP_AUTHORIZATION header, bad base64 encoding")]
    BadEncoding,
    /// The decoded value has no `:`.
    #[error("Corrupted HTTP_AUTHORIZATION header, no user:pass")]
    NoUserPass,
    /// The user/token pair matches no token.
    #[error("Invalid token")]
    InvalidToken,
}

impl AuthError {
    /// The HTTP status LAVA answers.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InvalidToken => 401,
            _ => 400,
        }
    }
}

/// The username and token of an `Authorization` header value.
pub fn parse_basic(header: &[u8]) -> Result<(String, String), AuthError> {
    let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
    let (scheme, value) = header.split_once(' ').ok_or(AuthError::Malformed)?;
    if scheme != "Basic" {
        return Err(AuthError::UnsupportedScheme);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| AuthError::BadEncoding)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthError::BadEncoding)?;
    let (user, token) = decoded.split_once(':').ok_or(AuthError::NoUserPass)?;
    Ok((user.to_owned(), token.to_owned()))
}

/// The header value lavacli would send for a user and token.
pub fn basic_header(username: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"))
    )
}

/// The characters of a token, as LAVA draws them.
const TOKEN_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The length of a token, as LAVA's `AuthToken.secret`.
pub const TOKEN_LENGTH: usize = 128;

/// A new random token (128 characters from `[0-9a-z]`, like LAVA's), for `lava-admin tokens
/// add`. Reads the kernel's random source.
pub fn generate_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut source = std::fs::File::open("/dev/urandom")?;
    let mut token = String::with_capacity(TOKEN_LENGTH);
    let mut buf = [0u8; 256];
    // Rejection sampling keeps every character equally likely: 252 = 7 * 36.
    while token.len() < TOKEN_LENGTH {
        source.read_exact(&mut buf)?;
        for byte in buf {
            if byte < 252 && token.len() < TOKEN_LENGTH {
                token.push(char::from(TOKEN_ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    Ok(token)
}

/// Compares two tokens in time that depends on their lengths only, so that timing does not
/// tell how much of a guess was right.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_eq!(a.len(), TOKEN_LENGTH);
        assert!(a.bytes().all(|c| TOKEN_ALPHABET.contains(&c)));
        assert_ne!(a, b);
        assert!(tokens_match(&a, &a.clone()));
        assert!(!tokens_match(&a, &b));
        assert!(!tokens_match("abc", "abcd"));
    }

    #[test]
    fn round_trip_and_errors() {
        let header = basic_header("admin", "s3cr:et");
        assert_eq!(
            parse_basic(header.as_bytes()).unwrap(),
            ("admin".to_owned(), "s3cr:et".to_owned())
        );
        assert_eq!(parse_basic(b"Basic"), Err(AuthError::Malformed));
        assert_eq!(parse_basic(b"Bearer x"), Err(AuthError::UnsupportedScheme));
        assert_eq!(parse_basic(b"Basic !!!"), Err(AuthError::BadEncoding));
        let no_colon = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin")
        );
        assert_eq!(parse_basic(no_colon.as_bytes()), Err(AuthError::NoUserPass));
        assert_eq!(AuthError::InvalidToken.status(), 401);
        assert_eq!(AuthError::NoUserPass.status(), 400);
    }
}
