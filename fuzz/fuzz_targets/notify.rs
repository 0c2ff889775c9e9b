//! Arbitrary bytes as a datagram on a container's notify socket (sd_notify): parsing
//! must return within the bounds the runtime keeps (status length, no control
//! characters), and never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    runtime_core::runtime::fuzzing::notify(data);
});
