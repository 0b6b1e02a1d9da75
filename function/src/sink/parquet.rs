//! Typed Parquet: one Arrow schema per record type and a streaming part writer.
//!
//! Timestamps are `Timestamp(Millisecond, UTC)`, scores `Float64`, flags
//! `Boolean`, string lists `List<Utf8>`, and the nested objects
//! (`deactivateMetadata`, `scanners`) structured columns, so Athena, DuckDB
//! and pyarrow can query them without parsing JSON strings.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, ListBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::vanta::model::{Remediation, Scanner, Text, Timestamp, Vulnerability, VulnerableAsset};

/// Version of the column layout, recorded in every manifest.
pub const SCHEMA_VERSION: u32 = 1;

/// Rows buffered in a part's Arrow builders before the Parquet writer
/// encodes them: the writer's work per call (levels, page bookkeeping, one
/// call per column) was paid for every page of 100 records; once per this
/// many rows it is paid a tenth as often (9 % of the function's CPU in a
/// sync). The caller may encode sooner ([`PartWriter::encode_buffered`]).
pub const BATCH_ROWS: usize = 1024;

/// The Arrow builders one record type's rows are appended to.
pub trait Columns: Default + Send {
    /// The Arrow schema of the batches (and the files).
    fn schema() -> SchemaRef;
    /// Rows appended since the last [`Columns::finish`].
    fn rows(&self) -> usize;
    /// The rows appended so far as one batch; the builders start over empty.
    fn finish(&mut self) -> Result<RecordBatch, ParquetError>;
}

