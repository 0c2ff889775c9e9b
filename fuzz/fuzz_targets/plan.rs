//! Arbitrary bytes as a manifest, and for every manifest the parser accepts, the plan of
//! its container as a start builds it (mount list, credentials, limits, environment):
//! building it must return, an error or a plan, and never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use npk::manifest::Manifest;

/// The host's groups a manifest's `suppl_groups` can name.
const GROUP_FILE: &str = "root:x:0:\naudio:x:29:\nvideo:x:44:\nfuzz:x:1000:\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::from_yaml_str(text) else {
        return;
    };
    let _ = runtime_core::container::fuzzing::plan(&manifest, GROUP_FILE);
});
