//! The text output of the management subcommands: tables and `key  value` lines. The
//! JSON output is the protocol's answer objects (`doc/nstar.md`).

use super::values::{bytes, elapsed, signal_name};
use northstar_client::api::{
    BootOutcome, BootReport, CgroupStats, ContainerId, ContainerInfo, ContainerState, ExitStatus,
    Inspection, Notification, RepositoryInfo,
};

/// Rows under a header, columns padded to their widest cell, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn state(state: ContainerState) -> &'static str {
    match state {
        ContainerState::Stopped => "stopped",
        ContainerState::Starting => "starting",
        ContainerState::Running => "running",
        ContainerState::Stopping => "stopping",
        ContainerState::Restarting => "restarting",
    }
}

/// `exit code 0`, `signal 15 (SIGTERM)`.
pub fn exit(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Exit { code } => format!("exit code {code}"),
        ExitStatus::Signal { signal } => format!("signal {signal} ({})", signal_name(*signal)),
    }
}

pub fn containers(containers: &[ContainerInfo]) -> String {
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            vec![
                c.container.to_string(),
                c.repository.to_string(),
                if c.resource { "resource" } else { "app" }.into(),
                state(c.state).into(),
                or_dash(c.pid),
                or_dash(c.uptime_ms.map(elapsed)),
                yes(c.mounted).into(),
                c.restarts.to_string(),
                or_dash(c.last_exit.as_ref().map(exit)),
                active(c),
            ]
        })
        .collect();
    table(
        &[
            "CONTAINER",
            "REPOSITORY",
            "TYPE",
            "STATE",
            "PID",
            "UPTIME",
            "MOUNTED",
            "RESTARTS",
            "LAST EXIT",
            "ACTIVE",
        ],
        &rows,
    )
}

/// The compact `ACTIVE` cell: `yes` or `no`, `,ready` when its program said `READY=1`.
fn active(c: &ContainerInfo) -> String {
    let ready = if c.ready { ",ready" } else { "" };
    format!("{}{ready}", yes(c.active))
}

/// `committed hello:0.0.2, message:0.1.3`.
pub fn committed(containers: &[ContainerId]) -> String {
    format!("committed {}", list(containers))
}

fn list(containers: &[ContainerId]) -> String {
    containers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn repositories(repositories: &[RepositoryInfo]) -> String {
    let rows: Vec<Vec<String>> = repositories
        .iter()
        .map(|r| {
            vec![
                r.name.to_string(),
                yes(r.verified).into(),
                r.packages.to_string(),
                bytes(r.bytes),
                or_dash(r.max_packages),
                or_dash(r.max_bytes.map(bytes)),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "VERIFIED",
            "PACKAGES",
            "SIZE",
            "MAX PACKAGES",
            "MAX SIZE",
        ],
        &rows,
    )
}

/// `key  value` lines, keys padded.
fn pairs(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

pub fn inspection(i: &Inspection) -> String {
    let info = &i.info;
    let m = &i.manifest;
    let mut lines = vec![
        ("container", info.container.to_string()),
        ("repository", info.repository.to_string()),
        (
            "type",
            if info.resource { "resource" } else { "app" }.into(),
        ),
        ("state", state(info.state).into()),
        ("mounted", yes(info.mounted).into()),
        ("restarts", info.restarts.to_string()),
        ("last exit", or_dash(info.last_exit.as_ref().map(exit))),
        ("active", yes(info.active).into()),
        ("ready", yes(info.ready).into()),
        ("status", or_dash(info.status.as_ref())),
        (
            "init",
            or_dash(m.init.as_ref().map(|p| p.display().to_string())),
        ),
        ("args", m.args.join(" ")),
        ("uid/gid", format!("{}/{}", m.uid, m.gid)),
    ];
    if let Some(p) = &i.process {
        lines.push(("pid", p.pid.to_string()));
        lines.push(("uptime", elapsed(p.uptime_ms)));
        let overridden = if p.overridden { " (overridden)" } else { "" };
        lines.push(("running args", format!("{}{overridden}", p.args.join(" "))));
    }
    if let Some(cgroup) = &i.cgroup {
        lines.extend(cgroup_lines(cgroup));
    }
    if let Some(s) = &i.selinux {
        let applied = match (&s.reason, s.applied) {
            (_, true) => "applied".to_string(),
            (Some(reason), false) => format!("not applied: {reason}"),
            (None, false) => "not applied".to_string(),
        };
        lines.push(("selinux", format!("{} ({applied})", s.context)));
    }
    pairs(&lines)
}

fn cgroup_lines(c: &CgroupStats) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(m) = &c.memory {
        let mut text = format!("{} in use", bytes(m.current));
        if let Some(peak) = m.peak {
            text.push_str(&format!(", peak {}", bytes(peak)));
        }
        text.push_str(&format!(", limit {}", or_dash(m.limit.map(bytes))));
        text.push_str(&format!(", oom kills {}", m.events.oom_kill));
        lines.push(("memory", text));
    }
    if let Some(cpu) = &c.cpu {
        let ms = |usec: u64| elapsed(usec / 1000);
        lines.push((
            "cpu",
            format!(
                "{} (user {}, system {})",
                ms(cpu.usage_usec),
                ms(cpu.user_usec),
                ms(cpu.system_usec)
            ),
        ));
    }
    if let Some(p) = &c.pids {
        lines.push((
            "pids",
            format!("{} (limit {})", p.current, or_dash(p.limit)),
        ));
    }
    lines
}

pub fn boot_report(r: &BootReport) -> String {
    let mut fields = vec![
        ("kernel", format!("{} ms", r.kernel_ms)),
        (
            "finished",
            or_dash(r.finished_ms.map(|ms| format!("{ms} ms"))),
        ),
    ];
    if let Some(slot) = &r.slot {
        fields.push(("slot", slot.clone()));
    }
    if let Some(previous) = &r.previous_slot {
        fields.push(("previous slot", previous.clone()));
    }
    if r.development {
        fields.push((
            "image",
            "development: unverified repositories accepted".to_string(),
        ));
    }
    if let Some(panic) = &r.previous_panic {
        fields.push(("previous boot", format!("ended in a panic: {panic}")));
    }
    let mut text = pairs(&fields);
    text.push('\n');
    let steps: Vec<Vec<String>> = r
        .steps
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                format!("{} ms", s.start_ms),
                format!("{} ms", s.took_ms),
            ]
        })
        .collect();
    text.push_str(&table(&["STEP", "START", "TOOK"], &steps));
    text.push('\n');
    let containers: Vec<Vec<String>> = r
        .containers
        .iter()
        .map(|c| match c {
            BootOutcome::Pending { container } => {
                vec![
                    container.to_string(),
                    "pending".into(),
                    "-".into(),
                    String::new(),
                ]
            }
            BootOutcome::Started { container, at_ms } => vec![
                container.to_string(),
                "started".into(),
                format!("{at_ms} ms"),
                String::new(),
            ],
            BootOutcome::Failed {
                container,
                at_ms,
                reason,
            } => vec![
                container.to_string(),
                "failed".into(),
                format!("{at_ms} ms"),
                reason.clone(),
            ],
        })
        .collect();
    text.push_str(&table(
        &["CONTAINER", "OUTCOME", "AT", "REASON"],
        &containers,
    ));
    text
}

