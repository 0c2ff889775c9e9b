//! `nstar update` and `nstar rollback`: a transaction, its notifications printed as they
//! come, and an exit status that says whether it committed ([`super::EXIT_ROLLED_BACK`]
//! otherwise).

use super::{
    args::{RollbackArgs, TransactionArgs, UpdateArgs},
    install::progress_bar,
    json_line, print, show,
};
use northstar_client::{
    api::{ContainerId, Notification, Permission, Response, UpdateOptions},
    package_sha256, Client, UpdateFile,
};
use std::{collections::BTreeSet, time::Duration};

pub fn update(client: &mut Client, a: &UpdateArgs, json: bool) -> anyhow::Result<()> {
    let digests = a
        .npks
        .iter()
        .map(|p| a.check_digest.then(|| package_sha256(p)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let files: Vec<UpdateFile<'_>> = a
        .npks
        .iter()
        .zip(digests)
        .map(|(path, sha256)| UpdateFile { path, sha256 })
        .collect();
    let options = options(&a.transaction)?;
    subscribe(client)?;
    let bar = progress_bar(json, "updating");
    let mut live = Live::new(json);
    let result = client.update(
        &files,
        &a.repository,
        options,
        &mut |sent, total| {
            bar.set_length(total);
            bar.set_position(sent);
            if sent == total {
                bar.finish_and_clear();
            }
        },
        &mut |n| live.show(n),
    );
    bar.finish_and_clear();
    let containers = result?;
    committed(live, containers, json)
}

pub fn rollback(client: &mut Client, a: &RollbackArgs, json: bool) -> anyhow::Result<()> {
    let options = options(&a.transaction)?;
    subscribe(client)?;
    let mut live = Live::new(json);
    let result = client.rollback(&a.name, a.repository.as_ref(), options, &mut |n| {
        live.show(n)
    });
    let containers = result?;
    committed(live, containers, json)
}

/// Subscribe when the connection may: the transaction's notifications then come live.
fn subscribe(client: &mut Client) -> anyhow::Result<()> {
    if client.permissions().contains(Permission::Notifications) {
        client.subscribe()?;
    }
    Ok(())
}

/// The answer of a transaction that committed: printed unless the text of the
/// `committed` notification said it already.
fn committed(live: Live, containers: Vec<ContainerId>, json: bool) -> anyhow::Result<()> {
    if let Some(e) = live.error {
        return Err(e);
    }
    if live.committed && !json {
        return Ok(());
    }
    print(json, &Response::Committed { containers }, |r| match r {
        Response::Committed { containers } => show::committed(containers) + "\n",
        _ => String::new(),
    })
}

/// The request's options.
fn options(t: &TransactionArgs) -> anyhow::Result<UpdateOptions> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(UpdateOptions {
        health: t.health,
        window_ms: t.window.map(ms),
        deadline_ms: t.deadline.map(ms),
        snapshot: match (t.snapshot, t.no_snapshot) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        downgrade: t.downgrade,
    })
}

/// The notifications of the transaction, printed as they come: the transaction's own,
/// and `ready` of its new versions.
struct Live {
    json: bool,
    new: BTreeSet<ContainerId>,
    committed: bool,
    /// Output that could not be written, reported after the answer.
    error: Option<anyhow::Error>,
}

impl Live {
    fn new(json: bool) -> Live {
        Live {
            json,
            new: BTreeSet::new(),
            committed: false,
            error: None,
        }
    }

    fn show(&mut self, n: &Notification) {
        let shown = match n {
            Notification::UpdateStarted { containers } => {
                self.new.extend(containers.iter().cloned());
                true
            }
            Notification::Committed { .. } => {
                self.committed = true;
                true
            }
            Notification::RolledBack { .. } => true,
            Notification::Healthy { container } | Notification::Ready { container } => {
                self.new.contains(container)
            }
            _ => false,
        };
        if !shown || self.error.is_some() {
            return;
        }
        let written = if self.json {
            json_line(n)
        } else {
            out!("{}", show::notification(n)).map_err(anyhow::Error::from)
        };
        self.error = written.err();
    }
}
