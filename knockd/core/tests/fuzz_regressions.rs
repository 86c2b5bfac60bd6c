//! The fuzz targets' checks on every committed seed and crash input, so the
//! inputs stay fixed on stable Rust without cargo-fuzz (see fuzz/README.md).

#[path = "../../../fuzz/inputs.rs"]
mod inputs;
#[path = "../../../fuzz/src/knockd_checks.rs"]
mod knockd_checks;
// Only its round trips are used here; its own targets replay in knock-proto.
#[allow(dead_code)]
#[path = "../../../fuzz/src/proto_checks.rs"]
mod proto_checks;

#[test]
fn knockd_conf_inputs_pass() {
    inputs::replay("knockd_conf", knockd_checks::knockd_conf);
}

#[test]
fn toml_config_inputs_pass() {
    inputs::replay("toml_config", knockd_checks::toml_config);
}

#[test]
fn decode_inputs_pass() {
    inputs::replay("decode", knockd_checks::decode);
}

#[test]
fn engine_inputs_pass() {
    inputs::replay("engine", knockd_checks::engine);
}

#[test]
fn privsep_request_inputs_pass() {
    inputs::replay("privsep_request", knockd_checks::privsep_request);
}

#[test]
fn nft_reply_inputs_pass() {
    inputs::replay("nft_reply", knockd_checks::nft_reply);
}
