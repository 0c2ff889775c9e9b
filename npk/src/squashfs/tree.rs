//! The source tree of an image: walked, checked, and completed with mount points and
//! device nodes.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Component, Path, PathBuf},
};

use super::{Error, Options};

/// Device nodes created for a `dev` mount: name, major, minor.
const DEV_NODES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// One entry of the image to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Dir { mode: u16 },
    File { mode: u16, source: PathBuf },
    Symlink { mode: u16, target: PathBuf },
    CharDevice { mode: u16, major: u32, minor: u32 },
}

/// The image's entries (the root excluded) by absolute image path, in backhand's order
/// (`Path` order: component by component, each compared as bytes).
pub(crate) type Tree = BTreeMap<PathBuf, Item>;

fn source_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Source {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the tree below `root`: the root's permission bits and every entry.
pub(crate) fn walk(root: &Path) -> Result<(u16, Tree), Error> {
    let meta = fs::metadata(root).map_err(source_error(root))?;
    if !meta.is_dir() {
        return Err(Error::RootNotADirectory(root.to_path_buf()));
    }
    let root_mode = (meta.mode() & 0o7777) as u16;
    let mut tree = Tree::new();
    // Iterative, so a deep tree cannot exhaust the stack.
    let mut pending = vec![(root.to_path_buf(), PathBuf::from("/"))];
    while let Some((dir, image_dir)) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(source_error(&dir))? {
            let entry = entry.map_err(source_error(&dir))?;
            let source = entry.path();
            let meta = fs::symlink_metadata(&source).map_err(source_error(&source))?;
            let mode = (meta.mode() & 0o7777) as u16;
            let file_type = meta.file_type();
            let image_path = image_dir.join(entry.file_name());
            let item = if file_type.is_dir() {
                pending.push((source, image_path.clone()));
                Item::Dir { mode }
            } else if file_type.is_file() {
                Item::File { mode, source }
            } else if file_type.is_symlink() {
                let target = fs::read_link(&source).map_err(source_error(&source))?;
                Item::Symlink { mode, target }
            } else {
                let kind = if file_type.is_fifo() {
                    "fifo"
                } else if file_type.is_socket() {
                    "socket"
                } else if file_type.is_char_device() {
                    "character device"
                } else if file_type.is_block_device() {
                    "block device"
                } else {
                    "file of unknown type"
                };
                return Err(Error::UnsupportedFileType { path: source, kind });
            };
            tree.insert(image_path, item);
        }
    }
    Ok((root_mode, tree))
}

/// Checks a mount point: absolute, no `.` or `..`, not empty.
fn check_mount_point(path: &Path) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::InvalidMountPoint {
        path: path.to_path_buf(),
        reason,
    };
    let text = path.to_str().ok_or_else(|| invalid("not UTF-8"))?;
    if !path.is_absolute() {
        return Err(invalid("not an absolute path"));
    }
    if text.split('/').any(|c| c == "." || c == "..") {
        return Err(invalid("contains '.' or '..'"));
    }
    let mut clean = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => clean.push(name),
            _ => return Err(invalid("contains '.' or '..'")),
        }
    }
    Ok(clean)
}

/// Makes `path` and its parents directories in `tree`, creating the missing ones.
fn ensure_dir(tree: &mut Tree, path: &Path, needed_by: &str) -> Result<(), Error> {
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();
    for dir in ancestors.into_iter().skip(1) {
        match tree.get(dir) {
            Some(Item::Dir { .. }) => {}
            Some(_) => {
                return Err(Error::NotADirectory {
                    path: dir.to_path_buf(),
                    needed_by: needed_by.to_string(),
                })
            }
            None => {
                tree.insert(dir.to_path_buf(), Item::Dir { mode: 0o755 });
            }
        }
    }
    Ok(())
}

/// Adds the directories for `opts.mount_points` and the device nodes for `opts.dev_nodes`.
pub(crate) fn add_mount_points(tree: &mut Tree, opts: &Options) -> Result<(), Error> {
    for mount_point in &opts.mount_points {
        let path = check_mount_point(mount_point)?;
        ensure_dir(
            tree,
            &path,
            &format!("mount point {}", mount_point.display()),
        )?;
    }
    if opts.dev_nodes {
        ensure_dir(tree, Path::new("/dev"), "the dev mount")?;
        for (name, major, minor) in DEV_NODES {
            let path = Path::new("/dev").join(name);
            if tree.contains_key(&path) {
                return Err(Error::DevNodeConflict { path });
            }
            tree.insert(
                path,
                Item::CharDevice {
                    mode: 0o666,
                    major,
                    minor,
                },
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_checked() {
        for bad in ["relative", "/a/../b", "/a/./b", "/.."] {
            assert!(
                matches!(
                    check_mount_point(Path::new(bad)),
                    Err(Error::InvalidMountPoint { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            check_mount_point(Path::new("/a//b/")).unwrap(),
            Path::new("/a/b")
        );
        assert_eq!(check_mount_point(Path::new("/")).unwrap(), Path::new("/"));
    }

    #[test]
    fn mount_point_below_a_file_is_named() {
        let mut tree = Tree::new();
        tree.insert(
            "/data".into(),
            Item::File {
                mode: 0o644,
                source: "x".into(),
            },
        );
        let opts = Options {
            mount_points: vec!["/data/db".into()],
            ..Options::default()
        };
        let err = add_mount_points(&mut tree, &opts).unwrap_err();
        assert!(matches!(&err, Error::NotADirectory { path, .. } if path == Path::new("/data")));
        assert!(err.to_string().contains("/data/db"), "{err}");
    }

    #[test]
    fn dev_nodes_and_parents_are_added() {
        let mut tree = Tree::new();
        let opts = Options {
            mount_points: vec!["/a/b".into()],
            dev_nodes: true,
            ..Options::default()
        };
        add_mount_points(&mut tree, &opts).unwrap();
        assert_eq!(tree.get(Path::new("/a")), Some(&Item::Dir { mode: 0o755 }));
        assert_eq!(
            tree.get(Path::new("/a/b")),
            Some(&Item::Dir { mode: 0o755 })
        );
        assert_eq!(
            tree.get(Path::new("/dev/tty")),
            Some(&Item::CharDevice {
                mode: 0o666,
                major: 5,
                minor: 0
            })
        );
        tree.remove(Path::new("/dev/tty"));
        tree.insert("/dev/tty".into(), Item::Dir { mode: 0o755 });
        tree.retain(|p, _| {
            !p.starts_with("/dev") || p == Path::new("/dev/tty") || p == Path::new("/dev")
        });
        let err = add_mount_points(&mut tree, &opts).unwrap_err();
        assert!(matches!(err, Error::DevNodeConflict { path } if path == Path::new("/dev/tty")));
    }
}
