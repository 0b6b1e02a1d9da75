//! The `lambda-fixture` binary (its own package, so the emulator library
//! does not compile `lambda_runtime`): built once per test or bench binary
//! with `cargo build --release -p lambda-fixture` (a no-op when fresh) and
//! found next to the calling executable's `deps/` directory.

use std::path::Path;
use std::sync::OnceLock;

/// Path of the release `lambda-fixture` binary.
pub fn fixture_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/release/deps/<this binary> -> target/release/lambda-fixture
        let release = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test binary lives in target/<profile>/deps");
        let bin = release.join("lambda-fixture");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = std::process::Command::new(cargo)
            .args(["build", "--release", "--quiet", "-p", "lambda-fixture"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        match built {
            Ok(status) if status.success() && bin.exists() => {}
            _ if bin.exists() => eprintln!(
                "warning: could not rebuild lambda-fixture; using {}",
                bin.display()
            ),
            other => panic!(
                "lambda-fixture is not built ({other:?}); run `cargo build --release -p lambda-fixture`"
            ),
        }
        bin.to_string_lossy().into_owned()
    })
}
