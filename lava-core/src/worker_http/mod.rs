//! LAVA's HTTP worker protocol (`lava-worker`, LAVA 2020.09 and later), the server's side,
//! sans-IO: the codecs of what lava-worker and lava-run send ([`form`], [`batch`]), the
//! auto-registration netmask ([`Netmask`]), token comparison ([`tokens_match`]) and the
//! state machine ([`HttpMaster`]) that turns pings, job fetches and state reports into the
//! same decisions the ZeroMQ [`Master`](crate::master::Master) makes.
//!
//! The facts come from `shared/spec/worker-http.md`; `docs/worker-http.md` says how lava-rs
//! serves it. Everything lives under [`API_PREFIX`] on the same HTTP port as `/RPC2`.

pub mod batch;
pub mod form;
mod machine;
mod netmask;
pub mod websocket;

pub use machine::{
    Event, FetchAnswer, FinishedReport, HttpMaster, HttpMasterConfig, JobLists, JobRef, PingAnswer,
    ReportAnswer,
};
pub use netmask::{Netmask, NetmaskError, DEFAULT_AUTO_REGISTER_NETMASKS};

/// Where LAVA serves the worker API (every path ends with a slash, as Django routes it).
pub const API_PREFIX: &str = "/scheduler/internal/v1/";

/// The header that carries a worker or job token.
pub const TOKEN_HEADER: &str = "LAVA-Token";

/// Whether `given` is `expected`, in a time that does not depend on where they differ
/// (LAVA compares tokens with `hmac.compare_digest` from 2023.01). Only the length, which
/// is the same for every token the lab makes, can be learnt from the time.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc"));
        assert!(!tokens_match("ab", "abc"));
        assert!(!tokens_match("", "abc"));
        assert!(tokens_match("", ""));
    }
}
