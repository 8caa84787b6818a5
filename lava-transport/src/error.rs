//! Errors of the transport layer: sockets, threads and certificate files.

use std::path::PathBuf;

use crate::curve::KeyError;

/// Something a transport could not do, naming the endpoint, identity or file involved.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// libzmq refused an operation on a socket (bind, connect, an option).
    #[error("{action} {endpoint}: {source}")]
    Socket {
        /// What was being done, e.g. "bind" or "set CURVE server on".
        action: &'static str,
        /// The endpoint the socket is for.
        endpoint: String,
        /// libzmq's reason.
        source: zmq::Error,
    },
    /// CURVE was asked for, but the linked libzmq has no CURVE support.
    #[error("libzmq was built without CURVE: link the system libzmq (libzmq3-dev, see .cargo/config.toml)")]
    NoCurve,
    /// The transport was closed, or its socket thread has stopped.
    #[error("the transport is closed")]
    Closed,
    /// An endpoint is already bound by another in-memory master or log sink.
    #[error("endpoint {0} is already bound")]
    AddressInUse(String),
    /// A routing identity that ZeroMQ cannot carry (empty, longer than 255 bytes, or
    /// starting with a NUL byte, which libzmq reserves for generated identities).
    #[error("invalid identity {identity:?}: {problem}")]
    Identity {
        /// The identity as given.
        identity: String,
        /// Why it is refused.
        problem: &'static str,
    },
    /// A thread (socket pump or ZAP handler) could not be started.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A certificate file or directory is missing or malformed.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// A certificate file or allow-list directory that cannot be used, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The file or directory could not be read.
    #[error("cannot read certificate {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A certificate could not be written.
    #[error("cannot write certificate {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not a ZPL certificate (not UTF-8, or a line that cannot be parsed).
    #[error("certificate {path}, line {line}: {problem}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A required entry is absent, e.g. `curve/secret-key` in a file used as a key pair.
    #[error("certificate {path} has no {entry} (is it a ZeroMQ certificate{hint}?)")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The missing entry, e.g. `curve/public-key`.
        entry: &'static str,
        /// A hint added to the message.
        hint: &'static str,
    },
    /// A key that is not a 40-character Z85 CURVE key.
    #[error("certificate {path}, line {line}: {entry}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// `public-key` or `secret-key`.
        entry: &'static str,
        /// Why the key is refused.
        source: KeyError,
    },
    /// The secret key does not belong to the public key of the same file.
    #[error("certificate {path}: secret-key does not match public-key")]
    Mismatch {
        /// The file.
        path: PathBuf,
    },
    /// A certificate name that would escape the directory or clash with the suffixes.
    #[error("invalid certificate name {name:?}: {problem}")]
    Name {
        /// The name as given.
        name: String,
        /// Why it is refused.
        problem: &'static str,
    },
    /// A metadata entry that cannot be written as ZPL.
    #[error("certificate metadata {name:?}: {problem}")]
    Metadata {
        /// The entry's name.
        name: String,
        /// Why it is refused.
        problem: &'static str,
    },
    /// libzmq could not generate or check a key pair.
    #[error("CURVE key operation failed: {0}")]
    Zmq(zmq::Error),
}
