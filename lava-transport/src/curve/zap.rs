//! The ZAP handler (ZeroMQ RFC 27) that decides which CURVE clients may connect.
//!
//! libzmq asks a REP socket bound to `inproc://zeromq.zap.01`, in the context of the
//! CURVE server socket, about each handshake. This handler accepts a client whose public
//! key appears in a `*.key` certificate of the allow-list directory, as LAVA's master does
//! with pyzmq's `ThreadAuthenticator`; the rejected client never reaches the application.
//!
//! **Reloading.** At every handshake the handler compares the directory's listing of
//! `*.key` files (name, size, modification time, inode) with the one it loaded from, and
//! re-reads the certificates when anything differs. A key added, removed or replaced is
//! therefore in force from the next handshake on, without a restart, without a timer and
//! without inotify. The cost is one `readdir` plus a `stat` per `*.key` file per handshake.
//! An unreadable or malformed file is logged (naming it) and skipped; the others stay valid.
//!
//! **Whom a key may be.** A certificate names the worker it belongs to by its file name,
//! as LAVA names slave certificates after the slave: `worker01.key` admits its key as
//! worker `worker01` only. A key found in several files may be each of their names (a lab
//! sharing one key pair copies the public file once per worker: `worker01.key`,
//! `worker02.key`, …). The accepted connection carries these names as its ZAP user id
//! (space-separated), which the master compares with the identity each message claims.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;

use tokio::sync::broadcast;

use super::cert::{read_public_key, PUBLIC_SUFFIX};
use super::PublicKey;
use crate::error::{CertificateError, TransportError};
use crate::zeromq::wakeup::{self, Waker};

/// The endpoint libzmq sends ZAP requests to (RFC 27).
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// One `*.key` entry of the directory listing: name, size, mtime (ns), inode.
type Stamp = (OsString, u64, i128, u64);

/// The public keys allowed to connect: those of the `*.key` files of one directory.
#[derive(Debug)]
pub struct AllowList {
    dir: PathBuf,
    listing: Vec<Stamp>,
    /// Each allowed key with the worker names (file names without `.key`) it may be.
    keys: HashMap<PublicKey, BTreeSet<String>>,
}

impl AllowList {
    /// Loads the keys of `dir`; fails only if the directory itself cannot be read.
    pub fn load(dir: &Path) -> Result<Self, CertificateError> {
        let listing = listing(dir)?;
        let keys = load_keys(dir, &listing);
        tracing::info!(dir = %dir.display(), keys = keys.len(), "CURVE allow-list loaded");
        Ok(Self {
            dir: dir.to_owned(),
            listing,
            keys,
        })
    }

    /// The directory the keys come from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `key` may connect.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.contains_key(key)
    }

    /// The worker names `key` may be (its certificates' file names without `.key`), in
    /// order; `None` when the key is not allowed.
    pub fn names(&self, key: &PublicKey) -> Option<&BTreeSet<String>> {
        self.keys.get(key)
    }

    /// How many distinct keys are allowed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is allowed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Re-reads the certificates if the directory's listing changed; returns whether it did.
    /// A directory that became unreadable empties the list (no key is accepted then).
    pub fn refresh(&mut self) -> bool {
        let current = match listing(&self.dir) {
            Ok(current) => current,
            Err(error) => {
                if !self.keys.is_empty() || !self.listing.is_empty() {
                    tracing::error!(%error, "CURVE allow-list unreadable: no client is accepted");
                }
                self.listing.clear();
                self.keys.clear();
                return true;
            }
        };
        if current == self.listing {
            return false;
        }
        self.keys = load_keys(&self.dir, &current);
        self.listing = current;
        tracing::info!(dir = %self.dir.display(), keys = self.keys.len(), "CURVE allow-list reloaded");
        true
    }
}

/// The sorted `*.key` entries of `dir` (hidden files excluded, as a shell glob does).
fn listing(dir: &Path) -> Result<Vec<Stamp>, CertificateError> {
    let read_error = |source| CertificateError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut stamps = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with('.') || !text.ends_with(PUBLIC_SUFFIX) {
            continue;
        }
        // Follows symlinks, so that a replaced link target counts as a change.
        let stamp = match fs::metadata(entry.path()) {
            Ok(meta) => (
                name,
                meta.len(),
                i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                meta.ino(),
            ),
            Err(_) => (name, 0, 0, 0),
        };
        stamps.push(stamp);
    }
    stamps.sort();
    Ok(stamps)
}

