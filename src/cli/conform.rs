//! The conformance subcommands: `serve`, `schema`, `conform` and
//! `snapshot`. Split from `cli` to keep each file about one thing; it holds
//! no rule and no comparison, only flags, exit codes and printing.
//!
//! Exit codes: 0 conforms, 1 a difference from the reference, 2 bad input
//! (flags, an unknown `--case`), 3 an implementation fault.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAULT, EXIT_OK, EXIT_VIOLATION};
use crate::conformance::{self, ConformOptions, Outcome, Process, Reference, Source};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The flags of `conform`.
#[derive(clap::Args, Debug)]
pub struct ConformArgs {
    /// The implementation's command line, run with `sh -c`; it speaks
    /// offline-im/1 on stdin and stdout (see `offline-im schema`).
    #[arg(long = "impl", value_name = "COMMAND")]
    pub implementation: String,
    /// Generated cases, after the protocol edge cases, the corpus and the
    /// model-based cases.
    #[arg(long, default_value_t = conformance::CASES_DEFAULT, value_parser = clap::value_parser!(u32).range(0..=i64::from(conformance::CASES_MAX)))]
    pub cases: u32,
    /// The seed of the generated cases.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The most generated steps per case (1 to 64).
    #[arg(long, default_value_t = conformance::STEPS_DEFAULT as u16, value_parser = clap::value_parser!(u16).range(1..=conformance::STEPS_MAX as i64))]
    pub steps: u16,
    /// How long to wait for each answer before calling it a fault.
    #[arg(long = "timeout-ms", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Run only this case: a corpus file (models/NAME.toml), model:I or gen:I.
    #[arg(long)]
    pub case: Option<String>,
    /// After a passing run, measure latency and throughput against the
    /// reference served over the same kind of pipe.
    #[arg(long)]
    pub bench: bool,
    /// Run every case and end with totals and every distinct difference,
    /// each shrunk and printed once, instead of stopping at the first.
    #[arg(long = "keep-going")]
    pub keep_going: bool,
    /// Leave out the hand-written corpus: run the protocol edge cases, the
    /// model-based and the generated cases alone.
    #[arg(long = "no-corpus", conflicts_with = "only")]
    pub no_corpus: bool,
    /// Run one source alone: the protocol edge cases, the corpus, the
    /// model-based cases or the generated cases.
    #[arg(long, value_enum)]
    pub only: Option<SourceArg>,
    /// Print every decision outcome with the number of cases that took it,
    /// and the reachable ones that no case took.
    #[arg(long)]
    pub coverage: bool,
    /// Also search this many generated worlds for model-based cases at run
    /// time, after the committed ones (0 to 1,000; the model checker does
    /// the search, so the full build is needed).
    #[arg(long = "model-worlds", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(super::model_cases::MODEL_WORLDS_MAX)))]
    pub model_worlds: u32,
}

/// The case sources `--only` names (CONF-009).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceArg {
    /// The protocol edge cases.
    Protocol,
    /// The hand-written scenarios of models/.
    Corpus,
    /// The committed model-based cases.
    Model,
    /// The cases drawn from the seed.
    Generated,
}

impl SourceArg {
    fn source(self) -> Source {
        match self {
            SourceArg::Protocol => Source::Protocol,
            SourceArg::Corpus => Source::Corpus,
            SourceArg::Model => Source::Model,
            SourceArg::Generated => Source::Generated,
        }
    }
}

/// The flags of `snapshot`.
#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// The implementation's command line, run with `sh -c`.
    #[arg(long = "impl", value_name = "COMMAND")]
    pub implementation: String,
    /// The directory to write `<scenario>.snap` files into.
    #[arg(long)]
    pub out: PathBuf,
    /// How long to wait for each answer before calling it a fault.
    #[arg(long = "timeout-ms", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

/// Quotes a word for `sh`, so the printed replay command can be pasted.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command that replay lines start with.
const SELF_COMMAND: &str = "offline-im";

