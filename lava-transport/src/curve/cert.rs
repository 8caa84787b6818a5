//! Certificate files in ZeroMQ's ZPL format, as pyzmq's `zmq.auth.create_certificates`
//! writes them and as LAVA's `create_certificate.py` uses them.
//!
//! `NAME.key` holds the public key, `NAME.key_secret` both keys:
//!
//! ```text
//! #   (comment lines)
//!
//! metadata
//!     name = value          (optional, secret file only, value unquoted)
//! curve
//!     public-key = "<40 Z85 characters>"
//!     secret-key = "<40 Z85 characters>"   (secret file only)
//! ```
//!
//! Reading accepts what pyzmq accepts: comments, blank lines, any indentation of the
//! entries (an entry belongs to the last section named before it), single or double
//! quotes (or none). The writer produces the same lines as
//! pyzmq, except the comment banner, which readers ignore, and the secret file's mode
//! (0600 here; pyzmq leaves it to the umask).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{KeyPair, PublicKey, SecretKey};
use crate::error::CertificateError;

/// Suffix of public certificate files; the allow-list reads every `*.key` of its directory.
pub const PUBLIC_SUFFIX: &str = ".key";
/// Suffix of secret certificate files.
pub const SECRET_SUFFIX: &str = ".key_secret";

/// The content of a certificate file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// `curve/public-key`.
    pub public: PublicKey,
    /// `curve/secret-key`, present in `.key_secret` files.
    pub secret: Option<SecretKey>,
    /// The `metadata` section's entries, in file order.
    pub metadata: Vec<(String, String)>,
}

/// Reads and checks a certificate file (public or secret).
pub fn read_certificate(path: &Path) -> Result<Certificate, CertificateError> {
    let bytes = fs::read(path).map_err(|source| CertificateError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_certificate(path, &bytes)
}

/// Reads the public key of a certificate file (`.key` or `.key_secret`).
pub fn read_public_key(path: &Path) -> Result<PublicKey, CertificateError> {
    read_certificate(path).map(|cert| cert.public)
}

/// Reads a key pair from a secret certificate file (`NAME.key_secret`).
pub fn read_key_pair(path: &Path) -> Result<KeyPair, CertificateError> {
    let cert = read_certificate(path)?;
    let secret = cert.secret.ok_or_else(|| CertificateError::Missing {
        path: path.to_owned(),
        entry: "curve/secret-key",
        hint: " with a secret key: the .key_secret file, not the .key one",
    })?;
    KeyPair::from_parts(cert.public, secret)?.ok_or_else(|| CertificateError::Mismatch {
        path: path.to_owned(),
    })
}

/// Parses certificate text; `path` is only used in error messages.
pub fn parse_certificate(path: &Path, bytes: &[u8]) -> Result<Certificate, CertificateError> {
    let syntax = |line: usize, problem: String| CertificateError::Syntax {
        path: path.to_owned(),
        line,
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        syntax(line, "not UTF-8 text".to_owned())
    })?;

    let mut section = String::new();
    let mut public = None;
    let mut secret = None;
    let mut metadata = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        let Some((name, value)) = trimmed.split_once('=') else {
            if !indented {
                section = trimmed.to_owned();
            }
            // An indented name without a value opens a sub-section, which certificates
            // do not use: ignore it and its entries' meaning stays with the top section.
            continue;
        };
        let name = name.trim();
        let value = unquote(value.trim()).map_err(|problem| syntax(number, problem))?;
        match (section.as_str(), name) {
            ("curve", "public-key") => {
                let key = PublicKey::from_z85(value).map_err(|source| CertificateError::Key {
                    path: path.to_owned(),
                    line: number,
                    entry: "public-key",
                    source,
                })?;
                public = Some(key);
            }
            ("curve", "secret-key") => {
                let key = SecretKey::from_z85(value).map_err(|source| CertificateError::Key {
                    path: path.to_owned(),
                    line: number,
                    entry: "secret-key",
                    source,
                })?;
                secret = Some(key);
            }
            ("metadata", _) => metadata.push((name.to_owned(), value.to_owned())),
            _ => {}
        }
    }
    let public = public.ok_or_else(|| CertificateError::Missing {
        path: path.to_owned(),
        entry: "curve/public-key",
        hint: "",
    })?;
    Ok(Certificate {
        public,
        secret,
        metadata,
    })
}

/// A ZPL value: quoted with `"` or `'` (up to the closing quote), or bare (up to the first
/// blank, where a trailing comment may start).
fn unquote(value: &str) -> Result<&str, String> {
    let mut chars = value.chars();
    match chars.next() {
        Some(quote @ ('"' | '\'')) => {
            let rest = chars.as_str();
            rest.find(quote)
                .map(|end| &rest[..end])
                .ok_or_else(|| format!("unterminated {quote} quoted value"))
        }
        _ => Ok(value.split_whitespace().next().unwrap_or("")),
    }
}

