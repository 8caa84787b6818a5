//! The XML-RPC methods, one module per LAVA namespace, and the dispatcher.
//!
//! Names, argument order and defaults, return shapes, fault codes and messages follow
//! LAVA 2020.05 (`lava_scheduler_app/api/`, `lava_results_app/api.py`, `lava_server/api.py`).

mod device_types;
mod devices;
mod jobs;
mod params;
mod results;
mod system;
mod tags;
mod workers;

pub use params::Params;

use crate::fault::{codes, Fault};
use crate::value::Value;
use lava_lab::{Lab, LabError};
use lava_store::User;

/// The LAVA release whose API lava-rs serves, answered by `system.version`.
///
/// lavacli enables its commands by this version: 2020.05 is inside every gate the methods
/// here need (`workers env` needs ≥ 2020.01, `workers certificate` 2020.04 to 2020.08) and
/// before the gates of arguments LAVA added later (worker tokens, device reasons).
pub const LAVA_VERSION: &str = "2020.05";

/// One call being served: the lab, the caller and the arguments.
pub struct Call<'a> {
    /// The lab.
    pub lab: &'a Lab,
    /// The authenticated caller; `None` for anonymous calls.
    pub user: Option<User>,
    /// The arguments.
    pub params: Params,
}

impl Call<'_> {
    /// The caller, or fault 401 for anonymous calls (LAVA's `_authenticate`).
    pub fn authenticated(&self) -> Result<&User, Fault> {
        self.user.as_ref().ok_or_else(Fault::auth_required)
    }

    /// The caller if they hold `permission` (LAVA's `check_perm`): 401 for anonymous
    /// calls, 403 for plain users. Admins hold every permission.
    pub fn require(&self, permission: &str) -> Result<&User, Fault> {
        let user = self.authenticated()?;
        if user.is_admin {
            Ok(user)
        } else {
            Err(Fault::forbidden(format!(
                "User '{}' is missing permission lava_scheduler_app.{permission} .",
                user.username
            )))
        }
    }

    /// Whether the caller may change lab objects (LAVA's `can_change` for admins).
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }

    /// The caller as LAVA prints a user in messages.
    pub fn who(&self) -> &str {
        self.user
            .as_ref()
            .map_or("AnonymousUser", |u| u.username.as_str())
    }
}

impl From<LabError> for Fault {
    /// The lab's refusals in LAVA's fault codes; the text is the lab's (methods that must
    /// answer LAVA's exact words match the error first).
    fn from(err: LabError) -> Self {
        match err {
            LabError::NotFound(what) => Fault::not_found(format!("{what} was not found.")),
            LabError::AlreadyExists(what) => {
                Fault::bad_request(format!("Bad request: {what} already exists"))
            }
            LabError::JobDefinition(e) => {
                Fault::bad_request(format!("Problem with submitted job data: {e}"))
            }
            LabError::DevicesUnavailable(why) => {
                Fault::bad_request(format!("Device unavailable: {why}"))
            }
            LabError::PermissionDenied(why) => Fault::forbidden(why),
            e @ (LabError::Invalid(_)
            | LabError::DeviceConfiguration { .. }
            | LabError::WorkerName(_)
            | LabError::Template(_)
            | LabError::Transition(_)) => Fault::bad_request(e.to_string()),
            e @ (LabError::Busy { .. }
            | LabError::Store(_)
            | LabError::Io { .. }
            | LabError::Random(_)) => {
                tracing::error!("XML-RPC call failed: {e}");
                Fault::internal(e.to_string())
            }
        }
    }
}

