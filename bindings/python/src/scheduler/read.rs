//! Reading a lab snapshot from plain Python data or Django model instances.
//!
//! Items are dicts or objects with attributes (dataclasses, LAVA's Django models), so a
//! Django caller passes querysets' rows as they are: a foreign key may be the related
//! instance (`Device.device_type`, `Device.worker_host`, `TestJob.submitter`,
//! `TestJob.requested_device_type`, `TestJob.actual_device`), a many-to-many field a
//! related manager (`tags`: its `.all()` is read). States and healths are LAVA's names
//! ("Idle") or database codes (0). A value of a type the reader does not expect raises
//! `SchedulerError` naming the field: nothing is guessed.

use std::collections::{BTreeSet, HashMap, HashSet};

use lava_core::model::{
    Device, DeviceHealth, DeviceState, DeviceType, HealthDenominator, Job, JobHealth, JobId,
    JobState, MultinodeMembership, Priority, Worker, WorkerHealth, WorkerState,
};
use lava_core::scheduler::{
    vlan_request, GroupPermission, LabSnapshot, LastHealthCheck, ObjectPermission, Permissions,
    UserAccess, Vlan, VlanInterface,
};
use lava_core::time::Timestamp;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

use crate::errors;

/// Reads fields of one snapshot item, naming `path.key` in every error.
pub struct Item<'a, 'py> {
    pub obj: &'a Bound<'py, PyAny>,
    pub path: String,
}

impl<'py> Item<'_, 'py> {
    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn err(&self, key: &str, message: &str) -> PyErr {
        errors::snapshot(self.obj.py(), &self.field_path(key), message)
    }

    /// The value of `key` (dict item or attribute), `None` when absent or None.
    pub fn get(&self, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let value = if let Ok(dict) = self.obj.cast::<PyDict>() {
            dict.get_item(key)?
        } else if self.obj.hasattr(key)? {
            Some(self.obj.getattr(key)?)
        } else {
            None
        };
        Ok(value.filter(|v| !v.is_none()))
    }

    /// The first of `keys` that is present (Django's field name and ours), with its key.
    fn get_first(
        &self,
        keys: &[&'static str],
    ) -> PyResult<Option<(&'static str, Bound<'py, PyAny>)>> {
        for key in keys {
            if let Some(value) = self.get(key)? {
                return Ok(Some((key, value)));
            }
        }
        Ok(None)
    }

    fn required(&self, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.get(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    fn extract<T: FromPyObjectOwned<'py>>(
        &self,
        key: &str,
        value: &Bound<'py, PyAny>,
        what: &str,
    ) -> PyResult<T> {
        value
            .extract::<T>()
            .map_err(|_| self.err(key, &format!("expected {what}")))
    }

    fn string(&self, key: &str) -> PyResult<String> {
        let value = self.required(key)?;
        self.extract(key, &value, "a str")
    }

    fn opt_string(&self, key: &str) -> PyResult<Option<String>> {
        match self.get(key)? {
            Some(value) => self.extract(key, &value, "a str or None").map(Some),
            None => Ok(None),
        }
    }

    /// A name given as a str, or as a model instance whose `attr` is that str (a Django
    /// foreign key: `device_type` → `.name`, `worker_host` → `.hostname`).
    fn name_of(&self, key: &str, value: &Bound<'py, PyAny>, attr: &str) -> PyResult<String> {
        if let Ok(name) = value.extract::<String>() {
            return Ok(name);
        }
        let expected = || {
            self.err(
                key,
                &format!("expected a str or an object with a str `{attr}`"),
            )
        };
        if !value.hasattr(attr)? {
            return Err(expected());
        }
        value
            .getattr(attr)?
            .extract::<String>()
            .map_err(|_| expected())
    }

    fn opt_name(&self, keys: &[&'static str], attr: &str) -> PyResult<Option<String>> {
        match self.get_first(keys)? {
            Some((key, value)) => self.name_of(key, &value, attr).map(Some),
            None => Ok(None),
        }
    }

    fn int_or<T: FromPyObjectOwned<'py>>(&self, key: &str, default: T) -> PyResult<T> {
        match self.get(key)? {
            Some(value) => self.extract(key, &value, "an integer in range"),
            None => Ok(default),
        }
    }

    /// A job id given as an int, or as a model instance (its `pk`).
    fn job_id(&self, key: &str) -> PyResult<Option<JobId>> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        if let Ok(id) = value.extract::<JobId>() {
            return Ok(Some(id));
        }
        for attr in ["pk", "id"] {
            if value.hasattr(attr)? {
                return self
                    .extract(key, &value.getattr(attr)?, "an object with an int `pk`")
                    .map(Some);
            }
        }
        Err(self.err(key, "expected a job id or an object with a `pk`"))
    }

    fn bool_or(&self, key: &str, default: bool) -> PyResult<bool> {
        match self.get(key)? {
            Some(value) => value.is_truthy(),
            None => Ok(default),
        }
    }

    /// Names given as a list (or set) of str or of model instances with `attr`, or as a
    /// Django related manager (its `.all()`).
    fn names(&self, key: &str, attr: &str) -> PyResult<Vec<String>> {
        let Some(value) = self.get(key)? else {
            return Ok(Vec::new());
        };
        names_in(self, key, &value, attr)
    }

    fn tags(&self, key: &str) -> PyResult<BTreeSet<String>> {
        Ok(self.names(key, "name")?.into_iter().collect())
    }

    /// A moment: float seconds since the epoch, or a `datetime` (aware, or naive UTC).
    fn time(&self, key: &str) -> PyResult<Option<Timestamp>> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        timestamp(&value).map(Some).map_err(|m| self.err(key, &m))
    }
}

