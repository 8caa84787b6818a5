//! Template text as Jinja2's lexer sees it, prepared for minijinja.

/// Jinja2's lexer view of a source: `\r\n` and `\r` become `\n`, one final line break is
/// dropped (`keep_trailing_newline=False`), and the newline after a `{% raw %}` tag is kept
/// (Jinja2's `trim_blocks` does not apply to that tag; minijinja's does, so the newline is
/// doubled for it to eat).
pub(crate) fn jinja2_source(text: &str) -> String {
    let mut source = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    };
    if source.ends_with('\n') {
        source.pop();
    }
    if source.contains("raw") {
        source = keep_newline_after_raw(&source);
    }
    source
}

/// Doubles the newline that follows each `{% raw %}` (or `{%- raw %}`) tag outside comments
/// and raw blocks.
fn keep_newline_after_raw(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 8);
    let mut rest = source;
    while let Some(start) = rest.find('{') {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let skip_to = |tail: &str, end: &str, from: usize| -> usize {
            tail[from..]
                .find(end)
                .map_or(tail.len(), |i| from + i + end.len())
        };
        let consumed = if tail.starts_with("{#") {
            skip_to(tail, "#}", 2)
        } else if tail.starts_with("{{") {
            skip_to(tail, "}}", 2)
        } else if tail.starts_with("{%") {
            match raw_begin_len(tail) {
                Some(len) => {
                    out.push_str(&tail[..len]);
                    if tail[len..].starts_with('\n') && !tail[..len].ends_with("-%}") {
                        out.push('\n');
                    }
                    // The raw body is text: skip to the end of `{% endraw %}`.
                    let body = &tail[len..];
                    let end = find_endraw(body).map_or(body.len(), |end| end);
                    out.push_str(&body[..end]);
                    rest = &body[end..];
                    continue;
                }
                None => skip_to(tail, "%}", 2),
            }
        } else {
            1
        };
        out.push_str(&tail[..consumed]);
        rest = &tail[consumed..];
    }
    out.push_str(rest);
    out
}

/// The length of a raw-begin tag at the start of `tail` (`{%` `-`/`+`? ws `raw` ws `-`? `%}`).
fn raw_begin_len(tail: &str) -> Option<usize> {
    let mut pos = 2;
    if tail[pos..].starts_with(['-', '+']) {
        pos += 1;
    }
    pos += leading_whitespace(&tail[pos..]);
    if !tail[pos..].starts_with("raw") {
        return None;
    }
    pos += 3;
    pos += leading_whitespace(&tail[pos..]);
    if tail[pos..].starts_with("%}") {
        Some(pos + 2)
    } else if tail[pos..].starts_with("-%}") {
        Some(pos + 3)
    } else {
        None
    }
}

/// Where the `{% endraw %}` tag that closes a raw body ends.
fn find_endraw(body: &str) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = body[offset..].find("{%") {
        let start = offset + found;
        let mut pos = start + 2;
        if body[pos..].starts_with(['-', '+']) {
            pos += 1;
        }
        pos += leading_whitespace(&body[pos..]);
        if body[pos..].starts_with("endraw") {
            pos += "endraw".len();
            return body[pos..].find("%}").map(|end| pos + end + 2);
        }
        offset = start + 2;
    }
    None
}

fn leading_whitespace(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_are_normalised_and_the_final_one_dropped() {
        assert_eq!(jinja2_source("a\r\nb\rc\n"), "a\nb\nc");
        assert_eq!(jinja2_source("a\n\n"), "a\n");
        assert_eq!(jinja2_source(""), "");
    }

    #[test]
    fn the_newline_after_a_raw_tag_is_doubled_for_minijinja_to_trim() {
        assert_eq!(
            jinja2_source("{% raw %}\n{{ x }}{% endraw %}\n"),
            "{% raw %}\n\n{{ x }}{% endraw %}"
        );
        assert_eq!(
            jinja2_source("{%- raw -%}\nx{% endraw %}"),
            "{%- raw -%}\nx{% endraw %}"
        );
        assert_eq!(
            jinja2_source("{%raw%}\n{% raw %}\n{%endraw%}"),
            "{%raw%}\n\n{% raw %}\n{%endraw%}"
        );
        // Not a raw tag: inside a comment, a string-free expression, another tag.
        assert_eq!(jinja2_source("{# {% raw %}\n #}"), "{# {% raw %}\n #}");
        assert_eq!(
            jinja2_source("{% set raw = 1 %}\n{{ raw }}"),
            "{% set raw = 1 %}\n{{ raw }}"
        );
        // Unterminated pieces do not panic.
        assert_eq!(jinja2_source("{% raw"), "{% raw");
        assert_eq!(jinja2_source("{% raw %}\nno end"), "{% raw %}\n\nno end");
        assert_eq!(jinja2_source("{{ é raw"), "{{ é raw");
    }
}