/// `offline-im serve`: the reference on stdin and stdout.
pub fn serve(out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let stdin = std::io::stdin();
    match conformance::serve(&mut Reference::new(), stdin.lock(), out) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(err, "error: serve: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// `offline-im schema`: the protocol's JSON Schema.
pub fn schema(out: &mut dyn Write) -> u8 {
    let _ = write!(out, "{}", conformance::SCHEMA);
    EXIT_OK
}

fn load_corpus(err: &mut dyn Write) -> Option<Vec<conformance::CorpusEntry>> {
    match conformance::corpus() {
        Ok(c) => Some(c),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            None
        }
    }
}

/// `offline-im conform`.
pub fn conform(args: ConformArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(corpus) = load_corpus(err) else {
        return EXIT_BAD_INPUT;
    };
    let opts = ConformOptions {
        cases: args.cases,
        seed: args.seed,
        steps: usize::from(args.steps),
        only: args.case.clone(),
        sources: match args.only {
            Some(only) => vec![only.source()],
            None if args.no_corpus => vec![Source::Protocol, Source::Model, Source::Generated],
            None => Source::ALL.to_vec(),
        },
        keep_going: args.keep_going,
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let more_model_cases = match super::model_cases::generated_world_cases(
        args.seed,
        args.model_worlds,
        conformance::model_cases(&corpus).len(),
    ) {
        Ok(cases) => cases,
        Err(e) => {
            let _ = writeln!(err, "error: --model-worlds: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut stderr_tail = Vec::new();
    let outcome = match Process::spawn(&args.implementation, timeout) {
        Ok(mut p) => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{pos}/{len} cases {wide_bar} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let outcome = conformance::conform_with(
                &mut p,
                &corpus,
                more_model_cases,
                &opts,
                &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            );
            bar.finish_and_clear();
            if let Ok(Outcome::Fault { .. }) = &outcome {
                stderr_tail = p.stderr_tail();
            }
            outcome
        }
        Err(fault) => Ok(Outcome::Fault {
            origin: "start".into(),
            fault,
        }),
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(unknown) => {
            let _ = writeln!(err, "error: {unknown}");
            return EXIT_BAD_INPUT;
        }
    };
    // A fault in a pipelined batch, or in `hello`, is not pinned to one
    // case; its replay is the whole (deterministic) run.
    let worlds = if args.model_worlds > 0 {
        format!(" --model-worlds {}", args.model_worlds)
    } else {
        String::new()
    };
    let replay = |origin: &str| {
        let case = if (origin.starts_with("gen:") || origin.starts_with("model:"))
            && !origin.contains(' ')
            || origin.ends_with(".toml")
        {
            format!(" --case {}", shell_quote(origin))
        } else {
            String::new()
        };
        format!(
            "{SELF_COMMAND} conform --impl {} --seed {} --cases {} --steps {} --timeout-ms {}{worlds}{case}",
            shell_quote(&args.implementation),
            args.seed,
            args.cases,
            args.steps,
            args.timeout_ms,
        )
    };
    let code = match &outcome {
        Outcome::Conforms { .. } => EXIT_OK,
        Outcome::Differs { .. } => EXIT_VIOLATION,
        Outcome::Fault { .. } => EXIT_FAULT,
    };
    let _ = write!(
        out,
        "{}",
        conformance::render(&outcome, &args.implementation, &replay, args.coverage)
    );
    if !stderr_tail.is_empty() {
        let _ = writeln!(
            out,
            "the implementation's stderr, last {} lines:",
            stderr_tail.len()
        );
        for line in &stderr_tail {
            let _ = writeln!(out, "  | {line}");
        }
    }
    if code != EXIT_OK || !args.bench {
        return code;
    }
    let reference = format!("{} serve", shell_quote(&current_exe()));
    match conformance::bench(&args.implementation, &reference, &corpus, &opts, timeout) {
        Ok(report) => {
            let _ = write!(out, "\n{}", report.render());
            EXIT_OK
        }
        Err(fault) => {
            let _ = writeln!(out, "FAULT during --bench: {fault}");
            EXIT_FAULT
        }
    }
}

fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "offline-im".to_string())
}

/// `offline-im snapshot`.
pub fn snapshot(args: SnapshotArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(corpus) = load_corpus(err) else {
        return EXIT_BAD_INPUT;
    };
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut p = match Process::spawn(&args.implementation, timeout) {
        Ok(p) => p,
        Err(fault) => {
            let _ = writeln!(out, "FAULT: {fault}");
            return EXIT_FAULT;
        }
    };
    if let Err(fault) = conformance::hello(&mut p) {
        let _ = writeln!(out, "FAULT: {fault}");
        return EXIT_FAULT;
    }
    match conformance::write_snapshots(&mut p, &corpus, &args.out) {
        Ok(files) => {
            let _ = writeln!(
                out,
                "wrote {} snapshots to {}",
                files.len(),
                args.out.display()
            );
            EXIT_OK
        }
        Err(conformance::SnapshotError::Fault(fault)) => {
            let _ = writeln!(out, "FAULT: {fault}");
            EXIT_FAULT
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_BAD_INPUT
        }
    }
}
