//! One stream: a fetcher task paging through Vanta (reading only each
//! page's cursor) ahead of a writer that decodes each page and encodes it
//! into Parquet part files on S3.

use std::sync::atomic::Ordering;

use super::*;

/// A record type the engine syncs: its endpoint, schema and statistics.
/// Implemented on the `'static` record type; a page decodes into
/// [`SyncRecord::Row`]s that borrow their strings from the page's body.
pub trait SyncRecord: ParquetRecord + Send + Sync + 'static {
    /// The record as decoded from a page body that lives for `'a`.
    type Row<'a>: Deserialize<'a> + ParquetRecord<Columns = Self::Columns> + Send + Sync;
    /// Its accumulator.
    type Stats: Default + Clone + Send + Sync + 'static;
    /// Where it is listed.
    const ENDPOINT: Endpoint;
    /// Counts one record.
    fn count(stats: &mut Self::Stats, record: &Self::Row<'_>, as_of: DateTime<Utc>);
}

impl SyncRecord for Vulnerability<'static> {
    type Row<'a> = Vulnerability<'a>;
    type Stats = VulnerabilityStats;
    const ENDPOINT: Endpoint = Endpoint::Vulnerabilities;
    fn count(stats: &mut Self::Stats, record: &Vulnerability<'_>, as_of: DateTime<Utc>) {
        stats.add(record, as_of);
    }
}

impl SyncRecord for Remediation<'static> {
    type Row<'a> = Remediation<'a>;
    type Stats = RemediationStats;
    const ENDPOINT: Endpoint = Endpoint::Remediations;
    fn count(stats: &mut Self::Stats, record: &Remediation<'_>, _: DateTime<Utc>) {
        stats.add(record);
    }
}

impl SyncRecord for VulnerableAsset<'static> {
    type Row<'a> = VulnerableAsset<'a>;
    type Stats = AssetStats;
    const ENDPOINT: Endpoint = Endpoint::VulnerableAssets;
    fn count(stats: &mut Self::Stats, record: &VulnerableAsset<'_>, _: DateTime<Utc>) {
        stats.add(record);
    }
}

pub(super) struct StreamCtx {
    pub(super) vanta: Arc<VantaClient>,
    /// `None` for a dry run.
    pub(super) bucket: Option<Bucket>,
    pub(super) run_prefix: String,
    /// This execution's token, part of every part file name it writes, so
    /// two executions of one step never write the same key.
    pub(super) attempt: String,
    pub(super) as_of: DateTime<Utc>,
    pub(super) options: SyncOptions,
    /// Until when a stream waits for its first page of this invocation
    /// (`None`: no deadline).
    pub(super) first_page_by: Option<Instant>,
    /// Set when the checkpoint margin is reached or another stream failed.
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    /// Streams running now (for [`Batching::WhileStreamsOverlap`]).
    pub(super) running: std::sync::atomic::AtomicUsize,
}

impl StreamCtx {
    /// Whether rows now go to the Parquet writer in batches.
    fn batching(&self) -> bool {
        match self.options.batching {
            Batching::Always => true,
            Batching::WhileStreamsOverlap => self.running.load(Ordering::Relaxed) > 1,
        }
    }
}

/// Counts a stream as running while it lives.
struct Running<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct OpenPart<C> {
    writer: PartWriter<C>,
    upload: Upload,
}

impl<C: Columns> OpenPart<C> {
    async fn finish(mut self, dataset: &'static str) -> Result<PartFile, SyncError> {
        let rows = self.writer.rows();
        let tail = match self.writer.finish() {
            Ok(t) => t,
            Err(e) => {
                self.upload.abort().await;
                return Err(parquet_error(dataset, e));
            }
        };
        let key = self.upload.key().to_owned();
        self.upload.write(tail).await?;
        let size_bytes = self.upload.finish().await?;
        Ok(PartFile {
            key,
            size_bytes,
            rows,
        })
    }
}

/// Why a fetcher task ended before sending its stream's last page: its panic
/// (with the message) or its cancellation.
async fn fetcher_died(dataset: &str, fetcher: &mut tokio::task::JoinHandle<()>) -> SyncError {
    let cause = match fetcher.await {
        Ok(()) => "it stopped before the last page".to_owned(),
        Err(e) if e.is_panic() => format!("it panicked: {}", panic_message(e.into_panic())),
        Err(e) => format!("it was cancelled: {e}"),
    };
    SyncError::Internal(format!("the {dataset} fetcher failed: {cause}"))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned())
}

