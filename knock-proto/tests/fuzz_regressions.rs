//! The fuzz targets' checks on every committed seed and crash input, so the
//! inputs stay fixed on stable Rust without cargo-fuzz (see fuzz/README.md).

#[path = "../../fuzz/inputs.rs"]
mod inputs;
#[path = "../../fuzz/src/proto_checks.rs"]
mod proto_checks;

#[test]
fn sequence_and_flags_inputs_pass() {
    inputs::replay("sequence_and_flags", proto_checks::sequence_and_flags);
}

#[test]
fn one_time_inputs_pass() {
    inputs::replay("one_time", proto_checks::one_time);
}

#[test]
fn knock_uri_inputs_pass() {
    inputs::replay("knock_uri", proto_checks::knock_uri);
}
