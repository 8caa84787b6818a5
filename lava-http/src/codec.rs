//! The XML-RPC wire format: parsing `methodCall` documents and writing `methodResponse`s.
//!
//! Parsing goes through a small element tree built from `quick-xml` events, with a depth
//! limit so that deeply nested input cannot exhaust the stack. Every malformed input is a
//! [`Fault`]: `-32700` for XML that is not well formed, `-32600` for well-formed XML that is
//! not a method call.

use super::fault::{codes, Fault};
use super::value::Value;
use base64::Engine;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::fmt::Write as _;

/// The deepest element nesting accepted in a request (three levels per nested value).
pub const MAX_DEPTH: usize = 128;

/// The most elements accepted in a request. LAVA's calls use a few dozen; the cap keeps the
/// element tree of a hostile body (`<a/>` is 4 bytes of input, ~100 bytes of tree) small.
pub const MAX_ELEMENTS: usize = 100_000;

/// A parsed method call.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// The method name, e.g. `scheduler.jobs.show`.
    pub method: String,
    /// The positional parameters.
    pub params: Vec<Value>,
}

/// An element of the request document: only what XML-RPC needs (no attributes).
#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

fn not_well_formed(detail: impl std::fmt::Display) -> Fault {
    Fault::new(
        codes::NOT_WELL_FORMED,
        format!("Unable to decode request: {detail}"),
    )
}

fn invalid(detail: impl std::fmt::Display) -> Fault {
    Fault::new(
        codes::INVALID_XML_RPC,
        format!("Unable to decode request: {detail}"),
    )
}

/// Resolves `&name;` and `&#N;` references; only XML's predefined entities exist here.
fn resolve_reference(name: &str) -> Result<char, Fault> {
    let predefined = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    };
    if let Some(c) = predefined {
        return Ok(c);
    }
    let number = name
        .strip_prefix('#')
        .ok_or_else(|| not_well_formed(format!("undefined entity &{name};")))?;
    let code = match number.strip_prefix('x') {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => number.parse::<u32>(),
    }
    .map_err(|_| not_well_formed(format!("invalid character reference &{name};")))?;
    char::from_u32(code)
        .filter(|c| *c != '\0')
        .ok_or_else(|| not_well_formed(format!("invalid character reference &{name};")))
}

fn name_of(start: &quick_xml::events::BytesStart<'_>) -> String {
    start.name().as_ref().to_owned()
}

