//! The [`Lab`]: a store, the lab's directories, the renderer, the clock and the random
//! source, and every operation that changes the lab (in the sibling modules, one area each).

use crate::clock::{Clock, SystemClock};
use crate::config::{LabConfig, LabPaths};
use crate::error::{LabError, Result};
use crate::random::Random;
use crate::templates::SearchPath;
use lava_core::model::{Device, DeviceType, Job, JobId, Worker};
use lava_core::templates::Renderer;
use lava_core::time::Timestamp;
use lava_store::{Store, StoreError};
use std::future::Future;
use std::sync::Arc;

/// How often a change is retried when someone else changed the same rows meanwhile (the
/// master and admin tools write the same store).
const CONFLICT_RETRIES: usize = 5;

/// The lab: every operation that changes it, with its preconditions and retries, in one
/// place. lava-master's daemon, the XML-RPC API, lava-admin and the Python harness all call
/// it; none of them changes the store or the lab's files by itself.
pub struct Lab {
    store: Arc<dyn Store>,
    paths: LabPaths,
    renderer: Renderer,
    random: Random,
    clock: Arc<dyn Clock>,
    /// The master's health, as its daemon last published it.
    pub(crate) status: std::sync::Mutex<crate::status::LabStatus>,
    /// Which health-check definitions LAVA could turn into jobs, remembered across passes
    /// (reading one costs as much as scheduling hundreds of devices).
    pub(crate) health_check_memo: std::sync::Mutex<lava_core::scheduler::HealthCheckMemo>,
    /// The latest scheduling pass's explanations of the jobs it left waiting.
    pub(crate) explanations: std::sync::Mutex<Option<Arc<crate::why::Explanations>>>,
    /// What the master's parts count as they work.
    pub(crate) metrics: crate::metrics::LabMetrics,
}

impl Lab {
    /// The lab in `store`, with its files where `config` says.
    pub fn new(store: Arc<dyn Store>, config: LabConfig) -> Result<Self> {
        let renderer = Renderer::new(SearchPath::for_lab(&config.paths));
        Ok(Lab {
            store,
            renderer,
            random: Random::new(config.seed)?,
            paths: config.paths,
            clock: Arc::new(SystemClock),
            status: Default::default(),
            health_check_memo: Default::default(),
            explanations: Default::default(),
            metrics: Default::default(),
        })
    }

    /// The same lab reading time from `clock` (tests that need to control it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The store, for reads that have no lab rule attached.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The lab's directories.
    pub fn paths(&self) -> &LabPaths {
        &self.paths
    }

    /// The renderer over the lab's template search path.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The lab's random source.
    pub fn random(&self) -> &Random {
        &self.random
    }

    /// Now, as the lab records times.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A job, or an error naming it.
    pub async fn job(&self, id: JobId) -> Result<Job> {
        self.store
            .job(id)
            .await?
            .ok_or_else(|| LabError::NotFound(format!("job {id}")))
    }

    /// A device, or an error naming it.
    pub async fn device(&self, hostname: &str) -> Result<Device> {
        self.store
            .device(hostname)
            .await?
            .ok_or_else(|| LabError::NotFound(format!("device '{hostname}'")))
    }

    /// A worker, or an error naming it.
    pub async fn worker(&self, hostname: &str) -> Result<Worker> {
        self.store
            .worker(hostname)
            .await?
            .ok_or_else(|| LabError::NotFound(format!("worker '{hostname}'")))
    }

    /// A device type, or an error naming it.
    pub async fn device_type(&self, name: &str) -> Result<DeviceType> {
        self.store
            .device_type(name)
            .await?
            .ok_or_else(|| LabError::NotFound(format!("device type '{name}'")))
    }

    /// Runs `attempt` again while the store reports a conflict (someone else changed the
    /// rows it read), at most [`CONFLICT_RETRIES`] times; `what` names the object for the
    /// error when it keeps changing.
    pub(crate) async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut last = String::new();
        for _ in 0..CONFLICT_RETRIES {
            match attempt().await {
                Err(LabError::Store(StoreError::Conflict(why))) => last = why,
                other => return other,
            }
        }
        Err(LabError::Busy {
            what: what.to_owned(),
            why: last,
        })
    }
}
