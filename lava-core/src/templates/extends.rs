//! Which template a device dictionary extends.
//!
//! LAVA names a device's health check after the template its dictionary extends
//! (`Device.get_extends()`): the one `{% extends "…" %}` tag of the dictionary, without the
//! file extension. A dictionary with no such tag, or with more than one, extends nothing.

/// The name (without extension) of the template `dictionary` extends, when it has exactly
/// one `{% extends "name" %}` tag with a string literal; comments are skipped.
///
/// ```
/// use lava_core::templates::dictionary_extends;
/// assert_eq!(dictionary_extends("{% extends 'qemu.jinja2' %}\n").as_deref(), Some("qemu"));
/// assert_eq!(dictionary_extends("{% set a = 1 %}\n"), None);
/// ```
pub fn dictionary_extends(dictionary: &str) -> Option<String> {
    let mut found = None;
    let mut count = 0;
    let mut rest = dictionary;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some(comment) = after.strip_prefix('#') {
            // `{# … #}`: skipped whole; an unterminated comment ends the text.
            match comment.find("#}") {
                Some(end) => rest = &comment[end + 2..],
                None => break,
            }
            continue;
        }
        let Some(tag) = after.strip_prefix('%') else {
            rest = after;
            continue;
        };
        let Some(end) = tag.find("%}") else { break };
        if let Some(name) = extends_target(&tag[..end]) {
            count += 1;
            found = Some(name);
        }
        rest = &tag[end + 2..];
    }
    if count != 1 {
        return None;
    }
    found.map(|name| match name.rsplit_once('.') {
        Some((stem, _extension)) if !stem.is_empty() => stem.to_owned(),
        _ => name,
    })
}

/// The quoted target of a block tag's body `- extends "name" -`, if it is an extends tag.
fn extends_target(body: &str) -> Option<String> {
    let body = body.strip_prefix(['-', '+']).unwrap_or(body);
    let body = body.strip_suffix(['-', '+']).unwrap_or(body).trim();
    let argument = body.strip_prefix("extends")?;
    if !argument.starts_with(char::is_whitespace) && !argument.starts_with(['"', '\'']) {
        return None; // e.g. `extendsfoo`
    }
    let argument = argument.trim();
    let quote = argument
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let inner = argument.strip_prefix(quote)?.strip_suffix(quote)?;
    (!inner.contains(quote)).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::dictionary_extends;

    #[test]
    fn one_literal_extends_tag_names_the_template() {
        let cases = [
            ("{% extends 'qemu.jinja2' %}", Some("qemu")),
            (
                "{%- extends \"bbb.jinja2\" -%}\n{% set x = 1 %}",
                Some("bbb"),
            ),
            (
                "{# {% extends 'old.jinja2' %} #}\n{% extends 'new.jinja2' %}",
                Some("new"),
            ),
            ("{% extends 'plain' %}", Some("plain")),
            ("{% set connection_command = 'telnet' %}", None),
            ("{% extends base %}", None),
            ("{% extends 'a.jinja2' %}{% extends 'b.jinja2' %}", None),
            ("{% extendsfoo 'a.jinja2' %}", None),
            ("{{ '{%' }} extends 'x.jinja2' %}", None),
            ("{% extends 'x.jinja2'", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(dictionary_extends(text).as_deref(), expected, "{text:?}");
        }
    }
}
