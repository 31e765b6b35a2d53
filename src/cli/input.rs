//! Loading a scenario or a simulation workload for a subcommand, with its
//! diagnostic printed on failure, and writing the page a subcommand
//! draws. Shared by `run`, `check`, `explore`, `simulate` and `ews`.

use crate::formats::scenario;
use std::io::Write;

/// Writes an HTML page (`--html`, `--report`) to `path`, printing what
/// went wrong on failure. The caller exits 2 when it returns false.
pub(super) fn write_page(
    path: &std::path::Path,
    what: &str,
    page: &str,
    err: &mut dyn Write,
) -> bool {
    match std::fs::write(path, page) {
        Ok(()) => true,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: cannot write the {what} to {}: {e}; expected a writable file path",
                path.display()
            );
            false
        }
    }
}

/// Loads a scenario, printing its diagnostic on failure.
pub(super) fn load(
    path: Option<&std::path::Path>,
    err: &mut dyn Write,
) -> Option<scenario::Scenario> {
    match scenario::load_path(path) {
        Ok(s) => Some(s),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            None
        }
    }
}

/// Loads a simulation workload (the embedded one if `config` is `None`)
/// and applies the flags that override it; the error is the diagnostic
/// to print.
#[cfg(feature = "simulate")]
pub(super) fn load_sim_config(
    config: Option<&std::path::Path>,
    users: Option<u32>,
    orgs: Option<u32>,
    hours: Option<u32>,
    seed: Option<u64>,
) -> Result<crate::sim::SimConfig, String> {
    use crate::sim::{self, SimConfig};
    let (name, text) = match config {
        None => (
            sim::DEFAULT_CONFIG_NAME.to_string(),
            sim::DEFAULT_CONFIG.to_string(),
        ),
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| {
                format!("{name}:1:1: error: cannot read the file: {e}; expected a readable UTF-8 TOML workload")
            })?;
            (name, text)
        }
    };
    let mut c = SimConfig::load(&name, &text).map_err(|e| e.to_string())?;
    if let Some(v) = users {
        c.users = v;
    }
    if let Some(v) = orgs {
        c.orgs = v;
    }
    if let Some(v) = hours {
        c.hours = v;
    }
    if let Some(v) = seed {
        c.seed = v;
    }
    c.validate().map_err(|(key, message)| {
        format!("error: invalid value for --{key} or `{key}` in {name}: {message}")
    })?;
    Ok(c)
}
