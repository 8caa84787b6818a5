//! The variables a dictionary is rendered with, and the YAML reading both they and the
//! rendered output go through.

use minijinja::value::{Value, ValueKind};

use super::error::{TemplateError, TemplateErrorKind};

/// Variables a dictionary is rendered with: the job definition's `context:` mapping.
#[derive(Debug, Clone)]
pub struct JobContext(pub(crate) Value);

impl Default for JobContext {
    fn default() -> Self {
        JobContext::empty()
    }
}

impl JobContext {
    /// No variables (a job without `context:`, or an admin's check).
    pub fn empty() -> Self {
        JobContext(Value::from(
            std::collections::BTreeMap::<String, Value>::new(),
        ))
    }

    /// A context from any serializable mapping (e.g. the parsed job definition's `context`).
    pub fn from_serialize<T: serde::Serialize>(context: &T) -> Result<Self, TemplateError> {
        Self::from_value(Value::from(minijinja::value::Serde(context)), "job context")
    }

    /// A context from YAML text (the file given to `lava-admin templates render --context`).
    /// An empty document is an empty context; anything but a mapping is an error.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Ok(JobContext::empty());
        }
        let value: Value =
            serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|err| {
                TemplateError::new(TemplateErrorKind::BadContext, origin, err.to_string())
            })?;
        if value.is_none() {
            return Ok(JobContext::empty());
        }
        Self::from_value(value, origin)
    }

    fn from_value(value: Value, origin: &str) -> Result<Self, TemplateError> {
        if value.kind() != ValueKind::Map {
            return Err(TemplateError::new(
                TemplateErrorKind::BadContext,
                origin,
                format!("the context must be a mapping, not a {}", value.kind()),
            ));
        }
        Ok(JobContext(value))
    }

    /// The same variables plus LAVA's `scheduled_device_name` and `scheduled_device_type`
    /// (which win over job variables of the same name, as in LAVA).
    pub fn for_device(&self, hostname: &str, device_type: &str) -> JobContext {
        let mut vars: Vec<(Value, Value)> = Vec::new();
        if let Ok(keys) = self.0.try_iter() {
            for key in keys {
                let is_scheduled = matches!(
                    key.as_str(),
                    Some("scheduled_device_name" | "scheduled_device_type")
                );
                if !is_scheduled {
                    let item = self.0.get_item(&key).unwrap_or_default();
                    vars.push((key, item));
                }
            }
        }
        vars.push((Value::from("scheduled_device_name"), Value::from(hostname)));
        vars.push((
            Value::from("scheduled_device_type"),
            Value::from(device_type),
        ));
        JobContext(Value::from_pairs(vars))
    }
}

/// PyYAML's `safe_load` as close as serde-saphyr gets: a repeated key keeps the last value,
/// `0755` is octal (YAML 1.1).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::LastWins,
        legacy_octal_numbers: true,
    }
}

/// Checks that `yaml` (a rendered dictionary from `file`) parses to a YAML mapping.
pub fn check_mapping(file: &str, yaml: &str) -> Result<(), TemplateError> {
    let value: Value =
        serde_saphyr::from_str_with_options(yaml, yaml_options()).map_err(|err| {
            TemplateError::new(
                TemplateErrorKind::NotAMapping,
                file,
                format!("rendered text is not valid YAML: {err}"),
            )
        })?;
    if value.kind() == ValueKind::Map {
        Ok(())
    } else {
        Err(TemplateError::new(
            TemplateErrorKind::NotAMapping,
            file,
            format!("rendered YAML is a {}, not a mapping", value.kind()),
        ))
    }
}