/// Whether `value` is a plain Python collection (read as it is, not through `.all()`).
fn is_collection(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyList>()
        || value.is_instance_of::<PyTuple>()
        || value.is_instance_of::<PySet>()
        || value.is_instance_of::<PyFrozenSet>()
}

fn names_in<'py>(
    item: &Item<'_, 'py>,
    key: &str,
    value: &Bound<'py, PyAny>,
    attr: &str,
) -> PyResult<Vec<String>> {
    if value.cast::<PyString>().is_ok() {
        return Err(item.err(key, "expected a list of names, not a str"));
    }
    // A Django related manager (`device.tags`) or queryset: read its `.all()`.
    let value = if !is_collection(value) && value.hasattr("all")? {
        value.call_method0("all")?
    } else {
        value.clone()
    };
    let mut names = Vec::new();
    for entry in value
        .try_iter()
        .map_err(|_| item.err(key, "expected a list of names"))?
    {
        names.push(item.name_of(key, &entry?, attr)?);
    }
    Ok(names)
}

fn timestamp(value: &Bound<'_, PyAny>) -> Result<Timestamp, String> {
    let secs: f64 = if let Ok(secs) = value.extract::<f64>() {
        secs
    } else if value.hasattr("utcoffset").unwrap_or(false) {
        let aware = value
            .call_method0("utcoffset")
            .map(|o| !o.is_none())
            .unwrap_or(false);
        let value = if aware {
            value.clone()
        } else {
            let utc = value
                .py()
                .import("datetime")
                .and_then(|m| m.getattr("timezone"))
                .and_then(|tz| tz.getattr("utc"))
                .map_err(|e| e.to_string())?;
            let kwargs = PyDict::new(value.py());
            kwargs.set_item("tzinfo", utc).map_err(|e| e.to_string())?;
            value
                .call_method("replace", (), Some(&kwargs))
                .map_err(|e| e.to_string())?
        };
        value
            .call_method0("timestamp")
            .and_then(|t| t.extract::<f64>())
            .map_err(|e| e.to_string())?
    } else {
        return Err("expected seconds since the epoch or a datetime".into());
    };
    if !secs.is_finite() || secs.abs() > 1e13 {
        return Err(format!("{secs} is not a usable time"));
    }
    Ok(Timestamp((secs * 1e6).round() as i64))
}

/// Reads a LAVA enum given by name ("Idle", case-insensitive) or database code (0).
macro_rules! lava_enum_field {
    ($item:expr, $key:expr, $ty:ty, $default:expr) => {{
        match $item.get($key)? {
            None => Ok($default),
            Some(value) => {
                let found = if let Ok(code) = value.extract::<i32>() {
                    <$ty>::from_code(code)
                } else if let Ok(name) = value.extract::<String>() {
                    <$ty>::from_name(&name)
                } else {
                    None
                };
                let names: Vec<&str> = <$ty>::ALL.iter().map(|v| v.name()).collect();
                found.ok_or_else(|| {
                    $item.err(
                        $key,
                        &format!("expected one of {} or its code", names.join(", ")),
                    )
                })
            }
        }
    }};
}

