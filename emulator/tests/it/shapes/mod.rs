//! What the shape tests share: botocore's service models (trimmed copies
//! under `emulator/tests/botocore/`, written by `trim.py` there), an SDK
//! interceptor that keeps every answer as it came off the wire, and a small
//! XML reader for S3's answers.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use serde_json::Value;

/// The trimmed S3 model (botocore's `s3/2006-03-01`).
pub fn s3_model() -> Value {
    serde_json::from_str(include_str!("../../botocore/s3.json")).expect("s3.json is JSON")
}

/// The trimmed SQS model (botocore's `sqs/2012-11-05`).
pub fn sqs_model() -> Value {
    serde_json::from_str(include_str!("../../botocore/sqs.json")).expect("sqs.json is JSON")
}

/// One answer as the client received it.
#[derive(Debug, Clone)]
pub struct Wire {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `None` for streaming answers (GetObject), whose body the output holds.
    pub body: Option<Vec<u8>>,
}

impl Wire {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Keeps every answer an SDK client gets (shared by its clones).
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Wire>>>);

impl Capture {
    /// The latest answer.
    pub fn last(&self) -> Wire {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("an answer was captured")
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let wire = Wire {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: response.body().bytes().map(<[u8]>::to_vec),
        };
        self.0.lock().unwrap().push(wire);
        Ok(())
    }
}

/// An XML element: its name, text and child elements (attributes and
/// namespaces dropped, entities decoded).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses a document of elements and text (what S3 writes: no comments,
/// CDATA or mixed content). Errors name what was wrong.
pub fn parse_xml(doc: &str) -> Result<Element, String> {
    let mut rest = doc.trim_start();
    if let Some(after) = rest.strip_prefix("<?xml") {
        let end = after.find("?>").ok_or("unterminated XML declaration")?;
        rest = after[end + 2..].trim_start();
    }
    let (root, rest) = element(rest)?;
    if !rest.trim().is_empty() {
        return Err(format!("text after the root element: {rest:?}"));
    }
    Ok(root)
}

fn element(s: &str) -> Result<(Element, &str), String> {
    let s = s
        .strip_prefix('<')
        .ok_or_else(|| format!("expected an element at {:?}", head(s)))?;
    let end = s.find('>').ok_or("unterminated tag")?;
    let tag = &s[..end];
    let mut rest = &s[end + 1..];
    let self_closing = tag.ends_with('/');
    let tag = tag.trim_end_matches('/');
    let name = tag.split_whitespace().next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err("an element without a name".into());
    }
    let mut el = Element {
        name,
        text: String::new(),
        children: Vec::new(),
    };
    if self_closing {
        return Ok((el, rest));
    }
    loop {
        let lt = rest
            .find('<')
            .ok_or_else(|| format!("<{}> not closed", el.name))?;
        let text = &rest[..lt];
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unterminated end tag")?;
            if after[..end].trim() != el.name {
                return Err(format!("<{}> closed by </{}>", el.name, &after[..end]));
            }
            if el.children.is_empty() {
                el.text = decode(text)?;
            } else if !text.trim().is_empty() {
                return Err(format!("mixed content in <{}>", el.name));
            }
            return Ok((el, &after[end + 1..]));
        }
        if !text.trim().is_empty() {
            return Err(format!("mixed content in <{}>", el.name));
        }
        let (child, after) = element(rest)?;
        el.children.push(child);
        rest = after;
    }
}

fn head(s: &str) -> &str {
    &s[..s.len().min(40)]
}

fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').ok_or("an unterminated entity")?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[test]
fn the_xml_reader_reads_what_s3_writes() {
    let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Contents><Key>a&amp;b&#x20;c</Key><ETag>&quot;x&quot;</ETag></Contents><Prefix/></ListBucketResult>";
    let root = parse_xml(doc).unwrap();
    assert_eq!(root.name, "ListBucketResult");
    assert_eq!(root.child("Name").unwrap().text, "b");
    let contents = root.child("Contents").unwrap();
    assert_eq!(contents.child("Key").unwrap().text, "a&b c");
    assert_eq!(contents.child("ETag").unwrap().text, "\"x\"");
    assert_eq!(root.child("Prefix").unwrap().text, "");
    assert!(parse_xml("<A><B></A>").is_err());
    assert!(parse_xml("<A>x<B/></A>").is_err());
}
