//! `application/x-www-form-urlencoded` bodies and query strings, as `requests` encodes the
//! forms of lava-worker and lava-run.
//!
//! Decoding is strict where Django is lenient: a `%` not followed by two hex digits, or
//! bytes that are not UTF-8 once decoded, are an error naming the field and the offset, so
//! the master's log says what was wrong instead of storing mangled text.

/// A decoded form: its fields in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

/// Why a form cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` escape that is not two hex digits.
    #[error("bad %-escape at byte {offset} of the form")]
    BadEscape {
        /// Where the `%` is.
        offset: usize,
    },
    /// A name or a value is not UTF-8 once decoded.
    #[error("field {field:?} is not UTF-8 text")]
    NotUtf8 {
        /// The field's name (as far as it could be decoded).
        field: String,
    },
}

impl Form {
    /// Decodes a body or a query string (without its `?`). Empty pairs (`a=1&&b=2`) are
    /// skipped and a pair without `=` is a field with an empty value, as Python does.
    pub fn parse(bytes: &[u8]) -> Result<Form, FormError> {
        let mut fields = Vec::new();
        let mut start = 0;
        for pair in bytes.split(|b| *b == b'&') {
            let offset = start;
            start += pair.len() + 1;
            if pair.is_empty() {
                continue;
            }
            let (name, value, value_offset) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..], offset + i + 1),
                None => (pair, &pair[pair.len()..], offset + pair.len()),
            };
            let name = decode(name, offset)?;
            let name = String::from_utf8(name).map_err(|e| FormError::NotUtf8 {
                field: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            })?;
            let value = decode(value, value_offset)?;
            let value = String::from_utf8(value).map_err(|_| FormError::NotUtf8 {
                field: name.clone(),
            })?;
            fields.push((name, value));
        }
        Ok(Form { fields })
    }

    /// The value of `name`: the last one sent, as Django's `QueryDict.get` answers.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in the order sent.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Encodes fields as `requests` does (for tests, benchmarks and clients).
    pub fn encode<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        let mut out = String::new();
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_into(&mut out, name);
            out.push('=');
            encode_into(&mut out, value);
        }
        out
    }
}

fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `+` is a space and `%XX` a byte; `offset` is where `text` starts in the form.
fn decode(text: &[u8], offset: usize) -> Result<Vec<u8>, FormError> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = text
                    .get(i + 1)
                    .and_then(|h| hex(*h))
                    .zip(text.get(i + 2).and_then(|l| hex(*l)))
                    .map(|(h, l)| h << 4 | l)
                    .ok_or(FormError::BadEscape { offset: offset + i })?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_requests_sends() {
        let form = Form::parse(
            b"state=FINISHED&result=pass&error_type=&errors=&description=compatibility%3A+2%0Apipeline%3A+%5B%5D",
        )
        .unwrap();
        assert_eq!(form.get("state"), Some("FINISHED"));
        assert_eq!(form.get("error_type"), Some(""));
        assert_eq!(
            form.get("description"),
            Some("compatibility: 2\npipeline: []")
        );
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn the_last_value_wins_and_bare_names_are_empty() {
        let form = Form::parse(b"a=1&&a=2&b").unwrap();
        assert_eq!(form.get("a"), Some("2"));
        assert_eq!(form.get("b"), Some(""));
        assert_eq!(form.fields().len(), 3);
    }

    #[test]
    fn bad_escapes_and_bytes_are_named() {
        assert_eq!(
            Form::parse(b"ok=1&lines=%G1"),
            Err(FormError::BadEscape { offset: 11 })
        );
        assert_eq!(
            Form::parse(b"x=%4"),
            Err(FormError::BadEscape { offset: 2 })
        );
        assert_eq!(
            Form::parse(b"lines=%FF"),
            Err(FormError::NotUtf8 {
                field: "lines".into()
            })
        );
    }

    #[test]
    fn encode_round_trips() {
        let text = "- {\"dt\": \"x\", \"msg\": \"a&b=c+d %\u{e9}\"}\n- x";
        let body = Form::encode([("lines", text), ("index", "3")]);
        let form = Form::parse(body.as_bytes()).unwrap();
        assert_eq!(form.get("lines"), Some(text));
        assert_eq!(form.get("index"), Some("3"));
    }
}