fn items<'py>(snapshot: &Item<'_, 'py>, key: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let Some(list) = snapshot.get(key)? else {
        return Ok(Vec::new());
    };
    let iter = list
        .try_iter()
        .map_err(|_| snapshot.err(key, "expected a list"))?;
    iter.collect()
}

fn device_type(item: &Item<'_, '_>) -> PyResult<DeviceType> {
    Ok(DeviceType {
        name: item.string("name")?,
        health_check_definition: item.opt_string("health_check_definition")?,
        health_frequency: item.int_or("health_frequency", 24u32)?,
        health_denominator: lava_enum_field!(
            item,
            "health_denominator",
            HealthDenominator,
            HealthDenominator::Hours
        )?,
        disable_health_check: item.bool_or("disable_health_check", false)?,
        display: item.bool_or("display", true)?,
        description: item.opt_string("description")?.unwrap_or_default(),
    })
}

fn device(item: &Item<'_, '_>) -> PyResult<Device> {
    Ok(Device {
        hostname: item.string("hostname")?,
        device_type: item
            .opt_name(&["device_type"], "name")?
            .ok_or_else(|| item.err("device_type", "missing"))?,
        state: lava_enum_field!(item, "state", DeviceState, DeviceState::Idle)?,
        health: lava_enum_field!(item, "health", DeviceHealth, DeviceHealth::Good)?,
        // `worker_host` is the Django model's field.
        worker: item.opt_name(&["worker", "worker_host"], "hostname")?,
        tags: item.tags("tags")?,
        last_health_report_job: item.job_id("last_health_report_job")?,
        description: item.opt_string("description")?.unwrap_or_default(),
    })
}

fn worker(item: &Item<'_, '_>) -> PyResult<Worker> {
    Ok(Worker {
        hostname: item.string("hostname")?,
        state: lava_enum_field!(item, "state", WorkerState, WorkerState::Online)?,
        health: lava_enum_field!(item, "health", WorkerHealth, WorkerHealth::Active)?,
        description: item.opt_string("description")?.unwrap_or_default(),
        job_limit: item.int_or("job_limit", 0u32)?,
        last_ping: item.time("last_ping")?,
        version: item.opt_string("version")?,
    })
}

fn priority(item: &Item<'_, '_>) -> PyResult<Priority> {
    let Some(value) = item.get("priority")? else {
        return Ok(Priority::MEDIUM);
    };
    let found = if let Ok(number) = value.extract::<i64>() {
        Priority::new(number)
    } else if let Ok(name) = value.extract::<String>() {
        Priority::from_name(&name)
    } else {
        None
    };
    found.ok_or_else(|| item.err("priority", "expected 0..100, low, medium or high"))
}

/// The multinode group and role: our `multinode` ({group, role}), or Django's
/// `target_group` with the role from the sub-job's definition (where LAVA keeps it).
fn multinode(item: &Item<'_, '_>, definition: &str) -> PyResult<Option<MultinodeMembership>> {
    if let Some(value) = item.get("multinode")? {
        let group = Item {
            obj: &value,
            path: item.field_path("multinode"),
        };
        return Ok(Some(MultinodeMembership {
            group: group.string("group")?,
            role: group.string("role")?,
        }));
    }
    let Some(group) = item.opt_string("target_group")?.filter(|g| !g.is_empty()) else {
        return Ok(None);
    };
    if let Some(role) = item.opt_string("role")? {
        return Ok(Some(MultinodeMembership { group, role }));
    }
    let tree = lava_core::job::yaml::parse(definition)
        .map_err(|e| item.err("definition", &format!("not valid YAML: {}", e.message)))?;
    let role = tree
        .get("protocols")
        .and_then(|p| p.get("lava-multinode"))
        .and_then(|p| p.get("role"))
        .and_then(|r| r.as_str())
        .ok_or_else(|| {
            item.err(
                "definition",
                &format!("a sub-job of group {group} has no protocols.lava-multinode.role"),
            )
        })?;
    Ok(Some(MultinodeMembership {
        group,
        role: role.to_owned(),
    }))
}

