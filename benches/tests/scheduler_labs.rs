//! On each benchmark lab, lava-rs starts as many jobs and health checks in one pass as
//! LAVA 2020.05's scheduler did (its figures are in the labs' README). LAVA draws devices in
//! random order, so the pass is run in hostname order and under two shuffles.
//!
//! The labs live outside the repository (`../shared/bench-labs/`): when they are missing,
//! this test fails and says where it looked.

use lava_benches::{labs_dir, load_lab, started, LABS};
use lava_core::scheduler::{schedule, DeviceOrder};

#[test]
fn same_jobs_and_health_checks_as_lava_on_every_lab() {
    for reference in LABS {
        let path = labs_dir().join(reference.file);
        let lab = match load_lab(&path) {
            Ok(lab) => lab,
            Err(e) => panic!("{e}"),
        };
        for order in [
            DeviceOrder::Hostname,
            DeviceOrder::Shuffled { seed: 1 },
            DeviceOrder::Shuffled { seed: 2 },
        ] {
            let decisions = schedule(&lab, order);
            let (assigned, checks) = started(&lab, &decisions);
            assert_eq!(
                (assigned, checks),
                (reference.lava_assigned, reference.lava_health_checks),
                "{} in {order:?}: (jobs assigned, health checks) differ from LAVA's",
                reference.file
            );
        }
    }
}
