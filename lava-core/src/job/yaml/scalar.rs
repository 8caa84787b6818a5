//! Scalars as PyYAML's `SafeLoader` reads them: which type a plain scalar resolves to
//! (YAML 1.1's implicit resolvers, tried in PyYAML's order by first character), and how each
//! type's constructor turns the text into a value — including the texts on which Python's
//! constructor raises, so that what LAVA's loader refuses is refused here too.

use super::{Timestamp, Value};

/// The type a scalar's tag (explicit or resolved) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Binary,
    Timestamp,
    /// `<<`: only meaningful as a mapping key.
    Merge,
    /// `=`: a string as a mapping key, nothing PyYAML can construct elsewhere.
    ValueKey,
}

/// What a plain scalar resolves to (PyYAML's implicit resolvers, in their order).
pub(super) fn resolve_plain(text: &str) -> Kind {
    let Some(first) = text.bytes().next() else {
        return Kind::Null;
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' if is_bool(text) => {
            Kind::Bool
        }
        b'n' | b'N' if matches!(text, "null" | "Null" | "NULL") => Kind::Null,
        b'~' if text == "~" => Kind::Null,
        b'<' if text == "<<" => Kind::Merge,
        b'=' if text == "=" => Kind::ValueKey,
        b'-' | b'+' | b'.' | b'0'..=b'9' => {
            if is_float(text) {
                Kind::Float
            } else if first != b'.' && is_int(text) {
                Kind::Int
            } else if first.is_ascii_digit() && timestamp_parts(text).is_some() {
                Kind::Timestamp
            } else {
                Kind::Str
            }
        }
        _ => Kind::Str,
    }
}

fn is_bool(text: &str) -> bool {
    matches!(
        text,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn strip_sign(s: &[u8]) -> &[u8] {
    match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    }
}

/// `[0-9_]*` etc.: the length of the prefix whose bytes satisfy `f`.
fn span(s: &[u8], f: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&b| !f(b)).unwrap_or(s.len())
}

