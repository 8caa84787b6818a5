//! Workers: adding them, an admin's changes (health moves the worker's devices), and what
//! the master learns from the protocol (online, offline, version).
//!
//! Admins and the master write the same rows. Every change is applied only if what it read
//! (state, health, and the devices a health change moves) is still there, and retried
//! otherwise, so neither side undoes the other's change.

use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::run::change_set;
use lava_core::model::{
    check_worker_name, transitions, Device, Worker, WorkerHealth, WorkerProtocol, WorkerState,
};
use lava_store::{ChangeSet, Precondition};

/// A worker to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorker {
    /// Its hostname (see [`check_worker_name`]).
    pub hostname: String,
    /// Free text.
    pub description: String,
    /// Active, or Retired for one added disabled (LAVA's `--disabled`).
    pub health: WorkerHealth,
    /// How many jobs it may run at once; 0 for no limit.
    pub job_limit: u32,
}

impl NewWorker {
    /// An Active worker without description or job limit.
    pub fn named(hostname: &str) -> Self {
        NewWorker {
            hostname: hostname.to_owned(),
            description: String::new(),
            health: WorkerHealth::Active,
            job_limit: 0,
        }
    }
}

/// An admin's change to a worker; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerUpdate {
    /// Replace the description.
    pub description: Option<String>,
    /// Set the health (LAVA's `go_health_*`, which also moves its devices).
    pub health: Option<WorkerHealth>,
    /// Set the job limit (0 = unlimited).
    pub job_limit: Option<u32>,
}

impl Lab {
    /// Adds a worker; it stays Offline until it connects.
    pub async fn add_worker(&self, new: &NewWorker) -> Result<Worker> {
        check_worker_name(&new.hostname)?;
        let worker = Worker {
            hostname: new.hostname.clone(),
            state: WorkerState::Offline,
            health: new.health,
            description: new.description.clone(),
            job_limit: new.job_limit,
            last_ping: None,
            version: None,
        };
        self.store().add_worker(&worker).await?;
        // Every worker gets its token at once, as LAVA's `manage workers add` prints it.
        let token = self.random().token();
        self.store()
            .set_worker_token(&worker.hostname, &token)
            .await?;
        tracing::info!(worker = %worker.hostname, health = %worker.health, "worker added");
        Ok(worker)
    }

    /// Every worker, by hostname.
    pub async fn workers(&self) -> Result<Vec<Worker>> {
        Ok(self.store().workers().await?)
    }

    /// The devices attached to `hostname`.
    pub async fn devices_of(&self, hostname: &str) -> Result<Vec<Device>> {
        Ok(self
            .store()
            .devices()
            .await?
            .into_iter()
            .filter(|d| d.worker.as_deref() == Some(hostname))
            .collect())
    }

    /// An admin changes a worker. A health change moves its devices as LAVA does
    /// ([`transitions::worker_health`]).
    pub async fn update_worker(&self, hostname: &str, update: &WorkerUpdate) -> Result<()> {
        self.retrying(&format!("worker '{hostname}'"), || {
            self.try_update_worker(hostname, update)
        })
        .await?;
        if let Some(health) = update.health {
            tracing::info!(worker = hostname, %health, "worker health set");
        }
        Ok(())
    }

    async fn try_update_worker(&self, hostname: &str, update: &WorkerUpdate) -> Result<()> {
        let current = self.worker(hostname).await?;
        let mut worker = current.clone();
        if let Some(description) = &update.description {
            worker.description = description.clone();
        }
        if let Some(limit) = update.job_limit {
            worker.job_limit = limit;
        }
        let mut changes = ChangeSet::new()
            .require(Precondition::WorkerState(
                hostname.to_owned(),
                current.state,
            ))
            .require(Precondition::WorkerHealth(
                hostname.to_owned(),
                current.health,
            ));
        match update.health.filter(|h| *h != worker.health) {
            Some(health) => {
                let devices = self.devices_of(hostname).await?;
                let moved = transitions::worker_health(&worker, &devices, health)?;
                for device in &moved.devices {
                    if let Some(before) = devices.iter().find(|d| d.hostname == device.hostname) {
                        changes = changes
                            .require(Precondition::DeviceState(
                                before.hostname.clone(),
                                before.state,
                            ))
                            .require(Precondition::DeviceHealth(
                                before.hostname.clone(),
                                before.health,
                            ));
                    }
                }
                changes.devices.extend(moved.devices);
                changes.workers.extend(moved.workers);
            }
            None if worker == current => return Ok(()),
            None => changes = changes.worker(worker),
        }
        self.store().apply(&changes).await?;
        Ok(())
    }

