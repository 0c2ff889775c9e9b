//! The relay with a socket pair standing in for the port (its end closed by the test is a
//! host that disconnected) and a listening socket standing in for the API server.

use super::*;
use std::{
    io::{BufRead, BufReader},
    os::{fd::OwnedFd, unix::net::UnixListener},
    time::{Duration, Instant},
};

const HELLO: &str = "{\"type\":\"hello\",\"version\":\"1.0\",\"client\":\"test\"}\n";
const LIST: &str = "{\"type\":\"request\",\"id\":1,\"request\":{\"type\":\"list\"}}\n";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A relay on a thread named `name`; the host's end of the port.
fn relay(name: &str, socket: &Path) -> UnixStream {
    let (host, guest) = UnixStream::pair().unwrap();
    guest.set_nonblocking(true).unwrap();
    let port = File::from(OwnedFd::from(guest));
    let relay = Relay::new(port, socket, 65536).unwrap();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || relay.run())
        .unwrap();
    host.set_read_timeout(Some(TIMEOUT)).unwrap();
    host
}

fn accept(listener: &UnixListener) -> BufReader<UnixStream> {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    BufReader::new(stream)
}

fn line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// User and system time of this process's thread named `name`, in clock ticks.
fn cpu_ticks(name: &str) -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread {name}");
}

#[test]
fn sessions_get_connections_of_their_own_and_a_closed_port_does_not_spin() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut host = relay("relay-a", &socket);

    // The first session: its bytes arrive as they were sent, the answer comes back.
    host.write_all(format!("{HELLO}{LIST}").as_bytes()).unwrap();
    let mut first = accept(&listener);
    assert_eq!(line(&mut first), HELLO);
    assert_eq!(line(&mut first), LIST);
    first.get_mut().write_all(b"{\"answer\":1}\n").unwrap();
    let mut from_host = BufReader::new(host.try_clone().unwrap());
    assert_eq!(line(&mut from_host), "{\"answer\":1}\n");

    // A second `hello` before the port read as closed: a new connection, and the first
    // one is closed.
    host.write_all(HELLO.as_bytes()).unwrap();
    let mut second = accept(&listener);
    assert_eq!(line(&mut second), HELLO);
    assert_eq!(
        line(&mut first),
        "",
        "the first session's connection is closed"
    );

    // The host goes away: the API connection is closed too.
    drop(from_host);
    drop(host);
    assert_eq!(line(&mut second), "");

    // The port now reads as closed: the relay sleeps in epoll instead of spinning.
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks("relay-a");
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_ticks("relay-a") - before;
    assert!(spent <= 2, "the relay used {spent} ticks while idle");
}

#[test]
fn the_host_is_told_when_the_api_socket_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let mut host = relay("relay-b", &socket);
    host.write_all(HELLO.as_bytes()).unwrap();
    let mut from_host = BufReader::new(host.try_clone().unwrap());
    let started = Instant::now();
    let error = line(&mut from_host);
    assert!(started.elapsed() < TIMEOUT);
    assert!(error.starts_with("{\"type\":\"error\""), "{error}");
    assert!(
        error.contains("cannot reach the API socket") && error.contains("missing.sock"),
        "{error}"
    );
    assert!(error.contains("\"code\":\"internal\""), "{error}");
}

#[test]
fn a_slow_server_holds_the_host_back_without_losing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let host = relay("relay-c", &socket);
    // An install of 1 MiB: far more than the relay and the sockets buffer.
    let size = 1 << 20;
    let request = format!(
        "{{\"type\":\"request\",\"id\":2,\"request\":{{\"type\":\"install\",\
         \"repository\":\"apps\",\"size\":{size}}}}}\n"
    );
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut stream = format!("{HELLO}{request}").into_bytes();
    stream.extend_from_slice(&payload);
    let expected = stream.clone();
    let mut writer = host.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&stream).unwrap());
    let mut server = accept(&listener);
    // Read slowly at first.
    std::thread::sleep(Duration::from_millis(300));
    let mut received = vec![0u8; expected.len()];
    server.read_exact(&mut received).unwrap();
    sender.join().unwrap();
    assert!(received == expected, "the bytes differ");
    drop(host);
}
