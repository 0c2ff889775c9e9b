//! The management subcommands: connect to a running runtime's management API with
//! `northstar-client`, send one request, print the answer as text or JSON.
//!
//! The JSON output is the protocol's answer object (`{"type":"containers",...}`), one per
//! line for the subcommands that keep printing (`logs -f`, `notifications`, `update`,
//! `rollback`). Exit status: 0 ok, 1 the runtime refused the request (its error code is
//! printed), 2 usage error, 3 connection or protocol error, 4 timeout, 5 an update
//! transaction rolled back.

pub mod args;
mod install;
mod show;
mod system;
mod update;
mod values;
mod verify;

pub use show::table;
pub use verify::verify;

use crate::error::Stdout;
use anyhow::Context;
use args::{Global, LogsArgs, ManageCommand, NotificationsArgs, StartArgs, StopArgs};
use northstar_client::{
    api::{ApiError, Args, ContainerId, Env, Notification, Response, ServerMessage, StopTimeout},
    Client, Error, ErrorKind, Options, TcpAuthentication, TlsIdentity, Url,
};
use serde::Serialize;
use std::{collections::BTreeMap, process::ExitCode, time::Duration};

/// The runtime configuration's default socket (`[api] socket`, see doc/config.md).
pub const DEFAULT_URL: &str = "unix:///run/northstar/api.sock";
/// Environment variable with the URL to use when `--url` is not given.
pub const URL_VARIABLE: &str = "NSTAR_URL";
/// Longest wait for the connection and for each answer without `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status: the runtime refused the request.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: the connection failed or the server broke the protocol.
pub const EXIT_CONNECTION: u8 = 3;
/// Exit status: no answer in time.
pub const EXIT_TIMEOUT: u8 = 4;
/// Exit status: an update or rollback transaction rolled back (the versions before it
/// are active again).
pub const EXIT_ROLLED_BACK: u8 = 5;

/// Carry out a management subcommand.
pub fn run(command: &ManageCommand, global: &Global) -> anyhow::Result<()> {
    let mut client = connect(global)?;
    let json = global.json;
    match command {
        ManageCommand::List => {
            let containers = client.list()?;
            print(json, &Response::Containers { containers }, |r| match r {
                Response::Containers { containers } => show::containers(containers),
                _ => String::new(),
            })
        }
        ManageCommand::Start(a) => start(&mut client, a, json),
        ManageCommand::Kill(a) => {
            client.kill(&a.container, a.signal)?;
            done(
                json,
                format!("sent signal {} to {}", a.signal.number(), a.container),
            )
        }
        ManageCommand::Stop(a) => {
            let status = client.stop(&a.container, grace(a)?)?;
            let response = Response::Stopped {
                container: a.container.clone(),
                status,
            };
            print(json, &response, |_| {
                format!("stopped {}: {}\n", a.container, show::exit(&status))
            })
        }
        ManageCommand::Restart(a) => {
            let restarted = client.restart(&a.container, grace(a)?)?;
            let response = Response::Restarted {
                container: a.container.clone(),
                status: restarted.status,
                pid: restarted.pid,
            };
            print(json, &response, |_| {
                format!(
                    "restarted {} (pid {}); the old run ended with {}\n",
                    a.container,
                    restarted.pid,
                    show::exit(&restarted.status)
                )
            })
        }
        ManageCommand::Install(a) => install::run(&mut client, a, json),
        ManageCommand::Update(a) => update::update(&mut client, a, json),
        ManageCommand::Rollback(a) => update::rollback(&mut client, a, json),
        ManageCommand::Enable(a) => {
            client.enable(&a.name, a.repository.as_ref())?;
            done(json, format!("enabled {}: it starts at boot", a.name))
        }
        ManageCommand::Disable(a) => {
            client.disable(&a.name, a.repository.as_ref())?;
            done(
                json,
                format!("disabled {}: it does not start at boot", a.name),
            )
        }
        ManageCommand::Uninstall(a) => {
            client.uninstall(&a.container, a.wipe)?;
            let wiped = if a.wipe { " and its data" } else { "" };
            done(json, format!("uninstalled {}{wiped}", a.container))
        }
        ManageCommand::Mount(a) => {
            client.mount(&a.container)?;
            done(json, format!("mounted {}", a.container))
        }
        ManageCommand::Umount(a) => {
            client.umount(&a.container)?;
            done(json, format!("unmounted {}", a.container))
        }
        ManageCommand::Repositories => {
            let repositories = client.repositories()?;
            print(
                json,
                &Response::Repositories { repositories },
                |r| match r {
                    Response::Repositories { repositories } => show::repositories(repositories),
                    _ => String::new(),
                },
            )
        }
        ManageCommand::Logs(a) => logs(&mut client, a, json),
        ManageCommand::BootReport => {
            let report = client.boot_report()?;
            let report = Box::new(report);
            print(json, &Response::BootReport { report }, |r| match r {
                Response::BootReport { report } => show::boot_report(report),
                _ => String::new(),
            })
        }
        ManageCommand::Shutdown => {
            client.shutdown()?;
            done(json, "the runtime is shutting down".into())
        }
        ManageCommand::Reboot => {
            client.reboot()?;
            done(json, "the system is rebooting".into())
        }
        ManageCommand::Notifications(a) => notifications(&mut client, a, json),
        ManageCommand::System(command) => system::run(&mut client, command, json),
    }
}

/// `nstar inspect <container>`.
pub fn inspect(container: &ContainerId, global: &Global) -> anyhow::Result<()> {
    let mut client = connect(global)?;
    let inspection = client.inspect(container)?;
    print(
        global.json,
        &Response::Inspect(Box::new(inspection)),
        |r| match r {
            Response::Inspect(i) => show::inspection(i),
            _ => String::new(),
        },
    )
}

