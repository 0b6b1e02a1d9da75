//! Every S3 operation the emulator serves answers field for field as S3
//! writes it, checked against botocore's service model (the trimmed copy in
//! `emulator/tests/botocore/s3.json`): the status code of the operation's
//! binding; every `x-amz-*` header a member of the output shape, with a
//! value of the member's type (HTTP dates, integers, booleans, enum
//! values); the XML body's root element, and every element in it a member
//! of its shape, with text of the member's type and the shape's required
//! members present. Each call also names the members S3 writes in that
//! situation (`must`): they must be there, and the model must have them.
//! Members S3 writes that the emulator does not are marked `~`: they must be
//! absent (so the list stays true) and listed in the README's fidelity
//! section. Members S3 does not write for a general-purpose bucket
//! (`never`) must be absent.
//!
//! The requests are made with the real aws-sdk-s3 client, which must also
//! parse every answer; an interceptor keeps the answers as they came.

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
};
use emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

use crate::shapes::{parse_xml, s3_model, Capture, Element, Wire};

/// The README, whose fidelity section must name every member S3 writes
/// that the emulator omits.
const README: &str = include_str!("../../README.md");

/// The root element of each output whose body is not a payload member
/// (botocore's model does not carry these names; S3's API reference does).
fn root_of(op: &str) -> Option<&'static str> {
    Some(match op {
        "ListObjects" | "ListObjectsV2" => "ListBucketResult",
        "ListBuckets" => "ListAllMyBucketsResult",
        "CreateMultipartUpload" => "InitiateMultipartUploadResult",
        "CompleteMultipartUpload" => "CompleteMultipartUploadResult",
        "ListParts" => "ListPartsResult",
        "DeleteObjects" => "DeleteResult",
        "GetBucketLocation" => "LocationConstraint",
        _ => return None,
    })
}

/// Headers every S3 answer carries outside any output shape.
const GENERIC_HEADERS: &[&str] = &["x-amz-request-id", "x-amz-id-2"];

struct Checker {
    model: Value,
    problems: Vec<String>,
    checked: std::collections::BTreeSet<String>,
}

impl Checker {
    fn new() -> Self {
        Self {
            model: s3_model(),
            problems: Vec::new(),
            checked: Default::default(),
        }
    }

    fn shape(&self, name: &str) -> Value {
        self.model["shapes"][name].clone()
    }

    fn fail(&mut self, op: &str, what: String) {
        self.problems.push(format!("{op}: {what}"));
    }

    /// Checks one answer of `op` (see the module docs).
    fn check(&mut self, op: &str, wire: &Wire, must: &[&str], never: &[&str]) {
        self.checked.insert(op.to_string());
        let spec = self.model["operations"][op].clone();
        assert!(spec.is_object(), "{op} is not in s3.json");
        let mut status = spec["http"]["responseCode"].as_u64().unwrap_or(200) as u16;
        if op == "GetObject" && wire.header("content-range").is_some() {
            status = 206;
        }
        if wire.status != status {
            self.fail(op, format!("status {} instead of {status}", wire.status));
        }
        let output = spec["output"].as_str().map(|s| self.shape(s));
        let members = output
            .as_ref()
            .and_then(|o| o["members"].as_object().cloned())
            .unwrap_or_default();

        // Headers.
        for (name, value) in &wire.headers {
            let lower = name.to_ascii_lowercase();
            if GENERIC_HEADERS.contains(&lower.as_str()) {
                continue;
            }
            let member = members.iter().find(|(_, m)| match m["location"].as_str() {
                Some("header") => m["locationName"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&lower)),
                Some("headers") => m["locationName"]
                    .as_str()
                    .is_some_and(|p| lower.starts_with(&p.to_ascii_lowercase())),
                _ => false,
            });
            match member {
                Some((mname, m)) if m["location"] == "header" => {
                    let shape = self.shape(m["shape"].as_str().unwrap());
                    if let Err(e) = scalar_ok(&shape, value, true) {
                        self.fail(op, format!("header {name} ({mname}): {e}"));
                    }
                }
                Some(_) => {}
                None if lower.starts_with("x-amz-") => {
                    self.fail(op, format!("header {name} is no member of the output"))
                }
                None => {}
            }
        }

