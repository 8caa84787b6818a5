//! Shared by the `slave_*` tests: the lava-run test double.
//!
//! The double is a binary of another package, so `CARGO_BIN_EXE_` does not name it: it is
//! built with `cargo build -p lava-run-double` (a no-op when it is fresh) and taken from the
//! profile directory this test executable runs from (`target/debug`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of `lava-run-double`, built on first use.
pub fn lava_run_double() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<this test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable in target/<profile>/deps");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "lava-run-double",
            "--manifest-path",
        ]);
        build.arg(&manifest);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p lava-run-double");
        assert!(status.success(), "cargo build -p lava-run-double failed");
        let path = profile_dir.join("lava-run-double");
        assert!(path.exists(), "{} missing", path.display());
        path
    })
}
