//! Device configurations: any rendered text is judged as LAVA's scheduler judges it
//! (`device::validate_configuration`) or refused with an error naming the key, never a
//! panic; an accepted configuration is a YAML mapping.
//!
//! Run: `cargo fuzz run device_configuration` (from `fuzz/`).

#![no_main]

use lava_core::device::validate_configuration;
use lava_core::job::yaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if validate_configuration(text).is_ok() {
        let tree = yaml::parse(text).expect("an accepted configuration is YAML");
        assert!(tree.as_map().is_some(), "an accepted configuration is a mapping");
    }
});