/// Opens an element: pushes it on the stack, or returns it when it is empty (`<x/>`).
fn open_element(
    stack: &mut Vec<Element>,
    root: &Option<Element>,
    count: &mut usize,
    name: String,
    is_empty: bool,
) -> Result<Option<Element>, Fault> {
    *count += 1;
    if *count > MAX_ELEMENTS {
        return Err(invalid(format!("more than {MAX_ELEMENTS} elements")));
    }
    if root.is_some() {
        return Err(not_well_formed("content after the document element"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(invalid(format!(
            "elements nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let element = Element {
        name,
        ..Element::default()
    };
    if is_empty {
        return Ok(Some(element));
    }
    stack.push(element);
    Ok(None)
}

/// Builds the element tree of a document.
fn parse_tree(text: &str) -> Result<Element, Fault> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    // A stack of open elements; the root is the only element left at the end.
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| not_well_formed(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => {
                open_element(&mut stack, &root, &mut count, name_of(&start), false)?;
            }
            Event::Empty(start) => {
                let element = open_element(&mut stack, &root, &mut count, name_of(&start), true)?;
                if let Some(element) = element {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                }
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| not_well_formed("unexpected end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(t) => match stack.last_mut() {
                Some(open) => open.text.push_str(&t.xml10_content()),
                None if t.xml10_content().trim().is_empty() => {}
                None => return Err(not_well_formed("text outside the document element")),
            },
            Event::CData(c) => match stack.last_mut() {
                Some(open) => open.text.push_str(&c.xml10_content()),
                None => return Err(not_well_formed("CDATA outside the document element")),
            },
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r.xml10_content())?;
                match stack.last_mut() {
                    Some(open) => open.text.push(c),
                    None => return Err(not_well_formed("reference outside the document element")),
                }
            }
            // A DTD could declare entities; XML-RPC has no use for one.
            Event::DocType(_) => return Err(invalid("a DOCTYPE is not allowed")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(not_well_formed("unexpected end of document"));
    }
    root.ok_or_else(|| not_well_formed("no document element"))
}

impl Element {
    /// Children, refusing non-blank text mixed in between them.
    fn element_children(&self) -> Result<&[Element], Fault> {
        if !self.text.trim().is_empty() {
            return Err(invalid(format!("unexpected text in <{}>", self.name)));
        }
        Ok(&self.children)
    }

    /// The only child, which must be named `name`.
    fn single(&self, name: &str) -> Result<&Element, Fault> {
        match self.element_children()? {
            [only] if only.name == name => Ok(only),
            _ => Err(invalid(format!(
                "<{}> must hold exactly one <{name}>",
                self.name
            ))),
        }
    }

    fn leaf_text(&self) -> Result<&str, Fault> {
        if self.children.is_empty() {
            Ok(&self.text)
        } else {
            Err(invalid(format!("<{}> must not hold elements", self.name)))
        }
    }
}

/// Parses a `methodCall` document.
pub fn parse_method_call(body: &[u8]) -> Result<MethodCall, Fault> {
    let text = std::str::from_utf8(body)
        .map_err(|e| not_well_formed(format!("the body is not UTF-8: {e}")))?;
    let root = parse_tree(text)?;
    if root.name != "methodCall" {
        return Err(invalid(format!(
            "the document element is <{}>, not <methodCall>",
            root.name
        )));
    }
    let mut method = None;
    let mut params = Vec::new();
    for child in root.element_children()? {
        match child.name.as_str() {
            "methodName" if method.is_none() => {
                let name = child.leaf_text()?.trim();
                if name.is_empty() {
                    return Err(invalid("empty <methodName>"));
                }
                method = Some(name.to_owned());
            }
            "params" => {
                for param in child.element_children()? {
                    if param.name != "param" {
                        return Err(invalid(format!("<{}> in <params>", param.name)));
                    }
                    params.push(parse_value(param.single("value")?)?);
                }
            }
            other => return Err(invalid(format!("unexpected <{other}> in <methodCall>"))),
        }
    }
    let method = method.ok_or_else(|| invalid("no <methodName>"))?;
    Ok(MethodCall { method, params })
}

fn parse_value(value: &Element) -> Result<Value, Fault> {
    let typed = match value.children.as_slice() {
        // A bare <value>text</value> is a string, whitespace included.
        [] => return Ok(Value::String(value.text.clone())),
        [typed] if value.text.trim().is_empty() => typed,
        _ => return Err(invalid("<value> must hold one typed element")),
    };
    let bad = |what: &str| invalid(format!("invalid <{}>: {what}", typed.name));
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => {
            let text = typed.leaf_text()?.trim();
            Value::Int(text.parse().map_err(|_| bad(text))?)
        }
        "boolean" => match typed.leaf_text()?.trim() {
            "1" => Value::Bool(true),
            "0" => Value::Bool(false),
            other => return Err(bad(other)),
        },
        "string" => Value::String(typed.leaf_text()?.to_owned()),
        "double" => {
            let text = typed.leaf_text()?.trim();
            Value::Double(text.parse().map_err(|_| bad(text))?)
        }
        "dateTime.iso8601" => {
            let text = typed.leaf_text()?.trim();
            if !is_wire_datetime(text) {
                return Err(bad(text));
            }
            Value::DateTime(text.to_owned())
        }
        "base64" => {
            let compact: String = typed
                .leaf_text()?
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            Value::Base64(
                base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|e| bad(&e.to_string()))?,
            )
        }
        "nil" => {
            if !typed.leaf_text()?.trim().is_empty() {
                return Err(bad("<nil/> must be empty"));
            }
            Value::Nil
        }
        "array" => {
            let data = typed.single("data")?;
            let mut items = Vec::new();
            for item in data.element_children()? {
                if item.name != "value" {
                    return Err(invalid(format!("<{}> in <data>", item.name)));
                }
                items.push(parse_value(item)?);
            }
            Value::Array(items)
        }
        "struct" => {
            let mut members = Vec::new();
            for member in typed.element_children()? {
                if member.name != "member" {
                    return Err(invalid(format!("<{}> in <struct>", member.name)));
                }
                let (mut name, mut val) = (None, None);
                for part in member.element_children()? {
                    match part.name.as_str() {
                        "name" if name.is_none() => name = Some(part.leaf_text()?.to_owned()),
                        "value" if val.is_none() => val = Some(parse_value(part)?),
                        other => return Err(invalid(format!("<{other}> in <member>"))),
                    }
                }
                match (name, val) {
                    (Some(n), Some(v)) => members.push((n, v)),
                    _ => return Err(invalid("<member> needs a <name> and a <value>")),
                }
            }
            Value::Struct(members)
        }
        other => return Err(invalid(format!("unknown value type <{other}>"))),
    })
}

/// `YYYYMMDDTHH:MM:SS`, optionally with `-`/`:` separators in the date (ISO 8601 basic or
/// extended) as other XML-RPC clients write it.
fn is_wire_datetime(text: &str) -> bool {
    let digits_or = |s: &str, seps: &[char]| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || seps.contains(&c))
    };
    match text.split_once('T') {
        Some((date, time)) => {
            digits_or(date, &['-']) && digits_or(time, &[':', '.', 'Z', '+', '-'])
        }
        None => false,
    }
}

