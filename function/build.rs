//! Links the function's executable at a fixed address (`-no-pie`) on Linux.
//!
//! A position-independent executable is loaded at a random address, so the
//! dynamic loader patches every absolute address in it before `main` runs:
//! about 54,000 relative relocations for this binary (vtables, string and
//! slice tables of the AWS SDK, rustls and Parquet): 0.70 M of the 1.27 M
//! instructions it executed before asking for its first event (0.57 M
//! without them; an empty `lambda_runtime` function takes 0.55 M), and the
//! pages they sit on were dirtied in every new process. Linked at a fixed address the linker
//! resolves them once, at build time. What is given up is the randomised
//! load address of the executable's own code (libraries, stack and heap stay
//! randomised); a Lambda execution environment runs one function's code.
//!
//! Only the binaries are linked this way; tests, benchmarks and examples
//! keep the default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
