//! The board's configuration files (`board-configs/<board>/board.toml` and
//! `runtime.toml`), which go into the images as they are, and the few facts of them the
//! harness needs to build the images and the machine: the module list, whether a watchdog
//! is configured, the root and data devices, and the runtime's repositories.
//!
//! It does not validate the files: the init does (`doc/boot.md`), and its refusal is what
//! a boot test would show. Only what the harness itself relies on is checked here.

use std::path::{Path, PathBuf};

use crate::Board;

/// Where the data partition is mounted in the guest (`doc/boot.md`).
pub const DATA_MOUNT: &str = "/data";

/// Errors reading a board's configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// A repository of the runtime configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    /// Its directory in the guest (`dir`).
    pub dir: String,
}

impl Repository {
    /// The directory relative to the data partition's root, when it lies on it
    /// (`/data/northstar/repositories/system` → `northstar/repositories/system`).
    pub fn on_data(&self) -> Option<&str> {
        self.dir
            .strip_prefix(DATA_MOUNT)?
            .strip_prefix('/')
            .filter(|rest| !rest.is_empty())
    }
}

/// A board's configuration files and what the harness reads from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardFiles {
    /// `board-configs/<board>/board.toml` on the host.
    pub board_toml: PathBuf,
    /// `board-configs/<board>/runtime.toml` on the host.
    pub runtime_toml: PathBuf,
    /// `modules`, in order.
    pub modules: Vec<String>,
    /// Whether `[watchdog]` is there.
    pub watchdog: bool,
    /// `root.device`.
    pub root_device: String,
    /// `data.device`, when `[data]` is there.
    pub data_device: Option<String>,
    /// The runtime configuration's `[repositories.*]`, by name.
    pub repositories: Vec<Repository>,
    /// The runtime configuration's `data_dir`.
    pub data_dir: Option<String>,
}

impl BoardFiles {
    /// Reads `board-configs/<board>/` of the workspace.
    pub fn load(board: Board) -> Result<BoardFiles, Error> {
        let dir = crate::cargo::workspace_root()
            .join("board-configs")
            .join(board.config_dir());
        Self::load_from(&dir)
    }

    /// Reads `board.toml` and `runtime.toml` in `dir`.
    pub fn load_from(dir: &Path) -> Result<BoardFiles, Error> {
        let board_toml = dir.join("board.toml");
        let runtime_toml = dir.join("runtime.toml");
        let board = parse(&board_toml)?;
        let runtime = parse(&runtime_toml)?;
        let invalid = |path: &Path, reason: String| Error::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let modules = match board.get("modules") {
            None => Vec::new(),
            Some(toml::Value::Array(list)) => list
                .iter()
                .map(|m| m.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(&board_toml, "modules: not a list of strings".into()))?,
            Some(_) => return Err(invalid(&board_toml, "modules: not a list".into())),
        };
        let root_device = string(&board, "root", "device")
            .ok_or_else(|| invalid(&board_toml, "no root.device".into()))?;
        let data_device = match board.get("data") {
            None => None,
            Some(_) => Some(
                string(&board, "data", "device")
                    .ok_or_else(|| invalid(&board_toml, "[data] without device".into()))?,
            ),
        };
        let repositories = match runtime.get("repositories") {
            None => Vec::new(),
            Some(toml::Value::Table(repos)) => repos
                .iter()
                .map(|(name, repo)| {
                    let dir = repo
                        .get("dir")
                        .and_then(toml::Value::as_str)
                        .ok_or_else(|| {
                            invalid(&runtime_toml, format!("repositories.{name}: no dir"))
                        })?;
                    Ok(Repository {
                        name: name.clone(),
                        dir: dir.to_owned(),
                    })
                })
                .collect::<Result<_, Error>>()?,
            Some(_) => return Err(invalid(&runtime_toml, "repositories: not a table".into())),
        };
        let data_dir = match runtime.get("data_dir") {
            None => None,
            Some(toml::Value::String(dir)) => Some(dir.clone()),
            Some(_) => return Err(invalid(&runtime_toml, "data_dir: not a string".into())),
        };
        Ok(BoardFiles {
            modules,
            data_dir,
            watchdog: board.contains_key("watchdog"),
            root_device,
            data_device,
            repositories,
            board_toml,
            runtime_toml,
        })
    }

