//! An in-process transport with the semantics of LAVA's ZeroMQ sockets, for tests.
//!
//! A [`MemoryNetwork`] plays the part of the network. On it:
//! * a master binds an endpoint; slaves connect to it with their hostname as identity;
//! * a slave's messages sent while no master is bound wait in a queue of 10 (LAVA's
//!   `SNDHWM`), further ones are dropped; the queue is flushed when a master binds, which is
//!   also what happens to a restarted master;
//! * a master's message to an identity that is not connected is dropped silently;
//! * a slave that connects with an identity already in use takes it over (handover): the
//!   older one neither receives nor is heard any more;
//! * log sources queue without limit until a sink binds, and `close` waits for delivery.
//!
//! Unlike libzmq, a connected slave's bursts are not cut at 10 messages: losses come only
//! from the filter.
//!
//! A filter ([`MemoryNetwork::set_filter`]) decides the fate of every delivery: deliver,
//! drop or duplicate, so that tests can exercise lost and repeated messages.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::{mpsc, Notify};

use crate::error::TransportError;
use crate::zeromq::SLAVE_SEND_HWM;
use crate::{Frames, LogSink, LogSource, MasterTransport, PeerId, SlaveTransport};

/// Where a message is going, as shown to the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// From a slave to the master bound at `endpoint`.
    ToMaster {
        /// The master's endpoint.
        endpoint: String,
        /// The sending slave.
        from: PeerId,
    },
    /// From the master at `endpoint` to a slave.
    ToSlave {
        /// The master's endpoint.
        endpoint: String,
        /// The receiving slave.
        to: PeerId,
    },
    /// A log record to the sink bound at `endpoint`.
    Log {
        /// The sink's endpoint.
        endpoint: String,
    },
}

/// What happens to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Delivered once.
    Deliver,
    /// Lost.
    Drop,
    /// Delivered twice.
    Duplicate,
}

type Filter = Box<dyn FnMut(&Route, &Frames) -> Fate + Send>;

struct Bound<T> {
    id: u64,
    tx: mpsc::UnboundedSender<T>,
}

struct Backlog {
    endpoint: String,
    frames: VecDeque<Frames>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    masters: HashMap<String, Bound<(PeerId, Frames)>>,
    /// Routing entries per master endpoint: the newest connection of an identity wins.
    routes: HashMap<String, HashMap<PeerId, Bound<Frames>>>,
    /// Per slave connection: messages waiting for a master.
    slave_queues: HashMap<u64, (PeerId, Backlog)>,
    sinks: HashMap<String, Bound<Frames>>,
    /// Per log source: records waiting for a sink.
    log_queues: HashMap<u64, Backlog>,
    filter: Option<Filter>,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn fate(&mut self, route: &Route, frames: &Frames) -> Fate {
        match self.filter.as_mut() {
            Some(filter) => filter(route, frames),
            None => Fate::Deliver,
        }
    }

    /// Sends `item` on `tx` as the filter decides; false if the receiver is gone.
    fn deliver<T: Clone>(
        &mut self,
        route: &Route,
        frames: &Frames,
        tx: &mpsc::UnboundedSender<T>,
        item: T,
    ) -> bool {
        match self.fate(route, frames) {
            Fate::Deliver => tx.send(item).is_ok(),
            Fate::Drop => true,
            Fate::Duplicate => tx.send(item.clone()).is_ok() && tx.send(item).is_ok(),
        }
    }

    fn route_is_current(&self, endpoint: &str, peer: &PeerId, id: u64) -> bool {
        self.routes
            .get(endpoint)
            .and_then(|table| table.get(peer))
            .is_some_and(|bound| bound.id == id)
    }

