//! `nstar verify <container>` and `nstar verify --installed`: the runtime checks installed
//! packages in full (protocol 1.3's `verify`); one line per package, or the `verified`
//! answer as JSON. Exit status 1 when any package failed.

use super::{args::Global, connect, print};
use crate::error::Reported;
use northstar_client::api::{CheckResult, ContainerId, PackageCheck, Response};

/// Have the runtime check `container` (`None`: every installed package).
pub fn verify(container: Option<&ContainerId>, global: &Global) -> anyhow::Result<()> {
    let mut client = connect(global)?;
    let packages = client.verify(container)?;
    let failed = packages.iter().filter(|p| p.result.is_failed()).count();
    let total = packages.len();
    print(global.json, &Response::Verified { packages }, |r| match r {
        Response::Verified { packages } => packages.iter().map(line).collect(),
        _ => String::new(),
    })?;
    if failed > 0 {
        err!("nstar: {failed} of {total} packages failed the check");
        return Err(Reported.into());
    }
    Ok(())
}

/// One package: `<container> (<repository>): <outcome>`.
fn line(p: &PackageCheck) -> String {
    let outcome = match &p.result {
        CheckResult::Ok {} => "ok".to_string(),
        CheckResult::Development {} => "development package: nothing to check".to_string(),
        CheckResult::Failed { reason } => format!("FAILED: {reason}"),
    };
    format!("{} ({}): {outcome}\n", p.container, p.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_package() {
        let check = |result| PackageCheck {
            container: "a:1.0.0".parse().unwrap(),
            repository: northstar_client::api::RepositoryName::new("apps").unwrap(),
            result,
        };
        assert_eq!(line(&check(CheckResult::Ok {})), "a:1.0.0 (apps): ok\n");
        assert_eq!(
            line(&check(CheckResult::Failed {
                reason: "a.npk: block 3".into()
            })),
            "a:1.0.0 (apps): FAILED: a.npk: block 3\n"
        );
        assert!(line(&check(CheckResult::Development {})).contains("nothing to check"));
    }
}
