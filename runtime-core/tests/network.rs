//! Network namespaces of containers on the host kernel, as root. Each test runs the
//! runtime from a thread inside a network namespace of its own, so every interface and
//! address it creates (from 192.0.2.0/24, the documentation range) stays inside it.

mod support;

use nix::sched::{unshare, CloneFlags};
use runtime_core::{container::ExitStatus, runtime::Notification};
use support::World;

/// Run `f` on a thread in a new network namespace (the runtime's threads it starts
/// inherit it).
fn isolated(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap();
}

fn interfaces(logs: &str) -> serde_json::Value {
    let line = logs
        .lines()
        .find(|l| l.starts_with("{\"interfaces\""))
        .unwrap_or_else(|| panic!("{logs}"));
    serde_json::from_str::<serde_json::Value>(line).unwrap()["interfaces"].clone()
}

#[test]
fn default_is_a_new_namespace_with_only_lo() {
    isolated(|| {
        let world = World::new();
        let id = world.container("alone", &["net"], "");
        let rt = world.start();
        assert_eq!(rt.run(&id), ExitStatus::Exit(0));
        let ifaces = interfaces(&rt.logs(&id));
        let names: Vec<&str> = ifaces
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["lo"]);
        assert_eq!(ifaces[0]["up"], true);
        rt.shutdown();
    });
}

#[test]
fn configured_namespace_with_a_veth_to_the_runtime() {
    isolated(|| {
        let mut world = World::new();
        world.config_append(
            "[network.namespaces.lan]\naddress = \"192.0.2.2/24\"\n\
             host_address = \"192.0.2.1/24\"\n",
        );
        // The runtime's side listens; the container connects through the veth.
        let id = world.container(
            "client",
            &["net", "connect:192.0.2.1:7777", "exit:0"],
            "network: !namespace lan\n",
        );
        let rt = world.start();
        let listener = std::net::TcpListener::bind("192.0.2.1:7777").unwrap();
        let accept = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
        assert_eq!(rt.run(&id), ExitStatus::Exit(0));
        let logs = rt.logs(&id);
        let ifaces = interfaces(&logs);
        let eth0 = ifaces
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "eth0")
            .unwrap_or_else(|| panic!("{logs}"));
        assert_eq!(eth0["ipv4"], serde_json::json!(["192.0.2.2/24"]));
        assert!(logs.contains("\"ok\":true"), "{logs}");
        let peer = accept.join().unwrap().unwrap();
        assert_eq!(peer.ip().to_string(), "192.0.2.2");
        rt.shutdown();
        // The namespace and the veth are gone after the shutdown.
        assert!(nix::net::if_::if_nametoindex("ns-lan").is_err());
    });
}

#[test]
fn two_namespaces_on_a_bridge() {
    isolated(|| {
        let mut world = World::new();
        world.config_append(
            "[network.bridges.nsbr0]\naddress = \"192.0.2.1/24\"\n\
             [network.namespaces.a]\naddress = \"192.0.2.10/24\"\nbridge = \"nsbr0\"\n\
             [network.namespaces.b]\naddress = \"192.0.2.11/24\"\nbridge = \"nsbr0\"\n",
        );
        let server = world.container(
            "server",
            &["listen:192.0.2.11:8080", "exit:0"],
            "network: !namespace b\n",
        );
        let client = world.container(
            "client",
            &["connect:192.0.2.11:8080", "exit:0"],
            "network: !namespace a\n",
        );
        let rt = world.start();
        rt.start(&server).unwrap();
        // Wait until the server listens.
        let deadline = std::time::Instant::now() + support::PATIENCE;
        while !rt.logs(&server).contains("listening") {
            assert!(
                std::time::Instant::now() < deadline,
                "server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Both end on their own, in either order: collect both exits.
        rt.start(&client).unwrap();
        let mut exits = std::collections::BTreeMap::new();
        rt.wait_for(|n| {
            if let Notification::Exited { id, status, .. } = n {
                exits.insert(id.clone(), *status);
            }
            (exits.len() == 2).then_some(())
        });
        let logs = rt.logs(&client);
        assert!(logs.contains("\"ok\":true"), "{logs}");
        assert_eq!(exits[&client], ExitStatus::Exit(0));
        assert_eq!(exits[&server], ExitStatus::Exit(0));
        assert!(rt.logs(&server).contains("accepted"));
        rt.shutdown();
    });
}
