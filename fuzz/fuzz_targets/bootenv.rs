//! The boot-loader environment parsers on arbitrary bytes never panic, and whatever they
//! accept encodes back to an environment that decodes to the same variables.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use northstar_bootenv::{grub, uboot};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    // U-Boot: the input is a data area (after crc and flags).
    if let Ok(env) = uboot::decode(data, path, 0) {
        let size = data.len() + 5;
        let image = uboot::encode(&env, size, Some(1), path, 0).expect("accepted data re-encodes");
        let again = uboot::decode(&image[5..], path, 0).expect("encoded data decodes");
        assert_eq!(again, env.sorted());
    }
    // GRUB: the input after the header line, padded with '#' to a block.
    let mut block = [b'#'; grub::SIZE];
    let len = data.len().min(grub::SIZE - grub::HEADER.len());
    block[..grub::HEADER.len()].copy_from_slice(grub::HEADER.as_bytes());
    block[grub::HEADER.len()..grub::HEADER.len() + len].copy_from_slice(&data[..len]);
    if let Ok(env) = grub::decode(&block, path) {
        // Re-encoding adds the warning line (may no longer fit); GRUB accepts names with a
        // backslash that we refuse to write.
        match grub::encode(&env, path) {
            Ok(encoded) => assert_eq!(grub::decode(&encoded, path).expect("decodes"), env),
            Err(grub::Error::TooLarge { .. } | grub::Error::Name { .. }) => {}
            Err(e) => panic!("accepted block fails to encode: {e}"),
        }
    }
});