    /// The configuration the init ends up with when the kernel command line holds `args`:
    /// the `northstar.*` overrides of `doc/boot.md` that change what the harness relies
    /// on (`modules`, `root.device`, `data.device`, `data=off`, `watchdog=off`,
    /// `watchdog.device`), applied in order. Other arguments are left to the init, which
    /// checks every key.
    pub fn with_overrides<S: AsRef<str>>(&self, args: &[S]) -> BoardFiles {
        let mut files = self.clone();
        for arg in args {
            let Some((key, value)) = arg.as_ref().split_once('=') else {
                continue;
            };
            match key {
                "northstar.modules" => {
                    files.modules = value
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "northstar.root.device" => files.root_device = value.to_owned(),
                "northstar.data.device" => files.data_device = Some(value.to_owned()),
                "northstar.data" if value == "off" => files.data_device = None,
                "northstar.watchdog" if value == "off" => files.watchdog = false,
                "northstar.watchdog.device" => files.watchdog = true,
                _ => {}
            }
        }
        files
    }

    /// The directories the init lays out on the data partition at boot, relative to its
    /// root: every repository's on it and the runtime's `data_dir` when on it.
    pub fn data_layout(&self) -> Vec<String> {
        let data_dir = self.data_dir.as_ref().map(|dir| Repository {
            name: String::new(),
            dir: dir.clone(),
        });
        self.repositories
            .iter()
            .chain(data_dir.as_ref())
            .filter_map(Repository::on_data)
            .map(str::to_owned)
            .collect()
    }

    /// The repository `name`, which must lie on the data partition.
    pub fn data_repository(&self, name: &str) -> Result<&Repository, Error> {
        let repo = self
            .repositories
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::Invalid {
                path: self.runtime_toml.clone(),
                reason: format!(
                    "no repository {name:?} (have: {})",
                    self.repositories
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        match repo.on_data() {
            Some(_) => Ok(repo),
            None => Err(Error::Invalid {
                path: self.runtime_toml.clone(),
                reason: format!(
                    "repository {name:?} is at {}, not on the data partition ({DATA_MOUNT})",
                    repo.dir
                ),
            }),
        }
    }
}

fn parse(path: &Path) -> Result<toml::Table, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse().map_err(|e: toml::de::Error| Error::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn string(table: &toml::Table, section: &str, key: &str) -> Option<String> {
    table.get(section)?.get(key)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_x86_64_board_names_its_disks_watchdog_and_system_repository() {
        let files = BoardFiles::load(Board::X86_64).unwrap();
        assert_eq!(files.root_device, "/dev/vda");
        assert_eq!(files.data_device.as_deref(), Some("/dev/vdb"));
        assert!(files.watchdog);
        for module in ["virtio_blk", "dm-verity", "ext4", "i6300esb"] {
            assert!(files.modules.iter().any(|m| m == module), "{module}");
        }
        let system = files.data_repository("system").unwrap();
        assert_eq!(system.on_data(), Some("northstar/repositories/system"));
        assert_eq!(
            files.data_layout(),
            [
                "northstar/repositories/apps",
                "northstar/repositories/system",
                "northstar/persist"
            ]
        );
        assert!(files.data_repository("nonesuch").is_err());
    }

    #[test]
    fn overrides_switch_the_board_to_other_devices() {
        let files = BoardFiles::load(Board::Aarch64).unwrap();
        assert_eq!(files.root_device, "/dev/mmcblk0p2");
        let stand_in = files.with_overrides(&[
            "console=ttyAMA0",
            "northstar.modules=virtio_pci,virtio_blk,loop",
            "northstar.root.device=/dev/vda",
            "northstar.data.device=/dev/vdb",
            "northstar.log=debug",
        ]);
        assert_eq!(stand_in.modules, ["virtio_pci", "virtio_blk", "loop"]);
        assert_eq!(stand_in.root_device, "/dev/vda");
        assert_eq!(stand_in.data_device.as_deref(), Some("/dev/vdb"));
        assert!(stand_in.watchdog);
        assert_eq!(stand_in.board_toml, files.board_toml);

        let off = files.with_overrides(&["northstar.watchdog=off", "northstar.data=off"]);
        assert!(!off.watchdog);
        assert_eq!(off.data_device, None);
        assert!(files
            .with_overrides(&["northstar.modules="])
            .modules
            .is_empty());
        assert_eq!(files.with_overrides::<&str>(&[]), files);
    }

    #[test]
    fn parses_and_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let write = |board: &str, runtime: &str| {
            std::fs::write(dir.path().join("board.toml"), board).unwrap();
            std::fs::write(dir.path().join("runtime.toml"), runtime).unwrap();
            BoardFiles::load_from(dir.path())
        };
        let files = write(
            "name = \"b\"\nmodules = [\"loop\"]\n[root]\ndevice = \"/dev/sda\"\n",
            "[repositories.a]\ndir = \"/var/a\"\n[repositories.b]\ndir = \"/data/b\"\n",
        )
        .unwrap();
        assert_eq!(files.modules, ["loop"]);
        assert_eq!(files.data_layout(), ["b"]);
        assert!(!files.watchdog);
        assert_eq!(files.data_device, None);
        assert!(files.data_repository("a").is_err());
        assert_eq!(files.data_repository("b").unwrap().on_data(), Some("b"));
        assert!(write("modules = 3\n[root]\ndevice = \"x\"\n", "").is_err());
        assert!(write("[data]\n[root]\ndevice = \"x\"\n", "").is_err());
        assert!(write("name = \"b\"\n", "").is_err());
        assert!(write("[root]\ndevice = \"x\"\n", "repositories = 1").is_err());
        assert!(write("[root]\ndevice = \"x\"\n", "data_dir = 1").is_err());
        let files = write("[root]\ndevice = \"x\"\n", "data_dir = \"/data/p\"").unwrap();
        assert_eq!(files.data_layout(), ["p"]);
    }

    #[test]
    fn only_directories_below_data_are_on_it() {
        let repo = |dir: &str| Repository {
            name: "r".into(),
            dir: dir.into(),
        };
        assert_eq!(repo("/data/x/y").on_data(), Some("x/y"));
        assert_eq!(repo("/data").on_data(), None);
        assert_eq!(repo("/data/").on_data(), None);
        assert_eq!(repo("/database/x").on_data(), None);
    }
}
