//! The lab's metrics, in Prometheus' text format (`/metrics`).
//!
//! Two kinds: counters and the scheduling-pass histogram that the master's parts add to as
//! they work ([`LabMetrics`], one per [`Lab`]: the daemon counts protocol messages, the
//! API its requests, the lab its passes and log lines), and gauges of the lab's state (jobs,
//! devices, workers, queue depth) read from the store when metrics are asked for
//! ([`Lab::metrics_text`]). The format is written by `prometheus-client`, the Prometheus
//! project's own Rust client, so escaping, `# TYPE`/`# HELP` lines and histogram buckets are
//! the format's, not ours.

use crate::error::{LabError, LabPart, Result};
use crate::lab::Lab;
use crate::status::LabStatus;
use lava_core::model::{DeviceHealth, DeviceState, JobHealth, JobState, WorkerState};
use lava_store::JobFilter;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::time::Duration;

/// Which side sent a protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a worker to the master.
    Received,
    /// From the master to a worker.
    Sent,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Received => "received",
            Direction::Sent => "sent",
        }
    }
}

type Labels2 = [(&'static str, String); 2];
type Labels3 = [(&'static str, String); 3];

/// What the master's parts count as they work. Cheap to update (atomics); cloned handles
/// share the values.
#[derive(Debug, Clone)]
pub struct LabMetrics {
    scheduling_pass_seconds: Histogram,
    scheduling_pass_failures: Counter,
    log_lines: Counter,
    protocol_messages: Family<Labels3, Counter>,
    api_requests: Family<Labels2, Counter>,
}

impl Default for LabMetrics {
    fn default() -> Self {
        LabMetrics {
            // 1 ms to about 33 s: a pass over a small lab to a store that hangs.
            scheduling_pass_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            scheduling_pass_failures: Counter::default(),
            log_lines: Counter::default(),
            protocol_messages: Family::default(),
            api_requests: Family::default(),
        }
    }
}

impl LabMetrics {
    /// A scheduling pass took `duration` (and failed, unless `ok`).
    pub fn scheduling_pass(&self, duration: Duration, ok: bool) {
        self.scheduling_pass_seconds.observe(duration.as_secs_f64());
        if !ok {
            self.scheduling_pass_failures.inc();
        }
    }

    /// One log line was written to a job's log.
    pub fn log_line(&self) {
        self.log_lines.inc();
    }

    /// A protocol message (`action`: `HELLO`, `START_OK`, …; `protocol`: `zmq` or
    /// `http`) went `direction`. Callers pass only their protocol's fixed action names, so
    /// that a peer cannot grow the number of series.
    pub fn protocol_message(
        &self,
        protocol: &'static str,
        action: &'static str,
        direction: Direction,
    ) {
        self.protocol_messages
            .get_or_create(&[
                ("protocol", protocol.to_owned()),
                ("action", action.to_owned()),
                ("direction", direction.name().to_owned()),
            ])
            .inc();
    }

    /// An API request for `method` was answered with `status` (`ok`, a fault code, an
    /// HTTP status). Callers map unknown method names to one value, so that clients cannot
    /// grow the number of series.
    pub fn api_request(&self, method: &str, status: &str) {
        self.api_requests
            .get_or_create(&[("method", method.to_owned()), ("status", status.to_owned())])
            .inc();
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "lava_scheduling_pass_seconds",
            "Duration of the master's scheduling passes (read, decide, write)",
            self.scheduling_pass_seconds.clone(),
        );
        registry.register(
            "lava_scheduling_pass_failures",
            "Scheduling passes that failed (store or disk errors)",
            self.scheduling_pass_failures.clone(),
        );
        registry.register(
            "lava_log_lines",
            "Log lines written to jobs' output.yaml",
            self.log_lines.clone(),
        );
        registry.register(
            "lava_protocol_messages",
            "Protocol messages between the master and its workers, by protocol, action and direction",
            self.protocol_messages.clone(),
        );
        registry.register(
            "lava_api_requests",
            "XML-RPC API requests by method and answer (ok, a fault code or an HTTP status)",
            self.api_requests.clone(),
        );
    }
}

fn gauge_family<K: Ord>(
    counts: BTreeMap<K, i64>,
    labels: impl Fn(&K) -> Vec<(&'static str, String)>,
) -> Family<Vec<(&'static str, String)>, Gauge> {
    let family = Family::<Vec<(&'static str, String)>, Gauge>::default();
    for (key, n) in counts {
        family.get_or_create(&labels(&key)).set(n);
    }
    family
}

/// The lab's state as read from the store for one `/metrics` answer.
#[derive(Default)]
struct StateCounts {
    jobs: BTreeMap<(JobState, JobHealth), i64>,
    queue: BTreeMap<String, i64>,
    devices: BTreeMap<(DeviceState, DeviceHealth), i64>,
    workers: BTreeMap<(&'static str, WorkerState), i64>,
}

impl Lab {
    /// The lab's counters, for the parts of the master that count.
    pub fn metrics(&self) -> &LabMetrics {
        &self.metrics
    }

    /// Every metric in Prometheus' text format: the counters, the master's own health
    /// ([`Lab::status`]: which part is failing, what waits for it), and the lab's state
    /// read from the store now (every job is read: jobs by state and health).
    ///
    /// A store that cannot be read does not make `/metrics` fail: the answer then reports
    /// the store as failing and leaves the state gauges out, so that the one page a
    /// monitoring system reads says what is wrong.
    pub async fn metrics_text(&self) -> Result<String> {
        let mut registry = Registry::default();
        self.metrics.register(&mut registry);

        let mut status = self.status();
        match self.state_counts().await {
            Ok(counts) => register_state(&mut registry, counts),
            Err(error) if error.is_transient() => {
                // Shown as failing now, whether or not the daemon has met the failure yet.
                status.failed(&error, self.now());
                tracing::warn!("metrics without the lab's state: {error}");
            }
            Err(error) => return Err(error),
        }
        register_status(&mut registry, &status);

        let mut text = String::new();
        encode(&mut text, &registry)
            .map_err(|_| LabError::Invalid("the metrics could not be written".into()))?;
        Ok(text)
    }

    async fn state_counts(&self) -> Result<StateCounts> {
        let mut counts = StateCounts::default();
        for job in &self.store().jobs(&JobFilter::default()).await? {
            *counts.jobs.entry((job.state, job.health)).or_default() += 1;
            if job.state == JobState::Submitted {
                let device_type = job.requested_device_type.clone().unwrap_or_default();
                *counts.queue.entry(device_type).or_default() += 1;
            }
        }
        for t in &self.device_types().await? {
            counts.queue.entry(t.name.clone()).or_default();
        }
        for d in self.devices().await? {
            *counts.devices.entry((d.state, d.health)).or_default() += 1;
        }
        for w in self.workers().await? {
            let protocol = self.worker_protocol(&w.hostname).await?.name();
            *counts.workers.entry((protocol, w.state)).or_default() += 1;
        }
        Ok(counts)
    }
}

fn register_state(registry: &mut Registry, counts: StateCounts) {
    registry.register(
        "lava_jobs",
        "Jobs by state and health",
        gauge_family(counts.jobs, |(s, h)| {
            vec![
                ("state", s.name().to_owned()),
                ("health", h.name().to_owned()),
            ]
        }),
    );
    registry.register(
        "lava_queue_depth",
        "Submitted jobs waiting for a device, by requested device type",
        gauge_family(counts.queue, |t| vec![("device_type", t.clone())]),
    );
    registry.register(
        "lava_devices",
        "Devices by state and health",
        gauge_family(counts.devices, |(s, h)| {
            vec![
                ("state", s.name().to_owned()),
                ("health", h.name().to_owned()),
            ]
        }),
    );
    let online: BTreeMap<&'static str, i64> =
        counts
            .workers
            .iter()
            .fold(BTreeMap::new(), |mut acc, ((p, s), n)| {
                *acc.entry(*p).or_default() += if *s == WorkerState::Online { *n } else { 0 };
                acc
            });
    registry.register(
        "lava_workers",
        "Workers by protocol and state",
        gauge_family(counts.workers, |(p, s)| {
            vec![
                ("protocol", (*p).to_owned()),
                ("state", s.name().to_owned()),
            ]
        }),
    );
    registry.register(
        "lava_workers_online",
        "Workers online, by protocol",
        gauge_family(online, |p| vec![("protocol", (*p).to_owned())]),
    );
}

/// The master's own health: a part (`store`, `disk`) failing or not, its failures in the
/// current spell, and the changes and log records waiting for it.
fn register_status(registry: &mut Registry, status: &LabStatus) {
    let parts = [
        (LabPart::Store, status.store.as_ref()),
        (LabPart::Files, status.files.as_ref()),
    ];
    let failing: BTreeMap<LabPart, i64> = parts
        .iter()
        .map(|(part, failing)| (*part, i64::from(failing.is_some())))
        .collect();
    let failures: BTreeMap<LabPart, i64> = parts
        .iter()
        .map(|(part, failing)| {
            let n = failing.map_or(0, |f| i64::try_from(f.failures).unwrap_or(i64::MAX));
            (*part, n)
        })
        .collect();
    registry.register(
        "lava_master_failing",
        "Whether a part of the lab is failing (1) or works (0): the store, the disk of job output",
        gauge_family(failing, |p| vec![("part", p.to_string())]),
    );
    registry.register(
        "lava_master_failures",
        "Failures of a part of the lab since it started failing (0 while it works)",
        gauge_family(failures, |p| vec![("part", p.to_string())]),
    );
    let pending = |n: usize| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
        gauge
    };
    registry.register(
        "lava_master_pending_operations",
        "Changes the master will make once the store or the disk works again",
        pending(status.pending_operations),
    );
    registry.register(
        "lava_master_pending_log_records",
        "Log records received and waiting to be written",
        pending(status.pending_log_records),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{device, lab};

    #[tokio::test]
    async fn state_gauges_and_counters_in_the_text_format() {
        let (_dir, lab) = lab().await;
        device(&lab, "d1", "w1").await;
        let job = "device_type: shell\njob_name: t\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n- command:\n    name: hello\n";
        lab.submit(job, "bob").await.unwrap();
        lab.metrics()
            .protocol_message("zmq", "HELLO", Direction::Received);
        lab.metrics().api_request("scheduler.jobs.show", "ok");
        lab.schedule().await.unwrap();
        let text = lab.metrics_text().await.unwrap();
        for expected in [
            r#"lava_jobs{state="Submitted",health="Unknown"} 1"#,
            r#"lava_queue_depth{device_type="shell"} 1"#,
            r#"lava_devices{state="Idle",health="Good"} 1"#,
            r#"lava_workers_online{protocol="zmq"} 0"#,
            r#"lava_protocol_messages_total{protocol="zmq",action="HELLO",direction="received"} 1"#,
            r#"lava_api_requests_total{method="scheduler.jobs.show",status="ok"} 1"#,
            "lava_scheduling_pass_seconds_count 1",
            "# EOF",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        for healthy in [
            r#"lava_master_failing{part="store"} 0"#,
            r#"lava_master_failing{part="disk"} 0"#,
            "lava_master_pending_operations 0",
            "lava_master_pending_log_records 0",
        ] {
            assert!(text.contains(healthy), "{healthy} missing from:\n{text}");
        }
    }

    #[tokio::test]
    async fn metrics_answer_when_the_store_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("lab.sqlite");
        let store = lava_store::SqliteStore::open(&db).unwrap();
        let lab = Lab::new(
            std::sync::Arc::new(store),
            crate::LabConfig::new(crate::LabPaths::under(&dir.path().join("data"))),
        )
        .unwrap();
        crate::testing::device_type(&lab, "shell").await;
        assert!(lab
            .metrics_text()
            .await
            .unwrap()
            .contains("lava_queue_depth"));
        // Another connection changes the database (so that the lab's connection must read
        // it again), then the database and its write-ahead log are overwritten: every read
        // now fails.
        let other = rusqlite::Connection::open(&db).unwrap();
        other
            .execute_batch("CREATE TABLE metrics_test_marker (x INTEGER)")
            .unwrap();
        for file in [db.clone(), dir.path().join("lab.sqlite-wal")] {
            let size = usize::try_from(std::fs::metadata(&file).unwrap().len()).unwrap();
            std::fs::write(&file, vec![0x5a; size]).unwrap();
        }
        let err = LabError::from(lab.store().jobs(&JobFilter::default()).await.unwrap_err());
        assert_eq!(err.failing_part(), Some(LabPart::Store), "{err}");
        let text = lab.metrics_text().await.unwrap();
        assert!(
            text.contains(r#"lava_master_failing{part="store"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"lava_master_failures{part="store"} 1"#));
        assert!(!text.contains("lava_queue_depth"), "{text}");
        assert!(text.contains("lava_scheduling_pass_seconds_count 0"));
    }

    #[tokio::test]
    async fn the_master_health_it_published_is_in_the_metrics() {
        let (_dir, lab) = lab().await;
        let mut status = LabStatus::default();
        let full = LabError::io(
            "/srv/lava/job-output/job-7/output.yaml",
            std::io::Error::other("No space left on device"),
        );
        for _ in 0..3 {
            status.failed(&full, lab.now());
        }
        status.pending_operations = 4;
        status.pending_log_records = 120;
        lab.publish_status(&status);
        let text = lab.metrics_text().await.unwrap();
        for expected in [
            r#"lava_master_failing{part="disk"} 1"#,
            r#"lava_master_failures{part="disk"} 3"#,
            r#"lava_master_failing{part="store"} 0"#,
            "lava_master_pending_operations 4",
            "lava_master_pending_log_records 120",
            // The store works: the lab's state is there too.
            r#"lava_queue_depth{device_type="shell"} 0"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }
}
