use super::*;
use std::os::unix::fs::FileExt;
use std::process::Command;

struct Built {
    _dir: tempfile::TempDir,
    image: RootImage,
    packages: SecretKey,
    root: PathBuf,
}

fn build_one() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime.toml");
    std::fs::write(&runtime, "run_dir = \"/run/northstar\"\n").unwrap();
    let packages = SecretKey::generate().unwrap();
    let key = SecretKey::generate().unwrap();
    let keyring = dir.path().join("ca.pem");
    std::fs::write(&keyring, "certificates\n").unwrap();
    let contents = RootContents {
        runtime_config: runtime,
        packages_key: packages.public(),
        files: vec![(keyring, PathBuf::from("etc/northstar/bundle-keyring.pem"))],
    };
    let out = dir.path().join("root.img");
    let image = build(&contents, &dir.path().join("staging"), &out, &key).unwrap();
    assert_eq!(image.key, key.public());
    Built {
        root: dir.path().to_path_buf(),
        _dir: dir,
        image,
        packages,
    }
}

fn veritysetup_verify(image: &RootImage) -> std::process::Output {
    let path = image.path.to_str().unwrap();
    Command::new("veritysetup")
        .args(["verify", path, path])
        .arg(hex(&image.descriptor.root_hash))
        .arg(format!("--hash-offset={}", image.descriptor.hash_offset()))
        .output()
        .expect("veritysetup (cryptsetup-bin) is installed")
}

#[test]
fn veritysetup_accepts_the_image_with_the_descriptors_root_hash() {
    let built = build_one();
    let image = &built.image;
    let len = std::fs::metadata(&image.path).unwrap().len();
    let d = &image.descriptor;
    assert!(d.data_blocks >= 1);
    // tree_size: the superblock and the hash tree.
    assert_eq!(len, d.hash_offset() + verity::tree_size(d.data_blocks));
    let out = veritysetup_verify(image);
    assert!(out.status.success(), "{out:?}");

    // veritysetup reads the salt and block count from the superblock: the descriptor's.
    let dump = Command::new("veritysetup")
        .args(["dump", image.path.to_str().unwrap()])
        .arg(format!("--hash-offset={}", d.hash_offset()))
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    let field = |name: &str| {
        dump.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_owned())
    };
    assert_eq!(
        field("Salt").as_deref(),
        Some(d.salt.to_hex().as_str()),
        "{dump}"
    );
    assert_eq!(
        field("Data blocks"),
        Some(d.data_blocks.to_string()),
        "{dump}"
    );

    // One flipped bit in the squashfs: refused.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&image.path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 100).unwrap();
    file.write_all_at(&[byte[0] ^ 1], 100).unwrap();
    assert!(!veritysetup_verify(image).status.success());
}

#[test]
fn the_descriptor_is_signed_and_holds_exactly_its_three_keys() {
    let built = build_one();
    let image = &built.image;
    assert!(image
        .key
        .verify_strict(image.descriptor_text.as_bytes(), &image.signature));
    let mut changed = image.descriptor_text.clone().into_bytes();
    changed[12] ^= 1;
    assert!(!image.key.verify_strict(&changed, &image.signature));

    let table: toml::Table = image.descriptor_text.parse().unwrap();
    let keys: Vec<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(keys, ["data_blocks", "root_hash", "salt"]);
    assert_eq!(
        table["root_hash"].as_str(),
        Some(hex(&image.descriptor.root_hash).as_str())
    );
    assert_eq!(
        table["salt"].as_str(),
        Some(image.descriptor.salt.to_hex().as_str())
    );
    assert_eq!(
        table["data_blocks"].as_integer(),
        Some(image.descriptor.data_blocks as i64)
    );
}

#[test]
fn the_squashfs_holds_the_mount_points_config_key_and_extra_files() {
    let built = build_one();
    let out = built.root.join("extracted");
    let status = Command::new("unsquashfs")
        .args(["-no-xattrs", "-d", out.to_str().unwrap()])
        .arg(&built.image.path)
        .output()
        .expect("unsquashfs (squashfs-tools) is installed");
    assert!(status.status.success(), "{status:?}");
    for dir in MOUNT_POINTS {
        assert!(out.join(&dir[1..]).is_dir(), "{dir}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join(RUNTIME_CONFIG)).unwrap(),
        "run_dir = \"/run/northstar\"\n"
    );
    assert_eq!(
        std::fs::read(out.join(PACKAGES_KEY)).unwrap(),
        built.packages.public().to_bytes()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("etc/northstar/bundle-keyring.pem")).unwrap(),
        "certificates\n"
    );
}

#[test]
fn an_extra_file_stays_inside_the_root() {
    assert!(in_root(Path::new("etc/northstar/a.pem")).is_some());
    for outside in ["/etc/a.pem", "../a.pem", "etc/../../a", ""] {
        assert!(in_root(Path::new(outside)).is_none(), "{outside}");
    }
}
