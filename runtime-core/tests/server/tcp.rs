//! The TCP listener: mutual TLS 1.3, grants by the client certificate's common name,
//! refusals of everything else before a frame is read, its own connection limits.

use super::*;
use northstar_client::{
    testing::pki::{Issued, Pki},
    Options, TcpAuthentication, TlsIdentity,
};
use std::{io::Read, net::TcpStream};

struct Tcp {
    served: Served,
    url: String,
    pki: Pki,
    /// A client whose certificate is revoked.
    revoked: Issued,
}

/// A runtime serving TCP on a port of the loopback address, `extra` added to `[api.tcp]`.
fn serve(world: &mut World, api: &str, extra: &str) -> Tcp {
    let pki = Pki::new(world.dir.path(), "fleet").unwrap();
    let server = pki.server().unwrap();
    let revoked = pki.client("operator").unwrap();
    let revocations = pki.revoke(&[&revoked]).unwrap();
    let tcp = format!(
        "[api.tcp]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{}\"\nkey = \"{}\"\n\
         client_ca = \"{}\"\nrevocations = \"{}\"\n{extra}\n\
         [[api.tcp.grants]]\ncommon_name = \"operator\"\npermissions = [\"list\", \"start\", \"stop\"]\n\
         [[api.tcp.grants]]\ncommon_name = \"viewer\"\npermissions = [\"list\"]\n",
        server.certificate.display(),
        server.key.display(),
        pki.ca_certificate().display(),
        revocations.display(),
    );
    let served = Served::start(world, api, &tcp, TestHost::default());
    let address = served.server.as_ref().unwrap().tcp_address().unwrap();
    Tcp {
        served,
        url: format!("tcp://127.0.0.1:{}", address.port()),
        pki,
        revoked,
    }
}

fn identity(ca: &Path, client: &Issued) -> TcpAuthentication {
    TcpAuthentication::Tls(TlsIdentity::load(ca, &client.certificate, &client.key).unwrap())
}

fn connect(
    url: &str,
    tcp: TcpAuthentication,
) -> Result<northstar_client::Client, northstar_client::Error> {
    let options = Options {
        connect_timeout: Some(PATIENCE),
        request_timeout: Some(PATIENCE),
        tcp,
        ..Options::default()
    };
    northstar_client::Client::connect(url, options)
}

/// The server closed the raw connection without sending a byte of the protocol.
fn closed_without_frames(mut stream: TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    got
}

#[test]
fn grants_follow_the_client_certificate() {
    let mut world = World::new();
    let id = world.container("idle", &["sleep:60"], "");
    let t = serve(&mut world, "", "");
    let ca = t.pki.ca_certificate();

    let mut operator = connect(&t.url, identity(&ca, &t.pki.client("operator").unwrap())).unwrap();
    assert_eq!(
        operator.permissions(),
        [Permission::List, Permission::Start, Permission::Stop]
            .into_iter()
            .collect::<Permissions>()
    );
    assert!(operator.list().unwrap().iter().any(|c| c.container == id));
    operator.start(&id).unwrap();
    operator
        .stop(&id, Some(StopTimeout::from_millis(5000).unwrap()))
        .unwrap();

    let mut viewer = connect(&t.url, identity(&ca, &t.pki.client("viewer").unwrap())).unwrap();
    assert_eq!(
        viewer.permissions(),
        [Permission::List].into_iter().collect()
    );
    let denied = viewer.start(&id).unwrap_err();
    assert!(denied.to_string().contains("permission"), "{denied}");

    // A valid certificate without a grant: connected, allowed nothing.
    let mut stranger = connect(&t.url, identity(&ca, &t.pki.client("stranger").unwrap())).unwrap();
    assert_eq!(stranger.permissions(), Permissions::NONE);
    assert!(stranger.list().is_err());

    // The unix socket serves as before, beside the TCP listener.
    let mut local = t.served.client();
    let asked = local.send_request(Request::List {});
    let listed = local.answer(asked);
    assert!(
        matches!(listed, Ok(Response::Containers { .. })),
        "{listed:?}"
    );
    t.served.shutdown();
}

