use super::overrides::{self, KEYS};
use super::*;

const MINIMAL: &str = "name = \"test\"\n[root]\ndevice = \"/dev/vda\"\n";

fn param(key: &str, value: Option<&str>) -> Param {
    Param {
        key: key.to_string(),
        value: value.map(str::to_string),
    }
}

fn parse(text: &str, params: &[Param]) -> Result<Board, Error> {
    Board::parse(text, Path::new("/etc/northstar/board.toml"), params)
}

#[test]
fn defaults() {
    let b = parse(MINIMAL, &[]).unwrap();
    assert_eq!(b.name, "test");
    assert!(b.modules.is_empty());
    assert_eq!(b.reaction, Reaction::Reboot);
    assert_eq!(b.log, LogLevel::Info);
    assert_eq!(b.root.device, Path::new("/dev/vda"));
    assert_eq!(b.root.descriptor, Path::new("/etc/northstar/root.verity"));
    assert_eq!(
        b.root_signature(),
        Path::new("/etc/northstar/root.verity.sig")
    );
    assert_eq!(b.root.key, Path::new("/etc/northstar/root.pub"));
    assert_eq!(b.root.wait, Duration::from_secs(10));
    assert_eq!((b.root.hash.as_ref(), b.root.data_blocks), (None, None));
    assert_eq!(b.data, None);
    assert_eq!(b.watchdog, None);
    assert_eq!(b.runtime.config, Path::new("/etc/northstar/runtime.toml"));
}

#[test]
fn every_key() {
    let text = r#"
name = "full"
modules = ["virtio_blk", "dm-verity"]
reaction = "hold"
log = "debug"
[root]
device = "/dev/vda"
descriptor = "/etc/r.verity"
signature = "/etc/r.sig"
key = "/etc/r.pub"
wait = "500ms"
hash = "0000000000000000000000000000000000000000000000000000000000000000"
salt = "1111111111111111111111111111111111111111111111111111111111111111"
data_blocks = 12
[data]
device = "/dev/vdb"
fs = "ext2"
wait = "1m"
[watchdog]
device = "/dev/watchdog1"
timeout = "20s"
[runtime]
config = "/etc/rt.toml"
"#;
    let b = parse(text, &[]).unwrap();
    assert_eq!(b.reaction, Reaction::Hold);
    assert_eq!(b.log.filter(), log::LevelFilter::Debug);
    assert_eq!(b.root_signature(), Path::new("/etc/r.sig"));
    assert_eq!(b.root.wait, Duration::from_millis(500));
    assert_eq!(b.root.data_blocks, Some(12));
    let data = b.data.unwrap();
    assert_eq!(
        (data.fs.as_str(), data.wait),
        ("ext2", Duration::from_secs(60))
    );
    let w = b.watchdog.unwrap();
    assert_eq!(
        (w.device, w.timeout),
        ("/dev/watchdog1".into(), Duration::from_secs(20))
    );
    assert_eq!(b.runtime.config, Path::new("/etc/rt.toml"));
}

