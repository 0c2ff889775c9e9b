//! Our verity images against the reference implementation, `veritysetup` (cryptsetup).
//! It must be installed (CI installs cryptsetup-bin); a missing binary fails the tests.

use std::{fs::File, os::unix::fs::FileExt, path::Path, process::Command};

use anyhow::{bail, ensure, Context, Result};
use npk::verity::{self, Salt, Superblock, BLOCK_SIZE};

/// Block counts around every level boundary: no tree, one hash block, two levels, three.
const SIZES: &[u64] = &[1, 2, 3, 127, 128, 129, 255, 256, 257, 16383, 16384, 16385];

fn veritysetup(args: &[&str]) -> Result<String> {
    let output = Command::new("veritysetup")
        .args(args)
        .output()
        .context("failed to run veritysetup (install cryptsetup-bin)")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "veritysetup {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

fn root_hash(output: &str) -> Result<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(|h| h.trim().to_owned())
        .context("no root hash in veritysetup output")
}

fn uuid_string(uuid: &[u8; 16]) -> String {
    let h = hex::encode(uuid);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn random_data(path: &Path, blocks: u64) -> Result<Vec<u8>> {
    let mut data = vec![0; (blocks * BLOCK_SIZE) as usize];
    getrandom::getrandom(&mut data).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    std::fs::write(path, &data)?;
    Ok(data)
}

/// For each size: veritysetup verifies what `append` wrote; veritysetup's own format of
/// the same data, salt and uuid is byte-identical; our `verify` accepts veritysetup's
/// image made with a uuid of its own choosing.
#[test]
fn append_agrees_with_veritysetup() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for &blocks in SIZES {
        let ours = dir.path().join("ours.img");
        let theirs = dir.path().join("theirs.img");
        let data = random_data(&ours, blocks)?;
        std::fs::write(&theirs, &data)?;
        let data_len = blocks * BLOCK_SIZE;
        let salt = Salt::random()?;

        let file = File::options().read(true).write(true).open(&ours)?;
        let (superblock, root) = verity::append(&file, 0, data_len, &salt)?;
        ensure!(file.metadata()?.len() == data_len + verity::tree_size(blocks));
        ensure!(superblock.data_blocks == blocks && superblock.salt == salt);
        let (ours_s, root_hex) = (ours.to_str().context("path")?, hex::encode(root));
        let hash_offset = format!("--hash-offset={data_len}");
        veritysetup(&["verify", ours_s, ours_s, &root_hex, &hash_offset])
            .with_context(|| format!("{blocks} blocks"))?;

        let theirs_s = theirs.to_str().context("path")?;
        let output = veritysetup(&[
            "format",
            theirs_s,
            theirs_s,
            &format!("--data-blocks={blocks}"),
            &hash_offset,
            &format!("--salt={}", salt.to_hex()),
            &format!("--uuid={}", uuid_string(&superblock.uuid)),
        ])?;
        ensure!(
            root_hash(&output)? == root_hex,
            "{blocks} blocks: root differs"
        );
        let (a, b) = (std::fs::read(&ours)?, std::fs::read(&theirs)?);
        ensure!(
            a == b,
            "{blocks} blocks: superblock or tree differ from veritysetup's"
        );

        // veritysetup's image with a random uuid passes our full check.
        std::fs::write(&theirs, &data)?;
        let output = veritysetup(&[
            "format",
            theirs_s,
            theirs_s,
            &format!("--data-blocks={blocks}"),
            &hash_offset,
            &format!("--salt={}", salt.to_hex()),
        ])?;
        ensure!(root_hash(&output)? == root_hex);
        let sb = verity::verify(&File::open(&theirs)?, 0, data_len, &root)?;
        ensure!(sb.salt == salt && sb.data_blocks == blocks);
    }
    Ok(())
}

/// The oracle can fail: veritysetup rejects a tampered block of our image, and accepts
/// nothing but the right root.
#[test]
fn veritysetup_rejects_tampering() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fs.img");
    let blocks = 300;
    random_data(&path, blocks)?;
    let file = File::options().read(true).write(true).open(&path)?;
    let (_, root) = verity::append(&file, 0, blocks * BLOCK_SIZE, &Salt::random()?)?;
    let p = path.to_str().context("path")?;
    let hash_offset = format!("--hash-offset={}", blocks * BLOCK_SIZE);
    veritysetup(&["verify", p, p, &hex::encode(root), &hash_offset])?;
    let mut wrong = root;
    wrong[0] ^= 1;
    ensure!(veritysetup(&["verify", p, p, &hex::encode(wrong), &hash_offset]).is_err());
    file.write_all_at(b"x", 200 * BLOCK_SIZE + 17)?;
    ensure!(veritysetup(&["verify", p, p, &hex::encode(root), &hash_offset]).is_err());
    Ok(())
}

/// `veritysetup dump` reads our superblock field by field as we meant it.
#[test]
fn veritysetup_dumps_our_superblock() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fs.img");
    random_data(&path, 5)?;
    let file = File::options().read(true).write(true).open(&path)?;
    let salt = Salt::random()?;
    let (superblock, _) = verity::append(&file, 0, 5 * BLOCK_SIZE, &salt)?;
    let p = path.to_str().context("path")?;
    let dump = veritysetup(&["dump", p, &format!("--hash-offset={}", 5 * BLOCK_SIZE)])?;
    let field = |name: &str| {
        dump.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("no {name} in {dump}"))
    };
    ensure!(field("UUID:")? == uuid_string(&superblock.uuid));
    ensure!(field("Hash type:")? == "1");
    ensure!(field("Data blocks:")? == "5");
    ensure!(field("Hash algorithm:")? == "sha256");
    ensure!(field("Salt:")? == salt.to_hex());
    // And the superblock veritysetup writes parses to the same fields.
    let mut bytes = vec![0; 4096];
    file.read_exact_at(&mut bytes, 5 * BLOCK_SIZE)?;
    ensure!(Superblock::parse(&bytes)? == superblock);
    Ok(())
}
