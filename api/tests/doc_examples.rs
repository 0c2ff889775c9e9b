//! The examples of `doc/api.md` are real: every `> {...}` line is a client frame and every
//! `< {...}` line a server frame exactly as the encoder writes them, error messages are
//! the errors' texts, and every request, answer, notification, error code and permission
//! is shown or listed.

use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ApiError, ClientMessage, Notification, Permission, Response, ServerMessage,
};
use std::collections::BTreeSet;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../doc/api.md")).unwrap()
}

/// `(line number, direction, frame)` of every example line in a code block.
fn examples(doc: &str) -> Vec<(usize, char, String)> {
    let mut in_block = false;
    let mut out = Vec::new();
    for (n, line) in doc.lines().enumerate() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        for dir in ['>', '<'] {
            if let Some(frame) = line.strip_prefix(&format!("{dir} {{")) {
                out.push((n + 1, dir, format!("{{{frame}")));
            }
        }
    }
    out
}

fn decode_one<T: northstar_api::codec::Message>(line: &str, limit: usize) -> T {
    let mut decoder = Decoder::<T>::new(limit);
    let bytes = format!("{line}\n");
    assert_eq!(decoder.push(bytes.as_bytes()), bytes.len());
    let Some(Frame::Message(message)) = decoder.next_frame().unwrap() else {
        panic!("no message");
    };
    message
}

fn response_type(r: &Response) -> &'static str {
    match r {
        Response::Ok {} => "ok",
        Response::Containers { .. } => "containers",
        Response::Inspect(_) => "inspect",
        Response::Started { .. } => "started",
        Response::Stopped { .. } => "stopped",
        Response::Restarted { .. } => "restarted",
        Response::Installed { .. } => "installed",
        Response::Repositories { .. } => "repositories",
        Response::Logs { .. } => "logs",
        Response::BootReport { .. } => "boot_report",
        Response::Committed { .. } => "committed",
        Response::Verified { .. } => "verified",
        Response::System { .. } => "system",
        Response::SystemInstalled { .. } => "system_installed",
    }
}
const RESPONSES: usize = 14;

fn notification_type(n: &Notification) -> &'static str {
    match n {
        Notification::Started { .. } => "started",
        Notification::Failed { .. } => "failed",
        Notification::Exited { .. } => "exited",
        Notification::Oom { .. } => "oom",
        Notification::Restarting { .. } => "restarting",
        Notification::GaveUp { .. } => "gave_up",
        Notification::Installed { .. } => "installed",
        Notification::Uninstalled { .. } => "uninstalled",
        Notification::Critical { .. } => "critical",
        Notification::Shutdown {} => "shutdown",
        Notification::Lagged { .. } => "lagged",
        Notification::UpdateStarted { .. } => "update_started",
        Notification::Healthy { .. } => "healthy",
        Notification::Committed { .. } => "committed",
        Notification::RolledBack { .. } => "rolled_back",
        Notification::Ready { .. } => "ready",
        Notification::VerifyFailed { .. } => "verify_failed",
    }
}
const NOTIFICATIONS: usize = 17;

fn server_type(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Welcome(_) => "welcome",
        ServerMessage::Response { .. } => "response",
        ServerMessage::Error { .. } => "error",
        ServerMessage::Notification { .. } => "notification",
        ServerMessage::Log { .. } => "log",
        ServerMessage::LogEnd { .. } => "log_end",
    }
}
const SERVER_MESSAGES: usize = 6;

/// Every request type, from a value of each (the match in `Request::name` is exhaustive).
const REQUESTS: usize = 24;

