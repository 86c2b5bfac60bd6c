#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| knockd_fuzz::knockd_checks::nft_reply(data));
