//! Conformance: `device::validate_configuration` gives LAVA 2020.05's verdict
//! (`Device.is_valid()`, the scheduler's check) on each device configuration recorded by
//! `scripts/job-verdicts.sh`, and the warning of `lava-server manage devices check`.

use lava_core::device::validate_configuration;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn lava_device_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/device-verdicts");
    let fixtures = std::fs::read_to_string(dir.join("verdicts.jsonl")).unwrap();
    let (mut agree, mut total, mut same_reason, mut refusals) = (0, 0, 0, 0);
    let (mut warnings_agree, mut accepted) = (0, 0);
    let mut failures = Vec::new();
    for line in fixtures.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let name = record["source"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join("configurations").join(name)).unwrap();
        let digest: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, record["sha256"].as_str().unwrap(), "{name}");
        total += 1;
        let lava_accepts = record["verdict"] == "accept";
        match (validate_configuration(&text), lava_accepts) {
            (Ok(warnings), true) => {
                agree += 1;
                accepted += 1;
                let lava = record["check"]["msg"].as_str();
                if lava == warnings.first().map(|w| w.message.as_str()) {
                    warnings_agree += 1;
                } else {
                    eprintln!(
                        "warning differs: {name}: LAVA {}, lava-rs {warnings:?}",
                        record["check"]
                    );
                }
            }
            (Err(lava_core::Error::DeviceConfiguration(e)), false) => {
                agree += 1;
                refusals += 1;
                let texts: Vec<&str> = match record["errors"].as_array() {
                    Some(errors) => errors.iter().filter_map(|e| e["text"].as_str()).collect(),
                    None => vec![record["message"].as_str().unwrap_or_default()],
                };
                if texts.contains(&e.message.as_str()) {
                    same_reason += 1;
                } else {
                    eprintln!(
                        "reason differs: {name}: LAVA {texts:?}, lava-rs {:?}",
                        e.message
                    );
                }
            }
            (ours, _) => failures.push(format!(
                "{name}: LAVA {} ({}), lava-rs {ours:?}",
                record["verdict"], record["message"]
            )),
        }
    }
    eprintln!(
        "{total} device configurations: {agree} agree with LAVA's scheduler; LAVA's reason \
         given for {same_reason} of {refusals} refusals; `devices check` warnings agree for \
         {warnings_agree} of {accepted} accepted"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