/// Decodes a page's records (`Ok(Err)`: a malformed body). A panic while
/// decoding fails the stream like any other error (the other streams are
/// told to stop, the open upload is aborted) with its message.
fn decode<'a, R: SyncRecord>(
    dataset: &str,
    raw: &'a RawPage,
) -> Result<Result<Page<R::Row<'a>>, String>, SyncError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| raw.decode::<R::Row<'a>>())).map_err(
        |p| {
            SyncError::Internal(format!(
                "decoding a {dataset} page failed: it panicked: {}",
                panic_message(p)
            ))
        },
    )
}

/// A page whose cursor was read but whose records did not decode (a body
/// cut or garbled in its records): fetched again from the same cursor with
/// the client's retries, each answer checked to decode. The pages after it
/// were asked for with its cursor, so the new copy must carry the same one.
async fn refetch<R: SyncRecord>(
    ctx: &StreamCtx,
    state: &StreamState<R::Stats>,
    raw: &RawPage,
    what: &str,
) -> Result<Result<RawPage, VantaError>, SyncError> {
    tracing::warn!(
        endpoint = R::ENDPOINT.path(),
        error = what,
        "page did not decode; fetching it again"
    );
    ctx.vanta.note_retry();
    let page = match ctx
        .vanta
        .fetch_checked_page_by(
            R::ENDPOINT,
            state.cursor.as_deref(),
            ctx.first_page_by,
            |page| page.decode::<R::Row<'_>>().map(drop),
        )
        .await
    {
        Ok(page) => page,
        Err(e) => return Ok(Err(e)),
    };
    if page.end_cursor != raw.end_cursor || page.has_next_page != raw.has_next_page {
        return Err(SyncError::Protocol {
            endpoint: R::ENDPOINT.path(),
            reason: format!(
                "a page fetched again after a malformed answer ends at {:?} (has next: {}), the first answer at {:?} (has next: {})",
                page.end_cursor, page.has_next_page, raw.end_cursor, raw.has_next_page
            ),
        });
    }
    Ok(Ok(page))
}

/// What an invocation keeps, at the least, to write its checkpoint and
/// invoke the continuation after its streams stop.
pub(super) const CHECKPOINT_GRACE: Duration = Duration::from_secs(5);

/// Runs CPU-bound work (a page's decoding and encoding) off the async
/// worker on a multi-threaded runtime, so the fetchers' requests keep going
/// out from the other CPUs meanwhile; inline on a single-threaded one, which
/// the function runs on when it has one CPU or less (`crate::runtime`:
/// handing the work to another thread on the same CPU cost more than it
/// overlapped).
fn cpu_bound<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Logs that a stream stops to checkpoint, out of time waiting on Vanta.
fn checkpointing(dataset: &str, e: &VantaError) {
    tracing::warn!(dataset, error = %e, "out of time waiting on Vanta; checkpointing");
}

pub(super) fn parquet_error(dataset: &'static str, e: parquet::errors::ParquetError) -> SyncError {
    SyncError::Parquet {
        dataset,
        message: e.to_string(),
    }
}

/// What encoding a page left for the writer to do.
struct Encoded {
    rows: usize,
    has_next_page: bool,
    end_cursor: Option<String>,
    /// Parquet bytes the page completed, for the open part's upload.
    output: Vec<u8>,
}

/// One page's CPU work, with no waiting: decodes its records (their
/// strings borrowed from the body), checks its cursor, counts it into the
/// stream's statistics and encodes it into the open part file (opening one
/// when none is). `Ok(Err)`: the records do not decode; nothing changed.
fn encode_page<R: SyncRecord>(
    ctx: &StreamCtx,
    state: &mut StreamState<R::Stats>,
    file: &mut Option<OpenPart<R::Columns>>,
    raw: &RawPage,
) -> Result<Result<Encoded, String>, SyncError> {
    let dataset = R::ENDPOINT.dataset();
    let page = match decode::<R>(dataset, raw)? {
        Ok(page) => page,
        Err(what) => return Ok(Err(what)),
    };
    if page.has_next_page {
        match &page.end_cursor {
            None => {
                return Err(SyncError::Protocol {
                    endpoint: R::ENDPOINT.path(),
                    reason: "hasNextPage is true but endCursor is null".into(),
                })
            }
            Some(c) if state.cursor.as_ref() == Some(c) => {
                return Err(SyncError::Protocol {
                    endpoint: R::ENDPOINT.path(),
                    reason: format!("endCursor {c:?} repeats the cursor that was sent"),
                })
            }
            Some(_) => {}
        }
    }
    for r in &page.data {
        R::count(&mut state.stats, r, ctx.as_of);
    }
    let mut output = Vec::new();
    if let (Some(bucket), false) = (&ctx.bucket, page.data.is_empty()) {
        let open = match file {
            Some(open) => open,
            None => {
                let writer = PartWriter::new(ctx.options.rows_per_row_group)
                    .map_err(|e| parquet_error(dataset, e))?;
                let key = part_key(&ctx.run_prefix, dataset, state.parts.len(), &ctx.attempt);
                file.insert(OpenPart {
                    writer,
                    upload: bucket.upload(key, ctx.options.part_bytes),
                })
            }
        };
        open.writer
            .append(&page.data)
            .map_err(|e| parquet_error(dataset, e))?;
        if !ctx.batching() {
            open.writer
                .encode_buffered()
                .map_err(|e| parquet_error(dataset, e))?;
        }
        output = open.writer.take_output();
    }
    Ok(Ok(Encoded {
        rows: page.data.len(),
        has_next_page: page.has_next_page,
        end_cursor: page.end_cursor,
        output,
    }))
}

