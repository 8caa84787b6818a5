//! lava-run's environment, built from the `env.yaml` text of START (protocol.md §5.1, §5.2).
//!
//! The text is a mapping with three optional keys: `purge` (start from an empty environment
//! instead of the slave's), `removes` (variables to delete) and `overrides` (variables to
//! set). LAVA 2020.05's slave dies on a valid env that is not such a mapping (§9 #31) and on
//! override values that are not strings; here the text is checked when START arrives, and
//! numbers and booleans are written as their YAML text.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::master::{yaml_kind, YamlKind};

/// What `env.yaml` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobEnvironment {
    /// Start from an empty environment rather than the slave's own.
    pub purge: bool,
    /// Variables removed from the inherited environment.
    pub removes: Vec<String>,
    /// Variables set last, in name order.
    pub overrides: BTreeMap<String, String>,
}

/// An `env.yaml` that lava-run cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("env.yaml {reason}")]
pub struct EnvError {
    /// Why, with the parser's line and column where it has them.
    pub reason: String,
}

impl JobEnvironment {
    /// Parses the env text of START; empty text (or only comments) means "inherit as is".
    pub fn parse(text: &str) -> Result<Self, EnvError> {
        match yaml_kind(text) {
            Ok(YamlKind::Empty) => return Ok(JobEnvironment::default()),
            Ok(YamlKind::Mapping) => {}
            Ok(kind) => {
                return Err(EnvError {
                    reason: format!("is {kind}, a mapping is required"),
                })
            }
            Err(reason) => {
                return Err(EnvError {
                    reason: format!("is not valid YAML: {reason}"),
                })
            }
        }
        let raw: RawEnv = serde_saphyr::from_str(text).map_err(|e| EnvError {
            reason: format!("does not have the expected shape (purge: bool, removes: [names], overrides: {{name: value}}): {e}"),
        })?;
        Ok(JobEnvironment {
            purge: raw.purge.unwrap_or(false),
            removes: raw.removes.unwrap_or_default(),
            overrides: raw
                .overrides
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        })
    }

    /// The environment for lava-run, from the slave's own `inherited` one.
    pub fn apply(
        &self,
        inherited: impl IntoIterator<Item = (String, String)>,
    ) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = if self.purge {
            BTreeMap::new()
        } else {
            inherited.into_iter().collect()
        };
        for name in &self.removes {
            env.remove(name);
        }
        env.extend(self.overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

#[derive(Deserialize)]
struct RawEnv {
    #[serde(default)]
    purge: Option<bool>,
    #[serde(default)]
    removes: Option<Vec<String>>,
    #[serde(default)]
    overrides: Option<BTreeMap<String, ScalarText>>,
}

/// A scalar as environment text: strings as they are, numbers and booleans as written.
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inherited() -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/bin".into()),
            ("HOME".into(), "/root".into()),
            ("LANG".into(), "C".into()),
        ]
    }

    #[test]
    fn empty_inherits_everything() {
        let env = JobEnvironment::parse("").unwrap();
        assert_eq!(env.apply(inherited()).len(), 3);
        assert_eq!(JobEnvironment::parse("# nothing\n").unwrap(), env);
    }

    #[test]
    fn lavas_default_env_yaml() {
        let text = "purge: true\noverrides:\n  LC_ALL: C.UTF-8\n  LANG: C\n  PATH: /usr/local/bin:/usr/bin\n  DEBIAN_FRONTEND: noninteractive\n";
        let env = JobEnvironment::parse(text).unwrap();
        let out = env.apply(inherited());
        assert!(!out.contains_key("HOME"));
        assert_eq!(out["PATH"], "/usr/local/bin:/usr/bin");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn removes_then_overrides() {
        let text = "removes: [HOME, NOT_SET]\noverrides: {LANG: fr, JOBS: 4, DEBUG: true}\n";
        let out = JobEnvironment::parse(text).unwrap().apply(inherited());
        assert!(!out.contains_key("HOME"));
        assert_eq!(out["LANG"], "fr");
        assert_eq!(out["JOBS"], "4");
        assert_eq!(out["DEBUG"], "true");
        assert_eq!(out["PATH"], "/usr/bin");
    }

    #[test]
    fn wrong_shapes_are_named() {
        let e = JobEnvironment::parse("- not\n- a mapping\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "env.yaml is a sequence, a mapping is required"
        );
        let e = JobEnvironment::parse("overrides: [A, B]\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("env.yaml does not have the expected shape"),
            "{e}"
        );
        assert!(JobEnvironment::parse("overrides: {A: {nested: 1}}\n").is_err());
        assert!(JobEnvironment::parse("removes: HOME\n").is_err());
        assert!(JobEnvironment::parse("purge: [\n").is_err());
    }
}
