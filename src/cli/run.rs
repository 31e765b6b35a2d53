//! The `run` subcommand: one scenario, step by step, as text or JSON.

use super::exit::{EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION};
use super::input::load;
use crate::formats::report::{self, RunError};
use std::io::Write;
use std::path::PathBuf;

/// Runs a scenario and prints its report.
pub(super) fn run(
    path: Option<PathBuf>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(scenario) = load(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    match report::run(&scenario) {
        Ok(r) => {
            let text = if json {
                serde_json::to_string_pretty(&r)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            } else {
                report::render_text(&r)
            };
            let _ = writeln!(out, "{text}");
            EXIT_OK
        }
        Err(RunError::Input(e)) => {
            let _ = writeln!(err, "{e}");
            EXIT_BAD_INPUT
        }
        Err(e @ RunError::Invariant { .. }) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_VIOLATION
        }
    }
}