        // Body.
        let payload = output
            .as_ref()
            .and_then(|o| o["payload"].as_str())
            .map(str::to_string);
        let body_root: Option<(String, String)> = match &payload {
            Some(p) => {
                let m = &members[p];
                let shape_name = m["shape"].as_str().unwrap().to_string();
                if self.shape(&shape_name)["type"] == "structure" {
                    let name = m["locationName"].as_str().unwrap_or(p).to_string();
                    Some((name, shape_name))
                } else {
                    None
                }
            }
            None => root_of(op).map(|r| (r.to_string(), spec["output"].as_str().unwrap().into())),
        };
        let root = match (&body_root, &wire.body) {
            (Some((root_name, _)), Some(body)) => {
                match parse_xml(std::str::from_utf8(body).unwrap_or("")) {
                    Ok(root) if root.name == *root_name => Some(root),
                    Ok(root) => {
                        self.fail(op, format!("root <{}> instead of <{root_name}>", root.name));
                        None
                    }
                    Err(e) => {
                        self.fail(op, format!("body is not XML: {e}"));
                        None
                    }
                }
            }
            (Some((root_name, _)), None) => {
                self.fail(op, format!("no body (<{root_name}> expected)"));
                None
            }
            (None, Some(body)) if !body.is_empty() && wire.status < 300 => {
                self.fail(
                    op,
                    format!("a body where the output has none: {} bytes", body.len()),
                );
                None
            }
            _ => None,
        };
        let container = match (&root, &body_root, &payload) {
            (Some(root), Some((_, shape)), _) if op == "GetBucketLocation" => {
                // The root element is the LocationConstraint member itself.
                let member_shape = self.shape(shape)["members"]["LocationConstraint"]["shape"]
                    .as_str()
                    .unwrap()
                    .to_string();
                if let Err(e) = scalar_ok(&self.shape(&member_shape), &root.text, false) {
                    self.fail(op, format!("LocationConstraint: {e}"));
                }
                None
            }
            (Some(root), Some((_, shape)), _) => {
                self.walk(op, root, shape, &root.name.clone());
                Some((root.clone(), shape.clone()))
            }
            _ => None,
        };

