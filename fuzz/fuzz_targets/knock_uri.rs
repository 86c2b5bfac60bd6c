#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| knockd_fuzz::proto_checks::knock_uri(data));