pub(super) async fn run_stream<R: SyncRecord>(
    ctx: Arc<StreamCtx>,
    mut state: StreamState<R::Stats>,
) -> Result<StreamState<R::Stats>, SyncError> {
    if state.done {
        return Ok(state);
    }
    let _running = Running::start(&ctx.running);
    let dataset = R::ENDPOINT.dataset();
    // The fetcher reads only each page's cursor and asks for the next page
    // at once; the records are decoded here, by the writer, so decoding one
    // page overlaps the request for the next.
    let (tx, mut rx) =
        mpsc::channel::<Result<RawPage, VantaError>>(ctx.options.prefetch_pages.max(1));
    let vanta = ctx.vanta.clone();
    let mut cursor = state.cursor.clone();
    // No wait of the fetcher's (token, pacing, backoff, Retry-After) runs
    // past the time this invocation keeps to checkpoint.
    let by = ctx.first_page_by;
    let mut fetcher = tokio::spawn(async move {
        loop {
            let page = vanta
                .fetch_raw_page_by(R::ENDPOINT, cursor.as_deref(), by)
                .await;
            let next = match &page {
                Ok(p) if p.has_next_page => p.end_cursor.clone(),
                _ => None,
            };
            if tx.send(page).await.is_err() || next.is_none() || next == cursor {
                return;
            }
            cursor = next;
        }
    });

    let mut file: Option<OpenPart<R::Columns>> = None;
    let result: Result<(), SyncError> = async {
        let mut stop = ctx.stop.subscribe();
        let mut wrote_a_page = false;
        loop {
            // Once this invocation has made progress, stop waiting for a page
            // (the fetcher may be in a long backoff) as soon as time is up:
            // the cursor still points after the last page written.
            let next = if wrote_a_page {
                tokio::select! {
                    biased;
                    page = rx.recv() => page,
                    _ = stop.wait_for(|s| *s) => break,
                }
            } else {
                // Before the first page, wait no longer than the invocation
                // has (less its grace to checkpoint): with nothing written,
                // the checkpoint's cursor is still this stream's.
                match ctx.first_page_by {
                    Some(by) => tokio::select! {
                        biased;
                        page = rx.recv() => page,
                        _ = tokio::time::sleep_until(by) => {
                            tracing::warn!(dataset, "no page before the invocation's deadline; checkpointing without one");
                            break;
                        }
                    },
                    None => rx.recv().await,
                }
            };
            let Some(page) = next else {
                // The fetcher sends every page up to the last (or an error),
                // so a closed channel before the last page means it died.
                return Err(fetcher_died(dataset, &mut fetcher).await);
            };
            // Out of time: the cursor still points after the last page
            // written, so the checkpoint resumes from there.
            let raw = match page {
                Err(e @ VantaError::Deadline { .. }) => {
                    checkpointing(dataset, &e);
                    break;
                }
                other => other?,
            };
            // One stretch of CPU work per page, off the async worker.
            let page = match cpu_bound(|| encode_page::<R>(&ctx, &mut state, &mut file, &raw))? {
                Ok(page) => page,
                Err(what) => {
                    let again = match refetch::<R>(&ctx, &state, &raw, &what).await? {
                        Err(e @ VantaError::Deadline { .. }) => {
                            checkpointing(dataset, &e);
                            break;
                        }
                        other => other?,
                    };
                    cpu_bound(|| encode_page::<R>(&ctx, &mut state, &mut file, &again))?.map_err(
                        |what| SyncError::Protocol {
                            endpoint: R::ENDPOINT.path(),
                            reason: format!("a page fetched again does not decode: {what}"),
                        },
                    )?
                }
            };
            let Encoded {
                rows,
                has_next_page,
                end_cursor,
                output,
            } = page;
            if let Some(open) = file.as_mut() {
                if !output.is_empty() {
                    open.upload.write(output).await?;
                }
                if open.writer.size() >= ctx.options.max_file_bytes {
                    let closed = file.take().expect("open").finish(dataset).await?;
                    state.parts.push(closed);
                }
            }
            state.records += rows as u64;
            state.pages += 1;
            if has_next_page {
                state.cursor = end_cursor;
            } else {
                state.cursor = None;
                state.done = true;
                break;
            }
            wrote_a_page = true;
            if *ctx.stop.borrow() {
                break;
            }
        }
        if let Some(open) = file.take() {
            state.parts.push(open.finish(dataset).await?);
        }
        tracing::debug!(
            dataset,
            pages = state.pages,
            records = state.records,
            parts = state.parts.len(),
            "stream finished"
        );
        Ok(())
    }
    .await;
    fetcher.abort();
    if let Err(e) = result {
        // Let the other streams wind down at their next page boundary.
        ctx.stop.send_replace(true);
        if let Some(open) = file.take() {
            open.upload.abort().await;
        }
        return Err(e);
    }
    Ok(state)
}

