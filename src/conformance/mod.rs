//! The conformance kit: the wire protocol `offline-im/1`, the reference
//! implementation behind `offline-im serve`, the runner behind
//! `offline-im conform`, and the insta-format snapshots behind
//! `offline-im snapshot` (SPEC.md §7).
//!
//! Invariants it keeps:
//! - The reference is the rule book (`world::step` through `World`); no
//!   rule is restated here, and expected values are never computed by the
//!   runner itself.
//! - A faulty implementation ends the run with a `Fault` (exit 3): it never
//!   hangs the run and never outlives it.
//! - The same options and implementation give byte-identical reports.
//!
//! What it may import: the rule book (`crate::rules`), the formats
//! (`crate::formats`: the corpus is scenario files, and observations are
//! built from `formats::report`), proptest, similar, serde_json and libc.
//! Never another driver or the CLI (`tests/layout.rs`), so that a library
//! user's `default-features = false, features = ["conformance"]` builds
//! without the model checker, the simulator or clap.
//!
//! What it deliberately does not do: check the reference's own invariants
//! (the model checker and the simulator do), or time anything outside
//! `--bench`.

mod bench;
mod coverage;
mod edge;
mod generate;
mod model_cases;
mod process;
mod protocol;
mod reference;
mod runner;
mod snapshot;
mod swarm;

pub use bench::{BenchReport, LatencySummary, bench};
pub use coverage::Coverage;
pub use edge::{
    EDGE_LINES_MAX, EdgeCase, EdgeDifference, check_edge_cases, edge_cases, edge_replay,
    render_edge_differences,
};
pub use generate::{GenCmdlet, GenWorld, cmdlet_strategy, world_strategy};
pub use model_cases::{
    MODEL_CASES, MODEL_CASES_COMMAND, ModelCases, ModelCasesError, ModelFile, ModelPath,
    parse_model_cases, reachable_outcomes, render_model_cases,
};
pub use process::Process;
pub use protocol::{
    Answer, Driver, ErrorCode, Fault, ID_MAX, Implementation, LINE_BYTES_MAX, Op, PROTOCOL,
    RawAnswer, Rejection, SCHEMA, TIME_MS_MAX, agree, answer_json, answer_line, call,
    decode_answer, decode_raw_answer, decode_request, done, encode_answer, encode_request,
    parse_presence, raw_line_name, shown_bytes, whole_numbers_as_integers,
};
pub use reference::{Reference, load_deployment, serve};
pub use runner::{
    CASES_DEFAULT, CASES_MAX, CASES_PER_EXCHANGE, CORPUS, Case, ConformOptions, CorpusEntry,
    DISTINCT_MAX, Difference, Found, GENERATED_WORLD, Outcome, STEPS_DEFAULT, STEPS_MAX, Source,
    Totals, UnknownCase, Verdict, batched_requests, check_case, check_cases, check_cases_covering,
    conform, conform_with, conform_with_progress, corpus, corpus_entry, deployment_json, diagnose,
    draw_world, first_difference, generated_cases, hello, materialize, minimize, model_cases,
    op_of, render, scenario_case,
};
pub use snapshot::{SnapshotError, snapshot_text, write_snapshots};
pub use swarm::{GenCase, GenOp, GenWorldChoice, OP_KINDS, PRESENCES, case_strategy, kind_of};

/// Runs what `conform` runs (the protocol edge cases, the corpus, the
/// model-based and the generated cases, CONF-009) against an in-process
/// implementation and panics with the minimal counterexample if it differs
/// from the reference or breaks the protocol. For implementers' own
/// `cargo test`.
pub fn assert_conforms(imp: &mut impl Implementation, opts: &ConformOptions) {
    let corpus = match corpus() {
        Ok(c) => c,
        Err(e) => panic!("the embedded corpus does not load: {e}"),
    };
    match conform(imp, &corpus, opts) {
        Ok(outcome @ Outcome::Conforms { .. }) => drop(outcome),
        Ok(outcome) => {
            // A single case replays with `only`; a batch, `hello` or the
            // edge cases replay with the whole (deterministic) run.
            let replay = |origin: &str| {
                let single = (origin.starts_with("gen:") || origin.starts_with("model:"))
                    && !origin.contains(' ')
                    || origin.ends_with(".toml");
                let only = if single {
                    format!("Some({origin:?}.into())")
                } else {
                    "None".to_string()
                };
                format!(
                    "conformance::assert_conforms(imp, &ConformOptions {{ seed: {}, cases: {}, steps: {}, only: {only}, ..ConformOptions::default() }})",
                    opts.seed, opts.cases, opts.steps,
                )
            };
            panic!(
                "{}",
                render(&outcome, "YOUR-IMPLEMENTATION", &replay, false)
            )
        }
        Err(e) => panic!("{e}"),
    }
}
