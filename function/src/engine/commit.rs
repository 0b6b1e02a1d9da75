//! The commit protocol: fencing a step against its duplicates, committing a
//! snapshot (stats, manifest), publishing it (symlink files, `latest.json`).

use super::*;

impl Engine {
    /// Whether the step that resumes `cp` was already taken: the run has
    /// committed (`already-complete`, after moving `latest.json` forward if a
    /// crash left it behind, or finishing a commit a crash cut short), or
    /// another execution wrote the next checkpoint (`duplicate`; if that
    /// execution may have died before invoking its continuation, it is
    /// invoked here, which is safe because every step is fenced).
    pub(super) async fn settled(
        &self,
        cp: &Checkpoint,
        continuer: &Continuer,
        started: Instant,
    ) -> Result<Option<SyncOutcome>, SyncError> {
        let manifest_key = manifest_key(&cp.run_prefix);
        if let Some((bytes, _)) = self.bucket.get_tagged(&manifest_key).await? {
            let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| {
                SyncError::Internal(format!("{manifest_key} is not valid JSON: {e}"))
            })?;
            self.publish(&manifest, &manifest_key).await?;
            tracing::info!(run_id = %cp.run_id, manifest = %manifest_key, "the run has already committed its snapshot; nothing to do");
            return Ok(Some(self.settled_outcome(
                cp,
                Status::AlreadyComplete,
                started,
            )));
        }
        let next_key = checkpoint_key(&cp.run_prefix, cp.invocations + 1);
        let Some((bytes, _)) = self.bucket.get_tagged(&next_key).await? else {
            return Ok(None);
        };
        let next: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| SyncError::CheckpointInvalid {
                bucket: self.bucket.name().to_owned(),
                key: next_key.clone(),
                reason: e.to_string(),
            })?;
        if next.all_done() {
            tracing::info!(checkpoint = %next_key, "the run's final checkpoint exists; finishing its commit");
            self.commit(&next).await?;
            return Ok(Some(self.settled_outcome(
                &next,
                Status::AlreadyComplete,
                started,
            )));
        }
        if !self
            .bucket
            .exists(&continued_key(&cp.run_prefix, next.invocations))
            .await?
        {
            tracing::warn!(checkpoint = %next_key, "the next checkpoint exists but its continuation may never have been invoked; invoking it");
            self.continue_run(&next, continuer).await?;
        }
        tracing::warn!(checkpoint = %next_key, "another execution already took this step (a duplicate delivery or a replay); stopping without effect");
        Ok(Some(self.settled_outcome(
            &next,
            Status::Duplicate,
            started,
        )))
    }

    pub(super) fn settled_outcome(
        &self,
        cp: &Checkpoint,
        status: Status,
        started: Instant,
    ) -> SyncOutcome {
        SyncOutcome {
            status,
            run_id: cp.run_id.clone(),
            snapshot: Some(format!("s3://{}/{}", self.bucket.name(), cp.run_prefix)),
            dry_run: false,
            counts: cp.counts(),
            pages: cp.pages(),
            retries: cp.retries,
            rate_limited: cp.rate_limited,
            rate_limited_now: 0,
            duration_ms: started.elapsed().as_millis() as u64,
            statistics: cp.stats().headline(),
            checkpoint: None,
            invocation: cp.invocations,
            as_of: cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            fetched: Counts::default(),
            stored: 0,
            stats: cp.stats(),
        }
    }

    /// Makes a committed snapshot visible: the Athena tables' symlink files
    /// (one per dataset, listing exactly the manifest's files), then
    /// `latest.json`. Idempotent, so a replay finishes what a crash cut short.
    /// The three symlink files go up together: each is a round trip (20-50
    /// ms to S3) and none depends on another.
    async fn publish(&self, manifest: &Value, manifest_key: &str) -> Result<(), SyncError> {
        let run_prefix = manifest_key.trim_end_matches("_manifest.json");
        let files = manifest["files"].as_array().cloned().unwrap_or_default();
        let [vulnerabilities, remediations, assets] = [
            Vulnerability::ENDPOINT.dataset(),
            Remediation::ENDPOINT.dataset(),
            VulnerableAsset::ENDPOINT.dataset(),
        ]
        .map(|dataset| self.write_symlink(run_prefix, dataset, &files, manifest_key));
        tokio::try_join!(vulnerabilities, remediations, assets)?;
        self.advance_latest(manifest, manifest_key).await
    }

    /// Writes `dataset`'s symlink file, listing its files of `files`.
    async fn write_symlink(
        &self,
        run_prefix: &str,
        dataset: &str,
        files: &[Value],
        manifest_key: &str,
    ) -> Result<(), SyncError> {
        let mut body = String::new();
        for f in files.iter().filter(|f| f["dataset"] == dataset) {
            let key = f["key"].as_str().ok_or_else(|| {
                SyncError::Internal(format!("{manifest_key} lists a file without a key"))
            })?;
            body.push_str(&format!("s3://{}/{key}\n", self.bucket.name()));
        }
        let key = self.symlink_key(run_prefix, dataset);
        // Derived from the manifest alone: a second writer would write the
        // same bytes, so the first is kept.
        self.bucket
            .put_new(&key, body.into_bytes(), "text/plain")
            .await?;
        Ok(())
    }

    /// `<prefix>/symlinks/dt=…/run=…/<dataset>/symlink.txt`: the only object
    /// in the Athena table's partition location for that snapshot.
    fn symlink_key(&self, run_prefix: &str, dataset: &str) -> String {
        let snapshots = join_key(&self.prefix, "snapshots/");
        let run = run_prefix.strip_prefix(&snapshots).unwrap_or(run_prefix);
        join_key(
            &self.prefix,
            &format!("symlinks/{run}{dataset}/symlink.txt"),
        )
    }

    /// Moves `latest.json` to the snapshot of `manifest` if that snapshot is
    /// newer (by `asOf`, then start, then run id) than the one it names: compare-and-swap
    /// on its ETag, retried when another writer got in between, so it only
    /// ever moves forward.
    async fn advance_latest(&self, manifest: &Value, manifest_key: &str) -> Result<(), SyncError> {
        let latest = json!({
            "runId": manifest["runId"],
            "snapshot": manifest["snapshot"],
            "manifest": manifest_key,
            "asOf": manifest["asOf"],
            "startedAt": manifest["startedAt"],
            "completedAt": manifest["completedAt"],
            "counts": manifest["counts"],
        });
        let ours = latest_order(&latest).ok_or_else(|| {
            SyncError::Internal(format!("{manifest_key} has no valid asOf and runId"))
        })?;
        let key = join_key(&self.prefix, "latest.json");
        for _ in 0..20 {
            let written = match self.bucket.get_tagged(&key).await? {
                None => {
                    self.bucket
                        .put_new(&key, pretty(&latest), "application/json")
                        .await?
                }
                Some((bytes, etag)) => {
                    let current = serde_json::from_slice::<Value>(&bytes)
                        .ok()
                        .and_then(|v| latest_order(&v));
                    if let Some(current) = current.filter(|c| *c >= ours) {
                        if current != ours {
                            tracing::info!(latest_as_of = %current.0, latest_run = %current.2, "latest.json names a newer snapshot; left as it is");
                        }
                        return Ok(());
                    }
                    self.bucket
                        .put_if_match(&key, pretty(&latest), "application/json", &etag)
                        .await?
                }
            };
            if written {
                return Ok(());
            }
        }
        Err(SyncError::Internal(format!(
            "{key} kept changing under 20 compare-and-swap attempts"
        )))
    }
}

