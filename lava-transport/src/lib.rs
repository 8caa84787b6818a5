//! Transports for lava-rs: ZeroMQ through libzmq (with CurveZMQ and a ZAP allow-list) and an
//! in-memory transport with the same interface for tests.

/// Whether the linked libzmq supports CurveZMQ (Debian's does; the vendored zmq-sys build does not).
pub fn has_curve() -> bool {
    zmq::has("curve").unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn linked_libzmq_has_curve() {
        assert!(
            super::has_curve(),
            "libzmq was linked without CURVE: install libzmq3-dev and keep .cargo/config.toml"
        );
    }
}
