//! The master and slaves over a simulated lossy network, with crashes and restarts.
//!
//! Properties, for random fault schedules: every submitted job ends exactly once (one "END
//! processed" across all master lifetimes), is started at most once, and its END is
//! acknowledged (no row is left on any slave once the faults stop).

mod common;

use std::time::Duration;

use common::{payload, Faults, StoredState, World};
use proptest::prelude::*;

/// Submits `jobs` jobs spread over the slaves, lets faults happen for `chaos`, then heals the
/// network and lets everything settle.
fn run_scenario(
    seed: u64,
    slaves: usize,
    jobs: i64,
    faults: Faults,
    crashes: &[(u8, u64, u64)],
) -> World {
    let mut world = World::new(seed, slaves, faults);
    let mut crashes: Vec<(Duration, u8, Duration)> = crashes
        .iter()
        .map(|(who, at, down)| (Duration::from_secs(*at), *who, Duration::from_secs(*down)))
        .collect();
    crashes.sort();
    let mut schedule: Vec<(Duration, i64)> = (0..jobs)
        .map(|j| (Duration::from_secs(5 + (j as u64 * 7) % 120), j))
        .collect();
    schedule.sort();
    let mut crash_iter = crashes.into_iter().peekable();
    for (at, j) in schedule {
        while let Some((c_at, who, down)) = crash_iter.peek().copied() {
            if c_at > at {
                break;
            }
            world.run_until(world.base + c_at);
            crash(&mut world, who, down);
            crash_iter.next();
        }
        world.run_until(world.base + at);
        let job_id = 100 + j;
        let worker = (j as usize) % slaves;
        let duration = Duration::from_secs(1 + (seed.wrapping_add(j as u64 * 13) % 100));
        world.submit(job_id, worker, payload(job_id), duration);
        if (seed >> (j % 60)) & 3 == 0 {
            // Cancel some jobs a little later.
            world.run_for(Duration::from_secs(3 + (j as u64 % 40)));
            world.cancel(job_id);
        }
    }
    for (c_at, who, down) in crash_iter {
        world.run_until(world.base + c_at.max(world.elapsed()));
        crash(&mut world, who, down);
    }
    world.run_for(Duration::from_secs(300));
    // Heal: no more losses or crashes; restarts that are pending still happen.
    world.faults = Faults::none();
    world.run_for(Duration::from_secs(900));
    world
}

/// `who`: 0 crashes the master, 1..=3 a slave, 4..=6 cuts a slave's link.
fn crash(world: &mut World, who: u8, down: Duration) {
    if who >= 4 {
        let i = (who as usize - 4) % world.slaves.len();
        world.partition(i, down);
    } else if who == 0 {
        if world.master.is_some() {
            world.crash_master(down);
        }
    } else {
        let i = (who as usize - 1) % world.slaves.len();
        if world.slaves[i].machine.is_some() {
            world.crash_slave(i, down);
        }
    }
}

/// The properties. `in_order` says whether the links kept each direction in order during the
/// faults (as one ZeroMQ connection does): then no job may run twice even across slave
/// restarts; with reordering, at most once per slave lifetime.
fn check_properties(world: &World, in_order: bool) {
    for (job_id, job) in &world.store {
        if job.failed_at_start {
            assert_eq!(
                job.ends_recorded, 0,
                "job {job_id} failed at start but ended"
            );
            continue;
        }
        assert_eq!(
            job.ends_recorded, 1,
            "job {job_id} must end exactly once (state {:?})",
            job.state
        );
        assert!(job.end_processed);
        assert_eq!(
            job.state,
            StoredState::Finished,
            "job {job_id} never finished (trap 19)"
        );
    }
    for ((slave, job_id), lifetimes) in &world.spawns {
        let mut distinct = lifetimes.clone();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            lifetimes.len(),
            "job {job_id} started twice in one lifetime of slave {slave}: {lifetimes:?}"
        );
        if in_order {
            assert_eq!(
                lifetimes.len(),
                1,
                "job {job_id} started more than once on slave {slave} over in-order links"
            );
        }
        assert_eq!(
            world.store[job_id].worker, *slave,
            "job {job_id} started on the wrong slave"
        );
    }
    for ((slave, job_id), p) in &world.processes {
        assert!(
            p.ends_at <= world.now,
            "lava-run of job {job_id} on slave {slave} never stopped"
        );
    }
    for (i, s) in world.slaves.iter().enumerate() {
        assert!(
            s.db.is_empty(),
            "slave {i} still has rows {:?}: END not acknowledged",
            s.db.keys().collect::<Vec<_>>()
        );
        assert!(s
            .machine
            .as_ref()
            .is_some_and(|m| m.rows().next().is_none()));
    }
}