#[test]
fn clients_without_an_accepted_certificate_get_no_frame() {
    let mut world = World::new();
    let t = serve(&mut world, "", "");
    // A certificate of another CA, with a name that has grants here.
    let other = Pki::new(world.dir.path(), "other").unwrap();
    let forged = other.client("operator").unwrap();
    let e = connect(&t.url, identity(&t.pki.ca_certificate(), &forged)).unwrap_err();
    assert_eq!(e.kind(), northstar_client::ErrorKind::Connection, "{e}");

    // A revoked certificate of the right CA, with a granted name.
    let e = connect(&t.url, identity(&t.pki.ca_certificate(), &t.revoked)).unwrap_err();
    assert_eq!(e.kind(), northstar_client::ErrorKind::Connection, "{e}");

    // A client that trusts another CA refuses the server.
    let e = connect(
        &t.url,
        identity(&other.ca_certificate(), &other.client("x").unwrap()),
    )
    .unwrap_err();
    assert!(format!("{e:#?}").contains("UnknownIssuer"), "{e:#?}");

    // Plain text on the TLS port: the protocol's hello is never answered.
    let port = t.url.rsplit(':').next().unwrap();
    let mut plain = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    plain
        .write_all(b"{\"hello\":{\"version\":\"1.0\",\"client\":\"plain\"}}\n")
        .unwrap();
    let got = closed_without_frames(plain);
    assert!(!got.contains(&b'{'), "answered in plain text: {got:?}");

    // Nothing is refused without TLS when the caller does not ask for it.
    let e = connect(&t.url, TcpAuthentication::Refuse).unwrap_err();
    assert!(
        matches!(e, northstar_client::Error::TcpUnauthenticated { .. }),
        "{e}"
    );
    t.served.shutdown();
}

#[test]
fn tcp_connections_have_their_own_limits() {
    let mut world = World::new();
    let t = serve(
        &mut world,
        "handshake_timeout = \"1s\"",
        "max_connections = 3\nmax_per_address = 2",
    );
    let ca = t.pki.ca_certificate();
    let viewer = t.pki.client("viewer").unwrap();
    let mut first = connect(&t.url, identity(&ca, &viewer)).unwrap();
    let _second = connect(&t.url, identity(&ca, &viewer)).unwrap();
    // The third from the same address is closed before TLS.
    assert!(connect(&t.url, identity(&ca, &viewer)).is_err());
    // Local clients are not counted against TCP's limit.
    let mut local = t.served.client();
    let asked = local.send_request(Request::List {});
    assert!(local.answer(asked).is_ok());
    first.list().unwrap();
    drop(first);

    // A connection that never completes TLS is closed after the handshake time limit
    // (slowloris), and frees its slot.
    let port = t.url.rsplit(':').next().unwrap();
    let silent = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    let started = Instant::now();
    assert!(closed_without_frames(silent).is_empty());
    assert!(started.elapsed() < PATIENCE);
    eventually("a slot is free again", || {
        connect(&t.url, identity(&ca, &viewer)).is_ok()
    });
    t.served.shutdown();
}

#[test]
fn broken_tls_files_are_named_before_anything_listens() {
    let world = World::new();
    let pki = Pki::new(world.dir.path(), "fleet").unwrap();
    let server = pki.server().unwrap();
    let missing = world.dir.path().join("missing.pem");
    let garbage = world.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let socket = world.dir.path().join("api.sock");
    let other_key = pki.client("x").unwrap().key;
    for (certificate, key, ca, named) in [
        (&server.certificate, &server.key, &missing, &missing),
        (&garbage, &server.key, &pki.ca_certificate(), &garbage),
        (
            &server.certificate,
            &garbage,
            &pki.ca_certificate(),
            &garbage,
        ),
        // The key of another certificate.
        (
            &server.certificate,
            &other_key,
            &pki.ca_certificate(),
            &other_key,
        ),
    ] {
        let text = format!(
            "[api]\nsocket = \"{}\"\n[api.tcp]\nlisten = \"127.0.0.1:0\"\ncertificate = \"{}\"\n\
             key = \"{}\"\nclient_ca = \"{}\"\n",
            socket.display(),
            certificate.display(),
            key.display(),
            ca.display()
        );
        let config =
            runtime_core::config::Config::from_toml_str(&text, Path::new("t.toml")).unwrap();
        let api = config.api.clone().unwrap();
        let (inbox, mailbox) = runtime_core::server::inbox().unwrap();
        let (handle, _events) =
            runtime_core::runtime::Runtime::start_with(world.config(), None).unwrap();
        let e = match runtime_core::server::Server::start(
            &api,
            &config,
            handle.requester(),
            std::sync::Arc::new(TestHost::default()),
            inbox,
            mailbox,
        ) {
            Ok(_) => panic!("{text}: started"),
            Err(e) => e.to_string(),
        };
        let _ = handle.shutdown();
        let name = named.display().to_string();
        assert!(e.contains(&name), "{e} does not name {name}");
    }
}
