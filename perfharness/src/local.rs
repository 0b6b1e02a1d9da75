//! `--local`: mock-vanta and the AWS emulator started in-process, the
//! function's release binary built when missing or stale, the bucket and
//! the credentials secret created, and the function defined from
//! `template.yaml` — so the same drivers run against them through the SDK.

use std::path::{Path, PathBuf};

use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::options::CommonArgs;

/// Name of the reference no-op function (the emulator's fixture) every
/// local stack defines beside the template's functions.
pub const REFERENCE_FUNCTION: &str = "perfharness-reference";

/// Bucket and secret names the template's defaults use.
const BUCKET: &str = "vanta-vuln-data";
const SECRET: &str = "vanta-api-credentials";

/// The running local stack.
pub struct LocalStack {
    mock: mock_vanta::ServerHandle,
    emulator: emulator::EmulatorHandle,
    /// Functions the emulator serves.
    pub functions: Vec<String>,
    /// mock-vanta's base URL.
    pub vanta_url: String,
    /// The CPUs execution environments run on, apart from this process
    /// (`None`: every CPU shared).
    pub function_cpus: Option<Vec<usize>>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("functions", &self.functions)
            .field("vanta_url", &self.vanta_url)
            .finish_non_exhaustive()
    }
}

/// The repository's workspace root, found by walking up from the working
/// directory to a `Cargo.toml` with `[workspace]` next to `template.yaml`
/// (nothing is baked in at compile time, so an installed binary works from
/// any directory of a checkout). Outside one: a usage error saying so.
pub fn workspace_root() -> Result<PathBuf, HarnessError> {
    let cwd = std::env::current_dir()
        .map_err(|e| HarnessError::Usage(format!("cannot read the working directory: {e}")))?;
    find_workspace(&cwd).ok_or_else(|| {
        HarnessError::Usage(format!(
            "--local needs a vanta-vuln-sync checkout: no Cargo.toml with [workspace] beside template.yaml in {} or above (cd into the repository)",
            cwd.display()
        ))
    })
}

/// The first directory from `dir` upwards holding the workspace's
/// `Cargo.toml` (with `[workspace]`) and `template.yaml`.
pub fn find_workspace(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            d.join("template.yaml").is_file()
                && std::fs::read_to_string(d.join("Cargo.toml"))
                    .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// When the newest file that can change `dir`'s binary was modified:
/// everything below it but `target`, `tests`, `benches` and Markdown (no
/// crate of the workspace includes a document in its code; counting them made
/// an edited README mark the function stale, so every `--local` run, and
/// every test that starts one, called cargo again).
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let p = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n != "target" && n != "tests" && n != "benches")
                {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "md") {
                continue;
            } else if let Ok(m) = meta.modified() {
                newest = newest.max(Some(m));
            }
        }
    }
    newest
}

fn is_fresh(binary: &Path, package_dir: &Path, root: &Path) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return false;
    };
    let lock = std::fs::metadata(root.join("Cargo.lock"))
        .and_then(|m| m.modified())
        .ok();
    match newest_source(package_dir) {
        Some(src) => src <= built && lock.is_none_or(|l| l <= built),
        None => false,
    }
}

/// A release binary the local stack runs: `bin` of cargo package `package`,
/// whose sources are in `dir` (relative to the workspace root).
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    pub package: &'static str,
    pub dir: &'static str,
    pub bin: &'static str,
}

/// The function under test.
pub const FUNCTION_BINARY: Binary = Binary {
    package: "vanta-vuln-sync",
    dir: "function",
    bin: "vanta-vuln-sync",
};

/// The reference no-op function (the emulator's fixture).
pub const FIXTURE_BINARY: Binary = Binary {
    package: "lambda-fixture",
    dir: "lambda-fixture",
    bin: "lambda-fixture",
};

