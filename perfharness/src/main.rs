//! The `perfharness` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    perfharness::cli::main()
}