    /// A worker said HELLO (ZeroMQ): its LAVA version and protocol are recorded. A hostname the lab does not know
    /// becomes a worker, as LAVA's master creates one on its first valid message — unless
    /// the name could never be a worker's.
    pub async fn worker_hello(&self, hostname: &str, version: Option<&str>) -> Result<()> {
        if self.store().worker(hostname).await?.is_none() {
            check_worker_name(hostname)?;
            let mut new = NewWorker::named(hostname);
            new.description = format!("Created by lava-master ({})", self.now());
            match self.add_worker(&new).await {
                Ok(_) | Err(LabError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.worker_connected(hostname, WorkerProtocol::Zmq, version, None)
            .await
    }

    /// The master hears from a worker again: Online, and its last contact is now.
    pub async fn worker_online(&self, hostname: &str) -> Result<()> {
        let now = self.now();
        self.change_worker_as_master(hostname, |w| {
            w.state = WorkerState::Online;
            w.last_ping = Some(now);
        })
        .await
    }

    /// The master has not heard from a worker for too long: Offline (its running jobs are
    /// left alone, as in LAVA).
    pub async fn worker_offline(&self, hostname: &str) -> Result<()> {
        self.change_worker_as_master(hostname, |w| w.state = WorkerState::Offline)
            .await
    }

    /// At start, before any worker has spoken: every worker is Offline (as LAVA's master
    /// does), so that none gets a job until it connects.
    pub async fn all_workers_offline(&self) -> Result<()> {
        for worker in self.workers().await? {
            if worker.state != WorkerState::Offline {
                let changes = transitions::worker_state(&worker, WorkerState::Offline)?;
                let set = change_set(changes).require(Precondition::WorkerState(
                    worker.hostname.clone(),
                    worker.state,
                ));
                match self.store().apply(&set).await {
                    // It was changed meanwhile (by another master that has not let go?):
                    // whatever it is now, the protocol will correct it.
                    Ok(_) | Err(lava_store::StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// A change the master makes from what it saw on the wire, applied only if the admin's
    /// health is still what was read (and retried otherwise), so an admin's health change
    /// is never undone. A worker removed meanwhile is not an error: there is nothing to
    /// record.
    pub(crate) async fn change_worker_as_master(
        &self,
        hostname: &str,
        change: impl Fn(&mut Worker),
    ) -> Result<()> {
        self.retrying(&format!("worker '{hostname}'"), || async {
            let Some(mut worker) = self.store().worker(hostname).await? else {
                return Ok(());
            };
            let read = worker.health;
            change(&mut worker);
            let set = ChangeSet::new()
                .require(Precondition::WorkerHealth(hostname.to_owned(), read))
                .worker(worker);
            self.store().apply(&set).await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::lab;
    use lava_core::model::DeviceHealth;

    #[tokio::test]
    async fn worker_names_follow_the_one_rule() {
        let (_tmp, lab) = lab().await;
        for bad in ["bad name", "lava-logs", ""] {
            assert!(
                matches!(
                    lab.add_worker(&NewWorker::named(bad)).await,
                    Err(LabError::WorkerName(_))
                ),
                "{bad:?}"
            );
        }
        lab.add_worker(&NewWorker::named("w1")).await.unwrap();
        assert!(matches!(
            lab.add_worker(&NewWorker::named("w1")).await,
            Err(LabError::AlreadyExists(_))
        ));
    }

    #[tokio::test]
    async fn hello_from_an_unknown_name_creates_a_worker_only_if_it_could_be_one() {
        let (_tmp, lab) = lab().await;
        lab.worker_hello("w2", Some("2020.05")).await.unwrap();
        let w = lab.worker("w2").await.unwrap();
        assert_eq!(w.version.as_deref(), Some("2020.05"));
        assert!(w.description.starts_with("Created by lava-master"));
        assert!(matches!(
            lab.worker_hello("w 3", None).await,
            Err(LabError::WorkerName(_))
        ));
        assert!(lab.store().worker("w 3").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn maintenance_moves_devices_and_online_keeps_the_admins_health() {
        let (_tmp, lab) = lab().await;
        crate::testing::device(&lab, "d1", "w1").await;
        lab.worker_online("w1").await.unwrap();
        lab.update_worker(
            "w1",
            &WorkerUpdate {
                health: Some(WorkerHealth::Maintenance),
                ..WorkerUpdate::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            lab.device("d1").await.unwrap().health,
            DeviceHealth::Maintenance
        );
        lab.worker_offline("w1").await.unwrap();
        let w = lab.worker("w1").await.unwrap();
        assert_eq!(
            (w.state, w.health),
            (WorkerState::Offline, WorkerHealth::Maintenance)
        );
        assert!(w.last_ping.is_some());
    }
}
