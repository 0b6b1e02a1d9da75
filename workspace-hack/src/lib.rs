//! Aligns dependency features across the workspace; see this crate's
//! `Cargo.toml`. It has no code.
