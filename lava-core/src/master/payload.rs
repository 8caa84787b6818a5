//! What the master checks in a START payload before sending it (protocol.md §9 #29, #31).
//!
//! A 2020.05 slave dies on a job definition that is not YAML, on an env that is YAML but not
//! a mapping, and on a dispatcher configuration that is not YAML; a device configuration that
//! is empty made the 2020.05 master itself crash-loop. None of these may leave the master: the
//! job fails with an Infrastructure error that names the file instead.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::JobId;
use crate::protocol::Message;

/// The six texts of a START message, kept verbatim (the slave writes them to files as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartPayload {
    /// The job definition (`job.yaml`).
    pub job: String,
    /// The rendered device configuration (`device.yaml`).
    pub device: String,
    /// The worker's dispatcher configuration (`dispatcher.yaml`), may be empty.
    pub dispatcher: String,
    /// The environment for lava-run (`env.yaml`), may be empty.
    pub env: String,
    /// The environment for the device under test (`env.dut.yaml`), may be empty.
    pub env_dut: String,
}

impl StartPayload {
    /// The START message for `job_id` carrying this payload.
    pub fn to_message(&self, job_id: JobId) -> Message {
        Message::Start {
            job_id,
            job: self.job.clone(),
            device: self.device.clone(),
            dispatcher: self.dispatcher.clone(),
            env: self.env.clone(),
            env_dut: self.env_dut.clone(),
        }
    }

    /// Checks every text against what a slave can survive; the first fault found is returned.
    pub fn validate(&self) -> Result<(), PayloadError> {
        let need_mapping = |file: PayloadFile, text: &str, empty_ok: bool| match yaml_kind(text) {
            Ok(YamlKind::Mapping) => Ok(()),
            Ok(YamlKind::Empty) if empty_ok => Ok(()),
            Ok(kind) => Err(PayloadError {
                file,
                reason: format!("is {kind}, a mapping is required"),
            }),
            Err(reason) => Err(PayloadError {
                file,
                reason: format!("is not valid YAML: {reason}"),
            }),
        };
        need_mapping(PayloadFile::Job, &self.job, false)?;
        need_mapping(PayloadFile::Device, &self.device, false)?;
        need_mapping(PayloadFile::Dispatcher, &self.dispatcher, true)?;
        let prefix = dispatcher_prefix(&self.dispatcher);
        if !crate::slave::lava_run::prefix_is_safe(&prefix) {
            return Err(PayloadError {
                file: PayloadFile::Dispatcher,
                reason: format!("has prefix {prefix:?}, which cannot be part of a directory name"),
            });
        }
        // A 2020.05 slave also dies on `overrides` or `removes` of the wrong shape.
        crate::slave::JobEnvironment::parse(&self.env).map_err(|e| PayloadError {
            file: PayloadFile::Env,
            reason: e.reason,
        })?;
        // lava-run reads env-dut as free YAML: any shape, as long as it parses.
        if let Err(reason) = yaml_kind(&self.env_dut) {
            return Err(PayloadError {
                file: PayloadFile::EnvDut,
                reason: format!("is not valid YAML: {reason}"),
            });
        }
        Ok(())
    }
}

/// One of the files a START carries, named as the slave writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFile {
    /// `job.yaml`.
    Job,
    /// `device.yaml`.
    Device,
    /// `dispatcher.yaml`.
    Dispatcher,
    /// `env.yaml`.
    Env,
    /// `env.dut.yaml`.
    EnvDut,
}

impl fmt::Display for PayloadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadFile::Job => "job.yaml",
            PayloadFile::Device => "device.yaml",
            PayloadFile::Dispatcher => "dispatcher.yaml",
            PayloadFile::Env => "env.yaml",
            PayloadFile::EnvDut => "env.dut.yaml",
        })
    }
}

/// A START payload that must not be sent: the job fails with an Infrastructure error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} {reason}")]
pub struct PayloadError {
    /// The file at fault.
    pub file: PayloadFile,
    /// Why it cannot be sent.
    pub reason: String,
}

/// The top-level shape of a YAML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlKind {
    /// No document, only whitespace or comments, or an explicit null.
    Empty,
    /// A mapping.
    Mapping,
    /// A sequence.
    Sequence,
    /// A string, number or boolean.
    Scalar,
}

impl fmt::Display for YamlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            YamlKind::Empty => "empty",
            YamlKind::Mapping => "a mapping",
            YamlKind::Sequence => "a sequence",
            YamlKind::Scalar => "a scalar",
        })
    }
}

