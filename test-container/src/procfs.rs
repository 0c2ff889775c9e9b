//! Parsers for the /proc text the report reads: status fields, mountinfo, cgroup
//! membership, /proc/net/dev and namespace links. Owns only turning text into values;
//! reading the files is [`crate::report`]'s job.

/// The value of `key:` in `/proc/<pid>/status`, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then_some(v.trim())
    })
}

/// What `scan-zombies` needs of `/proc/<pid>/stat`.
#[derive(Debug, PartialEq)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
}

/// Parses `/proc/<pid>/stat`: `pid (comm) state ppid ...`; the command name may hold
/// spaces and parentheses, so it ends at the last `)`.
pub fn stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Stat { comm, state, ppid })
}

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, PartialEq)]
pub struct Mount {
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    /// Per-mount options (`rw,nosuid,nodev,relatime`).
    pub options: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl Mount {
    /// Whether a per-mount option is set.
    pub fn has(&self, option: &str) -> bool {
        self.options.split(',').any(|o| o == option)
    }
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo; lines that do not have the documented shape are skipped.
pub fn mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 6 || right.len() < 3 {
                return None;
            }
            Some(Mount {
                mount_point: unescape(left[4]),
                options: left[5].to_string(),
                fs_type: unescape(right[0]),
                source: unescape(right[1]),
                super_options: right[2].to_string(),
            })
        })
        .collect()
}

/// One line of `/proc/<pid>/cgroup`: `hierarchy:controllers:path`.
#[derive(Debug, PartialEq)]
pub struct Cgroup {
    pub hierarchy: u32,
    pub controllers: String,
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup` (the path may itself contain colons).
pub fn cgroups(text: &str) -> Vec<Cgroup> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            Some(Cgroup {
                hierarchy: parts.next()?.parse().ok()?,
                controllers: parts.next()?.to_string(),
                path: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// Interface names from /proc/net/dev (two header lines, then `name: counters`).
pub fn net_dev(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_string()))
        .filter(|name| !name.is_empty())
        .collect()
}

/// The inode of a namespace link target such as `mnt:[4026531840]`.
pub fn ns_inode(target: &str) -> Option<u64> {
    let (_, rest) = target.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tx\nUmask:\t0022\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n\
                    Seccomp:\t2\nSeccomp_filters:\t1\n";
        assert_eq!(status_field(text, "CapEff"), Some("00000000a80425fb"));
        assert_eq!(status_field(text, "Seccomp"), Some("2"));
        assert_eq!(status_field(text, "Umask"), Some("0022"));
        assert_eq!(status_field(text, "CapAmb"), None);
    }

    #[test]
    fn stat_lines() {
        let s = stat("42 (a (b) c) Z 7 42 42 0 -1").unwrap();
        assert_eq!((s.comm.as_str(), s.state, s.ppid), ("a (b) c", 'Z', 7));
        assert_eq!(stat("1 (init) S 0 1").unwrap().state, 'S');
        assert_eq!(stat("1 (init)"), None);
        assert_eq!(stat("garbage"), None);
    }

    #[test]
    fn mountinfo_lines_with_optional_fields_and_escapes() {
        let text = "\
22 1 8:1 / / ro,relatime shared:1 - squashfs /dev/loop0 ro\n\
23 22 0:5 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
24 22 0:40 /x /my\\040dir rw,nodev master:3 shared:4 - tmpfs none rw,size=10k\n\
garbage\n";
        let m = mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, "/");
        assert_eq!(m[0].fs_type, "squashfs");
        assert_eq!(m[0].source, "/dev/loop0");
        assert!(m[0].has("ro") && !m[0].has("rw"));
        assert!(m[1].has("nosuid") && m[1].has("nodev") && m[1].has("noexec"));
        assert_eq!(m[2].mount_point, "/my dir");
        assert_eq!(m[2].super_options, "rw,size=10k");
        assert!(m[2].has("nodev") && !m[2].has("nosuid"));
    }

    #[test]
    fn unescape_leaves_plain_backslashes() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("a\\b"), "a\\b");
        assert_eq!(unescape("end\\"), "end\\");
    }

    #[test]
    fn cgroup_lines() {
        let c = cgroups("12:pids:/a/b\n1:name=systemd:/x:y\n0::/\n");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].controllers, "pids");
        assert_eq!(c[1].path, "/x:y");
        assert_eq!(c[2].hierarchy, 0);
        assert_eq!(c[2].controllers, "");
    }

    #[test]
    fn net_dev_names() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 1 2 3\n  eth0:4 5\n";
        assert_eq!(net_dev(text), vec!["lo", "eth0"]);
    }

    #[test]
    fn namespace_inodes() {
        assert_eq!(ns_inode("mnt:[4026531840]"), Some(4026531840));
        assert_eq!(ns_inode("pid_for_children:[4026531836]"), Some(4026531836));
        assert_eq!(ns_inode("mnt"), None);
    }
}