#[test]
fn examples_are_exact_frames() {
    let doc = doc();
    let examples = examples(&doc);
    assert!(examples.len() > 50, "{} examples", examples.len());
    let mut requests = BTreeSet::new();
    let mut responses = BTreeSet::new();
    let mut notifications = BTreeSet::new();
    let mut server = BTreeSet::new();
    let mut codes = BTreeSet::new();
    // A client line that is not a valid frame is answered by the next line.
    let mut broken: Option<(usize, ApiError)> = None;
    for (n, dir, line) in examples {
        if let Some((at, expected)) = broken.take() {
            let answer: ServerMessage = decode_one(&line, MAX_SERVER_FRAME);
            let ServerMessage::Error {
                error: ApiError::InvalidRequest { what, .. },
                ..
            } = answer
            else {
                panic!("line {n} does not answer the broken frame of line {at}");
            };
            let ApiError::InvalidRequest { what: decoded, .. } = expected else {
                panic!("line {at}: {expected}");
            };
            assert_eq!(what, decoded, "line {n}");
        }
        let again = if dir == '>' {
            let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
            decoder.push(format!("{line}\n").as_bytes());
            let message = match decoder.next_frame() {
                Ok(Some(Frame::Message(message))) => message,
                Ok(_) => panic!("line {n}: no frame"),
                Err(e) => {
                    broken = Some((n, e.to_api_error()));
                    continue;
                }
            };
            if let ClientMessage::Request { request, .. } = &message {
                requests.insert(request.name());
            }
            Encoder::new(MAX_CLIENT_FRAME).to_vec(&message).unwrap()
        } else {
            let message: ServerMessage = decode_one(&line, MAX_SERVER_FRAME);
            server.insert(server_type(&message));
            match &message {
                ServerMessage::Response { response, .. } => {
                    responses.insert(response_type(response));
                }
                ServerMessage::Notification { notification } => {
                    notifications.insert(notification_type(notification));
                }
                ServerMessage::Error { message, error, .. } => {
                    assert_eq!(*message, error.to_string(), "line {n}: message");
                    codes.insert(error.code());
                }
                _ => {}
            }
            Encoder::new(MAX_SERVER_FRAME).to_vec(&message).unwrap()
        };
        let again = String::from_utf8(again).unwrap();
        assert_eq!(again.trim_end(), line, "line {n} is not the encoder's form");
    }
    assert_eq!(requests.len(), REQUESTS, "requests shown: {requests:?}");
    assert_eq!(responses.len(), RESPONSES, "answers shown: {responses:?}");
    assert_eq!(
        notifications.len(),
        NOTIFICATIONS,
        "notifications shown: {notifications:?}"
    );
    assert_eq!(
        server.len(),
        SERVER_MESSAGES,
        "server frames shown: {server:?}"
    );
    // Every code is in the table and shown in an example.
    for code in ApiError::CODES {
        assert!(
            doc.contains(&format!("| `{code}` |")),
            "code {code} not in the table"
        );
    }
    assert_eq!(codes.len(), ApiError::CODES.len(), "codes shown: {codes:?}");
}

#[test]
fn every_permission_is_in_the_table() {
    let doc = doc();
    for p in Permission::ALL {
        assert!(
            doc.contains(&format!("| `{p}` |")),
            "permission {p} not in the table"
        );
    }
}

#[test]
fn the_session_offsets_of_the_doc_are_right() {
    // The `invalid_request` example follows the handshake on the same connection: its
    // offset is where its frame starts.
    let doc = doc();
    let examples = examples(&doc);
    let hello = &examples
        .iter()
        .find(|(_, d, l)| *d == '>' && l.contains("hello"))
        .unwrap()
        .2;
    let error = &examples
        .iter()
        .find(|(_, _, l)| {
            l.contains("unknown variant `format`") && l.starts_with("{\"type\":\"error\"")
        })
        .unwrap()
        .2;
    let offset = hello.len() + 1;
    assert!(
        error.contains(&format!("\"offset\":{offset}")),
        "expected offset {offset}"
    );
    let request: &str = examples
        .iter()
        .find(|(_, d, l)| *d == '>' && l.contains("\"format\""))
        .map(|(_, _, l)| l.as_str())
        .unwrap();
    // And the decoder says so.
    let mut decoder = Decoder::<ClientMessage>::new(MAX_CLIENT_FRAME);
    let stream = format!("{hello}\n{request}\n");
    decoder.push(stream.as_bytes());
    assert!(decoder.next_frame().unwrap().is_some());
    let decoded = decoder.next_frame().unwrap_err().to_api_error();
    let ServerMessage::Error {
        message, error: e, ..
    } = decode_one::<ServerMessage>(error, MAX_SERVER_FRAME)
    else {
        panic!();
    };
    assert_eq!(decoded, e);
    assert_eq!(message, decoded.to_string());
}