/// Parses `text` (safely: no tags are honoured, no code runs) and reports its top-level shape.
///
/// The error is the parser's message, which names the line and column.
pub fn yaml_kind(text: &str) -> Result<YamlKind, String> {
    if text.trim().is_empty() {
        return Ok(YamlKind::Empty);
    }
    match serde_saphyr::from_str::<Shape>(text) {
        Ok(Shape(kind)) => Ok(kind),
        Err(error) => Err(error.to_string()),
    }
}

/// The value of a `prefix` key when `text` is a mapping whose `prefix` is a string, else `""`
/// (how LAVA's slave names per-job directories, protocol.md §5.2).
pub fn dispatcher_prefix(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct WithPrefix {
        #[serde(default)]
        prefix: Option<String>,
    }
    if yaml_kind(text) != Ok(YamlKind::Mapping) {
        return String::new();
    }
    serde_saphyr::from_str::<WithPrefix>(text)
        .ok()
        .and_then(|w| w.prefix)
        .unwrap_or_default()
}

/// Deserialises any document and keeps only its top-level shape.
struct Shape(YamlKind);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor).map(Shape)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = YamlKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<YamlKind, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(YamlKind::Mapping)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlKind, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(YamlKind::Sequence)
    }

    fn visit_unit<E: de::Error>(self) -> Result<YamlKind, E> {
        Ok(YamlKind::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<YamlKind, E> {
        Ok(YamlKind::Empty)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<YamlKind, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<YamlKind, E> {
        Ok(YamlKind::Scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> StartPayload {
        StartPayload {
            job: "job_name: test\nactions: []\n".into(),
            device: "device_type: qemu\nactions: {}\n".into(),
            dispatcher: String::new(),
            env: String::new(),
            env_dut: String::new(),
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(yaml_kind(""), Ok(YamlKind::Empty));
        assert_eq!(yaml_kind("# only a comment\n"), Ok(YamlKind::Empty));
        assert_eq!(yaml_kind("~\n"), Ok(YamlKind::Empty));
        assert_eq!(yaml_kind("a: 1\nb: [1, 2]\n"), Ok(YamlKind::Mapping));
        assert_eq!(yaml_kind("- not\n- a mapping\n"), Ok(YamlKind::Sequence));
        assert_eq!(yaml_kind("just text\n"), Ok(YamlKind::Scalar));
        assert_eq!(yaml_kind("12\n"), Ok(YamlKind::Scalar));
        assert!(yaml_kind("a: [1, 2\n").is_err());
    }

    #[test]
    fn a_good_payload_passes() {
        assert_eq!(payload().validate(), Ok(()));
        let mut p = payload();
        p.env = "purge: true\noverrides: {LC_ALL: C}\n".into();
        p.dispatcher = "prefix: a-\n".into();
        p.env_dut = "- any\n- shape\n".into();
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn each_bad_file_is_named() {
        let mut p = payload();
        p.env = "- not\n- a mapping\n".into();
        let e = p.validate().unwrap_err();
        assert_eq!(e.file, PayloadFile::Env);
        assert!(e.to_string().starts_with("env.yaml is a sequence"), "{e}");

        let mut p = payload();
        p.env = "overrides: [A, B]\n".into();
        assert_eq!(p.validate().unwrap_err().file, PayloadFile::Env);

        let mut p = payload();
        p.dispatcher = "prefix: [\n".into();
        assert_eq!(p.validate().unwrap_err().file, PayloadFile::Dispatcher);

        let mut p = payload();
        p.dispatcher = "prefix: ../x/\n".into();
        assert_eq!(p.validate().unwrap_err().file, PayloadFile::Dispatcher);

        let mut p = payload();
        p.device = "  \n".into();
        let e = p.validate().unwrap_err();
        assert_eq!(e.file, PayloadFile::Device);
        assert!(e.to_string().contains("empty"), "{e}");

        let mut p = payload();
        p.job = "just a string".into();
        assert_eq!(p.validate().unwrap_err().file, PayloadFile::Job);

        let mut p = payload();
        p.env_dut = "{ unclosed".into();
        assert_eq!(p.validate().unwrap_err().file, PayloadFile::EnvDut);
    }

    #[test]
    fn prefix_only_from_a_mapping() {
        assert_eq!(dispatcher_prefix("prefix: slave1-\n"), "slave1-");
        assert_eq!(dispatcher_prefix("other: 1\n"), "");
        assert_eq!(dispatcher_prefix("- prefix\n"), "");
        assert_eq!(dispatcher_prefix(""), "");
        assert_eq!(dispatcher_prefix("prefix: [\n"), "");
    }
}
