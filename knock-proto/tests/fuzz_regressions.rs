//! The fuzz targets' checks on every committed seed and crash input, so the
//! inputs stay fixed on stable Rust without cargo-fuzz (see fuzz/README.md).

#[path = "../../fuzz/inputs.rs"]
mod inputs;
#[path = "../../fuzz/src/proto_checks.rs"]
mod proto_checks;

#[test]
fn knockd_conf_inputs_pass() {
    inputs::replay("knockd_conf", proto_checks::knockd_conf);
}

#[test]
fn toml_config_inputs_pass() {
    inputs::replay("toml_config", proto_checks::toml_config);
}

#[test]
fn sequence_and_flags_inputs_pass() {
    inputs::replay("sequence_and_flags", proto_checks::sequence_and_flags);
}

#[test]
fn one_time_inputs_pass() {
    inputs::replay("one_time", proto_checks::one_time);
}