/// Every method with its help text, sorted by name (what `system.listMethods` answers).
pub const METHODS: &[(&str, &str)] = &[
    ("results.get_testjob_results_yaml", "results.get_testjob_results_yaml(job_id): the test results of a job as YAML. Needs authentication."),
    ("scheduler.cancel_job", "scheduler.cancel_job(job_id): cancel a job. Needs authentication; only its submitter or an admin may."),
    ("scheduler.device_types.add", "scheduler.device_types.add(name, description, display, owners_only, health_frequency, health_denominator): add a device type; health_denominator is 'hours' or 'jobs'. Admins only."),
    ("scheduler.device_types.get_template", "scheduler.device_types.get_template(name): the device-type template (base64)."),
    ("scheduler.device_types.list", "scheduler.device_types.list(show_all=False): device types with their device count; show_all adds templates without a device type."),
    ("scheduler.device_types.set_template", "scheduler.device_types.set_template(name, config): install a device-type template. Admins only."),
    ("scheduler.device_types.show", "scheduler.device_types.show(name): details of a device type."),
    ("scheduler.devices.add", "scheduler.devices.add(hostname, type_name, worker_hostname, user_name=None, group_name=None, public=True, health=None, description=None): add a device. Admins only."),
    ("scheduler.devices.get_dictionary", "scheduler.devices.get_dictionary(hostname, render=False, context=None): the device dictionary (base64), or the rendered configuration."),
    ("scheduler.devices.list", "scheduler.devices.list(show_all=False, offline_info=False): devices, retired ones only with show_all."),
    ("scheduler.devices.set_dictionary", "scheduler.devices.set_dictionary(hostname, dictionary): store a device dictionary. Admins only."),
    ("scheduler.devices.show", "scheduler.devices.show(hostname): details of a device."),
    ("scheduler.devices.update", "scheduler.devices.update(hostname, worker_hostname=None, user_name=None, group_name=None, public=True, health=None, description=None): change a device. Admins only."),
    ("scheduler.jobs.cancel", "scheduler.jobs.cancel(job_id): cancel a job. Needs authentication."),
    ("scheduler.jobs.definition", "scheduler.jobs.definition(job_id): the job definition as submitted."),
    ("scheduler.jobs.list", "scheduler.jobs.list(state=None, health=None, start=0, limit=25, since=0, verbose=False): jobs, newest first; since is in minutes."),
    ("scheduler.jobs.logs", "scheduler.jobs.logs(job_id, start=0, end=None): [finished, log lines start..end as YAML (base64)]."),
    ("scheduler.jobs.show", "scheduler.jobs.show(job_id): details of a job."),
    ("scheduler.jobs.submit", "scheduler.jobs.submit(definition): submit a job; answers its id (a list of ids for multinode). Needs authentication."),
    ("scheduler.jobs.validate", "scheduler.jobs.validate(definition, strict=False): {} when the definition is valid, else {path, msg}."),
    ("scheduler.jobs.why", "scheduler.jobs.why(job_id): why the job is still waiting: {id, state, reason, message} (lava-rs only)."),
    ("scheduler.submit_job", "scheduler.submit_job(job_data): submit a job; answers its id (a list of ids for multinode). Needs authentication."),
    ("scheduler.tags.add", "scheduler.tags.add(name, description=None): add a tag. Admins only."),
    ("scheduler.tags.list", "scheduler.tags.list(): tags with their description."),
    ("scheduler.workers.add", "scheduler.workers.add(hostname, description=None, disabled=False): add a worker; a disabled one is Retired. Admins only."),
    ("scheduler.workers.get_certificate", "scheduler.workers.get_certificate(hostname): the worker's public ZMQ certificate (base64). Admins only."),
    ("scheduler.workers.get_config", "scheduler.workers.get_config(hostname): the worker's dispatcher configuration (base64)."),
    ("scheduler.workers.get_env", "scheduler.workers.get_env(hostname): the worker's env.yaml (base64)."),
    ("scheduler.workers.list", "scheduler.workers.list(): worker hostnames."),
    ("scheduler.workers.set_certificate", "scheduler.workers.set_certificate(hostname, key): store the worker's public ZMQ certificate. Admins only."),
    ("scheduler.workers.set_config", "scheduler.workers.set_config(hostname, config): store the worker's dispatcher configuration. Admins only."),
    ("scheduler.workers.set_env", "scheduler.workers.set_env(hostname, env): store the worker's env.yaml. Admins only."),
    ("scheduler.workers.show", "scheduler.workers.show(hostname): details of a worker."),
    ("scheduler.workers.update", "scheduler.workers.update(hostname, description=None, health=None, job_limit=None): change a worker; health is ACTIVE, MAINTENANCE or RETIRED. Admins only."),
    ("system.api_version", "system.api_version(): the version of the XML-RPC API (2)."),
    ("system.listMethods", "system.listMethods(): the names of every method."),
    ("system.methodHelp", "system.methodHelp(method_name): the help text of a method."),
    ("system.version", "system.version(): the LAVA release whose API this server implements."),
    ("system.whoami", "system.whoami(): the authenticated username, or nil."),
];

