//! Parser tests: every verb, its argument forms and its rejections.

use super::*;

fn ok(arg: &str) -> Step {
    parse(arg).unwrap_or_else(|e| panic!("{e}"))
}

fn bad(arg: &str) -> String {
    parse(arg).expect_err(arg).reason
}

#[test]
fn report_to_file_or_stdout() {
    assert_eq!(
        ok("report:/r/a.json"),
        Step::Report(Some("/r/a.json".into()))
    );
    assert_eq!(ok("report:-"), Step::Report(None));
    assert_eq!(ok("report"), Step::Report(None));
    assert_eq!(bad("report:"), "needs a file or -");
}

#[test]
fn exit_codes_are_bytes() {
    assert_eq!(ok("exit:0"), Step::Exit(0));
    assert_eq!(ok("exit:255"), Step::Exit(255));
    assert!(parse("exit:256").is_err());
    assert!(parse("exit:-1").is_err());
    assert_eq!(bad("exit"), "needs an argument");
    assert_eq!(bad("exit:"), "needs an argument");
}

#[test]
fn signals_by_name_or_number() {
    assert_eq!(ok("signal:SEGV"), Step::Signal(libc::SIGSEGV));
    assert_eq!(ok("signal:SIGKILL"), Step::Signal(libc::SIGKILL));
    assert_eq!(ok("signal:6"), Step::Signal(6));
    assert_eq!(bad("signal:FOO"), "unknown signal");
    assert_eq!(ok("ignore:TERM"), Step::Ignore(libc::SIGTERM));
    assert!(parse("ignore:KILL").is_err());
}

#[test]
fn durations_with_fractions() {
    assert_eq!(ok("sleep:0.2"), Step::Sleep(Duration::from_millis(200)));
    assert_eq!(ok("sleep:3"), Step::Sleep(Duration::from_secs(3)));
    assert_eq!(ok("spin:1.5"), Step::Spin(Duration::from_millis(1500)));
    for b in ["sleep:-1", "sleep:inf", "sleep:NaN", "sleep:x", "sleep"] {
        assert!(parse(b).is_err(), "{b}");
    }
    assert_eq!(ok("sleep-forever"), Step::SleepForever);
    assert_eq!(bad("sleep-forever:1"), "takes no argument");
}

#[test]
fn print_text_keeps_commas_and_colons() {
    assert_eq!(
        ok("print:3"),
        Step::Print {
            stream: Stream::Stdout,
            count: 3,
            text: None
        }
    );
    assert_eq!(
        ok("eprint:2,a, b:c"),
        Step::Print {
            stream: Stream::Stderr,
            count: 2,
            text: Some("a, b:c".into())
        }
    );
    assert_eq!(
        ok("print:1,"),
        Step::Print {
            stream: Stream::Stdout,
            count: 1,
            text: Some(String::new())
        }
    );
    assert_eq!(bad("print:x,y"), "bad line count");
}

#[test]
fn flood_to_either_stream() {
    assert_eq!(
        ok("flood:1000"),
        Step::Flood {
            stream: Stream::Stdout,
            bytes: 1000
        }
    );
    assert_eq!(
        ok("flood:10,stderr"),
        Step::Flood {
            stream: Stream::Stderr,
            bytes: 10
        }
    );
    assert!(parse("flood:10,tty").is_err());
}

#[test]
fn files() {
    assert_eq!(
        ok("write:/data/x,hello, world"),
        Step::Write {
            path: "/data/x".into(),
            text: "hello, world".into(),
            append: false
        }
    );
    assert_eq!(
        ok("append:/data/x,"),
        Step::Write {
            path: "/data/x".into(),
            text: String::new(),
            append: true
        }
    );
    assert_eq!(bad("write:/data/x"), "needs <file>,<text>");
    assert_eq!(bad("write:,x"), "empty file name");
    assert_eq!(ok("read:/etc/x"), Step::Read("/etc/x".into()));
    assert_eq!(ok("mkdir:/d"), Step::Mkdir("/d".into()));
    assert_eq!(ok("stat:/"), Step::Stat("/".into()));
}

