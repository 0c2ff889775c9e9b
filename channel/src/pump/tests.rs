//! The pump end to end in one process: an echo server stands in for the API socket, a
//! guest pump relays to it, a "chardev" thread plays QEMU's socket (one host connection
//! at a time, the guest's stream kept), and host pumps (the proxy, or one client) connect
//! to it.

use super::*;
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    thread,
};

/// A server that answers each line with the line and how many it got on the connection.
fn echo_server(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut n = 0;
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    n += 1;
                    if writeln!(writer, "{n} {line}").is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// The guest behind a stand-in of QEMU's chardev socket, its refusal a line of text.
fn guest_behind_chardev(api: &Path, chardev: &Path) {
    let refusal = Box::new(|e: &io::Error| format!("refused: {e}\n").into_bytes());
    crate::testing::guest_behind_chardev(api, chardev, refusal).unwrap();
}

/// A proxy: a host pump that connects to `chardev` and serves `listen`; dropped with
/// the returned stop handle's socket shutdown.
fn proxy(chardev: &Path, listen: &Path) -> UnixStream {
    let listener = UnixListener::bind(listen).unwrap();
    let link = UnixStream::connect(chardev).unwrap();
    link.set_nonblocking(true).unwrap();
    let handle = link.try_clone().unwrap();
    thread::spawn(move || {
        let mut pump = Pump::new(Role::Host, Sessions::Accept(listener), 64).unwrap();
        let mut link = link;
        assert_eq!(pump.run(&mut link, OnEof::End).unwrap(), Ended::Link);
    });
    handle
}

fn ask(socket: &Path, lines: &[&str]) -> Vec<String> {
    let stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::new();
    for line in lines {
        writeln!(writer, "{line}").unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        answers.push(answer.trim_end().to_owned());
    }
    answers
}

#[test]
fn clients_one_after_another_and_at_once_and_a_new_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, chardev) = (tmp.path().join("api"), tmp.path().join("chardev"));
    echo_server(&api);
    guest_behind_chardev(&api, &chardev);
    let listen = tmp.path().join("proxy");
    let stop = proxy(&chardev, &listen);
    for i in 0..50 {
        let line = format!("client {i}");
        assert_eq!(
            ask(&listen, &[&line, "again"]),
            [format!("1 {line}"), "2 again".into()]
        );
    }
    let threads: Vec<_> = (0..10)
        .map(|i| {
            let listen = listen.clone();
            thread::spawn(move || {
                let line = format!("parallel {i}");
                let lines: Vec<String> = (0..20).map(|j| format!("{line} {j}")).collect();
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                let answers = ask(&listen, &refs);
                for (j, answer) in answers.iter().enumerate() {
                    assert_eq!(answer, &format!("{} {line} {j}", j + 1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // A long session stays while others come and go; then the proxy is replaced.
    let long = UnixStream::connect(&listen).unwrap();
    for i in 0..10 {
        assert_eq!(ask(&listen, &["x"]), ["1 x"], "{i}");
    }
    let mut w = long.try_clone().unwrap();
    writeln!(w, "still here").unwrap();
    let mut reader = BufReader::new(long.try_clone().unwrap());
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    assert_eq!(answer, "1 still here\n");
    stop.shutdown(Shutdown::Both).unwrap();
    // The old proxy's clients end.
    long.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    answer.clear();
    assert_eq!(reader.read_line(&mut answer).unwrap_or(0), 0);
    std::fs::remove_file(&listen).unwrap();
    let _stop = proxy(&chardev, &listen);
    for i in 0..20 {
        assert_eq!(ask(&listen, &["after"]), ["1 after"], "{i}");
    }
}

#[test]
fn one_client_speaks_directly_and_the_pump_ends_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, chardev) = (tmp.path().join("api"), tmp.path().join("chardev"));
    echo_server(&api);
    guest_behind_chardev(&api, &chardev);
    for i in 0..20 {
        let (mine, theirs) = UnixStream::pair().unwrap();
        let link = UnixStream::connect(&chardev).unwrap();
        link.set_nonblocking(true).unwrap();
        let pump = thread::spawn(move || {
            let mut pump = Pump::new(Role::Host, Sessions::One(Some(theirs)), 1).unwrap();
            let mut link = link;
            pump.run(&mut link, OnEof::End).unwrap()
        });
        mine.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut w = mine.try_clone().unwrap();
        writeln!(w, "direct {i}").unwrap();
        let mut reader = BufReader::new(mine);
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert_eq!(answer, format!("1 direct {i}\n"));
        drop(w);
        drop(reader);
        assert_eq!(pump.join().unwrap(), Ended::Session);
    }
}

#[test]
fn a_refused_session_gets_the_refusal_and_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, chardev) = (tmp.path().join("no-api"), tmp.path().join("chardev"));
    guest_behind_chardev(&api, &chardev);
    let listen = tmp.path().join("proxy");
    let _stop = proxy(&chardev, &listen);
    let stream = UnixStream::connect(&listen).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut text = String::new();
    BufReader::new(stream).read_to_string(&mut text).unwrap();
    assert!(text.starts_with("refused: "), "{text}");
}

/// A server that sends back every byte it gets.
fn raw_echo_server(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            thread::spawn(move || {
                let mut back = stream.try_clone().unwrap();
                let _ = io::copy(&mut stream, &mut back);
            });
        }
    });
}

#[test]
fn a_serial_line_carries_every_byte_value() {
    use nix::{
        fcntl::OFlag,
        pty::{grantpt, posix_openpt, ptsname_r, unlockpt},
    };
    let tmp = tempfile::tempdir().unwrap();
    let api = tmp.path().join("api");
    raw_echo_server(&api);
    // The guest on a pseudo-terminal's slave, set up as a serial line (raw: no echo, no
    // translation of CR, LF or control characters, no signals).
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = PathBuf::from(ptsname_r(&master).unwrap());
    let mut line = crate::serial::open(&slave, crate::serial::DEFAULT_BAUD).unwrap();
    thread::spawn(move || {
        let refusal = Box::new(|_: &io::Error| Vec::new());
        let sessions = Sessions::Connect {
            socket: api,
            refusal,
        };
        let mut pump = Pump::new(Role::Guest, sessions, 4).unwrap();
        pump.run(&mut line, OnEof::Wait).unwrap();
    });
    // The host on the master, one session, every byte value many times over.
    let master = std::fs::File::from(std::os::fd::OwnedFd::from(master));
    let mut flags = OFlag::from_bits_truncate(
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL).unwrap(),
    );
    flags.insert(OFlag::O_NONBLOCK);
    nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let (mine, theirs) = UnixStream::pair().unwrap();
    let pump = thread::spawn(move || {
        let mut pump = Pump::new(Role::Host, Sessions::One(Some(theirs)), 1).unwrap();
        let mut master = master;
        pump.run(&mut master, OnEof::End).unwrap()
    });
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
    let mut writer = mine.try_clone().unwrap();
    let sent = data.clone();
    let writing = thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    mine.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut back = Vec::new();
    (&mine).read_to_end(&mut back).unwrap();
    writing.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    drop(mine);
    assert_eq!(pump.join().unwrap(), Ended::Session);
}
