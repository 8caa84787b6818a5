//! `lava-admin groups …` and `lava-admin devices|device-types perm …`: LAVA's groups and
//! group permissions, managed from the command line and kept in the store.

mod common;

use common::Lab;

#[test]
fn groups_and_permissions_are_managed_and_listed() {
    let lab = Lab::new();
    lab.add_example_devices("worker-01");
    lab.admin_ok(&["users", "add", "alice"]);
    lab.admin_ok(&["users", "add", "bob"]);
    lab.admin_ok(&["groups", "add", "lab-team"]);
    lab.admin_ok(&["groups", "update", "lab-team", "--add-user", "alice"]);
    let listed = lab.admin_ok(&["groups", "list", "--json"]);
    let groups: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(
        groups,
        serde_json::json!([{"name": "lab-team", "members": ["alice"]}])
    );

    lab.admin_ok(&["devices", "perm", "add", "shell-01", "lab-team", "submit"]);
    lab.admin_ok(&[
        "device-types",
        "perm",
        "add",
        "shell",
        "lab-team",
        "change_devicetype",
    ]);
    let devices = lab.admin_ok(&["devices", "perm", "list"]);
    assert!(
        devices.contains("shell-01") && devices.contains("submit_to_device"),
        "{devices}"
    );
    let types = lab.admin_ok(&["device-types", "perm", "list", "shell", "--json"]);
    let types: serde_json::Value = serde_json::from_str(&types).expect("JSON");
    assert_eq!(
        types,
        serde_json::json!([{"object": "shell", "group": "lab-team", "permission": "change_devicetype"}])
    );

    // Wrong names are refused with the reason, and nothing changes.
    let out = lab.admin(&["devices", "perm", "add", "nope", "lab-team", "submit"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("device nope does not exist"), "{err}");
    let out = lab.admin(&["devices", "perm", "add", "shell-01", "lab-team", "delete"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown permission"));
    let out = lab.admin(&["groups", "update", "lab-team", "--add-user", "carol"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("user carol does not exist"));

    // Removing the group removes its grants.
    lab.admin_ok(&["groups", "remove", "lab-team"]);
    assert_eq!(lab.admin_ok(&["devices", "perm", "list"]).trim(), "");
}
