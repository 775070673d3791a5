#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mingzhang_ledger::fuzz_targets::proof_verify(data));
