//! A blocking client of the Northstar management API (`doc/api.md`): connects over a unix
//! socket or TCP, does the handshake, sends requests and reads their answers, log lines
//! and notifications. Used by `nstar`, the tests and programs inside containers.
#![forbid(unsafe_code)]
