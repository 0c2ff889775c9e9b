//! The bundle manifest parser on arbitrary bytes never panics, and whatever it accepts
//! renders to a manifest that parses back equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use northstar_bundle::Manifest;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = Manifest::parse(data) {
        let rendered = manifest.render();
        let again = Manifest::parse(rendered.as_bytes()).expect("a rendered manifest parses");
        assert_eq!(again, manifest, "rendered:\n{rendered}");
    }
});
