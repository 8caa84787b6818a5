//! lava-run's log records: one-line YAML flow mappings with every scalar double-quoted,
//! as PyYAML writes them (`default_flow_style=True, default_style='"'`, keys sorted,
//! non-ASCII escaped).
//!
//! A small local encoder: the real codec lives in `lava_core::protocol`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Lines this long or longer have their message replaced, as lava-run does.
pub const MAX_LINE: usize = 1_000_000;

/// A record's `msg`: text, or a flat mapping of text (results, markers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A text message.
    Text(String),
    /// A mapping; keys are written sorted.
    Map(Vec<(String, String)>),
}

/// The record line for `lvl` and `msg` at time `dt` (see [`utc_isoformat`]).
pub fn encode(dt: &str, lvl: &str, msg: &Msg) -> String {
    let line = encode_unchecked(dt, lvl, msg);
    if line.chars().count() < MAX_LINE {
        return line;
    }
    let replacement = match msg {
        Msg::Text(_) => Msg::Text("<line way too long ...>".to_owned()),
        Msg::Map(_) => Msg::Map(vec![(
            "skip".to_owned(),
            "line way too long ...".to_owned(),
        )]),
    };
    encode_unchecked(dt, lvl, &replacement)
}

fn encode_unchecked(dt: &str, lvl: &str, msg: &Msg) -> String {
    let msg = match msg {
        Msg::Text(text) => quote(text),
        Msg::Map(entries) => {
            let mut sorted: Vec<&(String, String)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let body: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
                .collect();
            format!("{{{}}}", body.join(", "))
        }
    };
    format!(
        "{{\"dt\": {}, \"lvl\": {}, \"msg\": {msg}}}",
        quote(dt),
        quote(lvl)
    )
}

/// A YAML double-quoted scalar with PyYAML's escapes (printable ASCII kept as is).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        let short = match ch {
            '\0' => Some('0'),
            '\x07' => Some('a'),
            '\x08' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\x0b' => Some('v'),
            '\x0c' => Some('f'),
            '\r' => Some('r'),
            '\x1b' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{a0}' => Some('_'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        let code = u32::from(ch);
        match short {
            Some(letter) => {
                out.push('\\');
                out.push(letter);
            }
            None if (0x20..=0x7e).contains(&code) => out.push(ch),
            None if code <= 0xff => out.push_str(&format!("\\x{code:02X}")),
            None if code <= 0xffff => out.push_str(&format!("\\u{code:04X}")),
            None => out.push_str(&format!("\\U{code:08X}")),
        }
    }
    out.push('"');
    out
}

/// Python's `datetime.utcnow().isoformat()`: `YYYY-MM-DDTHH:MM:SS[.ffffff]`, UTC, no zone.
pub fn utc_isoformat(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let base = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    match since.subsec_micros() {
        0 => base,
        micros => format!("{base}.{micros:06}"),
    }
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
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_look_like_lava_runs() {
        let dt = "2026-11-24T14:18:12.827439";
        assert_eq!(
            encode(dt, "info", &Msg::Text("lava-dispatcher, installed at version: 2020.05".into())),
            "{\"dt\": \"2026-11-24T14:18:12.827439\", \"lvl\": \"info\", \"msg\": \"lava-dispatcher, installed at version: 2020.05\"}"
        );
        let result = Msg::Map(vec![
            ("result".into(), "pass".into()),
            ("definition".into(), "lava".into()),
            ("case".into(), "job".into()),
        ]);
        assert_eq!(
            encode(dt, "results", &result),
            "{\"dt\": \"2026-11-24T14:18:12.827439\", \"lvl\": \"results\", \"msg\": {\"case\": \"job\", \"definition\": \"lava\", \"result\": \"pass\"}}"
        );
    }

    #[test]
    fn escapes_follow_pyyaml() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\u{1b}[0m\n\0"), r#""\e[0m\n\0""#);
        assert_eq!(quote("é✓😀\u{7f}"), r#""\xE9\u2713\U0001F600\x7F""#);
    }

    /// Expected lines printed by PyYAML 6.0 (`yaml.dump(d, default_flow_style=True,
    /// default_style='"', width=10**6)[:-1]`) for the same messages.
    #[test]
    fn byte_identical_to_pyyaml() {
        let dt = "2026-11-24T14:18:12.827439";
        let cases = [
            (
                "tab\there\nnl\r\u{1b}[0m\0\u{7}\u{8}\u{b}\u{c}",
                r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "tab\there\nnl\r\e[0m\0\a\b\v\f"}"#,
            ),
            (
                "é✓😀\u{7f}\u{85}\u{a0}\u{2028}\u{2029}",
                r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "\xE9\u2713\U0001F600\x7F\N\_\L\P"}"#,
            ),
            (
                "  lead and trail  ",
                r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "  lead and trail  "}"#,
            ),
            (
                "",
                r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": ""}"#,
            ),
            (
                "a: b, {c}",
                r#"{"dt": "2026-11-24T14:18:12.827439", "lvl": "info", "msg": "a: b, {c}"}"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(encode(dt, "info", &Msg::Text(text.to_owned())), expected);
        }
    }

    #[test]
    fn overlong_lines_are_replaced() {
        let long = "x".repeat(MAX_LINE);
        let line = encode("t", "info", &Msg::Text(long));
        assert!(line.contains("<line way too long ...>"));
        let map = Msg::Map(vec![("case".into(), "y".repeat(MAX_LINE))]);
        assert!(encode("t", "results", &map).contains("{\"skip\": \"line way too long ...\"}"));
    }

    #[test]
    fn isoformat_drops_zero_microseconds() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_615_660);
        assert_eq!(utc_isoformat(t), "2026-11-25T14:07:40");
        assert_eq!(
            utc_isoformat(t + Duration::from_micros(15)),
            "2026-11-25T14:07:40.000015"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Every quoted text is one line of printable ASCII that JSON-style unescaping of
        /// the simple cases gives back.
        #[test]
        fn quoted_text_is_one_printable_line(text in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let quoted = quote(&text);
            proptest::prop_assert!(quoted.chars().all(|c| (' '..='~').contains(&c)));
            if text.chars().all(|c| (' '..='~').contains(&c)) {
                let back: String = serde_json::from_str(&quoted).unwrap_or_default();
                proptest::prop_assert_eq!(back, text);
            }
        }
    }
}