/// A record type that has a Parquet schema.
pub trait ParquetRecord: Sized {
    /// The builders its rows are appended to.
    type Columns: Columns;
    /// The Arrow schema of this record type's files.
    fn schema() -> SchemaRef {
        Self::Columns::schema()
    }
    /// Appends one record as a row.
    fn append(columns: &mut Self::Columns, record: &Self);
    /// Converts records into one batch of [`Self::schema`].
    fn to_batch(records: &[Self]) -> Result<RecordBatch, ParquetError> {
        let mut columns = Self::Columns::default();
        for r in records {
            Self::append(&mut columns, r);
        }
        columns.finish()
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn ts(name: &str) -> Field {
    Field::new(name, ts_type(), true)
}

fn list_item(dt: DataType) -> FieldRef {
    Arc::new(Field::new("item", dt, true))
}

fn str_list(name: &str) -> Field {
    Field::new(name, DataType::List(list_item(DataType::Utf8)), true)
}

fn deactivate_fields() -> Fields {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    built_once(&FIELDS, || {
        Fields::from(vec![
            Field::new("isVulnDeactivatedIndefinitely", DataType::Boolean, true),
            ts("deactivatedUntilDate"),
            utf8("deactivationReason"),
            ts("deactivatedOnDate"),
            utf8("deactivatedBy"),
        ])
    })
}

fn asset_tag_fields() -> Fields {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    built_once(&FIELDS, || Fields::from(vec![utf8("key"), utf8("value")]))
}

fn scanner_fields() -> Fields {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    built_once(&FIELDS, || {
        Fields::from(vec![
            utf8("resourceId"),
            utf8("integrationId"),
            utf8("imageDigest"),
            ts("imagePushedAtDate"),
            str_list("imageTags"),
            Field::new(
                "assetTags",
                DataType::List(list_item(DataType::Struct(asset_tag_fields()))),
                true,
            ),
            utf8("parentAccountOrOrganization"),
            utf8("biosUuid"),
            str_list("ipv4s"),
            str_list("ipv6s"),
            str_list("macAddresses"),
            str_list("hostnames"),
            str_list("fqdns"),
            str_list("operatingSystems"),
            utf8("targetId"),
        ])
    })
}

/// The value of `cell`, built by `build` the first time only: the schemas
/// and their nested field lists are a few dozen allocations, and every
/// batch names them.
fn built_once<T: Clone>(cell: &'static OnceLock<T>, build: impl FnOnce() -> T) -> T {
    cell.get_or_init(build).clone()
}

fn general(e: arrow_schema::ArrowError) -> ParquetError {
    ParquetError::General(e.to_string())
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, ParquetError> {
    RecordBatch::try_new(schema, columns).map_err(general)
}

fn text(b: &mut StringBuilder, v: Option<&Text<'_>>) {
    b.append_option(v.map(|t| &**t));
}

fn time(b: &mut TimestampMillisecondBuilder, v: Option<Timestamp>) {
    b.append_option(v.map(Timestamp::timestamp_millis));
}

fn text_list(b: &mut ListBuilder<StringBuilder>, v: Option<&Vec<Text<'_>>>) {
    match v {
        Some(items) => {
            for s in items {
                b.values().append_value(&**s);
            }
            b.append(true);
        }
        None => b.append(false),
    }
}

fn strings(b: &mut StringBuilder) -> ArrayRef {
    Arc::new(b.finish())
}

fn times(b: &mut TimestampMillisecondBuilder) -> ArrayRef {
    Arc::new(b.finish().with_timezone("UTC"))
}

fn lists(b: &mut ListBuilder<StringBuilder>) -> ArrayRef {
    Arc::new(b.finish())
}

/// Which rows of a struct or list column are present (`None`: all are).
fn nulls(valid: &mut Vec<bool>) -> Option<NullBuffer> {
    let valid = std::mem::take(valid);
    valid.iter().any(|v| !v).then(|| NullBuffer::from(valid))
}

/// The builders of `vulnerabilities` files.
#[derive(Default)]
pub struct VulnerabilityColumns {
    id: StringBuilder,
    name: StringBuilder,
    description: StringBuilder,
    integration_id: StringBuilder,
    package_identifier: StringBuilder,
    vulnerability_type: StringBuilder,
    target_id: StringBuilder,
    first_detected_date: TimestampMillisecondBuilder,
    source_detected_date: TimestampMillisecondBuilder,
    last_detected_date: TimestampMillisecondBuilder,
    severity: StringBuilder,
    cvss_severity_score: Float64Builder,
    scanner_score: Float64Builder,
    is_fixable: BooleanBuilder,
    fixed_version: StringBuilder,
    remediate_by_date: TimestampMillisecondBuilder,
    related_vulns: ListBuilder<StringBuilder>,
    related_urls: ListBuilder<StringBuilder>,
    external_url: StringBuilder,
    scan_source: StringBuilder,
    deactivated: Vec<bool>,
    deactivated_indefinitely: BooleanBuilder,
    deactivated_until_date: TimestampMillisecondBuilder,
    deactivation_reason: StringBuilder,
    deactivated_on_date: TimestampMillisecondBuilder,
    deactivated_by: StringBuilder,
}

impl Columns for VulnerabilityColumns {
    fn schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        built_once(&SCHEMA, || {
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                utf8("name"),
                utf8("description"),
                utf8("integrationId"),
                utf8("packageIdentifier"),
                utf8("vulnerabilityType"),
                utf8("targetId"),
                ts("firstDetectedDate"),
                ts("sourceDetectedDate"),
                ts("lastDetectedDate"),
                utf8("severity"),
                Field::new("cvssSeverityScore", DataType::Float64, true),
                Field::new("scannerScore", DataType::Float64, true),
                Field::new("isFixable", DataType::Boolean, true),
                utf8("fixedVersion"),
                ts("remediateByDate"),
                str_list("relatedVulns"),
                str_list("relatedUrls"),
                utf8("externalURL"),
                utf8("scanSource"),
                Field::new(
                    "deactivateMetadata",
                    DataType::Struct(deactivate_fields()),
                    true,
                ),
            ]))
        })
    }

    fn rows(&self) -> usize {
        self.id.len()
    }

    fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        let deactivate = StructArray::try_new(
            deactivate_fields(),
            vec![
                Arc::new(self.deactivated_indefinitely.finish()),
                times(&mut self.deactivated_until_date),
                strings(&mut self.deactivation_reason),
                times(&mut self.deactivated_on_date),
                strings(&mut self.deactivated_by),
            ],
            nulls(&mut self.deactivated),
        )
        .map_err(general)?;
        batch(
            Self::schema(),
            vec![
                strings(&mut self.id),
                strings(&mut self.name),
                strings(&mut self.description),
                strings(&mut self.integration_id),
                strings(&mut self.package_identifier),
                strings(&mut self.vulnerability_type),
                strings(&mut self.target_id),
                times(&mut self.first_detected_date),
                times(&mut self.source_detected_date),
                times(&mut self.last_detected_date),
                strings(&mut self.severity),
                Arc::new(self.cvss_severity_score.finish()),
                Arc::new(self.scanner_score.finish()),
                Arc::new(self.is_fixable.finish()),
                strings(&mut self.fixed_version),
                times(&mut self.remediate_by_date),
                lists(&mut self.related_vulns),
                lists(&mut self.related_urls),
                strings(&mut self.external_url),
                strings(&mut self.scan_source),
                Arc::new(deactivate),
            ],
        )
    }
}

