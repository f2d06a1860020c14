//! Fuzzes `rech serve`'s WebSocket control messages and `/v1/listen` query, and the Host and
//! Origin checks: the input's lines are the message, the query, the Host and the Origin.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rech_fuzz::serve_control(data);
});
