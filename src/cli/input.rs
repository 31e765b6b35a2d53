//! Loading a scenario for a subcommand, with its diagnostic printed on
//! failure. Shared by `run`, `check` and `explore`.

use crate::formats::scenario;
use std::io::Write;

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