impl ParquetRecord for Vulnerability<'_> {
    type Columns = VulnerabilityColumns;

    fn append(c: &mut VulnerabilityColumns, v: &Self) {
        c.id.append_value(&*v.id);
        text(&mut c.name, v.name.as_ref());
        text(&mut c.description, v.description.as_ref());
        text(&mut c.integration_id, v.integration_id.as_ref());
        text(&mut c.package_identifier, v.package_identifier.as_ref());
        text(&mut c.vulnerability_type, v.vulnerability_type.as_ref());
        text(&mut c.target_id, v.target_id.as_ref());
        time(&mut c.first_detected_date, v.first_detected_date);
        time(&mut c.source_detected_date, v.source_detected_date);
        time(&mut c.last_detected_date, v.last_detected_date);
        text(&mut c.severity, v.severity.as_ref());
        c.cvss_severity_score.append_option(v.cvss_severity_score);
        c.scanner_score.append_option(v.scanner_score);
        c.is_fixable.append_option(v.is_fixable);
        text(&mut c.fixed_version, v.fixed_version.as_ref());
        time(&mut c.remediate_by_date, v.remediate_by_date);
        text_list(&mut c.related_vulns, v.related_vulns.as_ref());
        text_list(&mut c.related_urls, v.related_urls.as_ref());
        text(&mut c.external_url, v.external_url.as_ref());
        text(&mut c.scan_source, v.scan_source.as_ref());
        let d = v.deactivate_metadata.as_ref();
        c.deactivated.push(d.is_some());
        c.deactivated_indefinitely
            .append_option(d.and_then(|d| d.is_vuln_deactivated_indefinitely));
        time(
            &mut c.deactivated_until_date,
            d.and_then(|d| d.deactivated_until_date),
        );
        text(
            &mut c.deactivation_reason,
            d.and_then(|d| d.deactivation_reason.as_ref()),
        );
        time(
            &mut c.deactivated_on_date,
            d.and_then(|d| d.deactivated_on_date),
        );
        text(
            &mut c.deactivated_by,
            d.and_then(|d| d.deactivated_by.as_ref()),
        );
    }
}

/// The builders of `remediations` files.
#[derive(Default)]
pub struct RemediationColumns {
    id: StringBuilder,
    vulnerability_id: StringBuilder,
    vulnerable_asset_id: StringBuilder,
    severity: StringBuilder,
    detected_date: TimestampMillisecondBuilder,
    sla_deadline_date: TimestampMillisecondBuilder,
    remediation_date: TimestampMillisecondBuilder,
}