    fn flush_slave_queues(&mut self, endpoint: &str) {
        let Some(master) = self.masters.get(endpoint) else {
            return;
        };
        let tx = master.tx.clone();
        let mut ids: Vec<u64> = self
            .slave_queues
            .iter()
            .filter(|(_, (_, backlog))| backlog.endpoint == endpoint && !backlog.frames.is_empty())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let Some((peer, backlog)) = self.slave_queues.get_mut(&id) else {
                continue;
            };
            let peer = peer.clone();
            let waiting: Vec<Frames> = backlog.frames.drain(..).collect();
            if !self.route_is_current(endpoint, &peer, id) {
                continue;
            }
            let route = Route::ToMaster {
                endpoint: endpoint.to_owned(),
                from: peer.clone(),
            };
            for frames in waiting {
                self.deliver(&route, &frames, &tx, (peer.clone(), frames.clone()));
            }
        }
    }

    fn flush_log_queues(&mut self, endpoint: &str) {
        let Some(sink) = self.sinks.get(endpoint) else {
            return;
        };
        let tx = sink.tx.clone();
        let mut ids: Vec<u64> = self
            .log_queues
            .iter()
            .filter(|(_, backlog)| backlog.endpoint == endpoint)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        let route = Route::Log {
            endpoint: endpoint.to_owned(),
        };
        for id in ids {
            let waiting: Vec<Frames> = match self.log_queues.get_mut(&id) {
                Some(backlog) => backlog.frames.drain(..).collect(),
                None => continue,
            };
            for frames in waiting {
                self.deliver(&route, &frames, &tx, frames.clone());
            }
        }
    }
}

/// The simulated network that in-memory masters, slaves, sinks and sources attach to.
/// Cheap to clone: clones share the network.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    state: Arc<Mutex<State>>,
    delivered: Arc<Notify>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNetwork").finish_non_exhaustive()
    }
}

impl MemoryNetwork {
    /// An empty network, delivering everything.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (in a test's filter) leaves consistent data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides the fate of every later delivery (replacing any previous filter).
    pub fn set_filter(&self, filter: impl FnMut(&Route, &Frames) -> Fate + Send + 'static) {
        self.lock().filter = Some(Box::new(filter));
    }

    /// Delivers everything again.
    pub fn clear_filter(&self) {
        self.lock().filter = None;
    }

    /// Binds a master at `endpoint`; slaves' queued messages are delivered to it at once.
    pub fn bind_master(&self, endpoint: &str) -> Result<MemoryMaster, TransportError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        if state.masters.contains_key(endpoint) {
            return Err(TransportError::AddressInUse(endpoint.to_owned()));
        }
        let id = state.next_id();
        state.masters.insert(endpoint.to_owned(), Bound { id, tx });
        state.flush_slave_queues(endpoint);
        Ok(MemoryMaster {
            network: self.clone(),
            endpoint: endpoint.to_owned(),
            id,
            rx,
        })
    }

    /// Connects a slave with identity `hostname` to the master endpoint `endpoint` (which
    /// need not be bound yet). An identity in use is taken over.
    pub fn connect_slave(
        &self,
        endpoint: &str,
        hostname: &str,
    ) -> Result<MemorySlave, TransportError> {
        crate::zeromq::check_identity(hostname)?;
        let peer = PeerId::from(hostname);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        let id = state.next_id();
        state
            .routes
            .entry(endpoint.to_owned())
            .or_default()
            .insert(peer.clone(), Bound { id, tx });
        state.slave_queues.insert(
            id,
            (
                peer.clone(),
                Backlog {
                    endpoint: endpoint.to_owned(),
                    frames: VecDeque::new(),
                },
            ),
        );
        Ok(MemorySlave {
            network: self.clone(),
            endpoint: endpoint.to_owned(),
            peer,
            id,
            rx,
        })
    }

    /// Binds a log sink at `endpoint`; queued records are delivered to it at once.
    pub fn bind_log_sink(&self, endpoint: &str) -> Result<MemoryLogSink, TransportError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.lock();
        if state.sinks.contains_key(endpoint) {
            return Err(TransportError::AddressInUse(endpoint.to_owned()));
        }
        let id = state.next_id();
        state.sinks.insert(endpoint.to_owned(), Bound { id, tx });
        state.flush_log_queues(endpoint);
        drop(state);
        self.delivered.notify_waiters();
        Ok(MemoryLogSink {
            network: self.clone(),
            endpoint: endpoint.to_owned(),
            id,
            rx,
        })
    }

    /// Connects a log source to the sink endpoint `endpoint` (which need not be bound yet).
    pub fn connect_log_source(&self, endpoint: &str) -> MemoryLogSource {
        let mut state = self.lock();
        let id = state.next_id();
        state.log_queues.insert(
            id,
            Backlog {
                endpoint: endpoint.to_owned(),
                frames: VecDeque::new(),
            },
        );
        MemoryLogSource {
            network: self.clone(),
            endpoint: endpoint.to_owned(),
            id,
            closed: false,
        }
    }
}

