//! `nstar install`: the upload with a progress bar on stderr when it is a terminal; with
//! `--check-digest` the package's digest first, which the runtime checks the received
//! bytes against.

use super::{args::InstallArgs, print};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use northstar_client::{api::Response, package_sha256, Client};
use std::{io, io::IsTerminal};

pub fn run(client: &mut Client, a: &InstallArgs, json: bool) -> anyhow::Result<()> {
    let digest = a.check_digest.then(|| package_sha256(&a.npk)).transpose()?;
    let bar = progress_bar(json, "installing");
    let result = client.install(&a.npk, &a.repository, digest, &mut |sent, total| {
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

/// A bar over the bytes sent, hidden when stderr is not a terminal or the output is JSON;
/// `what` is its label (`installing`).
pub(super) fn progress_bar(json: bool, what: &str) -> ProgressBar {
    if json || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template = format!(
        "{what} {{wide_bar}} {{binary_bytes}}/{{binary_total_bytes}} {{binary_bytes_per_sec}} eta {{eta}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
