//! Installing `big` through the channel with the client library, and cutting the power
//! at the chosen moment; the orderly power-off through the channel.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use northstar_client::api::{ContainerId, RepositoryName};
use northstar_client::Client;

use super::{big_id, Context, APPS};
use crate::qemu::Qemu;
use crate::scenario::{drive, Error, Options};

/// The longest wait for an install's answer, and for each part of it to be sent.
pub(super) const INSTALL_TIMEOUT: Duration = Duration::from_secs(180);

/// Where to cut the power during an install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Once this many bytes of the package went to the socket.
    Sent(u64),
    /// Once the last byte went to the socket, before the answer: the guest may still be
    /// receiving, checking or placing the package.
    Delivered,
    /// Right after the answer.
    Answered,
}

/// One boot's machine and its connection through the channel.
pub(super) struct Machine<'a> {
    pub qemu: &'a mut Qemu,
    pub client: Client,
}

fn client_error(what: &'static str) -> impl Fn(northstar_client::Error) -> Error {
    move |source| Error::Client { what, source }
}

/// Install `big` through the channel and cut the power as `cut` says.
pub(super) fn install(cx: &Context<'_>, cut: Cut, m: &mut Machine<'_>) -> Result<String, Error> {
    let (big, size) = (cx.big.as_path(), cx.size);
    let (qemu, client) = (&mut *m.qemu, &mut m.client);
    let file = File::open(big).map_err(Error::io("open", big))?;
    let repository = RepositoryName::new(APPS).map_err(|e| Error::Io {
        step: "name the repository",
        path: PathBuf::from(APPS),
        source: io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
    })?;
    let started = Instant::now();
    match cut {
        Cut::Sent(at) => {
            let mut reader = CutReader {
                file,
                given: 0,
                at,
                cut: &mut |()| qemu.kill_now(),
                killed: None,
            };
            let result = client.install_from(&mut reader, size, &repository, None, &mut |_, _| {});
            let given = reader.given;
            if let Some(Err(e)) = reader.killed {
                return Err(e.into());
            }
            match result {
                Ok(c) => Err(Error::Io {
                    step: "cut the power during the install of",
                    path: PathBuf::from(c.to_string()),
                    source: io::Error::other("the install finished before the cut"),
                }),
                Err(_) => Ok(format!(
                    "power cut after {given} of {size} bytes were sent ({:.1} s)",
                    started.elapsed().as_secs_f64()
                )),
            }
        }
        Cut::Delivered => {
            let mut reader = file;
            let mut killed = None;
            let result =
                client.install_from(&mut reader, size, &repository, None, &mut |sent, total| {
                    if sent == total && killed.is_none() {
                        killed = Some(qemu.kill_now());
                    }
                });
            match killed {
                Some(Err(e)) => Err(e.into()),
                None => Err(Error::Io {
                    step: "cut the power after sending",
                    path: big.to_path_buf(),
                    source: io::Error::other(format!("the last byte was never sent: {result:?}")),
                }),
                Some(Ok(())) => Ok(format!(
                    "power cut once all {size} bytes were sent ({:.1} s), before the answer",
                    started.elapsed().as_secs_f64()
                )),
            }
        }
        Cut::Answered => {
            let mut reader = file;
            let installed = client
                .install_from(&mut reader, size, &repository, None, &mut |_, _| {})
                .map_err(client_error("install"));
            qemu.kill_now()?;
            let installed = installed?;
            Ok(format!(
                "{installed} installed in {:.1} s, power cut right after the answer",
                started.elapsed().as_secs_f64()
            ))
        }
    }
}

/// The package's bytes; once `at` bytes were given, the power is cut and the reading
/// fails.
struct CutReader<'a> {
    file: File,
    given: u64,
    at: u64,
    cut: &'a mut dyn FnMut(()) -> Result<(), crate::qemu::Error>,
    killed: Option<Result<(), crate::qemu::Error>>,
}

impl Read for CutReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given >= self.at {
            if self.killed.is_none() {
                self.killed = Some((self.cut)(()));
            }
            return Err(io::Error::other("the power was cut"));
        }
        let n = self.file.read(buf)?;
        self.given += n as u64;
        Ok(n)
    }
}

/// Uninstall `big` through the channel.
pub(super) fn uninstall_big(m: &mut Machine<'_>) -> Result<(), Error> {
    let id: ContainerId = big_id().parse().map_err(|e| Error::Io {
        step: "name the container",
        path: PathBuf::from(big_id()),
        source: io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")),
    })?;
    m.client
        .uninstall(&id, false)
        .map_err(client_error("uninstall"))
}

/// A shutdown request over the channel; the kernel's power-off and QEMU's exit with 0.
pub(super) fn shutdown(m: &mut Machine<'_>, options: &Options) -> Result<String, Error> {
    m.client.shutdown().map_err(client_error("shutdown"))?;
    let qemu = &mut *m.qemu;
    qemu.expect(drive::POWER_DOWN, options.exit_timeout)?;
    let status = qemu.wait_exit(options.exit_timeout)?;
    if status.code() != Some(0) {
        return Err(Error::Io {
            step: "power off",
            path: PathBuf::from("qemu"),
            source: io::Error::other(format!("qemu exited with {status}, expected 0")),
        });
    }
    Ok("shutdown requested; powered off".to_string())
}
