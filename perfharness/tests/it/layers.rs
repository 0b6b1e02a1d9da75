//! The module graph of `perfharness/src` reads bottom-up: every `crate::`
//! path in a file names a top-level module at or below the file's own
//! layer, so no module imports from one above it and no loop can form
//! between layers. A source scan, cheaper in CI than installing
//! cargo-modules for `cargo modules dependencies --acyclic`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules, bottom first. A module may use those before it
/// (and itself).
const LAYERS: &[&str] = &[
    "error", "options", "platform", "sample", "analysis", "aws", "bench", "local", "measure",
    "export", "commands", "cli",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`None` for lib.rs and
/// main.rs, which only declare).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Top-level modules a file's text refers to through `crate::`.
fn references(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name.chars().next().unwrap().is_ascii_lowercase() {
                refs.insert(name);
            }
            rest = tail;
        }
    }
    refs
}

/// Every upward reference as "file: module -> module".
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut bad = Vec::new();
    for f in &files {
        let Some(own) = module_of(src, f) else {
            continue;
        };
        let own_rank = rank(&own).unwrap_or_else(|| {
            panic!(
                "{}: module {own} is not in LAYERS; add it to its layer",
                f.display()
            )
        });
        let text = std::fs::read_to_string(f).unwrap();
        for r in references(&text) {
            match rank(&r) {
                Some(k) if k <= own_rank => {}
                Some(_) => bad.push(format!("{}: {own} -> {r}", f.display())),
                None => bad.push(format!("{}: {own} -> unknown module {r}", f.display())),
            }
        }
    }
    bad
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn lib_declares_exactly_the_layered_modules() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert_eq!(
        declared, LAYERS,
        "lib.rs declares the modules in layer order"
    );
}

#[test]
fn the_check_catches_an_upward_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("analysis")).unwrap();
    std::fs::write(
        dir.path().join("analysis/stats.rs"),
        "use crate::error::HarnessError;\nfn f() { crate::export::fmt_num(1.0); }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("cli.rs"), "use crate::commands::run;\n").unwrap();
    let bad = violations(dir.path());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].ends_with("analysis -> export"), "{bad:?}");
}