/// mock-vanta served as a Lambda function (the benchmark stack's mock).
pub const MOCK_VANTA_LAMBDA_BINARY: Binary = Binary {
    package: "mock-vanta",
    dir: "mock-vanta",
    bin: "mock-vanta-lambda",
};

/// The harness itself, for tests that run it as a user would.
pub const PERFHARNESS_BINARY: Binary = Binary {
    package: "perfharness",
    dir: "perfharness",
    bin: "perfharness",
};

/// Returns the path of the release binary `binary`, building it with cargo
/// when it is missing or older than its sources; see [`ensure_binaries`].
pub async fn ensure_binary(binary: Binary) -> Result<PathBuf, HarnessError> {
    let mut paths = ensure_binaries(&[binary]).await?;
    Ok(paths.remove(0))
}

/// Returns the paths of the release binaries `binaries`, in order. Those
/// missing or older than their sources are built with one `cargo build
/// --release` whose progress is shown on stderr (the workspace aligns its
/// dependency features, so this compiles only the project's own crates
/// after any other release build). Without cargo, existing binaries are
/// used as they are.
pub async fn ensure_binaries(binaries: &[Binary]) -> Result<Vec<PathBuf>, HarnessError> {
    let root = workspace_root()?;
    let release = target_dir(&root).join("release");
    let paths: Vec<PathBuf> = binaries.iter().map(|b| release.join(b.bin)).collect();
    let stale: Vec<&Binary> = binaries
        .iter()
        .zip(&paths)
        .filter(|(b, path)| !is_fresh(path, &root.join(b.dir), &root))
        .map(|(b, _)| b)
        .collect();
    if stale.is_empty() {
        return Ok(paths);
    }
    let mut args: Vec<&str> = vec!["build", "--release"];
    for b in &stale {
        args.extend(["-p", b.package, "--bin", b.bin]);
    }
    let command = format!("cargo {}", args.join(" "));
    let names: Vec<&str> = stale.iter().map(|b| b.bin).collect();
    eprintln!(
        "perfharness: building {} ({command}) in {}",
        names.join(", "),
        root.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = tokio::process::Command::new(&cargo)
        .args(&args)
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .await;
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Err(HarnessError::Infrastructure(format!(
                "building {} failed ({s}); run `{command}` to see why",
                names.join(", ")
            )))
        }
        Err(e) if stale.iter().all(|b| release.join(b.bin).exists()) => {
            tracing::warn!(
                "cargo not available ({e}); using the binaries in {}",
                release.display()
            )
        }
        Err(e) => {
            return Err(HarnessError::Infrastructure(format!(
                "{} missing and cargo could not be run ({e}); build with `{command}`",
                names.join(", ")
            )))
        }
    }
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(HarnessError::Infrastructure(format!(
            "{} not found after building it",
            missing.display()
        )));
    }
    Ok(paths)
}

/// Connects as `args` say. With `--local` it first says so on stderr and
/// starts mock-vanta and the emulator in-process (building the function's
/// and the fixture's release binaries with cargo when missing or stale),
/// then connects to that emulator; stop the stack with [`stop`] afterwards.
pub async fn connect(args: &CommonArgs) -> Result<(Session, Option<LocalStack>), HarnessError> {
    if !args.local {
        return Ok((Session::connect(args).await?, None));
    }
    if args.endpoint_url.is_some() {
        return Err(HarnessError::Usage(
            "--local starts its own emulator; drop --endpoint-url (or drop --local to use yours)"
                .into(),
        ));
    }
    workspace_root()?;
    eprintln!(
        "--local: starting mock-vanta and the AWS emulator in-process ({} records; release binaries are built first when missing or stale)",
        args.local_records
    );
    let stack = LocalStack::start(args).await?;
    match Session::with_endpoint(args, Some(stack.endpoint_url())).await {
        Ok(mut session) => {
            session.local = true;
            session.reference = Some(REFERENCE_FUNCTION.to_string());
            session.function_cpus = stack.function_cpus.clone();
            Ok((session, Some(stack)))
        }
        Err(e) => {
            stack.shutdown().await;
            Err(e)
        }
    }
}

