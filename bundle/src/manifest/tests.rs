use super::*;
use proptest::prelude::*;

const RAUC: &str = "[update]
compatible=test-board
version=1.2.3

[bundle]
format=verity
verity-hash=2f80eb0c4ef6590163fd196891d27863558f33c006912d312f764aede08ad308
verity-salt=66abc067d22ccf8ca262b8f6aab6672c85c5ad1afd2a18e7728ed6a6b7a995f1
verity-size=4096

[image.rootfs]
sha256=09032ab86a927f2e26ce13a5f57f5cfc16a5e50779d1e89ed1d63806d183ab9a
size=100000
filename=rootfs.img
hooks=install

[hooks]
filename=hook.sh
";

#[test]
fn parses_rauc_output() {
    let m = Manifest::parse(RAUC.as_bytes()).unwrap();
    assert_eq!(m.compatible, "test-board");
    assert_eq!(m.version.as_deref(), Some("1.2.3"));
    assert_eq!(m.format, Format::Verity);
    let v = m.require_verity().unwrap();
    assert_eq!(v.size, 4096);
    assert_eq!(v.hash[0], 0x2f);
    assert_eq!(m.images.len(), 1);
    assert_eq!(m.images[0].slot_class, "rootfs");
    assert_eq!(m.images[0].size, Some(100000));
    assert_eq!(m.other["hooks"]["filename"], "hook.sh");
    m.check_compatible("test-board").unwrap();
    assert!(matches!(
        m.check_compatible("other"),
        Err(Error::Incompatible { .. })
    ));
}

#[test]
fn syntax_and_escapes() {
    let m = Manifest::parse(
        b"# c\n  [update]\ncompatible = a\\sb\\\\c\nversion=1\nversion=2\n[image.rootfs.v2]\nfilename=x\n[update]\ndescription=d\n",
    )
    .unwrap();
    assert_eq!(m.compatible, "a b\\c");
    assert_eq!(m.version.as_deref(), Some("2"));
    assert_eq!(m.description.as_deref(), Some("d"));
    assert_eq!(m.format, Format::Plain);
    assert_eq!(m.images[0].variant.as_deref(), Some("v2"));
}

#[test]
fn errors_name_the_line() {
    assert_eq!(
        Manifest::parse(b"[update]\ncompatible=x\nbroken\n"),
        Err(Error::Syntax {
            line: 3,
            what: "expected 'key=value', a '[group]' or a comment"
        })
    );
    assert_eq!(
        Manifest::parse(b"compatible=x\n"),
        Err(Error::Syntax {
            line: 1,
            what: "key before the first group"
        })
    );
    assert_eq!(
        Manifest::parse(b"[update]\ncompatible=x\n[image.a]\nfilename=f\nsize=-1\n"),
        Err(Error::Value {
            line: 5,
            group: "image.a".into(),
            key: "size",
            what: "\"-1\" is not an unsigned number".into()
        })
    );
    assert!(matches!(
        Manifest::parse(b"[update]\ncompatible=x\n[bundle]\nformat=verity\nverity-hash=00\n"),
        Err(Error::Missing {
            key: "verity-salt",
            ..
        })
    ));
    assert!(matches!(
        Manifest::parse(b"[update]\nversion=1\n"),
        Err(Error::Missing {
            key: "compatible",
            ..
        })
    ));
    assert!(matches!(
        Manifest::parse(b"[update]\ncompatible=x\n")
            .unwrap()
            .require_verity(),
        Err(Error::Format(_))
    ));
    assert!(matches!(
        Manifest::parse(&vec![b'#'; MAX_SIZE + 1]),
        Err(Error::TooLarge { .. })
    ));
}

fn text() -> impl Strategy<Value = String> {
    "[ -~\t\n\\\\]{0,20}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,10}"
}

prop_compose! {
    fn image()(slot_class in name(), variant in proptest::option::of(name()), filename in "[a-z0-9._-]{1,20}",
               sha256 in proptest::option::of(any::<[u8; 32]>()), size in proptest::option::of(any::<u64>())) -> Image {
        Image { slot_class, variant, filename, sha256, size }
    }
}

prop_compose! {
    fn manifest()(compatible in text(), version in proptest::option::of(text()), description in proptest::option::of(text()),
                  verity in proptest::option::of((any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u64>())),
                  images in proptest::collection::vec(image(), 0..4),
                  other in proptest::collection::btree_map("meta\\.[a-z]{1,5}", proptest::collection::btree_map(name(), text(), 0..3), 0..3)) -> Manifest {
        // One group per image name: a repeated name would merge in the key file.
        let mut images = images;
        let mut seen = std::collections::BTreeSet::new();
        images.retain(|i| seen.insert((i.slot_class.clone(), i.variant.clone())));
        Manifest {
            compatible, version, description, build: None,
            format: if verity.is_some() { Format::Verity } else { Format::Plain },
            verity: verity.map(|(hash, salt, size)| Verity { hash, salt, size }),
            images, other,
        }
    }
}

proptest! {
    #[test]
    fn round_trip(m in manifest()) {
        prop_assert_eq!(Manifest::parse(m.render().as_bytes()).unwrap(), m);
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Manifest::parse(&bytes);
    }
}