        // What S3 writes here, and what it does not.
        for path in must {
            let (omitted, path) = match path.strip_prefix('~') {
                Some(p) => (true, p),
                None => (false, *path),
            };
            match self.find(
                op,
                wire,
                container.as_ref(),
                &members,
                payload.as_deref(),
                path,
            ) {
                Err(e) => self.fail(op, e),
                Ok(found) if omitted => {
                    if found {
                        self.fail(
                            op,
                            format!("{path} is written now: drop its ~ and its README line"),
                        );
                    }
                    let listed = README.lines().any(|l| {
                        l.contains(&format!("`{op}`")) && l.contains(&format!("`{path}`"))
                    });
                    if !listed {
                        self.fail(op, format!("{path} is not emulated but the README's fidelity section does not list `{op}` `{path}`"));
                    }
                }
                Ok(found) => {
                    if !found {
                        self.fail(op, format!("{path} missing (S3 writes it)"));
                    }
                }
            }
        }
        for path in never {
            match self.find(
                op,
                wire,
                container.as_ref(),
                &members,
                payload.as_deref(),
                path,
            ) {
                Err(e) => self.fail(op, e),
                Ok(true) => self.fail(
                    op,
                    format!("{path} written (S3 does not, for a general-purpose bucket)"),
                ),
                Ok(false) => {}
            }
        }
    }

    /// Whether the member `path` (member names joined by `.`) is in the
    /// answer: a header, or body elements (in every item of a list).
    fn find(
        &self,
        op: &str,
        wire: &Wire,
        container: Option<&(Element, String)>,
        members: &serde_json::Map<String, Value>,
        payload: Option<&str>,
        path: &str,
    ) -> Result<bool, String> {
        let mut parts = path.split('.');
        let first = parts.next().unwrap();
        let Some(top) = members.get(first) else {
            // A member of the payload structure.
            if let (Some((root, shape)), Some(_)) = (container, payload) {
                return self.find_in(op, root, shape, path);
            }
            return Err(format!("{path}: no such member in the output shape"));
        };
        if let Some(loc) = top["locationName"]
            .as_str()
            .filter(|_| top["location"] == "header")
        {
            return Ok(wire.header(loc).is_some());
        }
        if let (Some(p), Some((root, shape))) = (payload, container) {
            if p == first {
                let rest: Vec<&str> = parts.collect();
                return if rest.is_empty() {
                    Ok(true)
                } else {
                    self.find_in(op, root, shape, &rest.join("."))
                };
            }
        }
        match container {
            Some((root, shape)) => self.find_in(op, root, shape, path),
            None => Ok(false),
        }
    }

    fn find_in(&self, op: &str, root: &Element, shape: &str, path: &str) -> Result<bool, String> {
        let mut level: Vec<(Element, String)> = vec![(root.clone(), shape.to_string())];
        for part in path.split('.') {
            let mut next = Vec::new();
            for (el, shape) in &level {
                let s = self.shape(shape);
                let Some(m) = s["members"].get(part) else {
                    return Err(format!("{op}: {path}: {shape} has no member {part}"));
                };
                let items = self.items(el, part, m);
                if items.is_empty() {
                    return Ok(false);
                }
                next.extend(items);
            }
            level = next;
        }
        Ok(!level.is_empty())
    }

    /// The elements holding member `name` (`m`) of `el`: one for a scalar
    /// or structure, one per item for a list; with each one's shape.
    fn items(&self, el: &Element, name: &str, m: &Value) -> Vec<(Element, String)> {
        let shape_name = m["shape"].as_str().unwrap();
        let shape = self.shape(shape_name);
        if shape["type"] == "list" {
            let item_shape = shape["member"]["shape"].as_str().unwrap().to_string();
            if m["flattened"] == true || shape["flattened"] == true {
                let tag = shape["member"]["locationName"]
                    .as_str()
                    .or(m["locationName"].as_str())
                    .unwrap_or(name);
                return el
                    .children
                    .iter()
                    .filter(|c| c.name == tag)
                    .map(|c| (c.clone(), item_shape.clone()))
                    .collect();
            }
            let tag = m["locationName"].as_str().unwrap_or(name);
            let item_tag = shape["member"]["locationName"].as_str().unwrap_or("member");
            return el
                .children
                .iter()
                .filter(|c| c.name == tag)
                .flat_map(|c| c.children.iter().filter(|i| i.name == item_tag))
                .map(|c| (c.clone(), item_shape.clone()))
                .collect();
        }
        let tag = m["locationName"].as_str().unwrap_or(name);
        el.children
            .iter()
            .filter(|c| c.name == tag)
            .map(|c| (c.clone(), shape_name.to_string()))
            .collect()
    }

    /// Every child of `el` a member of `shape_name`, of its type; required
    /// members present.
    fn walk(&mut self, op: &str, el: &Element, shape_name: &str, at: &str) {
        let shape = self.shape(shape_name);
        let members = shape["members"].as_object().cloned().unwrap_or_default();
        let mut seen = std::collections::BTreeSet::new();
        for (name, m) in &members {
            if m["location"].is_string() {
                continue;
            }
            for (item, item_shape) in self.items(el, name, m) {
                seen.insert(item.name.clone());
                let s = self.shape(&item_shape);
                match s["type"].as_str() {
                    Some("structure") => {
                        self.walk(op, &item, &item_shape, &format!("{at}/{}", item.name))
                    }
                    Some("list") | Some("map") => self.fail(
                        op,
                        format!("{at}/{}: nested lists are not checked", item.name),
                    ),
                    _ => {
                        if !item.children.is_empty() {
                            self.fail(
                                op,
                                format!(
                                    "{at}/{}: elements inside a {} member",
                                    item.name, s["type"]
                                ),
                            );
                        } else if let Err(e) = scalar_ok(&s, &item.text, false) {
                            self.fail(op, format!("{at}/{}: {e}", item.name));
                        }
                    }
                }
            }
            // A list's wrapper element counts as seen even when empty.
            if self.shape(m["shape"].as_str().unwrap())["type"] == "list" {
                seen.insert(m["locationName"].as_str().unwrap_or(name).to_string());
            }
        }
        for c in &el.children {
            if !seen.contains(&c.name) {
                self.fail(op, format!("{at}/{} is no member of {shape_name}", c.name));
            }
        }
        for r in shape["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if self.items(el, r, &members[r]).is_empty() {
                self.fail(op, format!("{at}: required member {r} missing"));
            }
        }
    }
}

