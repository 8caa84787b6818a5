//! The Python module `lava_rs`.

use pyo3::prelude::*;

/// lava-rs: LAVA's master/slave core in Rust.
#[pymodule]
fn lava_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