fn job(item: &Item<'_, '_>) -> PyResult<Job> {
    let definition = item.opt_string("definition")?.unwrap_or_default();
    let id = match item.job_id("id")? {
        Some(id) => id,
        None => item
            .job_id("pk")?
            .ok_or_else(|| item.err("id", "missing"))?,
    };
    Ok(Job {
        id,
        submitter: item
            .opt_name(&["submitter"], "username")?
            .unwrap_or_default(),
        multinode: multinode(item, &definition)?,
        definition,
        state: lava_enum_field!(item, "state", JobState, JobState::Submitted)?,
        health: lava_enum_field!(item, "health", JobHealth, JobHealth::Unknown)?,
        priority: priority(item)?,
        submit_time: item.time("submit_time")?.unwrap_or_default(),
        start_time: item.time("start_time")?,
        end_time: item.time("end_time")?,
        requested_device_type: item.opt_name(&["requested_device_type"], "name")?,
        tags: item.tags("tags")?,
        health_check: item.bool_or("health_check", false)?,
        actual_device: item.opt_name(&["actual_device"], "hostname")?,
        failure_comment: item.opt_string("failure_comment")?,
        is_public: item.bool_or("is_public", true)?,
    })
}

fn read_list<'py, T>(
    snapshot: &Item<'_, 'py>,
    key: &str,
    read: impl Fn(&Item<'_, 'py>) -> PyResult<T>,
) -> PyResult<(Vec<T>, Vec<Bound<'py, PyAny>>)> {
    let objects = items(snapshot, key)?;
    let values = objects
        .iter()
        .enumerate()
        .map(|(index, obj)| {
            read(&Item {
                obj,
                path: format!("{key}[{index}]"),
            })
        })
        .collect::<PyResult<Vec<T>>>()?;
    Ok((values, objects))
}

/// A dict's key and value, with the path naming the entry in errors.
type Entry<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, String);

/// The entries of a dict given at `key` of the snapshot, each with its path.
fn dict_entries<'py>(root: &Item<'_, 'py>, key: &str, what: &str) -> PyResult<Vec<Entry<'py>>> {
    let Some(value) = root.get(key)? else {
        return Ok(Vec::new());
    };
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| root.err(key, &format!("expected a dict by {what}")))?;
    Ok(dict
        .iter()
        .map(|(k, v)| {
            let path = format!(
                "{key}[{}]",
                k.repr().map(|r| r.to_string()).unwrap_or_default()
            );
            (k, v, path)
        })
        .collect())
}