/// An in-memory master control socket; dropping it unbinds the endpoint.
#[derive(Debug)]
pub struct MemoryMaster {
    network: MemoryNetwork,
    endpoint: String,
    id: u64,
    rx: mpsc::UnboundedReceiver<(PeerId, Frames)>,
}

impl Drop for MemoryMaster {
    fn drop(&mut self) {
        let mut state = self.network.lock();
        if state
            .masters
            .get(&self.endpoint)
            .is_some_and(|b| b.id == self.id)
        {
            state.masters.remove(&self.endpoint);
        }
    }
}

#[async_trait]
impl MasterTransport for MemoryMaster {
    async fn recv(&mut self) -> Result<(PeerId, Frames), TransportError> {
        self.rx.recv().await.ok_or(TransportError::Closed)
    }

    async fn send(&mut self, peer: &PeerId, frames: Frames) -> Result<(), TransportError> {
        let mut state = self.network.lock();
        let tx = state
            .routes
            .get(&self.endpoint)
            .and_then(|table| table.get(peer))
            .map(|bound| bound.tx.clone());
        if let Some(tx) = tx {
            let route = Route::ToSlave {
                endpoint: self.endpoint.clone(),
                to: peer.clone(),
            };
            // A slave that went away is an unroutable peer: dropped silently.
            state.deliver(&route, &frames, &tx, frames.clone());
        }
        Ok(())
    }
}

/// An in-memory slave control socket; dropping it disconnects.
#[derive(Debug)]
pub struct MemorySlave {
    network: MemoryNetwork,
    endpoint: String,
    peer: PeerId,
    id: u64,
    rx: mpsc::UnboundedReceiver<Frames>,
}

impl Drop for MemorySlave {
    fn drop(&mut self) {
        let mut state = self.network.lock();
        state.slave_queues.remove(&self.id);
        if state.route_is_current(&self.endpoint, &self.peer, self.id) {
            if let Some(table) = state.routes.get_mut(&self.endpoint) {
                table.remove(&self.peer);
            }
        }
    }
}