fn load_keys(dir: &Path, listing: &[Stamp]) -> HashMap<PublicKey, BTreeSet<String>> {
    let mut keys: HashMap<PublicKey, BTreeSet<String>> = HashMap::new();
    for (name, ..) in listing {
        match read_public_key(&dir.join(name)) {
            Ok(key) => {
                let text = name.to_string_lossy();
                let worker = text.strip_suffix(PUBLIC_SUFFIX).unwrap_or(&text);
                keys.entry(key).or_default().insert(worker.to_owned());
            }
            Err(error) => {
                tracing::warn!(%error, "certificate skipped in the CURVE allow-list");
            }
        }
    }
    keys
}

/// One decision of the ZAP handler, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthDecision {
    /// The client's public key.
    pub key: PublicKey,
    /// The client's address as libzmq reports it (e.g. `127.0.0.1`).
    pub address: String,
    /// Whether the client was admitted.
    pub accepted: bool,
}

/// How many decisions a slow subscriber may miss before it lags.
const DECISION_BUFFER: usize = 64;

/// The running ZAP handler; dropping it stops its thread.
#[derive(Debug)]
pub(crate) struct Authenticator {
    waker: Option<Waker>,
    thread: Option<thread::JoinHandle<()>>,
    decisions: broadcast::Sender<AuthDecision>,
}

impl Authenticator {
    /// Binds the ZAP endpoint in `context` and serves it on a thread. Must happen before
    /// any CURVE server socket of that context accepts connections: without a handler,
    /// libzmq would admit every client.
    pub(crate) fn start(context: &zmq::Context, allow: AllowList) -> Result<Self, TransportError> {
        let socket_error = |action, source| TransportError::Socket {
            action,
            endpoint: ZAP_ENDPOINT.to_owned(),
            source,
        };
        let socket = context
            .socket(zmq::REP)
            .map_err(|e| socket_error("create ZAP socket for", e))?;
        socket
            .set_linger(0)
            .map_err(|e| socket_error("set linger on", e))?;
        socket
            .bind(ZAP_ENDPOINT)
            .map_err(|e| socket_error("bind", e))?;
        let (waker, wake) = wakeup::pair().map_err(|source| TransportError::Thread {
            what: "ZAP handler",
            source,
        })?;
        let (decisions, _) = broadcast::channel(DECISION_BUFFER);
        let sender = decisions.clone();
        let thread = thread::Builder::new()
            .name("zmq-zap".to_owned())
            .spawn(move || serve(socket, wake, allow, &sender))
            .map_err(|source| TransportError::Thread {
                what: "ZAP handler",
                source,
            })?;
        Ok(Self {
            waker: Some(waker),
            thread: Some(thread),
            decisions,
        })
    }

    /// Decisions made from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<AuthDecision> {
        self.decisions.subscribe()
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        // Closing the waker makes its descriptor readable (end of file): the thread stops.
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: zmq::Socket,
    wake: wakeup::WakeReceiver,
    mut allow: AllowList,
    decisions: &broadcast::Sender<AuthDecision>,
) {
    loop {
        let mut items = [
            socket.as_poll_item(zmq::POLLIN),
            zmq::PollItem::from_fd(wake.fd(), zmq::POLLIN),
        ];
        match zmq::poll(&mut items, -1) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(error) => {
                tracing::error!(%error, "ZAP handler stopped");
                return;
            }
        }
        if items[1].is_readable() {
            return;
        }
        if !items[0].is_readable() {
            continue;
        }
        let request = match socket.recv_multipart(zmq::DONTWAIT) {
            Ok(request) => request,
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
            Err(error) => {
                tracing::error!(%error, "ZAP handler stopped");
                return;
            }
        };
        let (reply, decision) = answer(&request, &mut allow);
        if let Some(decision) = decision {
            // No subscriber is not an error.
            let _ = decisions.send(decision);
        }
        if let Err(error) = socket.send_multipart(reply, 0) {
            tracing::error!(%error, "ZAP reply not sent");
        }
    }
}

