//! The command-line interface: argument parsing with clap, and the mapping
//! of outcomes to documented exit codes.
//!
//! Exit codes (documented in README.md):
//! - 0: the run succeeded;
//! - 1: the reference model violated one of its own invariants (a bug in
//!   this crate, reported with the step and the invariant id), `check` or
//!   `simulate` found a violation, or `conform` found a difference;
//! - 2: bad input: an unreadable or invalid scenario, a rejected cmdlet or
//!   event, or bad flags (clap's own usage errors also exit 2);
//! - 3: `conform` and `snapshot` only: the implementation under test broke
//!   the protocol (exited, answered garbage, or timed out).
//!
//! What it deliberately does not do: no rule and no formatting of results
//! lives here; it calls `scenario`, `report` and `world`.

use crate::check;
use crate::report::{self, RunError};
use crate::scenario;
use clap::{Parser, Subcommand};
use stateright::Model;
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
    /// Model-check a world over every interleaving of its events.
    Check {
        /// The model (models/*.toml with a [check] section); the embedded
        /// models/default.toml if omitted.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Checker threads; counterexamples are shortest and reproducible
        /// with one thread.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
        /// Stop exploring below this depth (a bounded check).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        depth: Option<u32>,
        /// Explore breadth-first without symmetry reduction even when some
        /// users are interchangeable.
        #[arg(long)]
        no_symmetry: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Simulate a large deployment over virtual hours, with faults.
    Simulate(crate::cli_sim::SimArgs),
    /// Check an implementation against the reference over offline-im/1.
    Conform(crate::cli_conform::ConformArgs),
    /// Write an implementation's corpus transcripts as insta .snap files.
    Snapshot(crate::cli_conform::SnapshotArgs),
    /// Serve the reference model over offline-im/1 on stdin and stdout.
    Serve,
    /// Print the JSON Schema of offline-im/1.
    Schema,
    /// Serve stateright's Explorer for the model, to click through states.
    Explore {
        /// The model; the embedded models/default.toml if omitted.
        #[arg(long)]
        model: Option<PathBuf>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
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
        Command::Check {
            model,
            threads,
            depth,
            no_symmetry,
            json,
        } => {
            let opts = check::CheckOptions {
                threads: usize::from(threads),
                depth_max: depth.map(|d| d as usize),
                symmetry: !no_symmetry,
            };
            run_check(model, opts, json, out, err)
        }
        Command::Explore { model, addr } => explore(model, &addr, out, err),
        Command::Simulate(args) => crate::cli_sim::simulate(args, out, err),
        Command::Conform(args) => crate::cli_conform::conform(args, out, err),
        Command::Snapshot(args) => crate::cli_conform::snapshot(args, out, err),
        Command::Serve => crate::cli_conform::serve(out, err),
        Command::Schema => crate::cli_conform::schema(out),
    }
}

/// Loads a scenario, printing its diagnostic on failure.
fn load(path: Option<&std::path::Path>, err: &mut dyn Write) -> Option<scenario::Scenario> {
    match scenario::load_path(path) {
        Ok(s) => Some(s),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            None
        }
    }
}

/// Loads a scenario and builds its checker model.
fn load_model(
    path: Option<&std::path::Path>,
    err: &mut dyn Write,
) -> Option<(scenario::Scenario, check::CheckModel)> {
    let scenario = load(path, err)?;
    match check::CheckModel::new(&scenario) {
        Ok(m) => Some((scenario, m)),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            None
        }
    }
}

fn run_check(
    path: Option<PathBuf>,
    opts: check::CheckOptions,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some((scenario, model)) = load_model(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    let report = check::run(model, &scenario.file, &scenario.name, opts);
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    } else {
        check::render_text(&report)
    };
    let _ = writeln!(out, "{text}");
    if report.holds() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}

fn explore(path: Option<PathBuf>, addr: &str, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some((scenario, model)) = load_model(path.as_deref(), err) else {
        return EXIT_BAD_INPUT;
    };
    // stateright's server panics if it cannot bind, so bind once first to
    // turn a taken or malformed address into a clear error.
    if let Err(e) = std::net::TcpListener::bind(addr) {
        let _ = writeln!(
            err,
            "error: cannot listen on `{addr}`: {e}; expected a free HOST:PORT such as 127.0.0.1:3000"
        );
        return EXIT_BAD_INPUT;
    }
    let _ = writeln!(
        out,
        "Explorer for {} ({}) at http://{addr}/ (Ctrl-C to stop)",
        scenario.name, scenario.file
    );
    let _ = out.flush();
    let _checker = model.checker().serve(addr);
    loop {
        std::thread::park();
    }
}

fn run(path: Option<PathBuf>, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
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
