#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mingzhang_api::fuzz_targets::command_body(data));