/// Stops the local stack of [`connect`], if there is one.
pub async fn stop(stack: Option<LocalStack>) {
    if let Some(s) = stack {
        s.shutdown().await;
    }
}

/// Whether `--local` may move this process's threads to other CPUs: only
/// when the process is the `perfharness` binary's ([`own_this_process`]). A
/// program that embeds the library (the workspace's tests run commands
/// in-process) keeps its threads where they are, and its functions share
/// the CPUs; moving every thread of a test binary would also have moved the
/// other tests running in it, and the functions their emulators start.
static MAY_MOVE_THIS_PROCESS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Lets `--local` place this process's threads apart from the functions'
/// CPUs; called by the `perfharness` binary ([`crate::cli::main`]), which
/// owns its process.
pub fn own_this_process() {
    MAY_MOVE_THIS_PROCESS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Gives functions CPUs of their own when there are two or more: this
/// process (the harness, mock-vanta, the emulator: every thread it has and
/// will start) moves to the lower half, and the returned set, the upper
/// half, is where the emulator runs execution environments. On Lambda the
/// services a function calls never run on its vCPUs; sharing them here let
/// the servers' threads preempt the function about 20 times in a cold
/// 1,000-record sync on 2 CPUs, which then took 22.7 ms instead of 15.6.
/// Says so on stderr; `None` (and a warning if it failed) leaves every CPU
/// shared.
fn separate_cpus() -> Option<emulator::affinity::CpuSet> {
    use emulator::affinity::{allowed, confine_process, split, CpuSet};
    if !MAY_MOVE_THIS_PROCESS.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let cpus = allowed().ok()?.cpus();
    let (servers, functions) = split(&cpus)?;
    let list = |c: &[usize]| CpuSet::of(c).to_string();
    if let Err(e) = confine_process(&CpuSet::of(&servers)) {
        tracing::warn!(
            "cannot keep the harness off the functions' CPUs ({e}); every CPU is shared"
        );
        return None;
    }
    eprintln!(
        "--local: functions run on CPU {}, the harness, mock-vanta and the emulator on CPU {} (--local-shared-cpus to share them)",
        list(&functions),
        list(&servers)
    );
    Some(CpuSet::of(&functions))
}

impl LocalStack {
    /// Starts everything `args` asks for; `args.function` must be a
    /// function of `template.yaml` (or the reference function).
    pub async fn start(args: &CommonArgs) -> Result<LocalStack, HarnessError> {
        let root = workspace_root()?;
        let mut bins = ensure_binaries(&[FUNCTION_BINARY, FIXTURE_BINARY]).await?;
        let fixture_bin = bins.pop().expect("two binaries");
        let function_bin = bins.pop().expect("two binaries");

        let n = args.local_records;
        let mock_cfg = mock_vanta::Config {
            data: mock_vanta::DataConfig {
                vulnerabilities: n,
                remediations: n * 2 / 5,
                assets: (n / 10).max(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let mock = mock_vanta::Server::start(mock_cfg)
            .await
            .map_err(|e| HarnessError::Infrastructure(format!("cannot start mock-vanta: {e}")))?;
        let vanta_url = mock.base_url();

        let template = root.join("template.yaml");
        let mut specs = emulator::template::load_functions(
            &template,
            &[("vanta-vuln-sync".to_string(), function_bin.clone())],
        )
        .map_err(|e| {
            HarnessError::Infrastructure(format!("cannot read {}: {e}", template.display()))
        })?;
        for spec in specs.iter_mut() {
            let env = &mut spec.environment;
            env.insert("VANTA_BASE_URL".into(), vanta_url.clone());
            env.insert("S3_BUCKET".into(), BUCKET.into());
            env.insert("VANTA_CREDENTIALS_SECRET".into(), SECRET.into());
            // mock-vanta runs without rate limits; pacing would only slow the run.
            env.insert("VANTA_RATE_LIMIT_PER_MIN".into(), "0".into());
        }
        let mut reference = emulator::lambda::FunctionSpec::new(REFERENCE_FUNCTION, fixture_bin);
        reference.timeout_s = 10;
        specs.push(reference);
        let functions: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let wanted = args.function.rsplit(':').next().unwrap_or(&args.function);
        if !functions.iter().any(|f| f == wanted || f == &args.function) {
            mock.shutdown().await;
            return Err(HarnessError::Usage(format!(
                "--local defines {}; {:?} is not one of them (template.yaml)",
                functions.join(", "),
                args.function
            )));
        }
        let function_cpus = if args.local_shared_cpus {
            None
        } else {
            separate_cpus()
        };
        let emulator = emulator::Emulator::start(emulator::EmulatorConfig {
            functions: specs,
            log_delay_ms: args.local_log_delay_ms,
            cpu_scaling: args.local_cpu_scaling,
            function_cpus,
            ..Default::default()
        })
        .await;
        let emulator = match emulator {
            Ok(e) => e,
            Err(e) => {
                mock.shutdown().await;
                return Err(HarnessError::Infrastructure(format!(
                    "cannot start the emulator: {e}"
                )));
            }
        };
        let stack = LocalStack {
            function_cpus: function_cpus.map(|c| c.cpus()),
            mock,
            emulator,
            functions,
            vanta_url,
        };
        if let Err(e) = stack.provision().await {
            stack.shutdown().await;
            return Err(e);
        }
        Ok(stack)
    }

    async fn provision(&self) -> Result<(), HarnessError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "perfharness-local",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        if let Err(e) = s3.create_bucket().bucket(BUCKET).send().await {
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                .unwrap_or_default()
                .to_string();
            if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
                return Err(HarnessError::Infrastructure(format!(
                    "cannot create bucket {BUCKET} in the emulator: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )));
            }
        }
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret =
            serde_json::json!({"client_id": "vci_mock", "client_secret": "vcs_mock"}).to_string();
        if let Err(e) = sm
            .create_secret()
            .name(SECRET)
            .secret_string(secret)
            .send()
            .await
        {
            let code = aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e)
                .unwrap_or_default()
                .to_string();
            if code != "ResourceExistsException" {
                return Err(HarnessError::Infrastructure(format!(
                    "cannot create secret {SECRET} in the emulator: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )));
            }
        }
        Ok(())
    }

    /// The emulator's endpoint.
    pub fn endpoint_url(&self) -> String {
        self.emulator.endpoint_url()
    }

    /// Stops the emulator (and its function processes) and mock-vanta.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
        self.mock.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{find_workspace, newest_source};

    #[test]
    fn documents_do_not_make_a_binary_stale() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        let code = newest_source(root).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("README.md"), "# docs\n").unwrap();
        assert_eq!(newest_source(root), Some(code), "a README changes nothing");
        std::fs::write(root.join("Cargo.toml"), "[package]\n").unwrap();
        assert!(newest_source(root).unwrap() > code, "a manifest does");
    }

    #[test]
    fn the_workspace_is_found_from_any_directory_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let deep = root.join("function/src/sink");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(root.join("template.yaml"), "Resources: {}\n").unwrap();
        // A member's Cargo.toml on the way up is not the workspace.
        std::fs::write(root.join("function/Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(root.join("function/template.yaml"), "").unwrap();
        assert_eq!(find_workspace(&deep), None, "no [workspace] anywhere yet");
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        assert_eq!(find_workspace(&deep).as_deref(), Some(root));
        assert_eq!(find_workspace(root).as_deref(), Some(root));
        std::fs::remove_file(root.join("template.yaml")).unwrap();
        assert_eq!(
            find_workspace(&deep),
            None,
            "a workspace without template.yaml"
        );
    }
}