impl Columns for RemediationColumns {
    fn schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        built_once(&SCHEMA, || {
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                utf8("vulnerabilityId"),
                utf8("vulnerableAssetId"),
                utf8("severity"),
                ts("detectedDate"),
                ts("slaDeadlineDate"),
                ts("remediationDate"),
            ]))
        })
    }

    fn rows(&self) -> usize {
        self.id.len()
    }

    fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        batch(
            Self::schema(),
            vec![
                strings(&mut self.id),
                strings(&mut self.vulnerability_id),
                strings(&mut self.vulnerable_asset_id),
                strings(&mut self.severity),
                times(&mut self.detected_date),
                times(&mut self.sla_deadline_date),
                times(&mut self.remediation_date),
            ],
        )
    }
}

impl ParquetRecord for Remediation<'_> {
    type Columns = RemediationColumns;

    fn append(c: &mut RemediationColumns, r: &Self) {
        c.id.append_value(&*r.id);
        text(&mut c.vulnerability_id, r.vulnerability_id.as_ref());
        text(&mut c.vulnerable_asset_id, r.vulnerable_asset_id.as_ref());
        text(&mut c.severity, r.severity.as_ref());
        time(&mut c.detected_date, r.detected_date);
        time(&mut c.sla_deadline_date, r.sla_deadline_date);
        time(&mut c.remediation_date, r.remediation_date);
    }
}

/// The builders of an asset's `scanners` list: one struct item per scanner.
#[derive(Default)]
struct ScannerColumns {
    /// Scanners per asset, and whether the asset's list was present.
    lengths: Vec<usize>,
    present: Vec<bool>,
    resource_id: StringBuilder,
    integration_id: StringBuilder,
    image_digest: StringBuilder,
    image_pushed_at_date: TimestampMillisecondBuilder,
    image_tags: ListBuilder<StringBuilder>,
    /// Tags per scanner, whether its list was present, and the tags.
    tag_lengths: Vec<usize>,
    tags_present: Vec<bool>,
    tag_key: StringBuilder,
    tag_value: StringBuilder,
    parent_account_or_organization: StringBuilder,
    bios_uuid: StringBuilder,
    ipv4s: ListBuilder<StringBuilder>,
    ipv6s: ListBuilder<StringBuilder>,
    mac_addresses: ListBuilder<StringBuilder>,
    hostnames: ListBuilder<StringBuilder>,
    fqdns: ListBuilder<StringBuilder>,
    operating_systems: ListBuilder<StringBuilder>,
    target_id: StringBuilder,
}

/// A list column of structs from each row's item count, presence and the
/// items' columns.
fn struct_list(
    fields: Fields,
    lengths: &mut Vec<usize>,
    present: &mut Vec<bool>,
    columns: Vec<ArrayRef>,
) -> Result<ArrayRef, ParquetError> {
    let values = StructArray::try_new(fields.clone(), columns, None).map_err(general)?;
    let offsets = OffsetBuffer::from_lengths(std::mem::take(lengths));
    let list = ListArray::try_new(
        list_item(DataType::Struct(fields)),
        offsets,
        Arc::new(values),
        nulls(present),
    )
    .map_err(general)?;
    Ok(Arc::new(list))
}