#[test]
fn file_errors_name_the_key() {
    let e = parse(&format!("{MINIMAL}colour = \"red\"\n"), &[]).unwrap_err();
    assert!(matches!(e, Error::Parse { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with("/etc/northstar/board.toml: line 4: unknown field `colour`"),
        "{text}"
    );
    let e = parse(
        "name = \"x\"\n[root]\ndevice = \"/dev/vda\"\nwait = \"5x\"\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("invalid duration \"5x\""), "{e}");
    let e = parse("name = \"x\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("missing field `root`"), "{e}");
    for (text, key) in [
        ("name = \"a b\"\n[root]\ndevice = \"/dev/vda\"\n".to_string(), "name"),
        (format!("{MINIMAL}[watchdog]\ndevice = \"/dev/w\"\ntimeout = \"1500ms\"\n"), "watchdog.timeout"),
        (format!("{MINIMAL}[watchdog]\ndevice = \"dev/w\"\n"), "watchdog.device"),
        (format!("{MINIMAL}[data]\ndevice = \"/dev/vdb\"\nfs = \"EXT4\"\n"), "data.fs"),
        (format!("{MINIMAL}salt = \"{}\"\n", "a".repeat(64)), "root.salt"),
        (format!("{MINIMAL}data_blocks = 0\nhash = \"{0}\"\nsalt = \"{0}\"\n", "a".repeat(64)), "root.data_blocks"),
        (format!("{MINIMAL}wait = \"11m\"\n"), "root.wait"),
        ("name = \"x\"\nmodules = [\"loop\", \"dm-mod\", \"dm_mod\"]\n[root]\ndevice = \"/dev/vda\"\n".to_string(), "modules[2]"),
        ("name = \"x\"\nmodules = [\"a.ko\"]\n[root]\ndevice = \"/dev/vda\"\n".to_string(), "modules[0]"),
        ("name = \"x\"\n[root]\ndevice = \"/dev/../vda\"\n".to_string(), "root.device"),
    ] {
        let e = parse(&text, &[]).unwrap_err();
        assert_eq!(e.key(), Some(key), "{text:?}: {e}");
        assert!(e.to_string().starts_with(&format!("/etc/northstar/board.toml: {key}: ")), "{e}");
    }
}

#[test]
fn overrides_apply_in_order() {
    let params = [
        param("reaction", Some("poweroff")),
        param("reaction", Some("hold")),
        param("modules", Some("virtio_pci, virtio_blk,,loop")),
        param("root.device", Some("/dev/sda1")),
        param("root.wait", Some("2s")),
        param("data.device", Some("/dev/sda2")),
        param("data.fs", Some("ext2")),
        param("watchdog.device", Some("/dev/watchdog0")),
        param("watchdog.timeout", Some("30s")),
        param("log", Some("warn")),
        param("name", Some("stand-in")),
    ];
    let b = parse(MINIMAL, &params).unwrap();
    assert_eq!(b.reaction, Reaction::Hold, "the last one wins");
    assert_eq!(b.modules, ["virtio_pci", "virtio_blk", "loop"]);
    assert_eq!(b.root.device, Path::new("/dev/sda1"));
    assert_eq!(b.root.wait, Duration::from_secs(2));
    let data = b.data.unwrap();
    assert_eq!(
        (data.device.as_path(), data.fs.as_str()),
        (Path::new("/dev/sda2"), "ext2")
    );
    assert_eq!(b.watchdog.unwrap().timeout, Duration::from_secs(30));
    assert_eq!((b.log, b.name.as_str()), (LogLevel::Warn, "stand-in"));
    // Optional tables go with "off".
    let text = format!(
        "{MINIMAL}[data]\ndevice = \"/dev/vdb\"\n[watchdog]\ndevice = \"/dev/w\"\n\
         [channel]\nport = \"org.northstar.api\"\n"
    );
    let b = parse(
        &text,
        &[param("watchdog", Some("off")), param("data", Some("off"))],
    )
    .unwrap();
    assert_eq!((b.data, b.watchdog), (None, None));
    // An empty module list.
    assert!(parse(MINIMAL, &[param("modules", Some(""))])
        .unwrap()
        .modules
        .is_empty());
}

#[test]
fn override_errors_name_the_command_line_key() {
    for (p, key, message) in [
        (
            param("data.devic", Some("/dev/x")),
            "northstar.data.devic",
            "no such board key",
        ),
        (
            param("watchdog.timeout", Some("10s")),
            "northstar.watchdog.timeout",
            "the board has no [watchdog]",
        ),
        (
            param("data.wait", Some("1s")),
            "northstar.data.wait",
            "the board has no [data]",
        ),
        (
            param("root.wait", Some("10")),
            "northstar.root.wait",
            "invalid duration \"10\"",
        ),
        (
            param("reaction", Some("explode")),
            "northstar.reaction",
            "unknown reaction \"explode\"",
        ),
        (
            param("log", Some("loud")),
            "northstar.log",
            "unknown log level",
        ),
        (
            param("root.data_blocks", Some("-1")),
            "northstar.root.data_blocks",
            "not a whole number",
        ),
        (
            param("reaction", None),
            "northstar.reaction",
            "needs a value",
        ),
        (
            param("watchdog", Some("on")),
            "northstar.watchdog",
            "only \"off\"",
        ),
        // Rules checked after all overrides name the key the command line set.
        (
            param("root.device", Some("sda")),
            "northstar.root.device",
            "must be an absolute path",
        ),
        (
            param("modules", Some("loop,a/b")),
            "northstar.modules[1]",
            "must be 1 to 64",
        ),
        (
            param("root.hash", Some(&"0".repeat(64))),
            "northstar.root.hash",
            "root.salt is missing",
        ),
    ] {
        let e = parse(MINIMAL, std::slice::from_ref(&p)).unwrap_err();
        assert_eq!(e.key(), Some(key), "{p:?}: {e}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("kernel command line: {key}: ")) && text.contains(message),
            "{p:?}: {text}"
        );
    }
    // The whole root hash from the command line.
    let hash = "ab".repeat(32);
    let b = parse(
        MINIMAL,
        &[
            param("root.hash", Some(&hash)),
            param("root.salt", Some(&hash)),
            param("root.data_blocks", Some("7")),
        ],
    )
    .unwrap();
    assert_eq!(b.root.data_blocks, Some(7));
}

#[test]
fn every_listed_key_can_be_set() {
    let text = format!(
        "{MINIMAL}[data]\ndevice = \"/dev/vdb\"\n[watchdog]\ndevice = \"/dev/w\"\n\
         [channel]\nport = \"org.northstar.api\"\n"
    );
    let hex = "c".repeat(64);
    for key in KEYS {
        let value = match *key {
            "modules" => "loop",
            "reaction" => "hold",
            "log" => "debug",
            "root.wait" | "data.wait" | "watchdog.timeout" | "channel.wait" => "3s",
            "root.hash" | "root.salt" => hex.as_str(),
            "root.data_blocks" => "3",
            "data" | "watchdog" | "channel" => "off",
            "channel.port" => "org.example.port",
            "data.fs" => "ext4",
            "name" => "renamed",
            _ => "/dev/other",
        };
        let mut board = parse(&text, &[]).unwrap();
        overrides::apply(&mut board, &param(key, Some(value)))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

#[test]
fn fallback_reactions() {
    let bad = "reaction = \"hold\"\ncolour = 1\n";
    assert_eq!(fallback_reaction(Some(bad), &[]), Reaction::Hold);
    assert_eq!(
        fallback_reaction(Some(bad), &[param("reaction", Some("poweroff"))]),
        Reaction::PowerOff
    );
    assert_eq!(
        fallback_reaction(Some(bad), &[param("reaction", Some("nonsense"))]),
        Reaction::Hold
    );
    assert_eq!(
        fallback_reaction(Some("[[[ not toml"), &[]),
        Reaction::Reboot
    );
    assert_eq!(fallback_reaction(None, &[]), Reaction::Reboot);
}

#[test]
fn reactions_print_as_they_are_written() {
    for r in [Reaction::Reboot, Reaction::PowerOff, Reaction::Hold] {
        assert_eq!(r.to_string().parse::<Reaction>(), Ok(r));
    }
}

#[test]
fn the_channel() {
    let b = parse(MINIMAL, &[]).unwrap();
    assert_eq!(b.channel, None);
    let text = format!("{MINIMAL}[channel]\nport = \"org.northstar.api\"\n");
    let b = parse(&text, &[]).unwrap();
    let channel = b.channel.unwrap();
    assert_eq!(channel.port.as_deref(), Some("org.northstar.api"));
    assert_eq!(channel.wait, Duration::from_secs(10));
    let b = parse(&text, &[param("channel.wait", Some("2s"))]).unwrap();
    assert_eq!(b.channel.unwrap().wait, Duration::from_secs(2));
    let b = parse(&text, &[param("channel", Some("off"))]).unwrap();
    assert_eq!(b.channel, None);
    let b = parse(MINIMAL, &[param("channel.port", Some("vport.a"))]).unwrap();
    assert_eq!(b.channel.unwrap().port.as_deref(), Some("vport.a"));
    let e = parse(MINIMAL, &[param("channel.wait", Some("2s"))]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "kernel command line: northstar.channel.wait: the board has no [channel]: set \
         northstar.channel.port first"
    );
    let bad = format!("{MINIMAL}[channel]\nport = \"a/b\"\n");
    let e = parse(&bad, &[]).unwrap_err();
    assert_eq!(e.key(), Some("channel.port"));
    assert!(
        e.to_string().contains("\"a/b\" must be 1 to 64 characters"),
        "{e}"
    );
    let e = parse(&text, &[param("channel.port", Some(""))]).unwrap_err();
    assert_eq!(e.key(), Some("northstar.channel.port"));
    let e = parse(
        &format!("{MINIMAL}[channel]\nport = \"p\"\nname = \"x\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `name`"), "{e}");
}

#[test]
fn a_channel_on_a_serial_line() {
    let text = format!("{MINIMAL}[channel]\ndevice = \"/dev/ttyAMA1\"\n");
    let channel = parse(&text, &[]).unwrap().channel.unwrap();
    assert_eq!(channel.device.as_deref(), Some(Path::new("/dev/ttyAMA1")));
    assert_eq!(channel.baud, 115_200);
    let text = format!("{MINIMAL}[channel]\ndevice = \"/dev/ttyGS0\"\nbaud = 921600\n");
    assert_eq!(parse(&text, &[]).unwrap().channel.unwrap().baud, 921_600);
    for (bad, key, says) in [
        (
            "device = \"/dev/ttyS1\"\nbaud = 1234\n",
            "channel.baud",
            "1234 is not a speed",
        ),
        ("device = \"ttyS1\"\n", "channel.device", "absolute"),
        (
            "port = \"p\"\ndevice = \"/dev/ttyS1\"\n",
            "channel",
            "exactly one of port",
        ),
        ("wait = \"1s\"\n", "channel", "exactly one of port"),
    ] {
        let e = parse(&format!("{MINIMAL}[channel]\n{bad}"), &[]).unwrap_err();
        assert_eq!(e.key(), Some(key), "{bad}: {e}");
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
}
