use super::*;
use npk::key::SecretKey;
use std::io::Write;

const BLOCKS: u64 = 20;

/// A root image (`BLOCKS` data blocks of varied bytes, superblock, hash tree) and its salt
/// and root hash.
fn image() -> (tempfile::NamedTempFile, Salt, [u8; 32]) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..BLOCKS * BLOCK_SIZE)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    file.write_all(&data).unwrap();
    let salt = Salt([0x5a; 32]);
    let (_, root) = verity::append(file.as_file(), 0, data.len() as u64, &salt).unwrap();
    (file, salt, root)
}

fn descriptor(root: &[u8; 32], salt: &Salt, blocks: u64) -> String {
    format!(
        "root_hash = \"{}\"\nsalt = \"{}\"\ndata_blocks = {blocks}\n",
        hex::encode(root),
        salt.to_hex()
    )
}

fn verify(text: &str, sig: &[u8], key: &PublicKey) -> Result<VerifiedRoot, Error> {
    VerifiedRoot::verify(
        text.as_bytes(),
        Path::new("root.verity"),
        sig,
        Path::new("root.verity.sig"),
        key,
    )
}

#[test]
fn good_signature_and_matching_device() {
    let (image, salt, root) = image();
    let key = SecretKey::from_seed(&[1; 32]);
    let text = descriptor(&root, &salt, BLOCKS);
    let verified = verify(&text, &key.sign(text.as_bytes()), &key.public()).unwrap();
    assert_eq!(verified.data_blocks(), BLOCKS);
    let checked = verified
        .check_device(image.as_file(), Path::new("/dev/vda"))
        .unwrap();
    assert_eq!(
        checked.table(Path::new("/dev/vda")),
        format!(
            "0 160 verity 1 /dev/vda /dev/vda 4096 4096 20 21 sha256 {} {}",
            hex::encode(root),
            salt.to_hex()
        )
    );
}

#[test]
fn files_on_disk() {
    let (_image, salt, root) = image();
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[2; 32]);
    key.public().save(&dir.path().join("root.pub")).unwrap();
    let text = descriptor(&root, &salt, BLOCKS);
    std::fs::write(dir.path().join("root.verity"), &text).unwrap();
    std::fs::write(
        dir.path().join("root.verity.sig"),
        key.sign(text.as_bytes()),
    )
    .unwrap();
    let load = || {
        VerifiedRoot::load(
            &dir.path().join("root.verity"),
            &dir.path().join("root.verity.sig"),
            &dir.path().join("root.pub"),
        )
    };
    assert_eq!(load().unwrap().data_blocks(), BLOCKS);
    // A signature file with a byte too many is refused before anything is verified.
    let mut long = key.sign(text.as_bytes()).to_vec();
    long.push(0);
    std::fs::write(dir.path().join("root.verity.sig"), &long).unwrap();
    assert!(
        matches!(load(), Err(Error::SignatureLength { found: 65, .. })),
        "{:?}",
        load()
    );
    std::fs::remove_file(dir.path().join("root.pub")).unwrap();
    assert!(matches!(load(), Err(Error::Key(_))));
}

#[test]
fn bad_signature() {
    let (_image, salt, root) = image();
    let key = SecretKey::from_seed(&[1; 32]);
    let other = SecretKey::from_seed(&[3; 32]);
    let text = descriptor(&root, &salt, BLOCKS);
    // Signed by another key.
    let e = verify(&text, &other.sign(text.as_bytes()), &key.public()).unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "root.verity.sig: the signature does not verify with the root key"
    );
    // Not a signature at all.
    let e = verify(&text, &[0; 10], &key.public()).unwrap_err();
    assert!(matches!(e, Error::SignatureLength { found: 10, .. }), "{e}");
    let mut flipped = key.sign(text.as_bytes());
    flipped[5] ^= 1;
    let e = verify(&text, &flipped, &key.public()).unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
}

#[test]
fn tampered_descriptor() {
    let (_image, salt, root) = image();
    let key = SecretKey::from_seed(&[1; 32]);
    let text = descriptor(&root, &salt, BLOCKS);
    let sig = key.sign(text.as_bytes());
    let mut other_root = root;
    other_root[0] ^= 0x80;
    for tampered in [
        descriptor(&other_root, &salt, BLOCKS),
        descriptor(&root, &salt, BLOCKS + 1),
        text.replace('\n', "\r\n"),
        format!("{text}# comment\n"),
    ] {
        let e = verify(&tampered, &sig, &key.public()).unwrap_err();
        assert!(matches!(e, Error::BadSignature { .. }), "{tampered:?}: {e}");
    }
    // Signed but malformed: refused by the parser, naming the file.
    let bad = "root_hash = \"00\"\nsalt = \"11\"\ndata_blocks = 1\n";
    let e = verify(bad, &key.sign(bad.as_bytes()), &key.public()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "root.verity: root_hash \"00\" is not 64 hex digits"
    );
    let extra = format!("{text}colour = \"red\"\n");
    let e = verify(&extra, &key.sign(extra.as_bytes()), &key.public()).unwrap_err();
    assert!(e.to_string().contains("unknown field `colour`"), "{e}");
}

#[test]
fn superblock_mismatch() {
    let (image, salt, root) = image();
    let key = SecretKey::from_seed(&[1; 32]);
    let device = Path::new("/dev/vda");
    let check = |text: String| {
        verify(&text, &key.sign(text.as_bytes()), &key.public())
            .unwrap()
            .check_device(image.as_file(), device)
    };
    // A validly signed descriptor for another salt.
    let e = check(descriptor(&root, &Salt([0x11; 32]), BLOCKS)).unwrap_err();
    assert!(matches!(&e, Error::Mismatch { field: "salt", .. }), "{e}");
    assert!(e.to_string().contains(&salt.to_hex()), "{e}");
    // Fewer data blocks: the superblock is not where the descriptor says.
    let e = check(descriptor(&root, &salt, BLOCKS - 1)).unwrap_err();
    assert!(matches!(e, Error::Superblock { .. }), "{e}");
    // More data blocks than the device holds.
    let e = check(descriptor(&root, &salt, BLOCKS * 4)).unwrap_err();
    assert!(matches!(e, Error::DeviceSize { .. }), "{e}");
    // A superblock with another block count at the right place.
    let mut sb = Superblock::parse(&{
        let mut b = vec![0; 4096];
        image
            .as_file()
            .read_exact_at(&mut b, BLOCKS * BLOCK_SIZE)
            .unwrap();
        b
    })
    .unwrap();
    sb.data_blocks = BLOCKS - 1;
    image
        .as_file()
        .write_all_at(&sb.to_bytes(), BLOCKS * BLOCK_SIZE)
        .unwrap();
    let e = check(descriptor(&root, &salt, BLOCKS)).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Mismatch {
                field: "data_blocks",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn values_from_the_board() {
    let (image, salt, root) = image();
    let verified = VerifiedRoot::from_board(&hex::encode(root), &salt.to_hex(), BLOCKS).unwrap();
    verified
        .check_device(image.as_file(), Path::new("/dev/vda"))
        .unwrap();
    assert!(VerifiedRoot::from_board("xyz", &salt.to_hex(), BLOCKS).is_err());
    assert!(VerifiedRoot::from_board(&hex::encode(root), &salt.to_hex(), 0).is_err());
}
