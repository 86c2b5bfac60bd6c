//! The fuzz targets' checks on every committed seed and crash input, so the
//! inputs stay fixed on stable Rust without cargo-fuzz (see fuzz/README.md).

#[path = "../../fuzz/inputs.rs"]
mod inputs;
#[path = "../../fuzz/src/knockd_checks.rs"]
mod knockd_checks;

#[test]
fn decode_inputs_pass() {
    inputs::replay("decode", knockd_checks::decode);
}

#[test]
fn engine_inputs_pass() {
    inputs::replay("engine", knockd_checks::engine);
}
