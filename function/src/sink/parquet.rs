//! Typed Parquet: one Arrow schema per record type and a streaming part writer.
//!
//! Timestamps are `Timestamp(Millisecond, UTC)`, scores `Float64`, flags
//! `Boolean`, string lists `List<Utf8>`, and the nested objects
//! (`deactivateMetadata`, `scanners`) structured columns, so Athena, DuckDB
//! and pyarrow can query them without parsing JSON strings.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, StructArray,
    TimestampMillisecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::vanta::model::{Remediation, Scanner, Text, Timestamp, Vulnerability, VulnerableAsset};

/// Version of the column layout, recorded in every manifest.
pub const SCHEMA_VERSION: u32 = 1;

/// A record type that has a Parquet schema.
pub trait ParquetRecord: Sized {
    /// The Arrow schema of this record type's files.
    fn schema() -> SchemaRef;
    /// Converts records into one batch of [`Self::schema`].
    fn to_batch(records: &[Self]) -> Result<RecordBatch, parquet::errors::ParquetError>;
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

/// A string column, its buffers sized once (collecting grows the values
/// buffer from 1 KiB by doubling, a copy of the column's text each time).
fn strings<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> ArrayRef {
    let bytes = values.clone().map(|v| v.map_or(0, str::len)).sum();
    let mut b = StringBuilder::with_capacity(values.size_hint().0, bytes);
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn timestamps(values: impl Iterator<Item = Option<Timestamp>>) -> ArrayRef {
    Arc::new(
        values
            .map(|t| t.map(|t| t.timestamp_millis()))
            .collect::<TimestampMillisecondArray>()
            .with_timezone("UTC"),
    )
}

fn floats(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

fn bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(values.collect::<BooleanArray>())
}

fn string_lists<'a, 'b: 'a>(
    values: impl Iterator<Item = Option<&'a Vec<Text<'b>>>> + Clone,
) -> ArrayRef {
    let (items, bytes) = values.clone().flatten().fold((0, 0), |(n, b), v| {
        (n + v.len(), b + v.iter().map(|s| s.len()).sum::<usize>())
    });
    let mut b = ListBuilder::with_capacity(
        StringBuilder::with_capacity(items, bytes),
        values.size_hint().0,
    );
    for v in values {
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
    Arc::new(b.finish())
}

/// A list column of structs, built from each row's optional slice of items.
fn struct_list<T>(
    rows: &[Option<&Vec<T>>],
    fields: Fields,
    columns: impl Fn(&[&T]) -> Vec<ArrayRef>,
) -> Result<ArrayRef, parquet::errors::ParquetError> {
    let items: Vec<&T> = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|v| v.iter()))
        .collect();
    let values = StructArray::try_new(fields.clone(), columns(&items), None)
        .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))?;
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.map_or(0, |v| v.len())));
    let nulls = NullBuffer::from(rows.iter().map(|r| r.is_some()).collect::<Vec<_>>());
    let list = ListArray::try_new(
        list_item(DataType::Struct(fields)),
        offsets,
        Arc::new(values),
        Some(nulls),
    )
    .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))?;
    Ok(Arc::new(list))
}

/// The value of `cell`, built by `build` the first time only: the schemas
/// and their nested field lists are a few dozen allocations, and every
/// page's batch names them.
fn built_once<T: Clone>(cell: &'static OnceLock<T>, build: impl FnOnce() -> T) -> T {
    cell.get_or_init(build).clone()
}

fn batch(
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<RecordBatch, parquet::errors::ParquetError> {
    RecordBatch::try_new(schema, columns)
        .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))
}

impl ParquetRecord for Vulnerability<'_> {
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

    fn to_batch(r: &[Self]) -> Result<RecordBatch, parquet::errors::ParquetError> {
        let dm: Vec<_> = r.iter().map(|v| v.deactivate_metadata.as_ref()).collect();
        let deactivate = StructArray::try_new(
            deactivate_fields(),
            vec![
                bools(
                    dm.iter()
                        .map(|d| d.and_then(|d| d.is_vuln_deactivated_indefinitely)),
                ),
                timestamps(dm.iter().map(|d| d.and_then(|d| d.deactivated_until_date))),
                strings(
                    dm.iter()
                        .map(|d| d.and_then(|d| d.deactivation_reason.as_deref())),
                ),
                timestamps(dm.iter().map(|d| d.and_then(|d| d.deactivated_on_date))),
                strings(
                    dm.iter()
                        .map(|d| d.and_then(|d| d.deactivated_by.as_deref())),
                ),
            ],
            Some(NullBuffer::from(
                dm.iter().map(|d| d.is_some()).collect::<Vec<_>>(),
            )),
        )
        .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))?;
        batch(
            Self::schema(),
            vec![
                strings(r.iter().map(|v| Some(&*v.id))),
                strings(r.iter().map(|v| v.name.as_deref())),
                strings(r.iter().map(|v| v.description.as_deref())),
                strings(r.iter().map(|v| v.integration_id.as_deref())),
                strings(r.iter().map(|v| v.package_identifier.as_deref())),
                strings(r.iter().map(|v| v.vulnerability_type.as_deref())),
                strings(r.iter().map(|v| v.target_id.as_deref())),
                timestamps(r.iter().map(|v| v.first_detected_date)),
                timestamps(r.iter().map(|v| v.source_detected_date)),
                timestamps(r.iter().map(|v| v.last_detected_date)),
                strings(r.iter().map(|v| v.severity.as_deref())),
                floats(r.iter().map(|v| v.cvss_severity_score)),
                floats(r.iter().map(|v| v.scanner_score)),
                bools(r.iter().map(|v| v.is_fixable)),
                strings(r.iter().map(|v| v.fixed_version.as_deref())),
                timestamps(r.iter().map(|v| v.remediate_by_date)),
                string_lists(r.iter().map(|v| v.related_vulns.as_ref())),
                string_lists(r.iter().map(|v| v.related_urls.as_ref())),
                strings(r.iter().map(|v| v.external_url.as_deref())),
                strings(r.iter().map(|v| v.scan_source.as_deref())),
                Arc::new(deactivate),
            ],
        )
    }
}

