//! The API's untrusted inputs: any request body must parse into a method call or a fault
//! (never a panic), a parsed call must survive a write/parse round trip, and any
//! `Authorization` header must be accepted or refused cleanly.
#![no_main]

use lava_http::auth::parse_basic;
use lava_http::codec::{parse_method_call, parse_response, write_method_call};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_basic(data);
    let _ = parse_response(data);
    if let Ok(call) = parse_method_call(data) {
        let written = write_method_call(&call.method, &call.params);
        let again = parse_method_call(written.as_bytes()).expect("our own call parses");
        // Doubles: NaN never equals itself; compare the texts written instead.
        let rewritten = write_method_call(&again.method, &again.params);
        assert_eq!(written, rewritten);
    }
});