fn connect(global: &Global) -> anyhow::Result<Client> {
    let url = match &global.url {
        Some(url) => url.clone(),
        None => match std::env::var(URL_VARIABLE) {
            Ok(text) if !text.is_empty() => text
                .parse::<Url>()
                .with_context(|| format!("${URL_VARIABLE}"))?,
            _ => DEFAULT_URL.parse()?,
        },
    };
    let timeout = global.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let timeout = (!timeout.is_zero()).then_some(timeout);
    let options = Options {
        connect_timeout: timeout,
        request_timeout: timeout,
        client_name: format!("nstar {}", env!("CARGO_PKG_VERSION")),
        tcp: match (&global.tls_ca, &global.tls_cert, &global.tls_key) {
            (Some(ca), Some(cert), Some(key)) => {
                TcpAuthentication::Tls(TlsIdentity::load(ca, cert, key)?)
            }
            _ if global.unauthenticated_tcp => TcpAuthentication::Unauthenticated,
            _ => TcpAuthentication::Refuse,
        },
    };
    Ok(Client::connect_url(&url, options)?)
}

fn start(client: &mut Client, a: &StartArgs, json: bool) -> anyhow::Result<()> {
    let args = if a.args.is_empty() {
        None
    } else {
        Some(Args::new(a.args.clone()).context("--arg")?)
    };
    let env = if a.env.is_empty() {
        None
    } else {
        let mut map = BTreeMap::new();
        for (name, value) in &a.env {
            if map.insert(name.clone(), value.clone()).is_some() {
                anyhow::bail!("--env: {name} given twice");
            }
        }
        Some(Env::new(map).context("--env")?)
    };
    let pid = client.start_with(&a.container, args, env)?;
    let response = Response::Started {
        container: a.container.clone(),
        pid,
    };
    print(json, &response, |_| {
        format!("started {} (pid {pid})\n", a.container)
    })
}

fn grace(a: &StopArgs) -> anyhow::Result<Option<StopTimeout>> {
    a.grace
        .map(|d| StopTimeout::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX)))
        .transpose()
        .context("--grace")
}

fn logs(client: &mut Client, a: &LogsArgs, json: bool) -> anyhow::Result<()> {
    if !a.follow {
        let logs = client.logs(&a.container, a.tail)?;
        return print_logs(json, logs.lines, logs.truncated);
    }
    let mut follow = client.follow_logs(&a.container, a.tail)?;
    let initial = follow.initial().clone();
    print_logs(json, initial.lines, initial.truncated)?;
    for lines in follow.by_ref() {
        let lines = lines?;
        if json {
            json_line(&serde_json::json!({ "type": "log", "lines": lines }))?;
        } else {
            for line in lines {
                out!("{line}")?;
            }
        }
    }
    if json {
        json_line(&serde_json::json!({ "type": "log_end" }))?;
    }
    Ok(())
}

fn print_logs(json: bool, lines: Vec<String>, truncated: bool) -> anyhow::Result<()> {
    if json {
        return json_line(&Response::Logs { lines, truncated });
    }
    for line in lines {
        out!("{line}")?;
    }
    Ok(())
}

fn notifications(client: &mut Client, a: &NotificationsArgs, json: bool) -> anyhow::Result<()> {
    client.subscribe()?;
    if a.count == Some(0) {
        return Ok(());
    }
    let limit = a.count.unwrap_or(u64::MAX);
    let mut shutdown = false;
    for (seen, notification) in (1..).zip(client.notifications()) {
        let notification = match notification {
            Ok(n) => n,
            // The runtime said it shuts down, then went away: the normal end.
            Err(Error::Closed { .. }) if shutdown => break,
            Err(e) => return Err(e.into()),
        };
        shutdown = matches!(notification, Notification::Shutdown {});
        if json {
            json_line(&notification)?;
        } else {
            out!("{}", show::notification(&notification))?;
        }
        if seen >= limit {
            break;
        }
    }
    Ok(())
}

/// Print the answer: as JSON, or as `text` renders it.
fn print(
    json: bool,
    response: &Response,
    text: impl Fn(&Response) -> String,
) -> anyhow::Result<()> {
    if json {
        json_line(response)
    } else {
        use std::io::Write as _;
        std::io::stdout()
            .write_all(text(response).as_bytes())
            .map_err(Stdout)?;
        Ok(())
    }
}

/// An `ok` answer: `{"type":"ok"}`, or a sentence.
fn done(json: bool, sentence: String) -> anyhow::Result<()> {
    print(json, &Response::Ok {}, |_| format!("{sentence}\n"))
}

fn json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    out!("{text}")?;
    Ok(())
}

/// The exit status of a failed management subcommand, and its report: `None` when the
/// error is not one of the client's (the caller's default applies).
pub fn report(error: &anyhow::Error, json: bool) -> Option<ExitCode> {
    let client = error.downcast_ref::<Error>()?;
    let rolled_back = matches!(client.api_error(), Some(ApiError::RolledBack { .. }));
    let code = match client.kind() {
        ErrorKind::Refused if rolled_back => EXIT_ROLLED_BACK,
        ErrorKind::Refused => EXIT_REFUSED,
        ErrorKind::Timeout => EXIT_TIMEOUT,
        ErrorKind::Connection => EXIT_CONNECTION,
        ErrorKind::Local => EXIT_REFUSED,
    };
    let mut text = crate::error::chain(error.as_ref());
    if let Some(api) = client.api_error() {
        text.push_str(&format!(" [{}]", api.code()));
        if json {
            let message = ServerMessage::error(None, api.clone());
            let _ = json_line(&message);
        }
    }
    err!("nstar: error: {text}");
    Some(ExitCode::from(code))
}