/// Writes `NAME.key` and `NAME.key_secret` for `pair` into `dir` (which must exist), with
/// optional metadata in the secret file, and returns both paths (public first).
pub fn write_certificates(
    dir: &Path,
    name: &str,
    pair: &KeyPair,
    metadata: &[(String, String)],
) -> Result<(PathBuf, PathBuf), CertificateError> {
    check_name(name)?;
    let mut metadata_lines = String::new();
    for (key, value) in metadata {
        let problem = if key.is_empty() || !key.chars().all(is_zpl_name_char) {
            Some("a ZPL name is letters, digits and $-_@.&+/")
        } else if value.contains(['\n', '\r']) {
            Some("the value must be on one line")
        } else {
            None
        };
        let quoted = zpl_value(value);
        match (problem, quoted) {
            (None, Some(quoted)) => metadata_lines.push_str(&format!("    {key} = {quoted}\n")),
            (problem, _) => {
                return Err(CertificateError::Metadata {
                    name: key.clone(),
                    problem: problem.unwrap_or("the value cannot contain both kinds of quotes"),
                })
            }
        }
    }
    let public_path = dir.join(format!("{name}{PUBLIC_SUFFIX}"));
    let secret_path = dir.join(format!("{name}{SECRET_SUFFIX}"));
    let stamp = utc_timestamp(std::time::SystemTime::now());
    let public_key = pair.public().to_z85();

    let mut public_text = banner(&stamp, "public");
    public_text.push_str("metadata\ncurve\n");
    public_text.push_str(&format!("    public-key = \"{public_key}\"\n"));

    let mut secret_text = banner(&stamp, "secret");
    secret_text.push_str("metadata\n");
    secret_text.push_str(&metadata_lines);
    secret_text.push_str("curve\n");
    secret_text.push_str(&format!("    public-key = \"{public_key}\"\n"));
    secret_text.push_str(&format!(
        "    secret-key = \"{}\"\n",
        pair.secret().to_z85()
    ));

    write_file(&public_path, &public_text, 0o644)?;
    write_file(&secret_path, &secret_text, 0o600)?;
    Ok((public_path, secret_path))
}

fn is_zpl_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "$-_@.&+/".contains(c)
}

/// A metadata value as ZPL text: bare as pyzmq writes it when that reads back the same,
/// quoted otherwise (blanks, `#`, quotes, empty).
fn zpl_value(value: &str) -> Option<String> {
    let bare = !value.is_empty()
        && !value.contains(|c: char| c.is_whitespace() || matches!(c, '#' | '"' | '\''));
    if bare {
        Some(value.to_owned())
    } else if !value.contains('"') {
        Some(format!("\"{value}\""))
    } else if !value.contains('\'') {
        Some(format!("'{value}'"))
    } else {
        None
    }
}

/// Creates a fresh key pair and writes it as `dir/NAME.key` and `dir/NAME.key_secret`
/// (what pyzmq's `zmq.auth.create_certificates(dir, name)` does). Returns both paths.
pub fn create_certificates(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), CertificateError> {
    check_name(name)?;
    let pair = KeyPair::generate()?;
    write_certificates(dir, name, &pair, &[])
}