impl Engine {
    /// Parts are all written; now `stats.json`, `_manifest.json`, `latest.json`.
    /// Idempotent: every object is created only if absent, so a second
    /// commit of the same final checkpoint changes nothing.
    pub(super) async fn commit(&self, cp: &Checkpoint) -> Result<(), SyncError> {
        let stats_key = format!("{}stats.json", cp.run_prefix);
        let doc = cp.stats().document(cp.as_of);
        self.bucket
            .put_new(&stats_key, pretty(&doc), "application/json")
            .await?;

        let completed = Utc::now();
        let snapshot = format!("s3://{}/{}", self.bucket.name(), cp.run_prefix);
        let mut files = Vec::new();
        for (dataset, parts) in [
            ("vulnerabilities", &cp.vulnerabilities.parts),
            ("remediations", &cp.remediations.parts),
            ("vulnerable_assets", &cp.vulnerable_assets.parts),
        ] {
            for p in parts {
                files.push(json!({"dataset": dataset, "key": p.key, "sizeBytes": p.size_bytes, "rows": p.rows}));
            }
        }
        let manifest_key = manifest_key(&cp.run_prefix);
        let mut manifest = json!({
            "schemaVersion": SCHEMA_VERSION,
            "runId": cp.run_id,
            "snapshot": snapshot,
            "asOf": cp.as_of.to_rfc3339_opts(SecondsFormat::Millis, true),
            "startedAt": cp.started_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "completedAt": completed.to_rfc3339_opts(SecondsFormat::Millis, true),
            "invocations": cp.invocations,
            "counts": cp.counts(),
            "pages": cp.pages(),
            "retries": cp.retries,
            "rateLimited": cp.rate_limited,
            "stats": stats_key,
            "files": files,
        });
        // The commit point: once the manifest exists, the snapshot is
        // complete and none of its objects is written again.
        if !self
            .bucket
            .put_new(&manifest_key, pretty(&manifest), "application/json")
            .await?
        {
            tracing::info!(manifest = %manifest_key, "the snapshot was already committed; keeping its manifest");
            let bytes = self.bucket.get(&manifest_key).await?;
            manifest = serde_json::from_slice(&bytes).map_err(|e| {
                SyncError::Internal(format!("{manifest_key} is not valid JSON: {e}"))
            })?;
        }
        self.publish(&manifest, &manifest_key).await?;
        tracing::info!(snapshot = %snapshot, records = cp.counts().total(), "snapshot committed");
        Ok(())
    }

    /// A dataset with no records still gets one (empty) file, so readers of
    /// the folder see its schema.
    pub(super) async fn ensure_a_file<R: SyncRecord>(
        &self,
        parts: &mut Vec<PartFile>,
        run_prefix: &str,
        attempt: &str,
    ) -> Result<(), SyncError> {
        if !parts.is_empty() {
            return Ok(());
        }
        let dataset = R::ENDPOINT.dataset();
        let body = PartWriter::<R::Columns>::new(self.options.rows_per_row_group)
            .and_then(|w| w.finish())
            .map_err(|e| parquet_error(dataset, e))?;
        let key = part_key(run_prefix, dataset, 0, attempt);
        let size_bytes = body.len() as u64;
        let mut upload = self.bucket.upload(key.clone(), self.options.part_bytes);
        upload.write(body).await?;
        upload.finish().await?;
        parts.push(PartFile {
            key,
            size_bytes,
            rows: 0,
        });
        Ok(())
    }
}

/// `latest.json`'s order: its snapshot's `asOf`, then when its run started
/// (a rerun with the same `asOf` is newer), then its run id.
fn latest_order(v: &Value) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>, String)> {
    let time = |field: &str| {
        v[field]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    Some((
        time("asOf")?,
        time("startedAt"),
        v["runId"].as_str()?.to_owned(),
    ))
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}
