//! The restart policy: an extension of Northstar 0.9's manifest schema.

use npk::manifest::{Manifest, Restart, RestartPolicy};

const BASE: &str = "name: app\nversion: 1.0.0\ninit: /bin/app\nuid: 1000\ngid: 1000\n";

fn parse(extra: &str) -> Result<Manifest, npk::manifest::Error> {
    Manifest::from_yaml_str(&format!("{BASE}{extra}"))
}

#[test]
fn absent_means_no_restart() {
    assert_eq!(parse("").unwrap().restart, None);
}

#[test]
fn policies_and_round_trip() {
    for (text, policy) in [
        ("no", RestartPolicy::No),
        ("on-failure", RestartPolicy::OnFailure),
        ("always", RestartPolicy::Always),
    ] {
        let m = parse(&format!(
            "restart:\n  policy: {text}\n  max_retries: 3\n  delay_ms: 50\n  max_delay_ms: 400\n"
        ))
        .unwrap();
        let restart = m.restart.clone().unwrap();
        assert_eq!(
            restart,
            Restart {
                policy,
                max_retries: Some(3),
                delay_ms: Some(50),
                max_delay_ms: Some(400)
            }
        );
        let again = Manifest::from_yaml_str(&m.to_yaml().unwrap()).unwrap();
        assert_eq!(again, m);
    }
}

#[test]
fn rules() {
    let e = parse("restart:\n  policy: sometimes\n").unwrap_err();
    assert_eq!(e.field(), Some("restart.policy"), "{e}");
    let e = parse("restart:\n  delay_ms: 0\n").unwrap_err();
    assert_eq!(e.field(), Some("restart.delay_ms"), "{e}");
    let e = parse("restart:\n  delay_ms: 500\n  max_delay_ms: 100\n").unwrap_err();
    assert_eq!(e.field(), Some("restart.max_delay_ms"), "{e}");
    let e = parse("restart:\n  max_delay_ms: 3600001\n").unwrap_err();
    assert_eq!(e.field(), Some("restart.max_delay_ms"), "{e}");
    let e = parse("restart:\n  retries: 1\n").unwrap_err();
    assert!(e.to_string().contains("retries"), "{e}");
    let resource = "name: res\nversion: 1.0.0\nuid: 1000\ngid: 1000\nrestart:\n  policy: always\n";
    let e = Manifest::from_yaml_str(resource).unwrap_err();
    assert_eq!(e.field(), Some("restart"), "{e}");
}