impl ParquetRecord for Remediation<'_> {
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

    fn to_batch(r: &[Self]) -> Result<RecordBatch, parquet::errors::ParquetError> {
        batch(
            Self::schema(),
            vec![
                strings(r.iter().map(|v| Some(&*v.id))),
                strings(r.iter().map(|v| v.vulnerability_id.as_deref())),
                strings(r.iter().map(|v| v.vulnerable_asset_id.as_deref())),
                strings(r.iter().map(|v| v.severity.as_deref())),
                timestamps(r.iter().map(|v| v.detected_date)),
                timestamps(r.iter().map(|v| v.sla_deadline_date)),
                timestamps(r.iter().map(|v| v.remediation_date)),
            ],
        )
    }
}

fn scanner_columns(s: &[&Scanner<'_>]) -> Vec<ArrayRef> {
    let tags: Vec<_> = s.iter().map(|x| x.asset_tags.as_ref()).collect();
    let asset_tags = struct_list(&tags, asset_tag_fields(), |t| {
        vec![
            strings(t.iter().map(|x| x.key.as_deref())),
            strings(t.iter().map(|x| x.value.as_deref())),
        ]
    })
    // Both child columns are built from the same items, so lengths agree.
    .expect("asset tag columns have equal lengths");
    vec![
        strings(s.iter().map(|x| x.resource_id.as_deref())),
        strings(s.iter().map(|x| x.integration_id.as_deref())),
        strings(s.iter().map(|x| x.image_digest.as_deref())),
        timestamps(s.iter().map(|x| x.image_pushed_at_date)),
        string_lists(s.iter().map(|x| x.image_tags.as_ref())),
        asset_tags,
        strings(
            s.iter()
                .map(|x| x.parent_account_or_organization.as_deref()),
        ),
        strings(s.iter().map(|x| x.bios_uuid.as_deref())),
        string_lists(s.iter().map(|x| x.ipv4s.as_ref())),
        string_lists(s.iter().map(|x| x.ipv6s.as_ref())),
        string_lists(s.iter().map(|x| x.mac_addresses.as_ref())),
        string_lists(s.iter().map(|x| x.hostnames.as_ref())),
        string_lists(s.iter().map(|x| x.fqdns.as_ref())),
        string_lists(s.iter().map(|x| x.operating_systems.as_ref())),
        strings(s.iter().map(|x| x.target_id.as_deref())),
    ]
}

impl ParquetRecord for VulnerableAsset<'_> {
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

    fn to_batch(r: &[Self]) -> Result<RecordBatch, parquet::errors::ParquetError> {
        let scanners: Vec<_> = r.iter().map(|a| a.scanners.as_ref()).collect();
        batch(
            Self::schema(),
            vec![
                strings(r.iter().map(|v| Some(&*v.id))),
                strings(r.iter().map(|v| v.name.as_deref())),
                strings(r.iter().map(|v| v.asset_type.as_deref())),
                bools(r.iter().map(|v| v.has_been_scanned)),
                strings(r.iter().map(|v| v.image_scan_tag.as_deref())),
                struct_list(&scanners, scanner_fields(), scanner_columns)?,
            ],
        )
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

/// One Parquet file being written; encoded bytes are drained as they appear
/// so the caller can stream them to S3 instead of holding the file.
pub struct PartWriter {
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
}

impl PartWriter {
    /// Starts a snappy-compressed file of `schema` whose row groups hold at
    /// most `rows_per_row_group` rows.
    pub fn new(
        schema: SchemaRef,
        rows_per_row_group: usize,
    ) -> Result<Self, parquet::errors::ParquetError> {
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
            .set_max_row_group_row_count(Some(rows_per_row_group.max(1)))
            .set_created_by(concat!("vanta-vuln-sync ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        Ok(Self {
            writer: ArrowWriter::try_new(Vec::with_capacity(1 << 16), schema, Some(props))?,
            rows: 0,
        })
    }

    /// Appends a batch; a full row group is encoded and moves to the output.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), parquet::errors::ParquetError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch)
    }

    /// Closes the current row group (if it has rows).
    pub fn flush_row_group(&mut self) -> Result<(), parquet::errors::ParquetError> {
        self.writer.flush()
    }

    /// Encoded bytes produced since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        // Draining (never writing) the sink keeps the writer's offsets valid.
        std::mem::take(self.writer.inner_mut())
    }

    /// Bytes of this file produced so far (drained or not), plus the open row group.
    pub fn size(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and returns its remaining bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        self.writer.finish()?;
        Ok(std::mem::take(self.writer.inner_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::ColumnChunkMetaData;
    use serde::Deserialize;
    use serde_json::json;

    fn roundtrip<R: ParquetRecord>(records: &[R]) -> Vec<RecordBatch> {
        let mut w = PartWriter::new(R::schema(), 2).unwrap();
        let mut out = Vec::new();
        w.write(&R::to_batch(records).unwrap()).unwrap();
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
    }

    /// The column chunks of the first row group of a file of `records`, as
    /// the parquet reader reads them from the footer.
    fn written_columns(records: &[Vulnerability]) -> Vec<ColumnChunkMetaData> {
        let mut w = PartWriter::new(Vulnerability::schema(), 10).unwrap();
        w.write(&Vulnerability::to_batch(records).unwrap()).unwrap();
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
