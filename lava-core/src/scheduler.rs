//! The scheduler: a pure function from a lab snapshot to assignments and device health changes.
