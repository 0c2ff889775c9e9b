//! User-defined network namespaces: created when the runtime starts, joined by containers
//! with `network: !namespace <name>`, removed at shutdown.
//!
//! Each namespace is a file `run_dir/netns/<name>` (a bind mount of the namespace, as
//! `ip netns` does under /run/netns) with `lo` up and, when configured, a veth pair: `eth0`
//! inside with its address and default route, the outer end in the runtime's namespace
//! with an address or as a port of a bridge. This module owns that set-up; the config
//! schema is in [`config`], what a container joins is decided by the start.

pub mod config;
mod netlink;

use config::Network;
use netlink::{index, Netlink};
use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{setns, unshare, CloneFlags},
};
use std::{
    fs::{self, File},
    io,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

/// A failure to create a namespace, naming it and the step.
#[derive(Debug, thiserror::Error)]
#[error("network namespace {namespace}: {step}")]
pub struct Error {
    namespace: String,
    step: &'static str,
    #[source]
    source: io::Error,
}

/// The namespaces and bridges the runtime created.
#[derive(Debug, Default)]
pub struct Networks {
    namespaces: Vec<(String, PathBuf, Option<String>)>,
    bridges: Vec<String>,
}

/// Where the file of namespace `name` lives.
pub fn netns_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join("netns").join(name)
}

impl Networks {
    /// Create every configured bridge and namespace. On error, what was created so far is
    /// removed again.
    pub fn create(network: &Network, run_dir: &Path) -> Result<Networks, Error> {
        let mut networks = Networks::default();
        if let Err(e) = networks.create_all(network, run_dir) {
            networks.remove();
            return Err(e);
        }
        Ok(networks)
    }

    fn create_all(&mut self, network: &Network, run_dir: &Path) -> Result<(), Error> {
        if network.namespaces.is_empty() {
            return Ok(());
        }
        let fail = |namespace: &str, step: &'static str| {
            let namespace = namespace.to_string();
            move |source: io::Error| Error {
                namespace,
                step,
                source,
            }
        };
        let nl = Netlink::open().map_err(fail("-", "open rtnetlink"))?;
        for (name, bridge) in &network.bridges {
            nl.create_bridge(name)
                .map_err(fail(name, "create the bridge"))?;
            self.bridges.push(name.clone());
            let link = index(name).map_err(fail(name, "find the bridge"))?;
            if let Some(net) = bridge.address {
                nl.add_address(link, net.address, net.prefix)
                    .map_err(fail(name, "address the bridge"))?;
            }
            nl.set_up(link).map_err(fail(name, "set the bridge up"))?;
        }
        for (name, ns) in &network.namespaces {
            let path = netns_path(run_dir, name);
            new_namespace(&path).map_err(fail(name, "create the namespace"))?;
            let outer = ns.address.map(|_| ns.host_name(name));
            self.namespaces
                .push((name.clone(), path.clone(), outer.clone()));
            let Some(outer) = outer else {
                continue;
            };
            let file = File::open(&path).map_err(fail(name, "open the namespace"))?;
            nl.create_veth(&outer, "eth0", file.as_raw_fd())
                .map_err(fail(name, "create the veth pair"))?;
            let link = index(&outer).map_err(fail(name, "find the outer end"))?;
            if let Some(bridge) = &ns.bridge {
                let master = index(bridge).map_err(fail(name, "find the bridge"))?;
                nl.set_master(link, master)
                    .map_err(fail(name, "join the bridge"))?;
            }
            if let Some(net) = ns.host_address {
                nl.add_address(link, net.address, net.prefix)
                    .map_err(fail(name, "address the outer end"))?;
            }
            nl.set_up(link)
                .map_err(fail(name, "set the outer end up"))?;
            let (address, gateway) = (ns.address, ns.gateway);
            inside(&file, move |nl| {
                let eth0 = index("eth0")?;
                if let Some(net) = address {
                    nl.add_address(eth0, net.address, net.prefix)?;
                }
                nl.set_up(eth0)?;
                if let Some(gateway) = gateway {
                    nl.add_default_route(gateway)?;
                }
                Ok(())
            })
            .map_err(fail(name, "configure eth0"))?;
        }
        Ok(())
    }

    /// Remove every namespace and bridge this value created (errors are logged).
    pub fn remove(&mut self) {
        let nl = Netlink::open().ok();
        for (name, path, outer) in self.namespaces.drain(..) {
            if let (Some(nl), Some(outer)) = (&nl, outer) {
                // Deleting one end of a veth pair deletes both.
                if let Ok(link) = index(&outer) {
                    let _ = nl.delete(link);
                }
            }
            if let Err(e) = umount2(&path, MntFlags::MNT_DETACH) {
                log::warn!("network namespace {name}: unmount {}: {e}", path.display());
            }
            let _ = fs::remove_file(&path);
        }
        for bridge in self.bridges.drain(..) {
            if let (Some(nl), Ok(link)) = (&nl, index(&bridge)) {
                let _ = nl.delete(link);
            }
        }
    }
}

/// Create a network namespace with `lo` up and bind it to `path`. Runs on a short-lived
/// thread: `unshare(CLONE_NEWNET)` changes only the calling thread's namespace.
fn new_namespace(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    File::create(path)?;
    let path = path.to_path_buf();
    std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        let none: Option<&str> = None;
        mount(
            Some("/proc/thread-self/ns/net"),
            &path,
            none,
            MsFlags::MS_BIND,
            none,
        )?;
        let nl = Netlink::open()?;
        nl.set_up(index("lo")?)
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

/// Run `f` with a netlink socket inside the namespace of `file`, on a short-lived thread.
fn inside(
    file: &File,
    f: impl FnOnce(&Netlink) -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let file = file.try_clone()?;
    std::thread::spawn(move || -> io::Result<()> {
        setns(&file, CloneFlags::CLONE_NEWNET)?;
        let nl = Netlink::open()?;
        f(&nl)
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?
}

impl Drop for Networks {
    fn drop(&mut self) {
        self.remove();
    }
}