impl ScannerColumns {
    fn append(&mut self, scanners: Option<&Vec<Scanner<'_>>>) {
        self.present.push(scanners.is_some());
        self.lengths.push(scanners.map_or(0, Vec::len));
        for s in scanners.into_iter().flatten() {
            text(&mut self.resource_id, s.resource_id.as_ref());
            text(&mut self.integration_id, s.integration_id.as_ref());
            text(&mut self.image_digest, s.image_digest.as_ref());
            time(&mut self.image_pushed_at_date, s.image_pushed_at_date);
            text_list(&mut self.image_tags, s.image_tags.as_ref());
            let tags = s.asset_tags.as_ref();
            self.tags_present.push(tags.is_some());
            self.tag_lengths.push(tags.map_or(0, Vec::len));
            for t in tags.into_iter().flatten() {
                text(&mut self.tag_key, t.key.as_ref());
                text(&mut self.tag_value, t.value.as_ref());
            }
            text(
                &mut self.parent_account_or_organization,
                s.parent_account_or_organization.as_ref(),
            );
            text(&mut self.bios_uuid, s.bios_uuid.as_ref());
            text_list(&mut self.ipv4s, s.ipv4s.as_ref());
            text_list(&mut self.ipv6s, s.ipv6s.as_ref());
            text_list(&mut self.mac_addresses, s.mac_addresses.as_ref());
            text_list(&mut self.hostnames, s.hostnames.as_ref());
            text_list(&mut self.fqdns, s.fqdns.as_ref());
            text_list(&mut self.operating_systems, s.operating_systems.as_ref());
            text(&mut self.target_id, s.target_id.as_ref());
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ParquetError> {
        let asset_tags = struct_list(
            asset_tag_fields(),
            &mut self.tag_lengths,
            &mut self.tags_present,
            vec![strings(&mut self.tag_key), strings(&mut self.tag_value)],
        )?;
        let columns = vec![
            strings(&mut self.resource_id),
            strings(&mut self.integration_id),
            strings(&mut self.image_digest),
            times(&mut self.image_pushed_at_date),
            lists(&mut self.image_tags),
            asset_tags,
            strings(&mut self.parent_account_or_organization),
            strings(&mut self.bios_uuid),
            lists(&mut self.ipv4s),
            lists(&mut self.ipv6s),
            lists(&mut self.mac_addresses),
            lists(&mut self.hostnames),
            lists(&mut self.fqdns),
            lists(&mut self.operating_systems),
            strings(&mut self.target_id),
        ];
        struct_list(
            scanner_fields(),
            &mut self.lengths,
            &mut self.present,
            columns,
        )
    }
}

/// The builders of `vulnerable_assets` files.
#[derive(Default)]
pub struct AssetColumns {
    id: StringBuilder,
    name: StringBuilder,
    asset_type: StringBuilder,
    has_been_scanned: BooleanBuilder,
    image_scan_tag: StringBuilder,
    scanners: ScannerColumns,
}

impl Columns for AssetColumns {
    fn schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        built_once(&SCHEMA, || {
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                utf8("name"),
                utf8("assetType"),
                Field::new("hasBeenScanned", DataType::Boolean, true),
                utf8("imageScanTag"),
                Field::new(
                    "scanners",
                    DataType::List(list_item(DataType::Struct(scanner_fields()))),
                    true,
                ),
            ]))
        })
    }

    fn rows(&self) -> usize {
        self.id.len()
    }

    fn finish(&mut self) -> Result<RecordBatch, ParquetError> {
        let scanners = self.scanners.finish()?;
        batch(
            Self::schema(),
            vec![
                strings(&mut self.id),
                strings(&mut self.name),
                strings(&mut self.asset_type),
                Arc::new(self.has_been_scanned.finish()),
                strings(&mut self.image_scan_tag),
                scanners,
            ],
        )
    }
}

impl ParquetRecord for VulnerableAsset<'_> {
    type Columns = AssetColumns;

    fn append(c: &mut AssetColumns, a: &Self) {
        c.id.append_value(&*a.id);
        text(&mut c.name, a.name.as_ref());
        text(&mut c.asset_type, a.asset_type.as_ref());
        c.has_been_scanned.append_option(a.has_been_scanned);
        text(&mut c.image_scan_tag, a.image_scan_tag.as_ref());
        c.scanners.append(a.scanners.as_ref());
    }
}

/// Top-level string columns with a handful of distinct values (enums,
/// integrations, asset types), the only ones dictionary-encoded.
const LOW_CARDINALITY_COLUMNS: &[&str] = &[
    "severity",
    "vulnerabilityType",
    "integrationId",
    "scanSource",
    "assetType",
    "imageScanTag",
];

