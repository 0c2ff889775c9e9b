//! `nstar install`: the package's digest first (the runtime checks the bytes it receives
//! against it), then the upload with a progress bar on stderr when it is a terminal.

use super::{args::InstallArgs, print};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use northstar_client::{
    api::{Response, Sha256},
    Client,
};
use sha2::Digest;
use std::{fs::File, io, io::IsTerminal, path::Path};

pub fn run(client: &mut Client, a: &InstallArgs, json: bool) -> anyhow::Result<()> {
    let digest = sha256(&a.npk).with_context(|| format!("{}", a.npk.display()))?;
    let bar = progress_bar(json);
    let result = client.install(&a.npk, &a.repository, Some(digest), &mut |sent, total| {
        bar.set_length(total);
        bar.set_position(sent);
    });
    bar.finish_and_clear();
    let container = result?;
    let response = Response::Installed {
        container: container.clone(),
    };
    print(json, &response, |_| {
        format!("installed {container} into {}\n", a.repository)
    })
}

/// The SHA-256 digest of the file at `path`.
fn sha256(path: &Path) -> io::Result<Sha256> {
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(Sha256(hasher.finalize().into()))
}

/// A bar over the bytes sent, hidden when stderr is not a terminal or the output is JSON.
fn progress_bar(json: bool) -> ProgressBar {
    if json || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "installing {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
