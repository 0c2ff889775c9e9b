//! Large answers arrive across many reads; an answer over the server frame limit is refused
//! without holding more than the limit.

use northstar_client::{
    api::{codec::MAX_SERVER_FRAME, ContainerId, Permissions, Response},
    testing::FakeServer,
    Client, Error, Options,
};

fn container() -> ContainerId {
    "hello-world:0.0.1".parse().unwrap()
}

#[test]
fn a_large_answer_arrives_whole() {
    // About 3 MiB of lines: many socket reads, one frame just under the limit.
    let lines: Vec<String> = (0..30_000).map(|i| format!("{i:0>100}")).collect();
    let expected = lines.clone();
    let server = FakeServer::start(move |mut peer| {
        if peer.welcome(Permissions::all()).unwrap() {
            let (id, _) = peer.request().unwrap().unwrap();
            let response = Response::Logs {
                lines: lines.clone(),
                truncated: false,
            };
            peer.answer(id, Ok(response)).unwrap();
            peer.wait_closed();
        }
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let logs = client.logs(&container(), None).unwrap();
    assert!(logs.lines == expected, "the lines differ");
}

#[test]
fn an_answer_over_the_frame_limit_is_refused() {
    let server = FakeServer::start(|mut peer| {
        if peer.welcome(Permissions::all()).unwrap() {
            let _ = peer.request();
            // No newline within the limit: the client must give up after limit + 1 bytes.
            let junk = vec![b'x'; MAX_SERVER_FRAME + 4096];
            let _ = peer.send_bytes(&junk);
            peer.wait_closed();
        }
    })
    .unwrap();
    let mut client = Client::connect(&server.url(), Options::default()).unwrap();
    let error = client.list().unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains(&format!("larger than {MAX_SERVER_FRAME} bytes")),
        "{error}"
    );
    assert!(matches!(client.list(), Err(Error::Broken { .. })));
}
