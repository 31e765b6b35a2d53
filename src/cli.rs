//! The command-line interface: argument parsing with clap, and the mapping
//! of outcomes to documented exit codes.
//!
//! Exit codes (documented in README.md):
//! - 0: the run succeeded;
//! - 1: the reference model violated one of its own invariants (a bug in
//!   this crate, reported with the step and the invariant id);
//! - 2: bad input: an unreadable or invalid scenario, a rejected cmdlet or
//!   event, or bad flags (clap's own usage errors also exit 2).
//!
//! What it deliberately does not do: no rule and no formatting of results
//! lives here; it calls `scenario`, `report` and `world`.

use crate::report::{self, RunError};
use crate::scenario;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for an invariant violation.
pub const EXIT_VIOLATION: u8 = 1;
/// Exit code for bad input.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "offline-im",
    version,
    about = "Executable specification of Skype for Business offline IM"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario file and print each step's outcome.
    Run {
        /// The scenario (models/*.toml); the embedded models/default.toml if omitted.
        scenario: Option<PathBuf>,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the CLI with the given arguments, writing to `out` and `err`, and
/// returns the exit code.
pub fn main_with(
    args: impl IntoIterator<Item = String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return code;
        }
    };
    match cli.command {
        Command::Run { scenario, json } => run(scenario, json, out, err),
    }
}

fn run(path: Option<PathBuf>, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let scenario = match scenario::load_path(path.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
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