fn check_name(name: &str) -> Result<(), CertificateError> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.contains(['/', '\0']) || name == "." || name == ".." {
        Some("it must be a file name, not a path")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(CertificateError::Name {
            name: name.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

fn banner(stamp: &str, kind: &str) -> String {
    let advice = if kind == "secret" {
        "#   Secret half: keep it on this machine, readable by its owner only.\n"
    } else {
        "#   Public half: copy it to the peers that must accept this key.\n"
    };
    format!("#   ****  Generated on {stamp} by lava-rs  ****\n#   ZeroMQ CURVE {kind} certificate (ZPL).\n{advice}\n")
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), CertificateError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let error = |source| CertificateError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    // `mode` only applies to new files: an existing secret file keeps no wider mode.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff UTC`, the layout of pyzmq's banner (which uses local time).
fn utc_timestamp(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout pyzmq 27 writes (keys from a real run of `create_certificates`).
    const PYZMQ_SECRET: &str = concat!(
        "#   ****  Generated on 2026-11-25 13:59:18.243437 by pyzmq  ****\n",
        "#   ZeroMQ CURVE **Secret** Certificate\n",
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n",
        "\n",
        "metadata\n",
        "    name = x\n",
        "curve\n",
        "    public-key = \"8D%8Ym&x@*J(R*:kCBaDNKCp}kF$W1ENxRKTAaTW\"\n",
        "    secret-key = \"eB0sPRYE-6WPzGTN<k5%zDa72^daL@@zxM4c4MNs\"\n",
    );

    #[test]
    fn reads_the_pyzmq_layout() {
        let cert =
            parse_certificate(Path::new("meta.key_secret"), PYZMQ_SECRET.as_bytes()).unwrap();
        assert_eq!(
            cert.public.to_z85(),
            "8D%8Ym&x@*J(R*:kCBaDNKCp}kF$W1ENxRKTAaTW"
        );
        let secret = cert.secret.clone().unwrap();
        assert_eq!(secret.to_z85(), "eB0sPRYE-6WPzGTN<k5%zDa72^daL@@zxM4c4MNs");
        assert_eq!(cert.metadata, vec![("name".to_owned(), "x".to_owned())]);
        assert!(KeyPair::from_parts(cert.public, secret).unwrap().is_some());
    }

    #[test]
    fn written_files_read_back_and_match_the_pyzmq_lines() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate().unwrap();
        let meta = vec![("hostname".to_owned(), "worker-1".to_owned())];
        let (public, secret) = write_certificates(dir.path(), "worker-1", &pair, &meta).unwrap();
        assert_eq!(public, dir.path().join("worker-1.key"));
        assert_eq!(read_key_pair(&secret).unwrap(), pair);
        assert_eq!(read_public_key(&public).unwrap(), *pair.public());
        assert_eq!(read_certificate(&secret).unwrap().metadata, meta);

        let text = fs::read_to_string(&secret).unwrap();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let expected_secret = [
            String::new(),
            "metadata".to_owned(),
            "    hostname = worker-1".to_owned(),
            "curve".to_owned(),
            format!("    public-key = \"{}\"", pair.public()),
            format!("    secret-key = \"{}\"", pair.secret().to_z85()),
        ];
        assert_eq!(body, expected_secret);
        let text = fs::read_to_string(&public).unwrap();
        assert!(text.ends_with(&format!(
            "\nmetadata\ncurve\n    public-key = \"{}\"\n",
            pair.public()
        )));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let path = Path::new("/etc/certs/slave.key_secret");
        let missing = read_key_pair(Path::new("/nonexistent/slave.key_secret")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("/nonexistent/slave.key_secret"),
            "{missing}"
        );

        let public_only =
            "metadata\ncurve\n    public-key = \"8D%8Ym&x@*J(R*:kCBaDNKCp}kF$W1ENxRKTAaTW\"\n";
        let cert = parse_certificate(path, public_only.as_bytes()).unwrap();
        assert!(cert.secret.is_none());

        let short = "curve\n    public-key = \"abcde\"\n";
        let err = parse_certificate(path, short.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("slave.key_secret") && text.contains("line 2"),
            "{text}"
        );

        let err = parse_certificate(path, b"curve\n    public-key = \"abc\n").unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");

        let err = parse_certificate(path, b"metadata\ncurve\n").unwrap_err();
        assert!(err.to_string().contains("curve/public-key"), "{err}");

        let err = parse_certificate(path, b"# ok\n\xff\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");

        let mismatched = "curve\n    public-key = \"8D%8Ym&x@*J(R*:kCBaDNKCp}kF$W1ENxRKTAaTW\"\n    secret-key = \"9?fLJ22cwN4N-7mEivv9[r4flDcN7Pti}}ESpZSb\"\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.key_secret");
        fs::write(&file, mismatched).unwrap();
        let err = read_key_pair(&file).unwrap_err();
        assert!(matches!(err, CertificateError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn names_must_stay_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["", "..", "a/b"] {
            assert!(create_certificates(dir.path(), name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn timestamps_are_civil_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_764_079_158_243_437);
        assert_eq!(utc_timestamp(t), "2025-11-25 13:59:18.243437 UTC");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn bad_metadata_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate().unwrap();
        for (key, value) in [
            ("", "x"),
            ("a b", "x"),
            ("k", "two\nlines"),
            ("k", "both ' and \""),
        ] {
            let meta = vec![(key.to_owned(), value.to_owned())];
            let err = write_certificates(dir.path(), "m", &pair, &meta).unwrap_err();
            assert!(
                matches!(err, CertificateError::Metadata { .. }),
                "{key:?} {value:?}: {err}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever metadata can be written reads back the same, with the keys.
        #[test]
        fn written_metadata_reads_back(
            meta in proptest::collection::vec(("[a-zA-Z0-9$_@.&+/-]{1,12}", "[^\n\r'\"]{0,20}|[^\n\r']{0,20}"), 0..5)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let pair = KeyPair::generate().unwrap();
            let (_, secret) = write_certificates(dir.path(), "p", &pair, &meta).unwrap();
            let cert = read_certificate(&secret).unwrap();
            proptest::prop_assert_eq!(cert.metadata, meta);
            proptest::prop_assert_eq!(read_key_pair(&secret).unwrap(), pair);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_certificate(Path::new("fuzz.key"), &bytes);
        }
    }
}
