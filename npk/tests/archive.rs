//! Zip tricks a hostile package may play: each is rejected with its specific error, and
//! the reader's memory stays bounded.

mod common;

use common::*;
use npk::archive::{Archive, Error};
use std::{fs, path::Path, process::Command};

fn read(path: &Path) -> Result<Archive, Error> {
    Archive::read(&fs::File::open(path).unwrap())
}

/// Build a zip with the `zip` tool from files named as given (all in `dir`).
fn zip_tool(dir: &Path, name: &str, args: &[&str], files: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let _ = fs::remove_file(&out);
    run(Command::new("zip")
        .current_dir(dir)
        .arg("-q")
        .args(args)
        .arg(&out)
        .args(files));
    out
}

fn entries(dir: &Path) {
    fs::write(dir.join("manifest.yaml"), MANIFEST).unwrap();
    fs::write(dir.join("signature.yaml"), "x".repeat(100)).unwrap();
    fs::write(dir.join("fs.img"), vec![7u8; 8192]).unwrap();
}

#[test]
fn compressed_entries_rejected() {
    let dir = tempfile::tempdir().unwrap();
    entries(dir.path());
    let z = zip_tool(dir.path(), "c.npk", &["-9"], &["manifest.yaml", "fs.img"]);
    assert!(matches!(
        read(&z),
        Err(Error::Compressed {
            name: "manifest.yaml",
            ..
        })
    ));
}

#[test]
fn unaligned_fs_img_rejected() {
    let dir = tempfile::tempdir().unwrap();
    entries(dir.path());
    let z = zip_tool(dir.path(), "u.npk", &["-0"], &["manifest.yaml", "fs.img"]);
    assert!(
        matches!(read(&z), Err(Error::Unaligned(_))),
        "{:?}",
        read(&z)
    );
}

#[test]
fn reordered_and_unknown_entries_rejected() {
    let dir = tempfile::tempdir().unwrap();
    entries(dir.path());
    let z = zip_tool(dir.path(), "r.npk", &["-0"], &["fs.img", "manifest.yaml"]);
    assert!(matches!(
        read(&z),
        Err(Error::UnexpectedEntry { index: 0, .. })
    ));
    let z = zip_tool(
        dir.path(),
        "s.npk",
        &["-0"],
        &["manifest.yaml", "fs.img", "signature.yaml"],
    );
    assert!(matches!(
        read(&z),
        Err(Error::UnexpectedEntry { index: 1, .. })
    ));
    fs::create_dir_all(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/../evil"), b"x").unwrap();
    let z = zip_tool(dir.path(), "t.npk", &["-0"], &["manifest.yaml", "evil"]);
    assert!(matches!(read(&z), Err(Error::UnexpectedEntry { .. })));
    let z = zip_tool(dir.path(), "one.npk", &["-0"], &["manifest.yaml"]);
    assert!(matches!(read(&z), Err(Error::EntryCount(1))));
}

/// Python's zipfile writes duplicate names when asked to (with a warning).
#[test]
fn duplicate_entry_names_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dup.npk");
    let script = "import zipfile,sys,warnings\n\
warnings.simplefilter('ignore')\n\
z=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_STORED)\n\
z.writestr('manifest.yaml','name: a')\n\
z.writestr('manifest.yaml','name: b')\n\
z.writestr('fs.img',b'x'*4096)\n\
z.close()\n";
    run(Command::new("python3").arg("-c").arg(script).arg(&out));
    assert!(matches!(
        read(&out),
        Err(Error::UnexpectedEntry {
            index: 1,
            expected: "signature.yaml",
            ..
        })
    ));
}

#[test]
fn sizes_past_the_end_and_huge_manifest_rejected_without_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = pack_sample(dir.path());
    let bytes = fs::read(&path).unwrap();
    // Central header of entry 0 is at the central directory offset; sizes at +20/+24.
    let n = bytes.len();
    let eocd = n - 22 - "version: 0.9.3\n".len();
    let cd = u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let mut huge = bytes.clone();
    huge[cd + 20..cd + 28].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f]);
    let lh = 0usize; // local header of manifest.yaml
    huge[lh + 18..lh + 26].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f]);
    fs::write(&path, &huge).unwrap();
    assert!(matches!(
        read(&path),
        Err(Error::Bounds {
            name: "manifest.yaml",
            ..
        })
    ));

    let truncated = dir.path().join("truncated.npk");
    fs::write(&truncated, &bytes[..n / 2]).unwrap();
    assert!(matches!(read(&truncated), Err(Error::NoEndRecord)));
}

#[test]
fn manifest_over_the_limit_rejected() {
    let dir = tempfile::tempdir().unwrap();
    entries(dir.path());
    let big = format!("{MANIFEST}custom:\n  pad: \"{}\"\n", "x".repeat(300 * 1024));
    fs::write(dir.path().join("manifest.yaml"), big).unwrap();
    // Aligned layout is not needed: the size check comes first.
    let z = zip_tool(dir.path(), "big.npk", &["-0"], &["manifest.yaml", "fs.img"]);
    assert!(
        matches!(
            read(&z),
            Err(Error::TooLarge {
                name: "manifest.yaml",
                ..
            })
        ),
        "{:?}",
        read(&z)
    );
}