/// Appends text with XML's special characters escaped. Characters that XML 1.0 cannot carry
/// at all (most control characters) become U+FFFD: a client could not parse them.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\t' | '\n' => out.push(c),
            // A bare CR would be read back as LF by an XML parser.
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => {
            // Python's xmlrpc.client refuses ints beyond 32 bits; <i8> is the usual extension.
            let tag = if i32::try_from(*i).is_ok() {
                "int"
            } else {
                "i8"
            };
            let _ = write!(out, "<{tag}>{i}</{tag}>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::String(s) => {
            out.push_str("<string>");
            push_escaped(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            push_escaped(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(bytes) => {
            let _ = write!(out, "<base64>\n{}\n</base64>", Value::base64_text(bytes));
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, v) in members {
                out.push_str("<member>\n<name>");
                push_escaped(out, name);
                out.push_str("</name>\n");
                write_value(out, v);
                out.push_str("</member>\n");
            }
            out.push_str("</struct>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for v in items {
                write_value(out, v);
            }
            out.push_str("</data></array>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>\n");
}

/// A `methodResponse` carrying one value.
pub fn write_response(value: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `methodResponse` carrying a fault.
pub fn write_fault(fault: &Fault) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    write_value(
        &mut out,
        &Value::Struct(vec![
            ("faultCode".to_owned(), Value::Int(fault.code.into())),
            (
                "faultString".to_owned(),
                Value::String(fault.message.clone()),
            ),
        ]),
    );
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

/// A `methodCall` document (for clients and tests).
pub fn write_method_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    push_escaped(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(&mut out, p);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// What a `methodResponse` carried: a value or a fault (for clients and tests).
pub fn parse_response(body: &[u8]) -> Result<Result<Value, Fault>, Fault> {
    let text = std::str::from_utf8(body)
        .map_err(|e| not_well_formed(format!("the body is not UTF-8: {e}")))?;
    let root = parse_tree(text)?;
    if root.name != "methodResponse" {
        return Err(invalid(format!("<{}> is not <methodResponse>", root.name)));
    }
    let [part] = root.element_children()? else {
        return Err(invalid("<methodResponse> must hold <params> or <fault>"));
    };
    match part.name.as_str() {
        "params" => Ok(Ok(parse_value(part.single("param")?.single("value")?)?)),
        "fault" => {
            let Value::Struct(members) = parse_value(part.single("value")?)? else {
                return Err(invalid("the fault is not a struct"));
            };
            let find = |n: &str| members.iter().find(|(k, _)| k == n).map(|(_, v)| v);
            match (find("faultCode"), find("faultString")) {
                (Some(Value::Int(code)), Some(Value::String(message))) => Ok(Err(Fault::new(
                    i32::try_from(*code).map_err(|_| invalid("faultCode out of range"))?,
                    message.clone(),
                ))),
                _ => Err(invalid("the fault needs faultCode and faultString")),
            }
        }
        other => Err(invalid(format!("<{other}> in <methodResponse>"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call(body: &str) -> Result<MethodCall, Fault> {
        parse_method_call(body.as_bytes())
    }

    #[test]
    fn python_request() {
        // What Python's xmlrpc.client sends for proxy.scheduler.workers.add("w1", None, True).
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>scheduler.workers.add</methodName>\n<params>\n<param>\n<value><string>w1</string></value>\n</param>\n<param>\n<value><nil/></value></param>\n<param>\n<value><boolean>1</boolean></value>\n</param>\n</params>\n</methodCall>\n";
        let c = call(body).unwrap();
        assert_eq!(c.method, "scheduler.workers.add");
        assert_eq!(
            c.params,
            vec![Value::str("w1"), Value::Nil, Value::Bool(true)]
        );
    }

    #[test]
    fn every_type() {
        let body = "<methodCall><methodName>m</methodName><params>\
            <param><value><i4> 42 </i4></value></param>\
            <param><value><i8>-5000000000</i8></value></param>\
            <param><value><double>1.5</double></value></param>\
            <param><value>  bare &amp; raw </value></param>\
            <param><value><string>a&lt;b&#x263A;&#65;<![CDATA[<c>]]></string></value></param>\
            <param><value><dateTime.iso8601>20200501T12:00:00</dateTime.iso8601></value></param>\
            <param><value><base64>aGVs\nbG8=</base64></value></param>\
            <param><value><array><data><value><int>1</int></value><value><boolean>0</boolean></value></data></array></value></param>\
            <param><value><struct><member><name>k</name><value><string/></value></member></struct></value></param>\
            </params></methodCall>";
        let c = call(body).unwrap();
        assert_eq!(
            c.params,
            vec![
                Value::Int(42),
                Value::Int(-5_000_000_000),
                Value::Double(1.5),
                Value::str("  bare & raw "),
                Value::str("a<b\u{263A}A<c>"),
                Value::DateTime("20200501T12:00:00".into()),
                Value::Base64(b"hello".to_vec()),
                Value::Array(vec![Value::Int(1), Value::Bool(false)]),
                Value::Struct(vec![("k".into(), Value::str(""))]),
            ]
        );
    }

    #[test]
    fn no_params_element() {
        let c = call("<methodCall><methodName>system.version</methodName></methodCall>").unwrap();
        assert!(c.params.is_empty());
    }

    #[test]
    fn malformed_documents_are_faults() {
        for (body, code) in [
            ("", codes::NOT_WELL_FORMED),
            ("<methodCall>", codes::NOT_WELL_FORMED),
            ("<methodCall><methodName>x</methodCall>", codes::NOT_WELL_FORMED),
            ("<a/><b/>", codes::NOT_WELL_FORMED),
            ("<methodCall><methodName>&foo;</methodName></methodCall>", codes::NOT_WELL_FORMED),
            ("<methodCall><methodName>&#0;</methodName></methodCall>", codes::NOT_WELL_FORMED),
            ("<methodResponse/>", codes::INVALID_XML_RPC),
            ("<methodCall/>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName> </methodName></methodCall>", codes::INVALID_XML_RPC),
            ("<!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>a</methodName></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><int>99999999999999999999</int></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><float>1</float></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodCall>", codes::INVALID_XML_RPC),
            ("<methodCall><methodName>m</methodName><params><param></param></params></methodCall>", codes::INVALID_XML_RPC),
        ] {
            let fault = call(body).expect_err(body);
            assert_eq!(fault.code, code, "{body}: {fault}");
        }
        let fault = parse_method_call(b"<methodCall>\xff</methodCall>").unwrap_err();
        assert_eq!(fault.code, codes::NOT_WELL_FORMED);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let depth = 100_000;
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{}{}</param></params></methodCall>",
            "<value><array><data>".repeat(depth),
            "</data></array></value>".repeat(depth)
        );
        let fault = call(&body).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_XML_RPC);
        assert!(fault.message.contains("deeper"), "{fault}");
        // Within the limit it parses.
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{}<value><nil/></value>{}</param></params></methodCall>",
            "<value><array><data>".repeat(30),
            "</data></array></value>".repeat(30)
        );
        assert!(call(&body).is_ok());
    }

    #[test]
    fn element_count_is_capped() {
        let body = |n: usize| {
            format!(
                "<methodCall><methodName>m</methodName><params><param><value><array><data>{}</data></array></value></param></params></methodCall>",
                "<value><nil/></value>".repeat(n)
            )
        };
        // 7 elements around the values, 2 per value.
        let fits = (MAX_ELEMENTS - 7) / 2;
        assert!(call(&body(fits)).is_ok());
        let fault = call(&body(fits + 1)).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_XML_RPC);
        assert!(fault.message.contains("elements"), "{fault}");
    }

    #[test]
    fn fault_document() {
        let text = write_fault(&Fault::not_found("Worker 'w' was not found."));
        assert!(text.contains("<name>faultCode</name>\n<value><int>404</int></value>"));
        assert_eq!(
            parse_response(text.as_bytes()).unwrap(),
            Err(Fault::not_found("Worker 'w' was not found."))
        );
    }

    #[test]
    fn control_characters_cannot_break_the_document() {
        let text = write_response(&Value::str("a\u{1}b\rc"));
        assert_eq!(
            parse_response(text.as_bytes()).unwrap(),
            Ok(Value::str("a\u{FFFD}b\rc"))
        );
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        // Strings without characters XML 1.0 cannot carry (they are replaced on output).
        let text = "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,12}";
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            text.prop_map(Value::String),
            any::<f64>()
                .prop_filter("finite", |d| d.is_finite())
                .prop_map(Value::Double),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Base64),
            Just(Value::DateTime("20200501T12:00:00".into())),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((text, inner), 0..6).prop_map(Value::Struct),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn call_round_trip(method in "[a-z_.]{1,20}", params in proptest::collection::vec(arb_value(), 0..4)) {
            let text = write_method_call(&method, &params);
            let parsed = parse_method_call(text.as_bytes()).unwrap();
            prop_assert_eq!(parsed.method, method);
            prop_assert_eq!(parsed.params, params);
        }

        #[test]
        fn response_round_trip(value in arb_value()) {
            let text = write_response(&value);
            prop_assert_eq!(parse_response(text.as_bytes()).unwrap(), Ok(value));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_method_call(&body);
        }

        #[test]
        fn mangled_calls_never_panic(cut in 0usize..400, params in proptest::collection::vec(arb_value(), 0..3)) {
            let text = write_method_call("m", &params);
            let end = cut.min(text.len());
            let _ = parse_method_call(&text.as_bytes()[..end]);
        }
    }
}