/// A job's description as LAVA stores it: `job_name` of its definition.
pub(crate) fn job_description(definition: &str) -> Option<String> {
    jobs::job_name(definition)
}

/// Calls a method by name.
pub async fn dispatch(method: &str, call: Call<'_>) -> Result<Value, Fault> {
    match method {
        "system.version" => system::version(&call),
        "system.api_version" => system::api_version(&call),
        "system.whoami" => system::whoami(&call),
        "system.listMethods" => system::list_methods(&call),
        "system.methodHelp" => system::method_help(&call),

        "scheduler.submit_job" | "scheduler.jobs.submit" => jobs::submit(&call).await,
        "scheduler.cancel_job" | "scheduler.jobs.cancel" => jobs::cancel(&call).await,
        "scheduler.jobs.list" => jobs::list(&call).await,
        "scheduler.jobs.show" => jobs::show(&call).await,
        "scheduler.jobs.definition" => jobs::definition(&call).await,
        "scheduler.jobs.logs" => jobs::logs(&call).await,
        "scheduler.jobs.validate" => jobs::validate(&call).await,
        "scheduler.jobs.why" => jobs::why(&call).await,

        "scheduler.devices.add" => devices::add(&call).await,
        "scheduler.devices.list" => devices::list(&call).await,
        "scheduler.devices.show" => devices::show(&call).await,
        "scheduler.devices.update" => devices::update(&call).await,
        "scheduler.devices.get_dictionary" => devices::get_dictionary(&call).await,
        "scheduler.devices.set_dictionary" => devices::set_dictionary(&call).await,

        "scheduler.device_types.add" => device_types::add(&call).await,
        "scheduler.device_types.list" => device_types::list(&call).await,
        "scheduler.device_types.show" => device_types::show(&call).await,
        "scheduler.device_types.get_template" => device_types::get_template(&call).await,
        "scheduler.device_types.set_template" => device_types::set_template(&call).await,

        "scheduler.workers.add" => workers::add(&call).await,
        "scheduler.workers.list" => workers::list(&call).await,
        "scheduler.workers.show" => workers::show(&call).await,
        "scheduler.workers.update" => workers::update(&call).await,
        "scheduler.workers.get_config" => workers::get_config(&call).await,
        "scheduler.workers.set_config" => workers::set_config(&call).await,
        "scheduler.workers.get_env" => workers::get_env(&call).await,
        "scheduler.workers.set_env" => workers::set_env(&call).await,
        "scheduler.workers.get_certificate" => workers::get_certificate(&call).await,
        "scheduler.workers.set_certificate" => workers::set_certificate(&call).await,

        "scheduler.tags.add" => tags::add(&call).await,
        "scheduler.tags.list" => tags::list(&call).await,

        "results.get_testjob_results_yaml" => results::get_testjob_results_yaml(&call).await,

        _ => Err(Fault::new(
            codes::METHOD_NOT_FOUND,
            format!("No such method: '{method}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_table_is_sorted_and_unique() {
        let names: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
