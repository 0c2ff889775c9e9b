use super::*;
use std::{
    process::Command,
    time::{Duration, Instant},
};

/// Reap on the calling thread until `pid` is among the reaped, for at most 30 s.
fn reap_until(pid: Pid) -> Vec<(Pid, WaitStatus)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut all = Vec::new();
    while Instant::now() < deadline {
        let reaped = reap();
        all.extend(reaped.children);
        if all.iter().any(|(p, _)| *p == pid) {
            return all;
        }
        assert!(!reaped.none_left, "{pid} is no child of this thread");
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{pid} was not reaped within 30 s");
}

#[test]
// The child is reaped by the function under test, not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn another_threads_children_are_left_alone() {
    // The runtime's event loop thread clones containers; the main thread's reaper must
    // never take its children (the runtime waits for them through pidfds).
    let child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    // Let it end: a zombie is what a careless waitpid(-1) would take.
    std::thread::sleep(Duration::from_millis(100));
    let other = std::thread::spawn(reap).join().unwrap();
    assert!(other.children.is_empty(), "{:?}", other.children);
    assert!(other.none_left, "that thread has no children of its own");
    // The thread that spawned it reaps it, with its status.
    let reaped = reap_until(pid);
    assert!(
        reaped.contains(&(pid, WaitStatus::Exited(pid, 7))),
        "{reaped:?}"
    );
    // Nothing of this thread is left.
    assert!(reap().none_left);
}

#[test]
fn signals_arrive_on_the_signalfd() {
    // A thread of its own: the mask is per thread, and this one ends with the test.
    std::thread::spawn(|| {
        let fd = block().unwrap();
        assert!(pending(&fd).is_empty());
        for signal in [Signal::SIGUSR1, Signal::SIGTERM] {
            // raise(3) signals the calling thread.
            nix::sys::signal::raise(signal).unwrap();
        }
        let mut got = pending(&fd);
        got.sort_by_key(|s| *s as i32);
        assert_eq!(got, [Signal::SIGUSR1, Signal::SIGTERM]);
        assert!(pending(&fd).is_empty());
    })
    .join()
    .unwrap();
}

#[test]
fn meanings() {
    assert_eq!(meaning(Signal::SIGCHLD), Some(Request::Reap));
    for s in [Signal::SIGTERM, Signal::SIGUSR2, Signal::SIGPWR] {
        assert_eq!(meaning(s), Some(Request::PowerOff), "{s}");
    }
    for s in [Signal::SIGINT, Signal::SIGUSR1] {
        assert_eq!(meaning(s), Some(Request::Reboot), "{s}");
    }
    assert_eq!(meaning(Signal::SIGHUP), None);
    for s in SIGNALS {
        assert!(set().contains(s));
        assert!(meaning(s).is_some());
    }
}
