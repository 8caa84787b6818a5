//! The shared store suite, run against every implementation.

mod common;

mod memory {
    crate::store_suite!(crate::common::memory);
}

mod sqlite {
    crate::store_suite!(crate::common::sqlite);
}

mod postgres {
    crate::store_suite!(crate::common::postgres);
}