fn key_string(
    root: &Item<'_, '_>,
    key: &str,
    k: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<String> {
    k.extract::<String>()
        .map_err(|_| root.err(key, &format!("keys must be {what}")))
}

/// Tags per name, in order: `{name: [tags]}`, `{name: {"tags": [tags]}}` (the shape of
/// `protocols.lava-vland` and of a device's `parameters.interfaces`), or `[(name, [tags])]`.
pub fn tagged_names(
    item: &Item<'_, '_>,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, Vec<String>)>> {
    let pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = if let Ok(dict) = value.cast::<PyDict>()
    {
        dict.iter().collect()
    } else {
        let mut pairs = Vec::new();
        for entry in value.try_iter().map_err(|_| {
            item.err(
                key,
                "expected a dict of names to tags, or a list of (name, tags)",
            )
        })? {
            let entry = entry?;
            let (name, tags): (Bound<'_, PyAny>, Bound<'_, PyAny>) = entry
                .extract()
                .map_err(|_| item.err(key, "expected (name, tags) pairs"))?;
            pairs.push((name, tags));
        }
        pairs
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (name, body) in pairs {
        let name: String = name
            .extract()
            .map_err(|_| item.err(key, "names must be str"))?;
        let path = format!("{key}[{name:?}]");
        let tags = if body.is_none() {
            Vec::new()
        } else if let Ok(dict) = body.cast::<PyDict>() {
            match dict.get_item("tags")? {
                Some(tags) if !tags.is_none() => names_in(item, &path, &tags, "name")?,
                Some(_) => Vec::new(),
                None => return Err(item.err(&format!("{path}.tags"), "missing")),
            }
        } else {
            names_in(item, &path, &body, "name")?
        };
        out.push((name, tags));
    }
    Ok(out)
}

fn permission_grants(
    item: &Item<'_, '_>,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<Vec<GroupPermission>> {
    let value = if !is_collection(value) && value.hasattr("all")? {
        value.call_method0("all")?
    } else {
        value.clone()
    };
    let mut grants = Vec::new();
    for (index, entry) in value
        .try_iter()
        .map_err(|_| item.err(key, "expected a list of (group, permission)"))?
        .enumerate()
    {
        let entry = entry?;
        let path = format!("{key}[{index}]");
        let (group, permission) =
            if let Ok(pair) = entry.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
                pair
            } else {
                // A dict, or LAVA's GroupDevicePermission row (`.group`, `.permission`).
                let grant = Item {
                    obj: &entry,
                    path: item.field_path(&path),
                };
                (grant.required("group")?, grant.required("permission")?)
            };
        let group = item.name_of(&format!("{path}.group"), &group, "name")?;
        let codename = item.name_of(&format!("{path}.permission"), &permission, "codename")?;
        let permission = ObjectPermission::from_codename(&codename).ok_or_else(|| {
            item.err(
                &format!("{path}.permission"),
                &format!(
                    "unknown permission {codename:?} (expected view_device, submit_to_device, \
                     change_device or their _devicetype forms)"
                ),
            )
        })?;
        grants.push(GroupPermission { group, permission });
    }
    Ok(grants)
}

fn user_access(item: &Item<'_, '_>) -> PyResult<UserAccess> {
    // Global permissions: a list of "app.codename", or a Django user's get_all_permissions().
    let global: HashSet<String> = match item.get("permissions")? {
        Some(_) => item.names("permissions", "codename")?.into_iter().collect(),
        None if item.obj.hasattr("get_all_permissions")? => item
            .obj
            .call_method0("get_all_permissions")?
            .try_iter()?
            .map(|p| p.and_then(|p| p.extract::<String>()))
            .collect::<PyResult<_>>()
            .map_err(|_| item.err("get_all_permissions()", "expected permission names"))?,
        None => HashSet::new(),
    };
    let holds = |codename: &str| {
        global.contains(codename) || global.contains(&format!("lava_scheduler_app.{codename}"))
    };
    Ok(UserAccess {
        groups: item.names("groups", "name")?.into_iter().collect(),
        is_superuser: item.bool_or("is_superuser", false)?,
        is_active: item.bool_or("is_active", true)?,
        submit_to_all_devices: holds("submit_to_device"),
        submit_to_all_device_types: holds("submit_to_devicetype"),
    })
}

fn permissions(root: &Item<'_, '_>) -> PyResult<Permissions> {
    let Some(value) = root.get("permissions")? else {
        return Ok(Permissions::default());
    };
    let item = Item {
        obj: &value,
        path: "permissions".into(),
    };
    let mut out = Permissions::default();
    for (k, v, path) in dict_entries(&item, "users", "username")? {
        let name = key_string(&item, "users", &k, "usernames")?;
        let user = Item {
            obj: &v,
            path: item.field_path(&path),
        };
        out.users.insert(name, user_access(&user)?);
    }
    for (key, what, target) in [
        ("devices", "hostnames", &mut out.devices),
        ("device_types", "device type names", &mut out.device_types),
    ] {
        for (k, v, path) in dict_entries(&item, key, what)? {
            let name = key_string(&item, key, &k, what)?;
            target.insert(name, permission_grants(&item, &path, &v)?);
        }
    }
    Ok(out)
}

/// A snapshot read from Python, with the device items as given (for the callbacks).
pub struct Snapshot<'py> {
    pub lab: LabSnapshot,
    /// The Python item of each device, in snapshot order.
    pub device_objects: Vec<Bound<'py, PyAny>>,
}

pub fn lab_snapshot<'py>(obj: &Bound<'py, PyAny>, lazy_validity: bool) -> PyResult<Snapshot<'py>> {
    let root = Item {
        obj,
        path: String::new(),
    };
    let (device_types, _) = read_list(&root, "device_types", device_type)?;
    let (devices, device_objects) = read_list(&root, "devices", device)?;
    let (workers, _) = read_list(&root, "workers", worker)?;
    let (jobs, _) = read_list(&root, "jobs", job)?;
    let now = root
        .time("now")?
        .ok_or_else(|| root.err("now", "missing"))?;

    let mut last_health_checks = HashMap::new();
    for (hostname, check, path) in dict_entries(&root, "last_health_checks", "hostname")? {
        let hostname = key_string(&root, "last_health_checks", &hostname, "hostnames")?;
        let item = Item { obj: &check, path };
        let check = LastHealthCheck {
            job: item
                .job_id("job")?
                .ok_or_else(|| item.err("job", "missing"))?,
            submit_time: item
                .time("submit_time")?
                .ok_or_else(|| item.err("submit_time", "missing"))?,
            jobs_since: item.int_or("jobs_since", 0u32)?,
        };
        last_health_checks.insert(hostname, check);
    }

    // Absent (and no is_valid callback): every device's dictionary is taken as valid.
    let valid_dictionaries: HashSet<String> = match root.get("valid_dictionaries")? {
        None if lazy_validity => HashSet::new(),
        None => devices.iter().map(|d| d.hostname.clone()).collect(),
        Some(_) => root
            .names("valid_dictionaries", "hostname")?
            .into_iter()
            .collect(),
    };
    let legacy_jobs: HashSet<i64> = match root.get("legacy_jobs")? {
        None => HashSet::new(),
        Some(ids) => ids
            .try_iter()
            .and_then(|it| it.map(|n| n.and_then(|n| n.extract::<i64>())).collect())
            .map_err(|_| root.err("legacy_jobs", "expected a list of job ids"))?,
    };

    let mut health_checks = HashMap::new();
    for (hostname, definition, path) in dict_entries(&root, "health_checks", "hostname")? {
        let hostname = key_string(&root, "health_checks", &hostname, "hostnames")?;
        let definition = if definition.is_none() {
            None
        } else {
            Some(
                definition
                    .extract::<String>()
                    .map_err(|_| root.err(&path, "expected the definition (a str) or None"))?,
            )
        };
        health_checks.insert(hostname, definition);
    }

    let mut vlan_interfaces = HashMap::new();
    for (hostname, interfaces, path) in dict_entries(&root, "vlan_interfaces", "hostname")? {
        let hostname = key_string(&root, "vlan_interfaces", &hostname, "hostnames")?;
        if interfaces.is_none() {
            continue;
        }
        let interfaces = tagged_names(&root, &path, &interfaces)?
            .into_iter()
            .map(|(name, tags)| VlanInterface { name, tags })
            .collect();
        vlan_interfaces.insert(hostname, interfaces);
    }

    let mut vlan_requests = HashMap::new();
    for (id, request, path) in dict_entries(&root, "vlan_requests", "job id")? {
        let id: JobId = id
            .extract()
            .map_err(|_| root.err("vlan_requests", "keys must be job ids"))?;
        let request = tagged_names(&root, &path, &request)?
            .into_iter()
            .map(|(name, tags)| Vlan { name, tags })
            .collect();
        vlan_requests.insert(id, request);
    }
    // Jobs not given: read from their definition, as LAVA does in its pass.
    for (index, job) in jobs.iter().enumerate() {
        if job.state != JobState::Submitted
            || vlan_requests.contains_key(&job.id)
            || !job.definition.contains("lava-vland")
        {
            continue;
        }
        match vlan_request(&job.definition) {
            Ok(Some(request)) => {
                vlan_requests.insert(job.id, request);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(errors::snapshot(
                    obj.py(),
                    &format!("jobs[{index}].definition"),
                    &e.to_string(),
                ))
            }
        }
    }

    Ok(Snapshot {
        lab: LabSnapshot {
            device_types,
            devices,
            workers,
            jobs,
            last_health_checks,
            valid_dictionaries,
            legacy_jobs,
            now,
            health_checks,
            permissions: permissions(&root)?,
            vlan_requests,
            vlan_interfaces,
            // Inside Django LAVA the pass keeps LAVA's behaviour.
            bound_waiting_groups: false,
        },
        device_objects,
    })
}
