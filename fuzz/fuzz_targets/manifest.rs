//! Parse arbitrary bytes as a manifest; whatever parses must survive `to_yaml` → parse.
#![no_main]
use libfuzzer_sys::fuzz_target;
use npk::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::from_yaml_str(text) else {
        return;
    };
    let yaml = manifest
        .to_yaml()
        .expect("a parsed manifest must serialize");
    let again = Manifest::from_yaml_str(&yaml).expect("a written manifest must parse");
    assert_eq!(manifest, again, "round trip changed the manifest:\n{yaml}");
});