fn digit_(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// `(?:[eE][-+][0-9]+)?` then end.
fn exponent_then_end(s: &[u8]) -> bool {
    match s {
        [] => true,
        [b'e' | b'E', b'-' | b'+', rest @ ..] => {
            !rest.is_empty() && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// `(?::[0-5]?[0-9])+`: the length matched (0 if none); greedy as the regex engine is,
/// with backtracking not needed because what follows is `.` or the end.
fn sexagesimal_tail(s: &[u8]) -> usize {
    let mut i = 0;
    loop {
        if s.get(i) != Some(&b':') {
            return i;
        }
        let a = s.get(i + 1).copied();
        let b = s.get(i + 2).copied();
        match (a, b) {
            (Some(a), Some(b)) if (b'0'..=b'5').contains(&a) && b.is_ascii_digit() => i += 3,
            (Some(a), _) if a.is_ascii_digit() => i += 2,
            _ => return i,
        }
    }
}

fn is_float(text: &str) -> bool {
    let s = text.as_bytes();
    // \.(?:nan|NaN|NAN)
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = strip_sign(s);
    // [-+]?\.(?:inf|Inf|INF)
    if matches!(unsigned, b".inf" | b".Inf" | b".INF") {
        return true;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?   (no sign)
    if let [b'.', d, rest @ ..] = s {
        if d.is_ascii_digit() {
            let n = span(rest, digit_);
            if exponent_then_end(&rest[n..]) {
                return true;
            }
        }
    }
    // [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    if let [d, rest @ ..] = unsigned {
        if d.is_ascii_digit() {
            let n = span(rest, digit_);
            if let [b'.', after @ ..] = &rest[n..] {
                let m = span(after, digit_);
                if exponent_then_end(&after[m..]) {
                    return true;
                }
            }
            // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
            let t = sexagesimal_tail(&rest[n..]);
            if t > 0 {
                if let [b'.', after @ ..] = &rest[n + t..] {
                    if span(after, digit_) == after.len() {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn is_int(text: &str) -> bool {
    let unsigned = strip_sign(text.as_bytes());
    match unsigned {
        [b'0', b'b', rest @ ..] => {
            !rest.is_empty() && rest.iter().all(|&b| matches!(b, b'0' | b'1' | b'_'))
        }
        [b'0', b'x', rest @ ..] => {
            !rest.is_empty() && rest.iter().all(|&b| b.is_ascii_hexdigit() || b == b'_')
        }
        [b'0'] => true,
        [b'0', rest @ ..] => rest.iter().all(|&b| matches!(b, b'0'..=b'7' | b'_')),
        [b'1'..=b'9', rest @ ..] => {
            let n = span(rest, digit_);
            if n == rest.len() {
                return true;
            }
            let t = sexagesimal_tail(&rest[n..]);
            t > 0 && n + t == rest.len()
        }
        _ => false,
    }
}

/// The fields of a timestamp as PyYAML's `timestamp_regexp` captures them (the resolver's
/// stricter regex is checked as well when `implicit`).
struct TimestampParts<'a> {
    year: &'a str,
    month: &'a str,
    day: &'a str,
    time: Option<TimeParts<'a>>,
}

struct TimeParts<'a> {
    hour: &'a str,
    minute: &'a str,
    second: &'a str,
    fraction: Option<&'a str>,
    /// `Z`, or sign, hours and minutes.
    tz: Option<(Option<u8>, &'a str, Option<&'a str>)>,
}

/// Parses with the resolver's regex (implicit resolution): a date `YYYY-MM-DD`, or a
/// date-time with one- or two-digit month and day.
fn timestamp_parts(text: &str) -> Option<TimestampParts<'_>> {
    let parts = timestamp_fields(text)?;
    if parts.time.is_none() && (parts.month.len() != 2 || parts.day.len() != 2) {
        return None;
    }
    Some(parts)
}

/// Parses with the constructor's regex (what an explicit `!!timestamp` accepts).
fn timestamp_fields(text: &str) -> Option<TimestampParts<'_>> {
    let b = text.as_bytes();
    let digits = |from: usize, min: usize, max: usize| -> Option<usize> {
        let n = span(&b[from.min(b.len())..], |c| c.is_ascii_digit());
        (n >= min).then_some(n.min(max))
    };
    if digits(0, 4, 4)? != 4 || b.get(4) != Some(&b'-') {
        return None;
    }
    let m = digits(5, 1, 2)?;
    let mut i = 5 + m;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    let d = digits(i + 1, 1, 2)?;
    let (year, month, day) = (&text[0..4], &text[5..5 + m], &text[i + 1..i + 1 + d]);
    i += 1 + d;
    if i == b.len() {
        return Some(TimestampParts {
            year,
            month,
            day,
            time: None,
        });
    }
    // (?:[Tt]|[ \t]+)
    match b[i] {
        b'T' | b't' => i += 1,
        b' ' | b'\t' => i += span(&b[i..], |c| c == b' ' || c == b'\t'),
        _ => return None,
    }
    let h = digits(i, 1, 2)?;
    let hour = &text[i..i + h];
    i += h;
    if b.get(i) != Some(&b':') || digits(i + 1, 2, 2)? != 2 {
        return None;
    }
    let minute = &text[i + 1..i + 3];
    i += 3;
    if b.get(i) != Some(&b':') || digits(i + 1, 2, 2)? != 2 {
        return None;
    }
    let second = &text[i + 1..i + 3];
    i += 3;
    let mut fraction = None;
    if b.get(i) == Some(&b'.') {
        let n = span(&b[i + 1..], |c| c.is_ascii_digit());
        fraction = Some(&text[i + 1..i + 1 + n]);
        i += 1 + n;
    }
    let mut tz = None;
    if i < b.len() {
        i += span(&b[i..], |c| c == b' ' || c == b'\t');
        match b.get(i) {
            Some(b'Z') => {
                tz = Some((None, "", None));
                i += 1;
            }
            Some(&sign @ (b'-' | b'+')) => {
                let n = span(&b[i + 1..], |c| c.is_ascii_digit());
                if n == 0 {
                    return None;
                }
                let n = n.min(2);
                let hours = &text[i + 1..i + 1 + n];
                i += 1 + n;
                let mut minutes = None;
                if b.get(i) == Some(&b':') && digits(i + 1, 2, 2) == Some(2) {
                    minutes = Some(&text[i + 1..i + 3]);
                    i += 3;
                }
                tz = Some((Some(sign), hours, minutes));
            }
            _ => return None,
        }
    }
    (i == b.len()).then_some(TimestampParts {
        year,
        month,
        day,
        time: Some(TimeParts {
            hour,
            minute,
            second,
            fraction,
            tz,
        }),
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn number(s: &str) -> i64 {
    s.bytes().fold(0, |n, b| n * 10 + i64::from(b - b'0'))
}

/// PyYAML's `construct_yaml_timestamp`: a `datetime.date` or `datetime.datetime`, or why
/// Python's constructor raises.
fn timestamp(text: &str) -> Result<Timestamp, String> {
    let parts = timestamp_fields(text).ok_or("not a timestamp")?;
    let (year, month, day) = (number(parts.year), number(parts.month), number(parts.day));
    if year < 1 {
        return Err(format!("year {year} is out of range"));
    }
    if !(1..=12).contains(&month) {
        return Err("month must be in 1..12".into());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day is out of range for month".into());
    }
    let Some(time) = parts.time else {
        return Ok(Timestamp {
            date: (year as u16, month as u8, day as u8),
            time: None,
        });
    };
    let (hour, minute, second) = (number(time.hour), number(time.minute), number(time.second));
    if hour > 23 {
        return Err("hour must be in 0..23".into());
    }
    if minute > 59 {
        return Err("minute must be in 0..59".into());
    }
    if second > 59 {
        return Err("second must be in 0..59".into());
    }
    let micros = time.fraction.filter(|f| !f.is_empty()).map_or(0, |f| {
        let mut digits: String = f.chars().take(6).collect();
        while digits.len() < 6 {
            digits.push('0');
        }
        number(&digits)
    });
    let offset = match time.tz {
        None => None,
        Some((None, _, _)) => Some(0),
        Some((Some(sign), hours, minutes)) => {
            let total = number(hours) * 60 + minutes.map_or(0, number);
            if total >= 24 * 60 {
                return Err("offset must be a timedelta strictly between -24 and 24 hours".into());
            }
            Some(if sign == b'-' { -total } else { total } as i16)
        }
    };
    Ok(Timestamp {
        date: (year as u16, month as u8, day as u8),
        time: Some((
            hour as u8,
            minute as u8,
            second as u8,
            micros as u32,
            offset,
        )),
    })
}

/// Python's `int(text, base)` on the digits PyYAML hands it (after its own sign and `_`
/// handling): leading/trailing whitespace is allowed, so are single underscores between
/// digits; a value beyond `i64` is kept as decimal text.
fn python_int(text: &str, base: u32, negative: bool) -> Result<Value, String> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let t = match t.as_bytes().first() {
        Some(b'+') => &t[1..],
        Some(b'-') => return python_int(&t[1..], base, !negative),
        _ => t,
    };
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return Err(format!(
            "invalid literal for int() with base {base}: {text:?}"
        ));
    }
    let mut acc: i128 = 0;
    let mut big = false;
    for c in t.chars().filter(|&c| c != '_') {
        let d = c
            .to_digit(base)
            .ok_or_else(|| format!("invalid literal for int() with base {base}: {text:?}"))?;
        if !big {
            match acc
                .checked_mul(i128::from(base))
                .and_then(|a| a.checked_add(i128::from(d)))
            {
                Some(a) => acc = a,
                None => big = true,
            }
        }
    }
    if big {
        return Ok(Value::BigInt(big_decimal(t, base, negative)));
    }
    let v = if negative { -acc } else { acc };
    Ok(match i64::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::BigInt(v.to_string()),
    })
}

/// Decimal text of a big integer given in `base` (schoolbook conversion; only reached for
/// integers beyond 128 bits).
fn big_decimal(digits: &str, base: u32, negative: bool) -> String {
    // Little-endian base-10^9 limbs.
    let mut limbs: Vec<u64> = vec![0];
    for c in digits.chars().filter(|&c| c != '_') {
        let mut carry = u64::from(c.to_digit(base).unwrap_or(0));
        for limb in &mut limbs {
            let v = *limb * u64::from(base) + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push(carry % 1_000_000_000);
            carry /= 1_000_000_000;
        }
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        out.push_str(&top.to_string());
    }
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    out
}

/// PyYAML's `construct_yaml_int`.
/// `yes`/`true`/`on` or `no`/`false`/`off` in any ASCII case.
fn ascii_bool(text: &str) -> Option<bool> {
    let is = |word: &str| text.eq_ignore_ascii_case(word);
    if is("yes") || is("true") || is("on") {
        Some(true)
    } else if is("no") || is("false") || is("off") {
        Some(false)
    } else {
        None
    }
}

fn construct_int(text: &str) -> Result<Value, String> {
    // Plain decimal digits (most integers of a job: counts, minutes) fit in an i64 up to
    // 18 of them; the general path below handles signs, `_`, bases and base 60.
    let decimal = (1..=18).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if decimal {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
    }
    let value: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, value) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        Some(_) => (false, &value[..]),
        None => return Err("an empty integer".into()),
    };
    if value == "0" {
        return Ok(Value::Int(0));
    }
    if let Some(bits) = value.strip_prefix("0b") {
        return python_int(bits, 2, negative);
    }
    if let Some(hex) = value.strip_prefix("0x") {
        return python_int(hex, 16, negative);
    }
    if value.starts_with('0') {
        return python_int(value, 8, negative);
    }
    if value.contains(':') {
        let mut total: i128 = 0;
        for part in value.split(':') {
            let Value::Int(d) = python_int(part, 10, false)? else {
                return Err(format!("{text:?} is too large"));
            };
            total = total
                .checked_mul(60)
                .and_then(|t| t.checked_add(i128::from(d)))
                .ok_or_else(|| format!("{text:?} is too large"))?;
        }
        let total = if negative { -total } else { total };
        return Ok(i64::try_from(total).map_or(Value::BigInt(total.to_string()), Value::Int));
    }
    python_int(value, 10, negative)
}

/// Python's `float(text)`.
fn python_float(text: &str) -> Result<f64, String> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return Err(format!("could not convert string to float: {text:?}"));
    }
    let ok_chars = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
    if matches!(unsigned, "inf" | "infinity" | "nan") || (ok_chars && !unsigned.is_empty()) {
        if let Ok(f) = lower.parse::<f64>() {
            return Ok(f);
        }
    }
    Err(format!("could not convert string to float: {text:?}"))
}

/// PyYAML's `construct_yaml_float`.
fn construct_float(text: &str) -> Result<f64, String> {
    let value: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, value) = match value.as_bytes().first() {
        Some(b'-') => (-1.0, &value[1..]),
        Some(b'+') => (1.0, &value[1..]),
        Some(_) => (1.0, &value[..]),
        None => return Err("an empty float".into()),
    };
    if value == ".inf" {
        return Ok(sign * f64::INFINITY);
    }
    if value == ".nan" {
        return Ok(f64::NAN);
    }
    if value.contains(':') {
        let mut parts = Vec::new();
        for part in value.split(':') {
            parts.push(python_float(part)?);
        }
        let mut total = 0.0;
        let mut base = 1.0;
        for d in parts.iter().rev() {
            total += d * base;
            base *= 60.0;
        }
        return Ok(sign * total);
    }
    Ok(sign * python_float(value)?)
}

/// Python's lenient `base64.decodebytes`: characters outside the alphabet are skipped;
/// padding must be right.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    if !text.is_ascii() {
        return Err("failed to convert base64 data into ascii".into());
    }
    let mut out = Vec::new();
    let mut quad = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                if n >= 2 {
                    pad += 1;
                    if n + pad == 4 {
                        break;
                    }
                }
                continue;
            }
            _ => continue,
        };
        if pad > 0 {
            // Data after padding: Python stops at the complete quad, which is already out.
            break;
        }
        quad[n] = v;
        n += 1;
        if n == 4 {
            out.push(quad[0] << 2 | quad[1] >> 4);
            out.push(quad[1] << 4 | quad[2] >> 2);
            out.push(quad[2] << 6 | quad[3]);
            n = 0;
        }
    }
    match (n, pad) {
        (0, _) => Ok(out),
        (2, 2) => {
            out.push(quad[0] << 2 | quad[1] >> 4);
            Ok(out)
        }
        (3, 1) => {
            out.push(quad[0] << 2 | quad[1] >> 4);
            out.push(quad[1] << 4 | quad[2] >> 2);
            Ok(out)
        }
        _ => Err("failed to decode base64 data: Incorrect padding".into()),
    }
}

