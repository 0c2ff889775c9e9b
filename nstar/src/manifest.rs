//! `nstar manifest check` and `nstar manifest schema`.
//!
//! `check` reads a manifest exactly as `nstar pack` does (`npk::pack::read_manifest`: the
//! same size limit, parser and validation), so a manifest that checks `ok` packs.

use crate::{cli::ManifestCheckArgs, error::Reported};
use npk::manifest::Manifest;

/// Run `nstar manifest check`: `ok` on stdout, or the problem on stderr as
/// `<file>: line N: <field>: <problem>` (the form editors and CI logs understand) and
/// exit status 1.
pub fn check(args: &ManifestCheckArgs) -> anyhow::Result<()> {
    match npk::pack::read_manifest(&args.file) {
        Ok(_) => {
            out!("ok")?;
            Ok(())
        }
        Err(e @ npk::pack::Error::Manifest { .. }) => {
            err!("{e}");
            Err(Reported.into())
        }
        // Not a problem of the manifest's content (missing file, too large, ...).
        Err(e) => Err(e.into()),
    }
}

/// Run `nstar manifest schema`: the JSON Schema, pretty-printed.
pub fn schema() -> anyhow::Result<()> {
    out!(
        "{}",
        serde_json::to_string_pretty(&Manifest::json_schema())?
    )?;
    Ok(())
}
