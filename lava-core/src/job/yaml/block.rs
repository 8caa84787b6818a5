//! A reader for the plain block style most job definitions are written in: nested block
//! mappings and lists, plain keys, and values that fit on their line (plain, single-quoted,
//! double-quoted without escapes, flow lists and mappings closed on the same line), with
//! comments and a leading `---`.
//!
//! It exists for speed: granit-parser's events cost several times what reading this subset
//! line by line does, and reading the YAML was most of judging a job. It feeds the same
//! [`Composer`] as the events do (same scalar resolution, same duplicate-key and error
//! rules), with the lines granit-parser gives each node. It gives up (`None`) on anything
//! outside the subset or doubtful — anchors, aliases, tags, block scalars, multi-line
//! scalars, escapes, tabs, unusual indentation, a composer error — and the caller then
//! reads the text with granit-parser, so that every refusal and every exotic layout is
//! granit-parser's. What it accepts, it must read exactly as granit-parser does: the tests
//! below compare both on every job definition of the conformance corpus and on generated
//! and mutated texts.

use super::{Composer, Node, Tag, YamlError};
use granit_parser::ScalarStyle;
use std::borrow::Cow;

/// One line with content: its 1-based number, its indentation and the text after it.
#[derive(Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
    /// Where the `:` of `key: ...` is, if the line is a mapping entry with a plain key.
    colon: Option<usize>,
}

impl<'a> Line<'a> {
    fn new(number: usize, indent: usize, text: &'a str) -> Self {
        Line {
            number,
            indent,
            text,
            colon: key_colon(text),
        }
    }

    /// The key and what follows its `:`, if the line is a mapping entry.
    fn mapping_entry(&self) -> Option<(&'a str, &'a str)> {
        self.colon
            .map(|colon| (&self.text[..colon], &self.text[colon + 1..]))
    }
}

/// The subset is left: read the text with granit-parser instead.
struct GiveUp;

impl From<YamlError> for GiveUp {
    fn from(_: YamlError) -> Self {
        GiveUp
    }
}

type Read<T = ()> = Result<T, GiveUp>;

/// How deep collections may nest in what this reader reads (it recurses once per level).
const MAX_DEPTH: usize = 100;

/// Reads `text` if it is in the subset, else `None`.
pub(super) fn read(text: &str) -> Option<Node> {
    // Characters that change how lines are split or indented, and a byte order mark.
    if text.bytes().any(|b| b == b'\t' || b == b'\r')
        || (!text.is_ascii() && text.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}']))
    {
        return None;
    }
    let mut reader = Reader {
        raw_lines: text.split('\n'),
        number: 0,
        current: None,
        composer: Composer::new(),
    };
    // Without aliases the tree holds one node per event: no expansion to bound.
    reader.composer.budget = usize::MAX;
    reader.advance().ok()?;
    let first = reader.current?;
    reader.block_node(first.indent).ok()?;
    if reader.current.is_some() {
        return None;
    }
    Some(reader.composer.finish())
}

/// Reads the lines in order, keeping the next one with content at hand.
struct Reader<'a> {
    raw_lines: std::str::Split<'a, char>,
    /// The number of the last line taken from `raw_lines`.
    number: usize,
    /// The next line with content (`None` at the end).
    current: Option<Line<'a>>,
    composer: Composer,
}

fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Characters that cannot start a plain scalar (or make one start with doubt).
fn indicator(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Where the `:` of `key: ...` with a plain key is.
fn key_colon(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if indicator(*bytes.first()?) {
        return None;
    }
    // granit-parser's limit on how far a simple key may reach.
    let reach = &bytes[..bytes.len().min(1000)];
    let colon = reach.iter().position(|&b| b == b':' || b == b'#')?;
    let simple = bytes[colon] == b':'
        && bytes[colon - 1] != b' '
        && matches!(bytes.get(colon + 1), None | Some(b' '));
    simple.then_some(colon)
}

/// What may follow a value on its line: nothing, or spaces and a comment.
fn only_comment(rest: &str) -> bool {
    rest.is_empty()
        || (rest.starts_with(' ') && {
            let rest = rest.trim_start_matches(' ');
            rest.is_empty() || rest.starts_with('#')
        })
}

/// A quoted scalar at the start of `s`: its value and the length it takes.
fn quoted(s: &str) -> Read<(Cow<'_, str>, usize, ScalarStyle)> {
    let quote = s.as_bytes()[0];
    let body = &s[1..];
    if quote == b'"' {
        let end = body.find(['"', '\\']).ok_or(GiveUp)?;
        if body.as_bytes()[end] == b'\\' {
            return Err(GiveUp);
        }
        return Ok((
            Cow::Borrowed(&body[..end]),
            end + 2,
            ScalarStyle::DoubleQuoted,
        ));
    }
    // Single-quoted: `''` stands for `'`.
    let mut value: Option<String> = None;
    let mut from = 0;
    loop {
        let end = from + body[from..].find('\'').ok_or(GiveUp)?;
        if body[end + 1..].starts_with('\'') {
            value
                .get_or_insert_with(String::new)
                .push_str(&body[from..=end]);
            from = end + 2;
            continue;
        }
        let text = match value {
            Some(mut v) => {
                v.push_str(&body[from..end]);
                Cow::Owned(v)
            }
            None => Cow::Borrowed(&body[..end]),
        };
        return Ok((text, end + 2, ScalarStyle::SingleQuoted));
    }
}

impl<'a> Reader<'a> {
    /// Whether one more nested collection would make the reader recurse deeper than a
    /// thread's stack allows: granit-parser, which has its own limit, reads such texts.
    fn too_deep(&self) -> bool {
        self.composer.stack.len() >= MAX_DEPTH
    }

    fn peek(&self) -> Option<Line<'a>> {
        self.current
    }

    /// Moves to the next line with content, skipping blank and comment lines.
    fn advance(&mut self) -> Read {
        // Before the first line with content, one `---` may start the document.
        let mut marker_allowed = self.number == 0;
        self.current = None;
        for raw in self.raw_lines.by_ref() {
            self.number += 1;
            let content = raw.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = raw.len() - content.len();
            if indent == 0
                && (content.starts_with("---")
                    || content.starts_with("...")
                    || content.starts_with('%'))
            {
                // A leading `---` alone starts the one document; other markers and
                // directives are the general parser's.
                if marker_allowed && content == "---" {
                    marker_allowed = false;
                    continue;
                }
                return Err(GiveUp);
            }
            self.current = Some(Line::new(self.number, indent, content));
            break;
        }
        Ok(())
    }

    fn scalar(&mut self, text: Cow<'_, str>, style: ScalarStyle, line: usize) -> Read {
        Ok(self.composer.scalar(text, style, 0, None, line)?)
    }

    /// The block mapping or list starting on the next line, at `indent`.
    fn block_node(&mut self, indent: usize) -> Read {
        let line = self.peek().ok_or(GiveUp)?;
        if line.indent != indent || self.too_deep() {
            return Err(GiveUp);
        }
        if is_entry(line.text) {
            self.sequence(indent)
        } else if line.colon.is_some() {
            self.mapping(indent)
        } else {
            // A scalar on a line of its own (maybe continued on the next ones).
            Err(GiveUp)
        }
    }

    /// The value of a key or list entry that ended its line (`key:`, `-`), at `line`:
    /// a block node on the next lines indented deeper than `parent`, or a list at
    /// `parent`'s own indentation under a key (`same_indent_list`), or null.
    fn value_below(&mut self, parent: usize, same_indent_list: bool, line: usize) -> Read {
        match self.peek() {
            Some(next) if next.indent > parent => self.block_node(next.indent),
            Some(next) if same_indent_list && next.indent == parent && is_entry(next.text) => {
                self.sequence(parent)
            }
            _ => self.scalar(Cow::Borrowed(""), ScalarStyle::Plain, line),
        }
    }

    fn mapping(&mut self, indent: usize) -> Read {
        let first = self.peek().ok_or(GiveUp)?;
        self.composer
            .start_map(Tag::Implicit, 0, first.number)
            .map_err(GiveUp::from)?;
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return Err(GiveUp);
            }
            let (key, rest) = line.mapping_entry().ok_or(GiveUp)?;
            self.scalar(Cow::Borrowed(key), ScalarStyle::Plain, line.number)?;
            self.advance()?;
            let value = rest.trim_start_matches(' ');
            if value.is_empty() || value.starts_with('#') {
                self.value_below(indent, true, line.number)?;
            } else {
                self.inline_value(value, line.number)?;
            }
        }
        Ok(self.composer.end_map()?)
    }

    fn sequence(&mut self, indent: usize) -> Read {
        let first = self.peek().ok_or(GiveUp)?;
        self.composer
            .start_seq(Tag::Implicit, 0, first.number)
            .map_err(GiveUp::from)?;
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return Err(GiveUp);
            }
            let rest = &line.text[1..];
            let value = rest.trim_start_matches(' ');
            if value.is_empty() || value.starts_with('#') {
                self.advance()?;
                self.value_below(indent, false, line.number)?;
            } else {
                let column = indent + 1 + (rest.len() - value.len());
                let inner = Line::new(line.number, column, value);
                if is_entry(value) || inner.colon.is_some() {
                    // `- key: value` or `- - item`: a node whose lines are indented as its
                    // first one is, there on this line.
                    self.current = Some(inner);
                    self.block_node(column)?;
                } else {
                    self.advance()?;
                    self.inline_value(value, line.number)?;
                }
            }
        }
        Ok(self.composer.end_seq()?)
    }

    /// A value that starts on its key's or entry's line and ends there.
    fn inline_value(&mut self, value: &str, line: usize) -> Read {
        let first = value.as_bytes()[0];
        let rest = match first {
            b'\'' | b'"' => {
                let (text, len, style) = quoted(value)?;
                self.scalar(text, style, line)?;
                &value[len..]
            }
            b'[' | b'{' => {
                let len = self.flow(value, line)?;
                &value[len..]
            }
            b'-' if value.len() > 1 && value.as_bytes()[1] != b' ' => {
                self.plain(value, line)?;
                ""
            }
            c if indicator(c) => return Err(GiveUp),
            _ => {
                self.plain(value, line)?;
                ""
            }
        };
        // A next line indented deeper would continue the value: the mapping or list
        // around gives up on it.
        if only_comment(rest) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// A plain scalar that runs to the end of its line or to a comment.
    fn plain(&mut self, value: &str, line: usize) -> Read {
        let bytes = value.as_bytes();
        let mut end = bytes.len();
        for (i, pair) in bytes.windows(2).enumerate() {
            match pair {
                // `: ` would make it a key (not YAML here).
                [b':', b' '] => return Err(GiveUp),
                [b' ', b'#'] => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let text = value[..end].trim_end_matches(' ');
        if text.ends_with(':') {
            return Err(GiveUp);
        }
        self.scalar(Cow::Borrowed(text), ScalarStyle::Plain, line)
    }

    /// A flow list or mapping closed on this line (`s` starts with it): the length it takes.
    fn flow(&mut self, s: &str, line: usize) -> Read<usize> {
        if self.too_deep() {
            return Err(GiveUp);
        }
        let bytes = s.as_bytes();
        let skip = |mut i: usize| {
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            i
        };
        let open = bytes[0];
        let close = if open == b'[' { b']' } else { b'}' };
        if open == b'[' {
            self.composer
                .start_seq(Tag::Implicit, 0, line)
                .map_err(GiveUp::from)?;
        } else {
            self.composer
                .start_map(Tag::Implicit, 0, line)
                .map_err(GiveUp::from)?;
        }
        let mut i = skip(1);
        loop {
            match bytes.get(i) {
                None => return Err(GiveUp),
                Some(&c) if c == close => break,
                Some(_) => {}
            }
            if open == b'{' {
                i = self.flow_item(s, i, true, line)?;
                if !s[i..].starts_with(": ") {
                    return Err(GiveUp);
                }
                i = skip(i + 1);
            }
            i = skip(self.flow_item(s, i, false, line)?);
            match bytes.get(i) {
                Some(b',') => i = skip(i + 1),
                Some(&c) if c == close => break,
                _ => return Err(GiveUp),
            }
        }
        if open == b'[' {
            self.composer.end_seq()?;
        } else {
            self.composer.end_map()?;
        }
        Ok(i + 1)
    }

    /// A scalar or nested collection inside a flow collection, at `i` (a mapping's key
    /// when `key`): where it ends.
    fn flow_item(&mut self, s: &str, i: usize, key: bool, line: usize) -> Read<usize> {
        let item = &s[i..];
        match item.as_bytes().first() {
            Some(b'[' | b'{') => Ok(i + self.flow(item, line)?),
            Some(b'\'' | b'"') => {
                let (text, len, style) = quoted(item)?;
                self.scalar(text, style, line)?;
                Ok(i + len)
            }
            Some(&c) if !indicator(c) => {
                let stops: &[char] = if key {
                    &[',', '[', ']', '{', '}', ':']
                } else {
                    &[',', '[', ']', '{', '}']
                };
                let end = item.find(stops).unwrap_or(item.len());
                let text = item[..end].trim_end_matches(' ');
                if text.contains([':', '#']) {
                    return Err(GiveUp);
                }
                self.scalar(Cow::Borrowed(text), ScalarStyle::Plain, line)?;
                Ok(i + text.len())
            }
            _ => Err(GiveUp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_events;
    use super::*;
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    /// Whether the subset reader read `text`; when it did, granit-parser must read the
    /// same tree (values, key order and lines).
    fn agrees(text: &str) -> bool {
        // `parse` refuses unprintable characters before either reader runs.
        if !text.chars().all(super::super::printable) {
            return false;
        }
        let Some(fast) = read(text) else {
            return false;
        };
        match parse_events(text) {
            Ok(slow) => {
                let (f, s) = (flat(&fast), flat(&slow));
                if let Some((a, b)) = f.iter().zip(&s).find(|(a, b)| a != b) {
                    panic!("the two readers differ ({a} / {b}) on:\n{text}");
                }
                assert_eq!(fast, slow, "the two readers differ on:\n{text}");
            }
            Err(e) => panic!("granit-parser refuses ({e:?}) what the subset reader read:\n{text}"),
        }
        true
    }

    /// Every node as `path = value @ line`, to name the first difference.
    fn flat(node: &Node) -> Vec<String> {
        fn walk(node: &Node, path: String, out: &mut Vec<String>) {
            use super::super::Value;
            match &node.value {
                Value::Map(entries) => {
                    out.push(format!("{path} = {{}} @ {}", node.line));
                    for (k, v) in entries {
                        out.push(format!("{path} key {:?} @ {}", k.value, k.line));
                        walk(v, format!("{path}.{:?}", k.value), out);
                    }
                }
                Value::Seq(items) => {
                    out.push(format!("{path} = [] @ {}", node.line));
                    for (i, item) in items.iter().enumerate() {
                        walk(item, format!("{path}[{i}]"), out);
                    }
                }
                other => out.push(format!("{path} = {other:?} @ {}", node.line)),
            }
        }
        let mut out = Vec::new();
        walk(node, String::new(), &mut out);
        out
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }

    /// `shared/reference/lava-2020.05-server` beside the checkout (or a parent of it).
    fn lava_tree() -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .canonicalize()
            .expect("the project root");
        root.ancestors()
            .skip(1)
            .map(|dir| dir.join("shared/reference/lava-2020.05-server"))
            .find(|tree| tree.join("tests").is_dir())
            .unwrap_or_else(|| {
                panic!(
                    "LAVA 2020.05's server tree is missing: no shared/reference/lava-2020.05-server \
                     beside {} or its parents",
                    root.display()
                )
            })
    }

    #[test]
    fn reads_the_corpus_as_granit_parser_does() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files = Vec::new();
        yaml_files(&fixtures.join("job-verdicts/mutations"), &mut files);
        yaml_files(&fixtures.join("device-verdicts/configurations"), &mut files);
        let ours = files.len();
        yaml_files(&lava_tree().join("tests"), &mut files);
        assert!(
            ours > 300 && files.len() > ours + 200,
            "{} files",
            files.len()
        );
        let mut read_fast = 0;
        for path in &files {
            let text = std::fs::read_to_string(path).expect("a YAML file");
            if agrees(&text) {
                read_fast += 1;
            }
            // Every line cut short, as a mutation would.
            for (i, _) in text.match_indices('\n').step_by(7) {
                agrees(&text[..i.saturating_sub(3)]);
            }
        }
        eprintln!(
            "{read_fast} of {} files read by the subset reader",
            files.len()
        );
        // The benchmark's typical definitions are in the subset.
        for name in [
            "base-single.yaml",
            "base-multinode.yaml",
            "notify-email-ok.yaml",
        ] {
            let text = std::fs::read_to_string(fixtures.join("job-verdicts/mutations").join(name))
                .expect("a conformance base");
            assert!(agrees(&text), "{name} is not read by the subset reader");
        }
    }

    #[test]
    fn lines_of_empty_values_and_compact_entries() {
        for text in [
            "a:\nb: 1\n",
            "a:\n\n# c\nb:\n",
            "- \n- a:\n  b:\n-\n  - x\n",
            "k:\n- a: [1, {x: y}]\n  b: 'it''s' # c\n- - z\n  -\n",
            "---\nx: {}\ny: []\nz: \"q\"\n",
            "# c\n---\nx: 1\n",
        ] {
            assert!(agrees(text), "not read: {text}");
        }
        // Two documents are granit-parser's to refuse.
        assert!(read("---\n---\nx: 1\n").is_none());
        assert!(parse_events("---\n---\nx: 1\n").is_err());
    }

    #[test]
    fn deep_nesting_is_left_to_granit_parser() {
        let block: String = (0..5_000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert!(read(&block).is_none());
        let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(read(&flow).is_none());
        // What granit-parser then says (its own nesting limit).
        assert!(super::super::parse(&block).is_err());
        assert!(super::super::parse(&flow).is_err());
        let fine: String = (0..50).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(agrees(&fine));
    }

    /// A generated document: scalars from a pool of tricky texts, nested mappings and lists.
    #[derive(Debug, Clone)]
    enum Tree {
        Scalar(&'static str),
        Map(Vec<(&'static str, Tree)>),
        Seq(Vec<Tree>),
    }

    /// Scalars the subset reader reads wherever they are.
    const PLAIN: &[&str] = &[
        "a",
        "qemu",
        "yes",
        "No",
        "~",
        "",
        "010",
        "0x1F",
        "1:20",
        "1.5",
        "1e3",
        "-x",
        "2020-05-01",
        "a b",
        "a:b",
        "http://a:8080/p",
        "'q'",
        "'it''s'",
        "\"dq\"",
        "'root@debian:'",
        "'# '",
        "[a, b]",
        "[]",
        "{}",
        "{a: 1, b: [x, 'y']}",
        "ünï",
        "x # c",
        "-drive format=raw,file={rootfs}",
    ];
    /// Scalars that leave the subset (or are not YAML).
    const TRICKY: &[&str] = &[
        "2020-02-30",
        "<<",
        "=",
        "a: b",
        "x:",
        "{rootfs}",
        "[a,]",
        "{a}",
        "[a, [b]",
        "&x v",
        "*x",
        "!!str 1",
        "!foo x",
        "|",
        ">",
        "- x",
        "? x",
        "@x",
        "%x",
        "`x",
        "\"a\\nb\"",
        "'open",
    ];
    const KEYS: &[&str] = &["a", "b", "job_name", "1", "yes", "k-1", "x.y", "a b"];
    const TRICKY_KEYS: &[&str] = &["<<", "=", "~", "'q'", "[a]", "? k", "-k", "&a k", "a #c"];

    fn safe(tree: &Tree) -> bool {
        match tree {
            Tree::Scalar(s) => PLAIN.contains(s),
            Tree::Map(entries) => entries.iter().all(|(k, v)| KEYS.contains(k) && safe(v)),
            Tree::Seq(items) => items.iter().all(safe),
        }
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let scalar = prop_oneof![
            4 => prop::sample::select(PLAIN),
            1 => prop::sample::select(TRICKY),
        ];
        let key = prop_oneof![
            6 => prop::sample::select(KEYS),
            1 => prop::sample::select(TRICKY_KEYS),
        ];
        scalar
            .prop_map(Tree::Scalar)
            .prop_recursive(4, 48, 5, move |inner| {
                prop_oneof![
                    prop::collection::vec((key.clone(), inner.clone()), 1..5).prop_map(Tree::Map),
                    prop::collection::vec(inner, 1..5).prop_map(Tree::Seq),
                ]
            })
    }

    /// How a document is laid out.
    #[derive(Debug, Clone, Copy)]
    struct Style {
        step: usize,
        /// Lists under a key indented (or at the key's indentation).
        indent_lists: bool,
        /// `- key: value` rather than `-` and the mapping below.
        compact: bool,
        /// A comment line after each mapping entry.
        comments: bool,
    }

    fn render(tree: &Tree, indent: usize, style: Style, out: &mut String) {
        let pad = " ".repeat(indent);
        match tree {
            Tree::Scalar(s) => {
                out.push_str(&pad);
                out.push_str(s);
                out.push('\n');
            }
            Tree::Map(entries) => {
                for (key, value) in entries {
                    out.push_str(&pad);
                    out.push_str(key);
                    out.push(':');
                    match value {
                        Tree::Scalar(s) => {
                            if !s.is_empty() {
                                out.push(' ');
                                out.push_str(s);
                            }
                            out.push('\n');
                        }
                        Tree::Map(_) => {
                            out.push('\n');
                            render(value, indent + style.step, style, out);
                        }
                        Tree::Seq(_) => {
                            out.push('\n');
                            let deeper = if style.indent_lists { style.step } else { 0 };
                            render(value, indent + deeper, style, out);
                        }
                    }
                    if style.comments {
                        out.push_str(&pad);
                        out.push_str("# a comment\n");
                    }
                }
            }
            Tree::Seq(items) => {
                for item in items {
                    match item {
                        Tree::Scalar(s) => {
                            out.push_str(&pad);
                            out.push('-');
                            if !s.is_empty() {
                                out.push(' ');
                                out.push_str(s);
                            }
                            out.push('\n');
                        }
                        _ if style.compact => {
                            let mut child = String::new();
                            render(item, indent + 2, style, &mut child);
                            out.push_str(&pad);
                            out.push_str("- ");
                            out.push_str(&child[indent + 2..]);
                        }
                        _ => {
                            out.push_str(&pad);
                            out.push_str("-\n");
                            render(item, indent + style.step, style, out);
                        }
                    }
                }
            }
        }
    }

    /// Texts inserted by the mutations.
    const INSERTS: &[&str] = &[
        " ", "  ", ":", ": ", "- ", "-", " #c", "#", "'", "\"", "\n", "\n  ", "\n# c\n", "[", "]",
        "{", "}", ",", "x", "&a ", "*a", "!!str ", "|", ">", "? ", "\\", "---\n", "...\n", "\t",
        "\r", "''",
    ];

    fn mutate(text: &str, edits: &[(prop::sample::Index, u8, prop::sample::Index)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, op, what) in edits {
            if chars.is_empty() {
                break;
            }
            let i = at.index(chars.len());
            match op % 3 {
                0 => {
                    let insert = what.get(INSERTS);
                    chars.splice(i..i, insert.chars());
                }
                1 => {
                    chars.remove(i);
                }
                _ => {
                    // Move a line's start: add or remove a space of indentation.
                    let start = chars[..i]
                        .iter()
                        .rposition(|c| *c == '\n')
                        .map_or(0, |p| p + 1);
                    if chars.get(start) == Some(&' ') && what.index(2) == 0 {
                        chars.remove(start);
                    } else {
                        chars.insert(start, ' ');
                    }
                }
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn subset_reader_agrees_with_granit_parser(
            tree in tree(),
            step in 1usize..5,
            indent_lists: bool,
            compact: bool,
            comments: bool,
            prefix in prop::sample::select(&["", "---\n", "# c\n---\n", "---\n---\n", "\n \n", "--- x\n"][..]),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), any::<u8>(), any::<prop::sample::Index>()),
                0..4,
            ),
        ) {
            let style = Style { step, indent_lists, compact, comments };
            let mut text = String::from(prefix);
            render(&tree, 0, style, &mut text);
            let read_fast = agrees(&text);
            // Not a vacuous comparison: what is in the subset is read by it.
            let plain_start = matches!(prefix, "" | "---\n" | "# c\n---\n" | "\n \n");
            if plain_start && safe(&tree) && matches!(tree, Tree::Map(_) | Tree::Seq(_)) {
                prop_assert!(read_fast, "not read by the subset reader:\n{}", text);
            }
            agrees(&mutate(&text, &edits));
        }
    }
}
