//! e2e: end-to-end tests that run the project's real binaries together; the
//! tests live in `tests/tests/`.
