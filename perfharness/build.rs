//! Detects which of the `load`, `power` and `gate` modules (written in
//! parallel under issue 6) exist yet, so the crate compiles at every step of
//! that work. A module is declared once its file exists and its subcommand
//! wired once it defines its `...Args` struct and `run` function.

use std::path::Path;

fn main() {
    local_stack();
    // Lets issue-5 work build while the issue-6 modules are mid-edit.
    println!("cargo::rerun-if-env-changed=PERFHARNESS_SKIP_ISSUE6");
    let skip = std::env::var_os("PERFHARNESS_SKIP_ISSUE6").is_some();
    for (module, args) in [
        ("load", "LoadArgs"),
        ("power", "PowerArgs"),
        ("gate", "GateArgs"),
    ] {
        println!("cargo::rustc-check-cfg=cfg(has_{module})");
        println!("cargo::rustc-check-cfg=cfg(has_{module}_cli)");
        let candidates = [format!("src/{module}.rs"), format!("src/{module}/mod.rs")];
        for c in &candidates {
            println!("cargo::rerun-if-changed={c}");
        }
        println!("cargo::rerun-if-changed=src/{module}");
        if skip {
            continue;
        }
        let Some(text) = candidates
            .iter()
            .filter(|c| Path::new(c).exists())
            .find_map(|c| std::fs::read_to_string(c).ok())
        else {
            continue;
        };
        println!("cargo::rustc-cfg=has_{module}");
        if text.contains(&format!("pub struct {args}")) && text.contains("pub async fn run(") {
            println!("cargo::rustc-cfg=has_{module}_cli");
        }
    }
}

/// `--local` needs the emulator's and mock-vanta's start functions; until
/// both crates have them (they are written in parallel) the flag reports
/// that it is unavailable instead of breaking the build.
fn local_stack() {
    println!("cargo::rustc-check-cfg=cfg(has_local_stack)");
    println!("cargo::rerun-if-changed=../emulator/src/lib.rs");
    println!("cargo::rerun-if-changed=../mock-vanta/src/lib.rs");
    println!("cargo::rerun-if-changed=../emulator/src/template.rs");
    let emulator = std::fs::read_to_string("../emulator/src/lib.rs").unwrap_or_default();
    let template = std::fs::read_to_string("../emulator/src/template.rs").unwrap_or_default();
    let mock = std::fs::read_to_string("../mock-vanta/src/lib.rs").unwrap_or_default();
    if emulator.contains("pub async fn start")
        && template.contains("pub fn load_functions")
        && mock.contains("Server")
        && mock.contains("expected_stats")
    {
        println!("cargo::rustc-cfg=has_local_stack");
    }
}
