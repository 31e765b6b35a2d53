//! The `run` subcommand: one scenario, step by step, as text or JSON, and
//! with `--html` as a sequence chart.

use super::exit::{EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION};
use super::input::{load, write_page};
use crate::formats::chart;
use crate::formats::report::{self, RunError};
use std::io::Write;
use std::path::PathBuf;

/// Runs a scenario and prints its report.
pub(super) fn run(
    path: Option<PathBuf>,
    json: bool,
    html: Option<&std::path::Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(scenario) = load(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let ran = match html {
        None => report::run(&scenario).map(|r| (r, None)),
        Some(_) => chart::run_chart(&scenario).map(|(r, c)| (r, Some(c))),
    };
    match ran {
        Ok((r, drawn)) => {
            let text = if json {
                serde_json::to_string_pretty(&r)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            } else {
                report::render_text(&r)
            };
            let _ = writeln!(out, "{text}");
            if let (Some(path), Some(c)) = (html, drawn)
                && !write_page(path, "sequence chart", &chart::run_page(&scenario, c), err)
            {
                return EXIT_BAD_INPUT;
            }
            EXIT_OK
        }
        Err(RunError::Input(e)) => {
            let _ = writeln!(err, "{e}");
            EXIT_BAD_INPUT
        }
        Err(e @ RunError::Invariant { .. }) => {
            let _ = writeln!(err, "error: {e}");
            if let Some(path) = html {
                let _ = writeln!(
                    err,
                    "the sequence chart was not written to {}: the run stopped at the violation",
                    path.display()
                );
            }
            EXIT_VIOLATION
        }
    }
}
