//! Opening a package from arbitrary bytes (zip structure, comment, manifest) and verifying
//! its signature must never panic and must stay within bounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile_in_memory() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    if let Ok(npk) = npk::package::Npk::open(std::path::Path::new(&path)) {
        let key = npk::key::SecretKey::from_seed(&[1; 32]).public();
        let _ = npk.verify(&key);
    }
    let _ = npk::archive::Archive::read(&file);
});

fn tempfile_in_memory() -> std::io::Result<std::fs::File> {
    // An unlinked file in /dev/shm: no disk traffic, gone when closed.
    let path = format!("/dev/shm/npk-fuzz-{}", std::process::id());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}