#[test]
fn a_perfect_network_runs_every_job_once() {
    let world = run_scenario(7, 3, 12, Faults::none(), &[]);
    check_properties(&world, true);
    // Nothing lost: every job ran and was finished by the log sink, none crashed.
    for (job_id, job) in &world.store {
        assert_eq!(job.state, StoredState::Finished, "job {job_id}");
        if !job.canceled {
            assert!(!job.crashed, "job {job_id} crashed on a perfect network");
            assert_eq!(
                world.spawns.get(&(job.worker, *job_id)).map(Vec::len),
                Some(1),
                "job {job_id} must have run once"
            );
        }
    }
}

#[test]
fn heavy_loss_with_restarts_still_converges() {
    let faults = Faults {
        drop: 0.3,
        duplicate: 0.2,
        max_delay: Duration::from_secs(3),
        crash_per_event: 0.01,
        stubborn_lava_run: 0.3,
        lost_final_result: 0.2,
        spawn_failure: 0.1,
        fifo: false,
    };
    let world = run_scenario(42, 3, 15, faults, &[(0, 30, 45), (1, 50, 20), (2, 90, 70)]);
    check_properties(&world, false);
    assert!(world.master_lifetimes > 1);
}

/// Found by the property test below: a START sent when the slave came back reached it after
/// the END_OK of that job (reordered), and the slave ran the job again. The slave now
/// remembers the jobs it saw END_OK for.
#[test]
fn a_start_overtaken_by_end_ok_does_not_run_the_job_again() {
    let faults = Faults {
        drop: 0.3794850096441174,
        duplicate: 0.2041174759979284,
        max_delay: Duration::from_millis(1504),
        crash_per_event: 0.0,
        stubborn_lava_run: 0.0,
        lost_final_result: 0.19412569814637204,
        spawn_failure: 0.0,
        fifo: false,
    };
    let world = run_scenario(
        6647698718243948638,
        2,
        9,
        faults,
        &[(0, 25, 17), (2, 3, 108), (1, 49, 79)],
    );
    check_properties(&world, false);
    assert_eq!(world.spawns.get(&(0, 106)).map(Vec::len), Some(1));
}

fn faults() -> impl Strategy<Value = Faults> {
    (
        0.0..0.5f64,
        0.0..0.3f64,
        1u64..4000,
        0.0..0.02f64,
        0.0..0.4f64,
        0.0..0.3f64,
        0.0..0.15f64,
        any::<bool>(),
    )
        .prop_map(
            |(drop, duplicate, delay, crash, stubborn, lost, spawn, fifo)| Faults {
                drop,
                duplicate,
                max_delay: Duration::from_millis(delay),
                crash_per_event: crash,
                stubborn_lava_run: stubborn,
                lost_final_result: lost,
                spawn_failure: spawn,
                fifo,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_job_ends_once_and_runs_at_most_once(
        seed in any::<u64>(),
        slaves in 1usize..4,
        jobs in 1i64..10,
        faults in faults(),
        crashes in proptest::collection::vec((0u8..7, 0u64..200, 0u64..120), 0..6),
    ) {
        let world = run_scenario(seed, slaves, jobs, faults, &crashes);
        check_properties(&world, faults.fifo);
    }
}
