//! The command-line interface: argument parsing with clap, one file per
//! subcommand, and the exit codes in one place (`exit`).
//!
//! Exit codes (documented in README.md and in `exit`):
//! - 0: the run succeeded;
//! - 1: the reference model violated one of its own invariants (a bug in
//!   this crate, reported with the step and the invariant id), `check` or
//!   `simulate` found a violation, or `conform` found a difference;
//! - 2: bad input: an unreadable or invalid scenario, a rejected cmdlet or
//!   event, or bad flags (clap's own usage errors also exit 2);
//! - 3: `conform` and `snapshot`: the implementation under test broke
//!   the protocol (exited, answered garbage, or timed out); `ews`: the
//!   endpoint could not start its runtime or stopped serving;
//! - 4: a bounded `check` that found no violation.
//!
//! What it may import: everything below it (the drivers, the formats and
//! the rule book). Nothing imports it but `main.rs`; a subcommand's file
//! imports only `exit` and `input` among its siblings.
//!
//! What it deliberately does not do: no rule and no formatting of results
//! lives here; it calls the drivers and the formats and maps what they
//! return to exit codes.

mod check;
mod conform;
mod ews;
mod exit;
mod input;
mod model_cases;
mod run;
mod simulate;

pub use conform::{ConformArgs, SnapshotArgs, shell_quote};
pub use ews::EwsArgs;
pub use exit::{EXIT_BAD_INPUT, EXIT_FAULT, EXIT_OK, EXIT_VIOLATION};
pub use model_cases::model_cases_text;
pub use simulate::SimArgs;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// The arguments of `offline-im`: one subcommand and its flags. Its `about`
/// is set explicitly, so this comment is not part of `--help`.
#[derive(Parser, Debug)]
#[command(
    name = "offline-im",
    version,
    about = "Executable specification of Skype for Business offline IM"
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. The doc comment of each variant and of each of its
/// fields is its help text in `--help`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario file and print each step's outcome.
    Run {
        /// The scenario (models/*.toml); the embedded models/default.toml if omitted.
        scenario: Option<PathBuf>,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the run as a sequence chart: one self-contained HTML
        /// page with inline SVG.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Model-check a world over every interleaving of its events.
    Check {
        /// The model (models/*.toml with a [check] section); the embedded
        /// models/default.toml if omitted.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Checker threads; counterexamples are the same on every run with
        /// one thread.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
        /// Visit no state more than this many events from the initial state
        /// (a bounded check; exit code 4 if some were left).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        depth: Option<u32>,
        /// Stop after this many distinct states (a bounded check; exit code 4
        /// unless a property was violated).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
        max_states: Option<u64>,
        /// Stop after this many seconds of search (a bounded check; exit code
        /// 4 unless a property was violated).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=31_536_000))]
        max_seconds: Option<u32>,
        /// Do not use symmetry reduction even when some users are
        /// interchangeable.
        #[arg(long)]
        no_symmetry: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also write every counterexample as a sequence chart: one
        /// self-contained HTML page with inline SVG.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Simulate a large deployment over virtual hours, with faults.
    Simulate(SimArgs),
    /// Check an implementation against the reference over offline-im/1.
    Conform(ConformArgs),
    /// Write an implementation's corpus transcripts as insta .snap files.
    Snapshot(SnapshotArgs),
    /// Serve the reference model over offline-im/1 on stdin and stdout.
    Serve,
    /// Print the JSON Schema of offline-im/1.
    Schema,
    /// Search every corpus world for paths that reach every decision
    /// outcome, and print the conformance kit's model-based cases.
    ModelCases {
        /// Write the cases to this file (src/conformance/model_cases.txt)
        /// instead of printing them.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Serve EWS (SOAP 1.1) over the model's mailboxes at /EWS/Exchange.asmx.
    Ews(EwsArgs),
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
        Command::Run {
            scenario,
            json,
            html,
        } => run::run(scenario, json, html.as_deref(), out, err),
        Command::Check {
            model,
            threads,
            depth,
            max_states,
            max_seconds,
            no_symmetry,
            json,
            html,
        } => {
            let opts = crate::check::CheckOptions {
                threads: usize::from(threads),
                depth_max: depth.map(|d| d as usize),
                states_max: max_states,
                duration_max: max_seconds.map(|s| std::time::Duration::from_secs(u64::from(s))),
                symmetry: !no_symmetry,
            };
            check::check(model, opts, json, html.as_deref(), out, err)
        }
        Command::ModelCases { write } => model_cases::model_cases(write, out, err),
        Command::Explore { model, addr } => check::explore(model, &addr, out, err),
        Command::Simulate(args) => simulate::simulate(args, out, err),
        Command::Ews(args) => ews::ews(args, out, err),
        Command::Conform(args) => conform::conform(args, out, err),
        Command::Snapshot(args) => conform::snapshot(args, out, err),
        Command::Serve => conform::serve(out, err),
        Command::Schema => conform::schema(out),
    }
}