#[async_trait]
impl SlaveTransport for MemorySlave {
    async fn send(&mut self, frames: Frames) -> Result<(), TransportError> {
        let mut state = self.network.lock();
        if !state.route_is_current(&self.endpoint, &self.peer, self.id) {
            // Taken over by a newer connection with the same identity: cut off silently.
            return Ok(());
        }
        let master = state.masters.get(&self.endpoint).map(|m| m.tx.clone());
        match master {
            Some(tx) => {
                let route = Route::ToMaster {
                    endpoint: self.endpoint.clone(),
                    from: self.peer.clone(),
                };
                if !state.deliver(&route, &frames, &tx, (self.peer.clone(), frames.clone())) {
                    // The master's receiver is gone but not yet unbound: queue as if down.
                    queue_for_master(&mut state, self.id, frames);
                }
            }
            None => queue_for_master(&mut state, self.id, frames),
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Frames, TransportError> {
        self.rx.recv().await.ok_or(TransportError::Closed)
    }
}

fn queue_for_master(state: &mut State, id: u64, frames: Frames) {
    if let Some((_, backlog)) = state.slave_queues.get_mut(&id) {
        let limit = usize::try_from(SLAVE_SEND_HWM).unwrap_or(10);
        if backlog.frames.len() < limit {
            backlog.frames.push_back(frames);
        }
    }
}

/// An in-memory log sink; dropping it unbinds the endpoint.
#[derive(Debug)]
pub struct MemoryLogSink {
    network: MemoryNetwork,
    endpoint: String,
    id: u64,
    rx: mpsc::UnboundedReceiver<Frames>,
}

impl Drop for MemoryLogSink {
    fn drop(&mut self) {
        let mut state = self.network.lock();
        if state
            .sinks
            .get(&self.endpoint)
            .is_some_and(|b| b.id == self.id)
        {
            state.sinks.remove(&self.endpoint);
        }
    }
}

#[async_trait]
impl LogSink for MemoryLogSink {
    async fn recv(&mut self) -> Result<Frames, TransportError> {
        self.rx.recv().await.ok_or(TransportError::Closed)
    }
}

/// An in-memory log source.
#[derive(Debug)]
pub struct MemoryLogSource {
    network: MemoryNetwork,
    endpoint: String,
    id: u64,
    closed: bool,
}

impl Drop for MemoryLogSource {
    fn drop(&mut self) {
        self.network.lock().log_queues.remove(&self.id);
    }
}

#[async_trait]
impl LogSource for MemoryLogSource {
    async fn push(&mut self, frames: Frames) -> Result<(), TransportError> {
        if self.closed {
            return Err(TransportError::Closed);
        }
        let mut state = self.network.lock();
        let sink = state.sinks.get(&self.endpoint).map(|s| s.tx.clone());
        let delivered = match sink {
            Some(tx) => {
                let route = Route::Log {
                    endpoint: self.endpoint.clone(),
                };
                state.deliver(&route, &frames, &tx, frames.clone())
            }
            None => false,
        };
        if !delivered {
            if let Some(backlog) = state.log_queues.get_mut(&self.id) {
                backlog.frames.push_back(frames);
            }
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), TransportError> {
        self.closed = true;
        loop {
            let notified = self.network.delivered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let empty = self
                .network
                .lock()
                .log_queues
                .get(&self.id)
                .is_none_or(|backlog| backlog.frames.is_empty());
            if empty {
                return Ok(());
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frames(parts: &[&str]) -> Frames {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), future)
            .await
            .expect("timed out")
    }

    #[tokio::test]
    async fn exchange_and_unroutable_sends() {
        let net = MemoryNetwork::new();
        let mut master = net.bind_master("ctl").unwrap();
        let mut slave = net.connect_slave("ctl", "worker-1").unwrap();
        slave.send(frames(&["HELLO", "3"])).await.unwrap();
        let (peer, got) = within(master.recv()).await.unwrap();
        assert_eq!(peer, PeerId::from("worker-1"));
        assert_eq!(got, frames(&["HELLO", "3"]));
        master.send(&peer, frames(&["HELLO_OK"])).await.unwrap();
        assert_eq!(within(slave.recv()).await.unwrap(), frames(&["HELLO_OK"]));
        master
            .send(&PeerId::from("nobody"), frames(&["PONG", "20"]))
            .await
            .unwrap();
        assert!(matches!(
            net.bind_master("ctl"),
            Err(TransportError::AddressInUse(_))
        ));
    }

    #[tokio::test]
    async fn early_messages_queue_up_to_ten_and_survive_a_master_restart() {
        let net = MemoryNetwork::new();
        let mut slave = net.connect_slave("ctl", "worker-1").unwrap();
        for i in 0..12 {
            slave.send(frames(&["PING", &i.to_string()])).await.unwrap();
        }
        let mut master = net.bind_master("ctl").unwrap();
        for i in 0..10 {
            let (_, got) = within(master.recv()).await.unwrap();
            assert_eq!(got, frames(&["PING", &i.to_string()]));
        }
        drop(master);
        slave.send(frames(&["END", "1"])).await.unwrap();
        let mut again = net.bind_master("ctl").unwrap();
        assert_eq!(within(again.recv()).await.unwrap().1, frames(&["END", "1"]));
    }

    #[tokio::test]
    async fn handover_to_the_newest_connection() {
        let net = MemoryNetwork::new();
        let mut master = net.bind_master("ctl").unwrap();
        let mut old = net.connect_slave("ctl", "dup").unwrap();
        let mut new = net.connect_slave("ctl", "dup").unwrap();
        old.send(frames(&["from-old"])).await.unwrap();
        new.send(frames(&["from-new"])).await.unwrap();
        assert_eq!(
            within(master.recv()).await.unwrap().1,
            frames(&["from-new"])
        );
        master
            .send(&PeerId::from("dup"), frames(&["X"]))
            .await
            .unwrap();
        assert_eq!(within(new.recv()).await.unwrap(), frames(&["X"]));
        assert!(old.rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn filter_drops_and_duplicates() {
        let net = MemoryNetwork::new();
        let mut master = net.bind_master("ctl").unwrap();
        let mut slave = net.connect_slave("ctl", "w").unwrap();
        net.set_filter(|route, frames| match (route, frames[0].as_slice()) {
            (Route::ToMaster { .. }, b"lost") => Fate::Drop,
            (Route::ToMaster { .. }, b"twice") => Fate::Duplicate,
            _ => Fate::Deliver,
        });
        for word in ["lost", "twice", "once"] {
            slave.send(frames(&[word])).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(within(master.recv()).await.unwrap().1);
        }
        assert_eq!(
            got,
            vec![frames(&["twice"]), frames(&["twice"]), frames(&["once"])]
        );
        net.clear_filter();
        slave.send(frames(&["lost"])).await.unwrap();
        assert_eq!(within(master.recv()).await.unwrap().1, frames(&["lost"]));
    }

    #[tokio::test]
    async fn log_close_waits_for_a_sink() {
        let net = MemoryNetwork::new();
        let mut source = net.connect_log_source("logs");
        source.push(frames(&["1", "{}"])).await.unwrap();
        let closing = tokio::spawn(async move {
            source.close().await.unwrap();
            source
        });
        tokio::task::yield_now().await;
        let mut sink = net.bind_log_sink("logs").unwrap();
        assert_eq!(within(sink.recv()).await.unwrap(), frames(&["1", "{}"]));
        let mut source = within(closing).await.unwrap();
        assert!(source.push(frames(&["1", "late"])).await.is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send(usize),
        /// Six messages in a row: enough to reach the queue limit within one outage.
        Burst(usize),
        Reply(usize),
        RestartMaster,
        Reconnect(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..3usize).prop_map(Op::Send),
            1 => (0..3usize).prop_map(Op::Burst),
            2 => (0..3usize).prop_map(Op::Reply),
            1 => Just(Op::RestartMaster),
            1 => (0..3usize).prop_map(Op::Reconnect),
        ]
    }

    fn drain<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Against a model of LAVA's sockets: per slave, the master gets exactly what was
        /// sent while it was up, plus at most 10 queued while it was down (dropped with a
        /// reconnect), in order; a slave gets the replies sent while it was connected.
        #[test]
        fn behaves_like_the_model(ops in proptest::collection::vec(op(), 0..80)) {
            let net = MemoryNetwork::new();
            let names: Vec<String> = (0..3).map(|i| format!("s{i}")).collect();
            let mut master = Some(net.bind_master("m").unwrap());
            let mut slaves: Vec<MemorySlave> =
                names.iter().map(|n| net.connect_slave("m", n).unwrap()).collect();
            let mut sent_up: Vec<Vec<Frames>> = vec![Vec::new(); 3];
            let mut queued: Vec<Vec<Frames>> = vec![Vec::new(); 3];
            let mut received: Vec<Vec<Frames>> = vec![Vec::new(); 3];
            let mut replies: Vec<Vec<Frames>> = vec![Vec::new(); 3];
            let mut got_replies: Vec<Vec<Frames>> = vec![Vec::new(); 3];
            let collect = |master: &mut MemoryMaster, received: &mut Vec<Vec<Frames>>| {
                for (peer, frames) in drain(&mut master.rx) {
                    let index = names.iter().position(|n| n.as_bytes() == peer.as_bytes()).unwrap();
                    received[index].push(frames);
                }
            };
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for (seq, op) in ops.into_iter().enumerate() {
                let frames = vec![seq.to_string().into_bytes()];
                match op.clone() {
                    Op::Send(i) | Op::Burst(i) => {
                        let count = if matches!(op, Op::Burst(_)) { 6 } else { 1 };
                        for part in 0..count {
                            let frames = vec![frames[0].clone(), vec![part]];
                            rt.block_on(slaves[i].send(frames.clone())).unwrap();
                            if master.is_some() {
                                sent_up[i].push(frames);
                            } else if queued[i].len() < 10 {
                                queued[i].push(frames);
                            }
                        }
                    }
                    Op::Reply(i) => {
                        if let Some(master) = master.as_mut() {
                            rt.block_on(master.send(&PeerId::from(names[i].as_str()), frames.clone())).unwrap();
                            replies[i].push(frames);
                        }
                    }
                    Op::RestartMaster => match master.take() {
                        Some(mut old) => collect(&mut old, &mut received),
                        None => {
                            master = Some(net.bind_master("m").unwrap());
                            for i in 0..3 {
                                sent_up[i].append(&mut queued[i]);
                            }
                        }
                    },
                    Op::Reconnect(i) => {
                        got_replies[i].extend(drain(&mut slaves[i].rx));
                        slaves[i] = net.connect_slave("m", &names[i]).unwrap();
                        queued[i].clear();
                    }
                }
            }
            let mut master = master.unwrap_or_else(|| net.bind_master("m").unwrap());
            for i in 0..3 {
                sent_up[i].append(&mut queued[i]);
                got_replies[i].extend(drain(&mut slaves[i].rx));
            }
            collect(&mut master, &mut received);
            proptest::prop_assert_eq!(received, sent_up);
            proptest::prop_assert_eq!(got_replies, replies);
        }
    }
}