/// The reply to one ZAP request: version, request id, status code, status text, user id,
/// metadata; and for a CURVE client, the decision.
fn answer(request: &[Vec<u8>], allow: &mut AllowList) -> (Vec<Vec<u8>>, Option<AuthDecision>) {
    let reply = |id: &[u8], code: &str, text: &str, user: &str| {
        vec![
            b"1.0".to_vec(),
            id.to_vec(),
            code.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.as_bytes().to_vec(),
            Vec::new(),
        ]
    };
    // version, request id, domain, address, identity, mechanism, credentials...
    let [version, id, _domain, address, _identity, mechanism, credentials @ ..] = request else {
        tracing::warn!(frames = request.len(), "malformed ZAP request");
        let id = request.get(1).map(Vec::as_slice).unwrap_or_default();
        return (reply(id, "500", "malformed ZAP request", ""), None);
    };
    if version.as_slice() != b"1.0" {
        return (reply(id, "500", "unsupported ZAP version", ""), None);
    }
    let address = String::from_utf8_lossy(address);
    match mechanism.as_slice() {
        // A plaintext socket sharing the context: it was not asked to authenticate.
        b"NULL" => (reply(id, "200", "OK", ""), None),
        b"CURVE" => {
            let key = credentials
                .first()
                .and_then(|key| <[u8; 32]>::try_from(key.as_slice()).ok())
                .map(PublicKey::from_bytes);
            let Some(key) = key else {
                return (
                    reply(id, "500", "CURVE request without a 32-byte key", ""),
                    None,
                );
            };
            allow.refresh();
            let names = allow.names(&key);
            let accepted = names.is_some();
            let answer = if let Some(names) = names {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let names = names.join(" ");
                tracing::debug!(%key, %address, workers = %names, "CURVE client accepted");
                reply(id, "200", "OK", &names)
            } else {
                tracing::warn!(
                    %key, %address, dir = %allow.dir().display(),
                    "CURVE client rejected: its key is in no *.key file of the allow-list"
                );
                reply(id, "400", "unknown key", "")
            };
            let decision = AuthDecision {
                key,
                address: address.into_owned(),
                accepted,
            };
            (answer, Some(decision))
        }
        other => {
            tracing::warn!(mechanism = %String::from_utf8_lossy(other), %address, "ZAP mechanism refused");
            (reply(id, "400", "mechanism not allowed", ""), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::{create_certificates, read_public_key};

    fn request(mechanism: &str, key: &[u8]) -> Vec<Vec<u8>> {
        vec![
            b"1.0".to_vec(),
            b"7".to_vec(),
            b"".to_vec(),
            b"127.0.0.1".to_vec(),
            b"".to_vec(),
            mechanism.as_bytes().to_vec(),
            key.to_vec(),
        ]
    }

    #[test]
    fn answers_by_the_directory_and_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (known, _) = create_certificates(dir.path(), "known").unwrap();
        let known = read_public_key(&known).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let (later, later_secret) = create_certificates(elsewhere.path(), "later").unwrap();
        let later_key = read_public_key(&later).unwrap();
        fs::write(dir.path().join("broken.key"), "not a certificate").unwrap();
        // Secret files and hidden files are not part of the allow-list.
        fs::copy(&later_secret, dir.path().join("later.key_secret")).unwrap();
        fs::copy(&later, dir.path().join(".later.key")).unwrap();

        let mut allow = AllowList::load(dir.path()).unwrap();
        assert_eq!(allow.len(), 1);
        let (ok, decision) = answer(&request("CURVE", known.as_bytes()), &mut allow);
        assert_eq!(
            decision.map(|d| (d.key, d.address, d.accepted)),
            Some((known, "127.0.0.1".to_owned(), true))
        );
        assert_eq!(ok[0], b"1.0");
        assert_eq!(ok[1], b"7");
        assert_eq!(ok[2], b"200");
        // The user id names the workers the key may be: its file names.
        assert_eq!(ok[4], b"known");
        let (no, _) = answer(&request("CURVE", later_key.as_bytes()), &mut allow);
        assert_eq!(no[2], b"400");

        fs::copy(&later, dir.path().join("later.key")).unwrap();
        let (now_ok, _) = answer(&request("CURVE", later_key.as_bytes()), &mut allow);
        assert_eq!(now_ok[2], b"200");
        assert_eq!(allow.len(), 2);
        // One key in two files: it may be either worker.
        fs::copy(&later, dir.path().join("worker02.key")).unwrap();
        let (both, _) = answer(&request("CURVE", later_key.as_bytes()), &mut allow);
        assert_eq!(both[4], b"later worker02");

        fs::remove_file(dir.path().join("known.key")).unwrap();
        let (gone, _) = answer(&request("CURVE", known.as_bytes()), &mut allow);
        assert_eq!(gone[2], b"400");
    }

    #[test]
    fn malformed_requests_get_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut allow = AllowList::load(dir.path()).unwrap();
        assert_eq!(answer(&[], &mut allow).0[2], b"500");
        assert_eq!(answer(&request("CURVE", b"short"), &mut allow).0[2], b"500");
        assert_eq!(answer(&request("PLAIN", b"user"), &mut allow).0[2], b"400");
        assert_eq!(answer(&request("NULL", b""), &mut allow).0[2], b"200");
        let mut old = request("CURVE", &[0; 32]);
        old[0] = b"0.9".to_vec();
        assert_eq!(answer(&old, &mut allow).0[2], b"500");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let err = AllowList::load(Path::new("/nonexistent/certificates.d")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/certificates.d"),
            "{err}"
        );
    }
}