/// Top-level columns a query filters by range: timestamps, scores and
/// flags. These and the low-cardinality strings are the only columns with
/// statistics (min, max and null count per page and per column chunk, the
/// page index readers skip pages with). Ids, names, free text, URLs and the
/// nested columns carry none: their values are scattered across every row
/// group, so a min and max would let no reader skip anything, and computing
/// them (a string comparison per value) was about a tenth of the function's
/// CPU in a sync.
const RANGE_COLUMNS: &[&str] = &[
    "firstDetectedDate",
    "sourceDetectedDate",
    "lastDetectedDate",
    "remediateByDate",
    "detectedDate",
    "slaDeadlineDate",
    "remediationDate",
    "cvssSeverityScore",
    "scannerScore",
    "isFixable",
    "hasBeenScanned",
];

/// The data page size the writer aims for. Pages of 128 KiB keep the
/// encoder's and the compressor's buffers under glibc's mmap threshold
/// (`main`), so they are reused from the heap instead of being mapped and
/// faulted in afresh for every page (1 MiB pages cost 41,000 page faults
/// in a sync of 160,000 records). Snappy compresses in 64 KiB blocks, so
/// the files are no larger.
const DATA_PAGE_BYTES: usize = 128 * 1024;

/// One Parquet file being written: rows are buffered in Arrow builders
/// ([`BATCH_ROWS`] at a time) and encoded bytes are drained as they appear,
/// so the caller can stream them to S3 instead of holding the file.
pub struct PartWriter<C> {
    writer: ArrowWriter<Vec<u8>>,
    columns: C,
    batch_rows: usize,
    rows: u64,
}