/// Constructs a scalar of kind `kind` from its text, as PyYAML's `SafeConstructor` does;
/// an error comes with the Python exception class when it is not a `YAMLError`.
pub(super) fn construct(kind: Kind, text: &str) -> Result<Value, (String, Option<&'static str>)> {
    let value_error = |m: String| (m, Some("ValueError"));
    Ok(match kind {
        Kind::Null => Value::Null,
        // The spellings the resolver gives (`yes`, `True`...), without lowercasing a copy.
        Kind::Bool if ascii_bool(text).is_some() => Value::Bool(ascii_bool(text) == Some(true)),
        Kind::Bool => match text.to_lowercase().as_str() {
            "yes" | "true" | "on" => Value::Bool(true),
            "no" | "false" | "off" => Value::Bool(false),
            other => return Err((format!("'{other}'"), Some("KeyError"))),
        },
        Kind::Int => construct_int(text).map_err(value_error)?,
        Kind::Float => Value::Float(construct_float(text).map_err(value_error)?),
        Kind::Str => Value::String(text.to_owned()),
        Kind::Binary => Value::Bytes(decode_base64(text).map_err(|m| (m, None))?),
        Kind::Timestamp => Value::Timestamp(timestamp(text).map_err(value_error)?),
        Kind::Merge => {
            return Err((
                "could not determine a constructor for the tag 'tag:yaml.org,2002:merge'".into(),
                None,
            ))
        }
        Kind::ValueKey => {
            return Err((
                "could not determine a constructor for the tag 'tag:yaml.org,2002:value'".into(),
                None,
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_pyyaml() {
        for (text, kind) in [
            ("", Kind::Null),
            ("~", Kind::Null),
            ("null", Kind::Null),
            ("nULL", Kind::Str),
            ("yes", Kind::Bool),
            ("y", Kind::Str),
            ("On", Kind::Bool),
            ("1.5", Kind::Float),
            ("1.", Kind::Float),
            (".5", Kind::Float),
            ("1e3", Kind::Str),
            ("1.0e+3", Kind::Float),
            ("1.0e3", Kind::Str),
            ("-.inf", Kind::Float),
            (".NaN", Kind::Float),
            ("-.nan", Kind::Str),
            ("190:20:30.15", Kind::Float),
            ("0", Kind::Int),
            ("0755", Kind::Int),
            ("08", Kind::Str),
            ("0x1F", Kind::Int),
            ("0b101", Kind::Int),
            ("1_000", Kind::Int),
            ("1:20", Kind::Int),
            ("+12", Kind::Int),
            ("2020-05-01", Kind::Timestamp),
            ("2020-5-1", Kind::Str),
            ("2020-5-1 1:02:03", Kind::Timestamp),
            ("2001-12-14t21:59:43.10-05:00", Kind::Timestamp),
            ("<<", Kind::Merge),
            ("=", Kind::ValueKey),
            ("1.2.3", Kind::Str),
            ("v1", Kind::Str),
        ] {
            assert_eq!(resolve_plain(text), kind, "{text:?}");
        }
    }

    #[test]
    fn construction_follows_pyyaml() {
        assert_eq!(construct(Kind::Int, "0755").unwrap(), Value::Int(0o755));
        assert_eq!(construct(Kind::Int, "-0x1F").unwrap(), Value::Int(-31));
        assert_eq!(construct(Kind::Int, "1:20").unwrap(), Value::Int(80));
        assert_eq!(construct(Kind::Int, "1_000").unwrap(), Value::Int(1000));
        assert!(construct(Kind::Int, "0b_").is_err());
        assert_eq!(
            construct(Kind::Int, "123456789012345678901234567890123456789012").unwrap(),
            Value::BigInt("123456789012345678901234567890123456789012".into())
        );
        assert_eq!(
            construct(Kind::Float, "1:30.5").unwrap(),
            Value::Float(90.5)
        );
        assert_eq!(construct(Kind::Float, "1e3").unwrap(), Value::Float(1000.0));
        assert!(construct(Kind::Float, "abc").is_err());
        assert!(construct(Kind::Bool, "maybe").is_err());
        assert!(construct(Kind::Timestamp, "2020-02-30").is_err());
        assert!(construct(Kind::Timestamp, "2020-02-29").is_ok());
        assert_eq!(
            construct(Kind::Binary, "aGVsbG8=\n").unwrap(),
            Value::Bytes(b"hello".to_vec())
        );
        assert!(construct(Kind::Binary, "aGVsbG8").is_err());
    }
}