pub fn notification(n: &Notification) -> String {
    match n {
        Notification::Started { container, pid } => format!("started {container} (pid {pid})"),
        Notification::Failed { container, reason } => format!("failed {container}: {reason}"),
        Notification::Exited {
            container,
            status,
            oom,
        } => {
            let oom = if *oom { " (the OOM killer acted)" } else { "" };
            format!("exited {container}: {}{oom}", exit(status))
        }
        Notification::Oom { container, kills } => {
            format!("oom {container}: {kills} processes killed in this run")
        }
        Notification::Restarting {
            container,
            attempt,
            delay_ms,
        } => format!("restarting {container}: attempt {attempt} in {delay_ms} ms"),
        Notification::GaveUp {
            container,
            attempts,
        } => format!("gave up {container} after {attempts} restarts"),
        Notification::Installed { container } => format!("installed {container}"),
        Notification::Uninstalled { container } => format!("uninstalled {container}"),
        Notification::Critical { container, reason } => {
            format!("critical {container}: {reason}")
        }
        Notification::Shutdown {} => "shutdown".into(),
        Notification::Lagged { missed } => format!("lagged: {missed} notifications missed"),
        Notification::UpdateStarted { containers } => {
            format!("update started: {}", list(containers))
        }
        Notification::Healthy { container } => format!("healthy {container}"),
        Notification::Committed { containers } => committed(containers),
        Notification::RolledBack { containers, reason } => {
            format!("rolled back {}: {reason}", list(containers))
        }
        Notification::Ready { container } => format!("ready {container}"),
        Notification::VerifyFailed { container, reason } => {
            format!("verify failed {container}: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned() {
        let text = table(
            &["A", "LONG HEADER"],
            &[
                vec!["wide cell".into(), "x".into()],
                vec!["b".into(), String::new()],
            ],
        );
        assert_eq!(text, "A          LONG HEADER\nwide cell  x\nb\n");
    }

    #[test]
    fn exits() {
        assert_eq!(exit(&ExitStatus::Exit { code: 1 }), "exit code 1");
        assert_eq!(
            exit(&ExitStatus::Signal { signal: 9 }),
            "signal 9 (SIGKILL)"
        );
    }
}
