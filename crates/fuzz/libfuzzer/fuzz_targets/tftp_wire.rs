#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lifeboat_fuzz::tftp_wire::run(data));
