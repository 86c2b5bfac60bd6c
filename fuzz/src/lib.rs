//! The checks the fuzz targets run, one function per target. The crates'
//! `fuzz_regressions` tests include the same files with `#[path]` to replay
//! the committed inputs on stable Rust.

pub mod knockd_checks;
pub mod proto_checks;
