//! The Python module `lava_rs`: the lava-rs core for Django LAVA and pytest harnesses.
//!
//! Submodules: `templates` (device dictionaries), `jobs` (job definitions), `protocol`
//! (control messages and log records as pyzmq frames), `scheduler` (one scheduling pass
//! over plain Python data), `master` and `slave` (the sans-IO
//! machines, `now` as float seconds). Every error is a subclass of
//! `lava_rs.LavaError` carrying the details (file, line, field, frame) as attributes.
//! CPU-heavy calls (rendering, parsing) run with the GIL released.
//!
//! Built with maturin (`bindings/python/pyproject.toml`); `bindings/python/test.sh` builds
//! the wheel in a venv and runs the pytest suite. See `docs/python.md`.

use pyo3::prelude::*;

mod convert;
mod errors;
mod jobs;
mod master;
mod protocol;
mod scheduler;
mod slave;
mod templates;

/// Adds `sub` as `lava_rs.<name>` and registers it in `sys.modules`, so that both
/// `lava_rs.templates.render` and `from lava_rs.templates import render` work.
fn add_submodule(parent: &Bound<'_, PyModule>, sub: &Bound<'_, PyModule>) -> PyResult<()> {
    let name = sub.name()?.to_string();
    parent.add_submodule(sub)?;
    let modules = parent.py().import("sys")?.getattr("modules")?;
    modules.set_item(format!("lava_rs.{name}"), sub)?;
    sub.setattr("__name__", format!("lava_rs.{name}"))?;
    Ok(())
}

/// lava-rs: LAVA's master/slave core in Rust.
#[pymodule]
fn lava_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    add_submodule(m, &templates::module(py)?)?;
    add_submodule(m, &jobs::module(py)?)?;
    add_submodule(m, &protocol::module(py)?)?;
    errors::register_scheduler(m)?;
    add_submodule(m, &scheduler::module(py)?)?;
    errors::register_master(m)?;
    add_submodule(m, &master::module(py)?)?;
    add_submodule(m, &slave::module(py)?)?;
    Ok(())
}