/// Whether `text` is a value of the scalar `shape` (in a header when
/// `header`: timestamps are HTTP dates there, ISO 8601 in XML).
fn scalar_ok(shape: &Value, text: &str, header: bool) -> Result<(), String> {
    match shape["type"].as_str().unwrap_or("") {
        "string" => match shape["enum"].as_array() {
            Some(values) if !text.is_empty() && !values.iter().any(|v| v == text) => {
                Err(format!("{text:?} is not one of {values:?}"))
            }
            _ => Ok(()),
        },
        "integer" | "long" => text
            .parse::<i64>()
            .map(drop)
            .map_err(|_| format!("{text:?} is not an integer")),
        "boolean" => match text {
            "true" | "false" => Ok(()),
            _ => Err(format!("{text:?} is not true or false")),
        },
        "timestamp" => {
            let ok = if header || shape["timestampFormat"] == "rfc822" {
                chrono::DateTime::parse_from_rfc2822(text).is_ok()
            } else {
                chrono::DateTime::parse_from_rfc3339(text).is_ok()
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{text:?} is not a timestamp"))
            }
        }
        "blob" => Ok(()),
        other => Err(format!("unexpected scalar type {other}")),
    }
}

#[tokio::test]
async fn every_operation_answers_as_s3_writes_it() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let capture = Capture::default();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .interceptor(capture.clone())
            .build(),
    );
    let mut c = Checker::new();
    let b = "shapes";

    s3.create_bucket().bucket(b).send().await.unwrap();
    c.check("CreateBucket", &capture.last(), &["Location"], &[]);

    s3.head_bucket().bucket(b).send().await.unwrap();
    c.check(
        "HeadBucket",
        &capture.last(),
        &["BucketRegion", "AccessPointAlias"],
        &["BucketLocationType", "BucketLocationName"],
    );

    s3.get_bucket_location().bucket(b).send().await.unwrap();
    c.check("GetBucketLocation", &capture.last(), &[], &[]);

    s3.list_buckets().send().await.unwrap();
    c.check(
        "ListBuckets",
        &capture.last(),
        &[
            "Owner.ID",
            "Owner.DisplayName",
            "Buckets.Name",
            "Buckets.CreationDate",
            "Buckets.BucketRegion",
        ],
        &["ContinuationToken"],
    );

    // PutObject: the SDK sends a CRC32, which S3 keeps and answers.
    for key in ["a.txt", "dir/b.txt", "z.txt"] {
        s3.put_object()
            .bucket(b)
            .key(key)
            .content_type("text/plain")
            .body(ByteStream::from_static(b"hello shapes"))
            .send()
            .await
            .unwrap();
    }
    c.check(
        "PutObject",
        &capture.last(),
        &[
            "ETag",
            "ServerSideEncryption",
            "ChecksumCRC32",
            "ChecksumType",
        ],
        &["Size", "VersionId"],
    );

    let got = s3
        .get_object()
        .bucket(b)
        .key("a.txt")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let wire = capture.last();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"hello shapes"
    );
    let object_headers = [
        "AcceptRanges",
        "LastModified",
        "ContentLength",
        "ETag",
        "ContentType",
        "ServerSideEncryption",
    ];
    let with_checksum: Vec<&str> = object_headers
        .iter()
        .copied()
        .chain(["ChecksumCRC32", "ChecksumType"])
        .collect();
    c.check("GetObject", &wire, &with_checksum, &["VersionId"]);

    s3.get_object()
        .bucket(b)
        .key("a.txt")
        .range("bytes=0-4")
        .send()
        .await
        .unwrap();
    let ranged: Vec<&str> = object_headers
        .iter()
        .copied()
        .chain(["ContentRange"])
        .collect();
    c.check("GetObject", &capture.last(), &ranged, &["ChecksumCRC32"]);

    s3.head_object()
        .bucket(b)
        .key("a.txt")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    c.check(
        "HeadObject",
        &capture.last(),
        &with_checksum,
        &["VersionId"],
    );

    let entry = [
        "Contents.Key",
        "Contents.LastModified",
        "Contents.ETag",
        "Contents.Size",
        "Contents.StorageClass",
        "Contents.ChecksumAlgorithm",
        "Contents.ChecksumType",
    ];
    let page1 = s3
        .list_objects_v2()
        .bucket(b)
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    let mut must: Vec<&str> = vec![
        "Name",
        "Prefix",
        "Delimiter",
        "MaxKeys",
        "KeyCount",
        "IsTruncated",
        "NextContinuationToken",
    ];
    must.extend(entry);
    c.check("ListObjectsV2", &capture.last(), &must, &["Contents.Owner"]);
    s3.list_objects_v2()
        .bucket(b)
        .delimiter("/")
        .continuation_token(page1.next_continuation_token().unwrap())
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    c.check(
        "ListObjectsV2",
        &capture.last(),
        &[
            "Name",
            "ContinuationToken",
            "KeyCount",
            "IsTruncated",
            "CommonPrefixes.Prefix",
            "Contents.Key",
            "Contents.Owner.ID",
        ],
        &["NextContinuationToken"],
    );

    s3.list_objects().bucket(b).send().await.unwrap();
    let mut must: Vec<&str> = vec![
        "Name",
        "Prefix",
        "Marker",
        "MaxKeys",
        "IsTruncated",
        "Contents.Owner.ID",
    ];
    must.extend(entry);
    c.check("ListObjects", &capture.last(), &must, &["NextMarker"]);

    s3.copy_object()
        .bucket(b)
        .key("copy.txt")
        .copy_source(format!("{b}/a.txt"))
        .send()
        .await
        .unwrap();
    c.check(
        "CopyObject",
        &capture.last(),
        &[
            "CopyObjectResult.ETag",
            "CopyObjectResult.LastModified",
            "ServerSideEncryption",
        ],
        &["VersionId", "CopySourceVersionId"],
    );

    // Multipart: create, two parts (one copied), list, complete; and an
    // aborted upload.
    let upload = s3
        .create_multipart_upload()
        .bucket(b)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    c.check(
        "CreateMultipartUpload",
        &capture.last(),
        &["Bucket", "Key", "UploadId", "ServerSideEncryption"],
        &[],
    );
    let id = upload.upload_id().unwrap();
    let part1 = s3
        .upload_part()
        .bucket(b)
        .key("big.bin")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(vec![7u8; 5 * 1024 * 1024]))
        .send()
        .await
        .unwrap();
    c.check(
        "UploadPart",
        &capture.last(),
        &["ETag", "ServerSideEncryption", "ChecksumCRC32"],
        &[],
    );
    let part2 = s3
        .upload_part_copy()
        .bucket(b)
        .key("big.bin")
        .upload_id(id)
        .part_number(2)
        .copy_source(format!("{b}/a.txt"))
        .send()
        .await
        .unwrap();
    c.check(
        "UploadPartCopy",
        &capture.last(),
        &[
            "CopyPartResult.ETag",
            "CopyPartResult.LastModified",
            "ServerSideEncryption",
        ],
        &["CopySourceVersionId"],
    );
    s3.list_parts()
        .bucket(b)
        .key("big.bin")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    c.check(
        "ListParts",
        &capture.last(),
        &[
            "Bucket",
            "Key",
            "UploadId",
            "PartNumberMarker",
            "NextPartNumberMarker",
            "MaxParts",
            "IsTruncated",
            "Parts.PartNumber",
            "Parts.LastModified",
            "Parts.ETag",
            "Parts.Size",
            "Initiator.ID",
            "Owner.ID",
            "StorageClass",
        ],
        &[],
    );
    s3.complete_multipart_upload()
        .bucket(b)
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(part2.copy_part_result().and_then(|r| r.e_tag()).unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.check(
        "CompleteMultipartUpload",
        &capture.last(),
        &["Location", "Bucket", "Key", "ETag", "ServerSideEncryption"],
        &["VersionId"],
    );
    let doomed = s3
        .create_multipart_upload()
        .bucket(b)
        .key("doomed.bin")
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload()
        .bucket(b)
        .key("doomed.bin")
        .upload_id(doomed.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    c.check("AbortMultipartUpload", &capture.last(), &[], &[]);

    s3.delete_object()
        .bucket(b)
        .key("copy.txt")
        .send()
        .await
        .unwrap();
    c.check(
        "DeleteObject",
        &capture.last(),
        &[],
        &["DeleteMarker", "VersionId"],
    );

    let mut delete = Delete::builder();
    for key in ["a.txt", "dir/b.txt", "z.txt", "big.bin"] {
        delete = delete.objects(ObjectIdentifier::builder().key(key).build().unwrap());
    }
    s3.delete_objects()
        .bucket(b)
        .delete(delete.build().unwrap())
        .send()
        .await
        .unwrap();
    c.check(
        "DeleteObjects",
        &capture.last(),
        &["Deleted.Key"],
        &["Errors"],
    );

    s3.delete_bucket().bucket(b).send().await.unwrap();
    c.check("DeleteBucket", &capture.last(), &[], &[]);

    // Every operation of the model file was exercised.
    let all: Vec<String> = c.model["operations"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let unchecked: Vec<&String> = all.iter().filter(|o| !c.checked.contains(*o)).collect();
    assert!(
        unchecked.is_empty(),
        "operations never checked: {unchecked:?}"
    );
    assert!(
        c.problems.is_empty(),
        "{} deviations from S3:\n{}",
        c.problems.len(),
        c.problems.join("\n")
    );
}

/// An error answer as S3 writes it: `status`, `<Error>` with exactly
/// `Code`, `Message`, the elements of `names` (resource the error names,
/// with their text) and `RequestId`/`HostId` equal to the headers.
fn check_error(
    c: &mut Checker,
    op: &str,
    wire: &Wire,
    status: u16,
    code: &str,
    names: &[(&str, &str)],
) {
    let what = format!("{op} {code}");
    if wire.status != status {
        c.fail(&what, format!("status {} instead of {status}", wire.status));
    }
    let body = String::from_utf8_lossy(wire.body.as_deref().unwrap_or_default()).into_owned();
    let root = match parse_xml(&body) {
        Ok(root) if root.name == "Error" => root,
        other => return c.fail(&what, format!("not an <Error>: {other:?} {body}")),
    };
    let mut want: Vec<(&str, Option<&str>)> = vec![("Code", Some(code)), ("Message", None)];
    want.extend(names.iter().map(|(n, v)| (*n, Some(*v))));
    want.push(("RequestId", wire.header("x-amz-request-id")));
    want.push(("HostId", wire.header("x-amz-id-2")));
    let got: Vec<&str> = root.children.iter().map(|e| e.name.as_str()).collect();
    let names_only: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
    if got != names_only {
        c.fail(&what, format!("elements {got:?} instead of {names_only:?}"));
    }
    for (name, value) in want {
        match (root.child(name), value) {
            (None, _) => {}
            (Some(e), Some(v)) if e.text != v => {
                c.fail(&what, format!("<{name}> {:?} instead of {v:?}", e.text))
            }
            (Some(e), None) if e.text.is_empty() => c.fail(&what, format!("empty <{name}>")),
            _ => {}
        }
    }
}

#[tokio::test]
async fn errors_and_encoded_listings_are_as_s3_writes_them() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let capture = Capture::default();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .interceptor(capture.clone())
            .build(),
    );
    let mut c = Checker::new();
    let b = "errors";
    s3.create_bucket().bucket(b).send().await.unwrap();

    let key = "dir/no such key+&.txt";
    s3.get_object().bucket(b).key(key).send().await.unwrap_err();
    check_error(
        &mut c,
        "GetObject",
        &capture.last(),
        404,
        "NoSuchKey",
        &[("Key", key)],
    );
    s3.list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    check_error(
        &mut c,
        "ListObjectsV2",
        &capture.last(),
        404,
        "NoSuchBucket",
        &[("BucketName", "no-such-bucket")],
    );
    let id = "0a1b2c3d-0000-4000-8000-000000000000";
    s3.list_parts()
        .bucket(b)
        .key("k")
        .upload_id(id)
        .send()
        .await
        .unwrap_err();
    check_error(
        &mut c,
        "ListParts",
        &capture.last(),
        404,
        "NoSuchUpload",
        &[("UploadId", id)],
    );
    s3.put_object()
        .bucket(b)
        .key("once")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(b)
        .key("once")
        .if_none_match("*")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap_err();
    check_error(
        &mut c,
        "PutObject",
        &capture.last(),
        412,
        "PreconditionFailed",
        &[],
    );
    // A part whose checksum does not match its bytes is refused.
    let upload = s3
        .create_multipart_upload()
        .bucket(b)
        .key("mp")
        .send()
        .await
        .unwrap();
    let e = s3
        .upload_part()
        .bucket(b)
        .key("mp")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap_err();
    check_error(&mut c, "UploadPart", &capture.last(), 400, "BadDigest", &[]);
    assert!(format!("{e:?}").contains("BadDigest"), "{e:?}");

    // encoding-type=url (what the AWS CLI asks for): keys and prefixes
    // URL-encoded, `EncodingType` echoed; they decode to the real names.
    let odd = "sp ace/a+b%c&d.txt";
    s3.put_object()
        .bucket(b)
        .key(odd)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    s3.list_objects_v2()
        .bucket(b)
        .prefix("sp ace/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    let wire = capture.last();
    c.check(
        "ListObjectsV2",
        &wire,
        &["EncodingType", "Prefix", "Contents.Key"],
        &[],
    );
    let root = parse_xml(std::str::from_utf8(wire.body.as_deref().unwrap()).unwrap()).unwrap();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .unwrap()
            .into_owned()
    };
    let listed = &root.child("Contents").unwrap().child("Key").unwrap().text;
    assert!(!listed.contains(' ') && !listed.contains('+'), "{listed}");
    assert_eq!(decode(listed), odd, "{listed}");
    assert_eq!(decode(&root.child("Prefix").unwrap().text), "sp ace/");
    s3.list_objects()
        .bucket(b)
        .prefix("sp ace/")
        .marker("sp ace/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    let wire = capture.last();
    c.check(
        "ListObjects",
        &wire,
        &["EncodingType", "Prefix", "Marker", "Contents.Key"],
        &[],
    );
    let root = parse_xml(std::str::from_utf8(wire.body.as_deref().unwrap()).unwrap()).unwrap();
    assert_eq!(decode(&root.child("Marker").unwrap().text), "sp ace/");
    assert_eq!(
        decode(&root.child("Contents").unwrap().child("Key").unwrap().text),
        odd
    );
    assert!(
        c.problems.is_empty(),
        "{} deviations from S3:\n{}",
        c.problems.len(),
        c.problems.join("\n")
    );
}

/// The checker itself finds what it should: an unknown element, a wrong
/// type, a missing member S3 writes, an unmodelled header.
#[test]
fn the_checker_catches_deviations() {
    let mut c = Checker::new();
    let wire = Wire {
        status: 200,
        headers: vec![("x-amz-bogus".into(), "1".into())],
        body: Some(
            b"<ListBucketResult><Name>b</Name><KeyCount>many</KeyCount><Extra/><Contents><Key>k</Key></Contents></ListBucketResult>"
                .to_vec(),
        ),
    };
    c.check("ListObjectsV2", &wire, &["Contents.ETag", "Name"], &[]);
    let all = c.problems.join("\n");
    for want in ["x-amz-bogus", "KeyCount", "Extra", "Contents.ETag missing"] {
        assert!(all.contains(want), "{want} not reported in:\n{all}");
    }
    assert!(!all.contains("Name missing"), "{all}");
}