impl<C: Columns> PartWriter<C> {
    /// Starts a snappy-compressed file whose row groups hold at most
    /// `rows_per_row_group` rows.
    pub fn new(rows_per_row_group: usize) -> Result<Self, ParquetError> {
        let rows_per_row_group = rows_per_row_group.max(1);
        let mut props = WriterProperties::builder()
            // Dictionary encoding pays only for columns with few distinct
            // values; on ids, names, descriptions, URLs and timestamps it
            // hashed every value for nothing (a fifth of the function's
            // CPU in a sync, measured with perf).
            .set_dictionary_enabled(false);
        for column in LOW_CARDINALITY_COLUMNS {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*column), true);
        }
        props = props.set_statistics_enabled(EnabledStatistics::None);
        for column in RANGE_COLUMNS.iter().chain(LOW_CARDINALITY_COLUMNS) {
            props = props
                .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::Page);
        }
        let props = props
            .set_compression(Compression::SNAPPY)
            .set_data_page_size_limit(DATA_PAGE_BYTES)
            .set_max_row_group_row_count(Some(rows_per_row_group))
            .set_created_by(concat!("vanta-vuln-sync ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        Ok(Self {
            writer: ArrowWriter::try_new(Vec::with_capacity(1 << 16), C::schema(), Some(props))?,
            columns: C::default(),
            batch_rows: BATCH_ROWS.min(rows_per_row_group),
            rows: 0,
        })
    }

    /// Appends records; once [`BATCH_ROWS`] (or a row group's rows) are
    /// buffered they are encoded, and a full row group moves to the output.
    pub fn append<R: ParquetRecord<Columns = C>>(
        &mut self,
        records: &[R],
    ) -> Result<(), ParquetError> {
        for r in records {
            R::append(&mut self.columns, r);
        }
        self.rows += records.len() as u64;
        if self.columns.rows() >= self.batch_rows {
            self.encode_buffered()?;
        }
        Ok(())
    }

    /// Hands the buffered rows to the Parquet writer now (a full row group
    /// moves to the output).
    pub fn encode_buffered(&mut self) -> Result<(), ParquetError> {
        if self.columns.rows() > 0 {
            let batch = self.columns.finish()?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Encoded bytes produced since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        // Draining (never writing) the sink keeps the writer's offsets valid.
        std::mem::take(self.writer.inner_mut())
    }

    /// Bytes of this file encoded so far (drained or not), plus the open row
    /// group; rows still buffered (fewer than [`BATCH_ROWS`]) are not counted.
    pub fn size(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Rows appended.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and returns its remaining bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        self.encode_buffered()?;
        self.writer.finish()?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, TimestampMillisecondArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::ColumnChunkMetaData;
    use serde::Deserialize;
    use serde_json::json;

    fn roundtrip<R: ParquetRecord>(records: &[R]) -> Vec<RecordBatch> {
        let mut w = PartWriter::<R::Columns>::new(2).unwrap();
        let mut out = Vec::new();
        w.append(records).unwrap();
        out.extend(w.take_output());
        out.extend(w.finish().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out))
            .unwrap()
            .build()
            .unwrap();
        reader.map(|b| b.unwrap()).collect()
    }

    #[test]
    fn assets_with_nested_scanners_roundtrip() {
        let assets = Vec::<VulnerableAsset>::deserialize(json!([
            {"id": "a1", "assetType": "SERVER", "hasBeenScanned": true, "scanners": [
                {"resourceId": "r1", "assetTags": [{"key": "env", "value": "prod"}], "ipv4s": ["10.0.0.1"]},
                {"resourceId": "r2", "assetTags": null}
            ]},
            {"id": "a2", "scanners": null},
            {"id": "a3", "scanners": []}
        ]))
        .unwrap();
        let batches = roundtrip(&assets);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 3);
        assert_eq!(batches[0].schema(), VulnerableAsset::schema());
        let scanners = batches[0]
            .column_by_name("scanners")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!(scanners.value_length(0), 2);
        assert!(scanners.is_null(1));
        assert!(scanners.is_valid(2) && scanners.value_length(2) == 0);
        // The nested tag lists: one tag on the first scanner, none (null)
        // on the second.
        let items = scanners
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .unwrap();
        let tags = items
            .column_by_name("assetTags")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!(tags.len(), 2);
        assert!(tags.is_valid(0) && tags.is_null(1));
        let tag = tags.value(0);
        let tag = tag.as_any().downcast_ref::<StructArray>().unwrap();
        let text = |name: &str| {
            let c = tag.column_by_name(name).unwrap();
            c.as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap()
                .value(0)
                .to_owned()
        };
        assert_eq!(
            (text("key"), text("value")),
            ("env".to_owned(), "prod".to_owned())
        );
        let ipv4s = items.column_by_name("ipv4s").unwrap();
        assert!(ipv4s.is_valid(0) && ipv4s.is_null(1));
    }

    #[test]
    fn rows_buffered_across_pages_reach_the_file_in_order() {
        let ids: Vec<String> = (0..2_500).map(|i| format!("r{i:04}")).collect();
        let records: Vec<Remediation> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Remediation {
                id: Text::from(id.as_str()),
                vulnerability_id: (i % 3 == 0).then(|| Text::from("v")),
                vulnerable_asset_id: None,
                severity: Some(Text::from("LOW")),
                detected_date: Some(Timestamp::from_millis(i as i64)),
                sla_deadline_date: None,
                remediation_date: None,
            })
            .collect();
        let mut w = PartWriter::<RemediationColumns>::new(1_000).unwrap();
        let mut out = Vec::new();
        for page in records.chunks(100) {
            w.append(page).unwrap();
            out.extend(w.take_output());
        }
        assert_eq!(w.rows(), 2_500);
        // The last 500 rows are still buffered (fewer than a batch):
        // finishing the file encodes them.
        out.extend(w.finish().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [1_000, 1_000, 500]);
        let mut read = Vec::new();
        let mut detected = Vec::new();
        let mut with_vulnerability = 0;
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            let id = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            read.extend(id.iter().map(|v| v.unwrap().to_owned()));
            with_vulnerability += b.column(1).len() - b.column(1).null_count();
            let d = b
                .column(4)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            detected.extend(d.values().iter().copied());
        }
        assert_eq!(read, ids);
        assert_eq!(detected, (0..2_500).collect::<Vec<i64>>());
        assert_eq!(with_vulnerability, 834);
    }

    /// The column chunks of the first row group of a file of `records`, as
    /// the parquet reader reads them from the footer.
    fn written_columns(records: &[Vulnerability]) -> Vec<ColumnChunkMetaData> {
        let mut w = PartWriter::<VulnerabilityColumns>::new(10).unwrap();
        w.append(records).unwrap();
        let mut out = w.take_output();
        out.extend(w.finish().unwrap());
        let reader =
            parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        meta.row_group(0).columns().to_vec()
    }

    fn column<'a>(columns: &'a [ColumnChunkMetaData], name: &str) -> &'a ColumnChunkMetaData {
        columns
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    #[test]
    fn only_low_cardinality_columns_are_dictionary_encoded() {
        let v = Vec::<Vulnerability>::deserialize(json!([
            {"id": "v1", "severity": "HIGH", "description": "a"},
            {"id": "v2", "severity": "HIGH", "description": "b"}
        ]))
        .unwrap();
        let columns = written_columns(&v);
        let dictionary = |name: &str| column(&columns, name).dictionary_page_offset().is_some();
        assert!(dictionary("severity"));
        assert!(!dictionary("id"));
        assert!(!dictionary("description"));
    }

    #[test]
    fn only_filter_columns_carry_statistics() {
        let v = Vec::<Vulnerability>::deserialize(json!([
            {"id": "v1", "severity": "HIGH", "description": "a",
             "firstDetectedDate": "2024-01-17T15:26:43.534Z", "cvssSeverityScore": 9.8},
            {"id": "v2", "severity": "LOW", "description": "b",
             "firstDetectedDate": "2024-02-17T15:26:43.534Z", "cvssSeverityScore": 1.5}
        ]))
        .unwrap();
        let columns = written_columns(&v);
        let stats = |name: &str| column(&columns, name).statistics().cloned();
        match stats("firstDetectedDate") {
            Some(parquet::file::statistics::Statistics::Int64(s)) => {
                assert!(s.min_opt() < s.max_opt(), "{s:?}");
            }
            other => panic!("firstDetectedDate statistics: {other:?}"),
        }
        assert!(stats("cvssSeverityScore").is_some());
        assert!(stats("severity").is_some());
        assert!(stats("id").is_none());
        assert!(stats("description").is_none());
    }

    #[test]
    fn every_statistics_and_dictionary_column_is_a_column() {
        let names: Vec<String> = [
            Vulnerability::schema(),
            Remediation::schema(),
            VulnerableAsset::schema(),
        ]
        .iter()
        .flat_map(|s| {
            s.fields()
                .iter()
                .map(|f| f.name().clone())
                .collect::<Vec<_>>()
        })
        .collect();
        for column in RANGE_COLUMNS.iter().chain(LOW_CARDINALITY_COLUMNS) {
            assert!(
                names.iter().any(|n| n == column),
                "{column} is no top-level column of any schema"
            );
        }
    }

    #[test]
    fn vulnerability_types_are_typed() {
        let v = Vec::<Vulnerability>::deserialize(json!([
            {"id": "v1", "cvssSeverityScore": 9.8, "isFixable": true,
             "remediateByDate": "2024-01-17T15:26:43.534Z", "relatedVulns": ["CVE-1"],
             "deactivateMetadata": {"isVulnDeactivatedIndefinitely": true, "deactivatedBy": "me"}},
            {"id": "v2"}
        ]))
        .unwrap();
        let batches = roundtrip(&v);
        let b = &batches[0];
        assert_eq!(
            b.schema()
                .field_with_name("remediateByDate")
                .unwrap()
                .data_type(),
            &ts_type()
        );
        let due = b
            .column_by_name("remediateByDate")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(due.value(0), 1_705_505_203_534);
        let dm = b.column_by_name("deactivateMetadata").unwrap();
        assert!(dm.is_valid(0) && dm.is_null(1));
    }
}
