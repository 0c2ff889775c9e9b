//! `Superblock::parse` on arbitrary bytes never panics, and whatever it accepts encodes
//! back to exactly the bytes it came from (the encoding is canonical) and parses again to
//! the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use npk::verity::Superblock;

fuzz_target!(|data: &[u8]| {
    // Most inputs fail the length check; also try the input padded to a superblock so the
    // field checks see fuzzed bytes.
    let mut padded = [0u8; 4096];
    let len = data.len().min(padded.len());
    padded[..len].copy_from_slice(&data[..len]);
    for bytes in [data, &padded[..]] {
        if let Ok(superblock) = Superblock::parse(bytes) {
            let encoded = superblock.to_bytes();
            assert_eq!(&encoded[..], bytes);
            assert_eq!(Superblock::parse(&encoded).ok(), Some(superblock));
        }
    }
});