#[test]
fn syscalls_by_name_number_and_constants() {
    assert_eq!(
        ok("syscall:getpid"),
        Step::Syscall {
            call: Call::Getpid,
            args: vec![],
            path: None
        }
    );
    assert_eq!(
        ok("syscall:unshare,CLONE_NEWUSER|CLONE_NEWNS"),
        Step::Syscall {
            call: Call::Unshare,
            args: vec![(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as i64],
            path: None
        }
    );
    assert_eq!(
        ok("syscall:39,1,-2,0x3"),
        Step::Syscall {
            call: Call::Number(39),
            args: vec![1, -2, 3],
            path: None
        }
    );
    assert_eq!(
        ok("syscall:mknod"),
        Step::Syscall {
            call: Call::Mknod,
            args: vec![],
            path: Some(MKNOD_PATH.into())
        }
    );
    assert_eq!(
        ok("syscall:mknod,/report/null"),
        Step::Syscall {
            call: Call::Mknod,
            args: vec![],
            path: Some("/report/null".into())
        }
    );
    assert!(bad("syscall:getpid,1").contains("at most 0"));
    assert!(bad("syscall:frobnicate").contains("unknown syscall"));
    assert!(bad("syscall:umask,abc").contains("bad integer"));
    assert!(parse("syscall:1,2,3,4,5,6,7").is_ok());
    assert!(parse("syscall:1,2,3,4,5,6,7,8").is_err());
    assert!(parse("syscall:CLONE_NEWNS").is_err());
    assert_eq!(Call::PivotRoot.name(), "pivot_root");
    assert_eq!(Call::Number(7).name(), "7");
}

#[test]
fn processes_memory_and_network() {
    assert_eq!(ok("fork-bomb"), Step::ForkBomb { max: FORK_BOMB_MAX });
    assert_eq!(ok("fork-bomb:10"), Step::ForkBomb { max: 10 });
    assert_eq!(ok("orphans:3"), Step::Orphans(3));
    assert_eq!(ok("children:2"), Step::Children(2));
    assert_eq!(ok("zombies:1"), Step::Zombies(1));
    assert_eq!(ok("alloc:64"), Step::Alloc { mib: 64 });
    assert_eq!(ok("wait-signal"), Step::WaitSignal);
    assert_eq!(ok("escape"), Step::Escape);
    assert_eq!(ok("net"), Step::Net);
    assert_eq!(
        ok("connect:127.0.0.1:8080"),
        Step::Connect("127.0.0.1:8080".parse().unwrap())
    );
    assert_eq!(
        ok("listen:[::1]:0"),
        Step::Listen("[::1]:0".parse().unwrap())
    );
    assert!(parse("connect:127.0.0.1").is_err());
    assert!(parse("orphans:-1").is_err());
}

#[test]
fn all_or_nothing() {
    assert_eq!(
        parse_all(&["print:1", "exit:3"]).unwrap(),
        vec![
            Step::Print {
                stream: Stream::Stdout,
                count: 1,
                text: None
            },
            Step::Exit(3)
        ]
    );
    let e = parse_all(&["print:1", "bogus", "exit:3"]).unwrap_err();
    assert_eq!(e.arg, "bogus");
    assert_eq!(e.reason, "unknown verb");
    assert_eq!(e.to_string(), "invalid step \"bogus\": unknown verb");
}

#[test]
fn scan_zombies_needs_a_directory() {
    assert_eq!(
        ok("scan-zombies:/host/proc"),
        Step::ScanZombies("/host/proc".into())
    );
    assert_eq!(bad("scan-zombies"), "needs an argument");
}

#[test]
fn console_requests() {
    assert_eq!(ok("console:reboot"), Step::Console(ConsoleRequest::Reboot));
    assert_eq!(
        ok("console:shutdown"),
        Step::Console(ConsoleRequest::Shutdown)
    );
    let step = ok("console:wait-exit,hello-world:0.0.1");
    assert_eq!(
        step,
        Step::Console(ConsoleRequest::WaitExit(
            "hello-world:0.0.1".parse().unwrap()
        ))
    );
    if let Step::Console(request) = step {
        assert_eq!(request.name(), "wait-exit");
    }
    assert!(bad("console:wait-exit,hello-world").starts_with("wait-exit: "));
    assert!(bad("console:power").contains("expected reboot"));
    let id: ContainerId = "victim:0.0.1".parse().unwrap();
    assert_eq!(
        ok("console:kill,victim:0.0.1"),
        Step::Console(ConsoleRequest::Kill(id.clone()))
    );
    assert_eq!(
        ok("console:inspect,victim:0.0.1"),
        Step::Console(ConsoleRequest::Inspect(id.clone()))
    );
    assert_eq!(
        ok("console:logs,victim:0.0.1"),
        Step::Console(ConsoleRequest::Logs(id))
    );
    assert!(bad("console:kill,victim").starts_with("kill: "));
    assert!(bad("console:reboot,now").contains("expected reboot"));
    assert_eq!(bad("console"), "needs an argument");
}

#[test]
fn exec_takes_a_program_and_one_argument() {
    assert_eq!(
        ok("exec:/bin/x"),
        Step::Exec {
            program: "/bin/x".into(),
            arg: None
        }
    );
    assert_eq!(
        ok("exec:/bin/x,print:1,a,b"),
        Step::Exec {
            program: "/bin/x".into(),
            arg: Some("print:1,a,b".into())
        }
    );
    assert_eq!(bad("exec"), "needs an argument");
    assert_eq!(bad("exec:,a"), "empty program");
}

#[test]
fn notify_assignments_and_keep_alives() {
    assert_eq!(
        ok("notify:READY=1,STATUS=up"),
        Step::Notify("READY=1\nSTATUS=up".into())
    );
    assert_eq!(bad("notify"), "needs an argument");
    assert_eq!(ok("watchdog:3"), Step::Watchdog(3));
    assert_eq!(bad("watchdog:x"), "bad keep-alive count");
}