/// A task that is aborted when its handle is dropped.
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fetcher_panic_is_reported_with_its_message() {
        let mut task = tokio::spawn(async { panic!("boom at page 3") });
        let e = fetcher_died("vulnerabilities", &mut task).await;
        let msg = e.to_string();
        assert!(
            msg.contains("vulnerabilities fetcher failed: it panicked: boom at page 3"),
            "{msg}"
        );
        let mut task = tokio::spawn(async { panic!("{}", String::from("owned 7")) });
        let msg = fetcher_died("remediations", &mut task).await.to_string();
        assert!(msg.contains("it panicked: owned 7"), "{msg}");
    }

    #[test]
    fn rows_are_batched_while_streams_overlap_or_always() {
        let options = crate::vanta::ClientOptions::new(
            "http://127.0.0.1:9",
            crate::config::Credentials {
                client_id: "vci_mock".into(),
                client_secret: crate::config::Secret::new("vcs_mock"),
            },
        );
        let ctx = |batching| StreamCtx {
            vanta: Arc::new(VantaClient::new(options.clone()).unwrap()),
            bucket: None,
            run_prefix: String::new(),
            attempt: "t".into(),
            first_page_by: None,
            as_of: Utc::now(),
            options: SyncOptions {
                batching,
                ..SyncOptions::default()
            },
            stop: tokio::sync::watch::Sender::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
        };
        let overlap = ctx(Batching::WhileStreamsOverlap);
        let first = Running::start(&overlap.running);
        assert!(!overlap.batching(), "one stream alone: page by page");
        let second = Running::start(&overlap.running);
        assert!(overlap.batching(), "two streams: batched");
        drop(first);
        assert!(!overlap.batching(), "the other one ended");
        drop(second);
        assert_eq!(overlap.running.load(Ordering::Relaxed), 0);
        let always = ctx(Batching::Always);
        let _alone = Running::start(&always.running);
        assert!(always.batching());
    }

    /// A record whose parsing panics (the stream decodes the pages).
    struct Boom;

    impl<'de> Deserialize<'de> for Boom {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("cannot parse this record")
        }
    }

    impl ParquetRecord for Boom {
        type Columns = <Vulnerability<'static> as ParquetRecord>::Columns;
        fn append(_: &mut Self::Columns, _: &Self) {}
    }

    impl SyncRecord for Boom {
        type Row<'a> = Boom;
        type Stats = ();
        const ENDPOINT: Endpoint = Endpoint::Vulnerabilities;
        fn count(_: &mut (), _: &Boom, _: DateTime<Utc>) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_whose_decoding_panics_fails_with_the_cause() {
        let server = mock_vanta::Server::start(mock_vanta::Config::default())
            .await
            .unwrap();
        let mut options = crate::vanta::ClientOptions::new(
            server.base_url(),
            crate::config::Credentials {
                client_id: "vci_mock".into(),
                client_secret: crate::config::Secret::new("vcs_mock"),
            },
        );
        options.rate_limit_per_min = 0;
        let ctx = Arc::new(StreamCtx {
            vanta: Arc::new(VantaClient::new(options).unwrap()),
            bucket: None,
            run_prefix: String::new(),
            attempt: "t".into(),
            first_page_by: None,
            as_of: Utc::now(),
            options: SyncOptions::default(),
            stop: tokio::sync::watch::Sender::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
        });
        let state = StreamState::<()>::default();
        let e = run_stream::<Boom>(ctx.clone(), state).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(
                "decoding a vulnerabilities page failed: it panicked: cannot parse this record"
            ),
            "{msg}"
        );
        assert!(*ctx.stop.borrow(), "the other streams are told to stop");
        server.shutdown().await;
    }
}
