//! The `model-cases` subcommand: runs the model checker's case search
//! (`check::cover`) on every corpus world, turns the chosen paths into
//! protocol ops, and renders the conformance kit's committed file
//! (`conformance::MODEL_CASES`). The checker and the kit do not import each
//! other, so the conversion lives here.

use super::exit::{EXIT_BAD_INPUT, EXIT_OK};
use crate::check::cover::{self, COVER_BOUNDS, CoverBounds, Coverage};
use crate::conformance::{self, ModelCases, ModelFile, ModelPath};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The search's result on one world, with its wall time.
struct Searched {
    coverage: Coverage,
    seconds: f64,
}

/// Searches every corpus world within `bounds`, on up to `threads`
/// threads; the results are in corpus order whatever the threads did.
fn search_corpus(bounds: CoverBounds, threads: usize) -> Result<Vec<Searched>, String> {
    let corpus = conformance::corpus().map_err(|e| e.to_string())?;
    let next = AtomicUsize::new(0);
    let slots: Vec<Option<Result<Searched, String>>> = (0..corpus.len()).map(|_| None).collect();
    let found = std::sync::Mutex::new(slots);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                // Each turn takes one world, so a thread does at most
                // `corpus.len()` turns.
                for _ in 0..corpus.len() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = corpus.get(i) else { break };
                    let started = Instant::now();
                    let r = cover::explore(&entry.scenario, bounds)
                        .map(|coverage| Searched {
                            coverage,
                            seconds: started.elapsed().as_secs_f64(),
                        })
                        .map_err(|e| e.to_string());
                    if let Ok(mut slots) = found.lock() {
                        slots[i] = Some(r);
                    }
                }
            });
        }
    });
    found
        .into_inner()
        .map_err(|_| "a search thread panicked".to_string())?
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("a search thread stopped early".into())))
        .collect()
}

/// The committed file's content for these search results.
fn render(searched: &[Searched], bounds: CoverBounds) -> Result<String, String> {
    let corpus = conformance::corpus().map_err(|e| e.to_string())?;
    let mut m = ModelCases {
        bounds: format!(
            "depth_max={} states_max={}",
            bounds.depth_max, bounds.states_max
        ),
        ..ModelCases::default()
    };
    let mut reachable = BTreeSet::new();
    for s in searched {
        let c = &s.coverage;
        let Some(entry) = corpus.iter().find(|e| e.scenario.file == c.file) else {
            return Err(format!(
                "the search returned `{}`, not a corpus file",
                c.file
            ));
        };
        let d = &entry.scenario.deployment;
        reachable.extend(c.reached.iter().cloned());
        m.files.push(ModelFile {
            file: c.file.clone(),
            states: c.states,
            reached: c.reached.clone(),
            cases: c
                .paths
                .iter()
                .map(|p| ModelPath {
                    covers: p.covers.clone(),
                    ops: p
                        .events
                        .iter()
                        .filter_map(|e| conformance::op_of(d, e))
                        .map(same_body)
                        .collect(),
                })
                .collect(),
        });
    }
    m.reachable = reachable.into_iter().collect();
    Ok(conformance::render_model_cases(&m))
}

/// The body every send of a model-based case carries (DEC-068). The search
/// numbers its bodies after the message (`m1`, `m2`, …); no rule reads a
/// body, so one body for all changes no outcome, and two messages then
/// differ only by their ids, as DEC-004 tells them apart: an
/// implementation that tells them apart by their contents is caught.
pub const MODEL_CASE_BODY: &str = "same body";

fn same_body(op: conformance::Op) -> conformance::Op {
    match op {
        conformance::Op::Send { from, to, .. } => conformance::Op::Send {
            from,
            to,
            body: MODEL_CASE_BODY.to_string(),
        },
        other => other,
    }
}

/// The bounds of the run-time search of one generated world (`conform
/// --model-worlds`): smaller than the committed corpus search's, so that a
/// world takes a fraction of a second.
pub const GENERATED_WORLD_BOUNDS: CoverBounds = CoverBounds {
    depth_max: 6,
    states_max: 5_000,
};

/// The most generated worlds one run may search (`--model-worlds`).
pub const MODEL_WORLDS_MAX: u32 = 1_000;

/// Model-based cases in `worlds` generated worlds drawn from `seed`
/// (`conformance::draw_world`), searched at run time as the corpus worlds
/// are ahead of time (CONF-015 on CONF-018's worlds). A world is its
/// deployment, without its set-up, with every user signed out, under the
/// default `[check]` bounds. Origins continue from `first_index`.
pub fn generated_world_cases(
    seed: u64,
    worlds: u32,
    first_index: usize,
) -> Result<Vec<conformance::Case>, String> {
    let mut out = Vec::new();
    for i in 0..worlds.min(MODEL_WORLDS_MAX) {
        let Some(world) = conformance::draw_world(seed, i) else {
            continue;
        };
        let deployment = world.deployment();
        let scenario = conformance::load_deployment(&deployment)
            .map_err(|r| format!("generated world {i} does not load: {}", r.message))?;
        let coverage =
            cover::explore(&scenario, GENERATED_WORLD_BOUNDS).map_err(|e| e.to_string())?;
        for p in &coverage.paths {
            out.push(conformance::Case {
                origin: format!("model:{}", first_index + out.len()),
                file: format!("generated world {i} of seed {seed}"),
                deployment: deployment.clone(),
                ops: p
                    .events
                    .iter()
                    .filter_map(|e| conformance::op_of(&scenario.deployment, e))
                    .map(same_body)
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// The text of the model-cases file as this build generates it, with the
/// committed bounds: what `model-cases --write` writes and what the test
/// that keeps the committed file current compares.
pub fn model_cases_text() -> Result<String, String> {
    let searched = search_corpus(COVER_BOUNDS, threads())?;
    render(&searched, COVER_BOUNDS)
}

/// The threads the search uses: the machine's, at most four.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// Runs `model-cases`: writes the file to `write`, or prints it, and a
/// table of what the search did to `err`.
pub(super) fn model_cases(write: Option<PathBuf>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let started = Instant::now();
    let searched = match search_corpus(COVER_BOUNDS, threads()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let text = match render(&searched, COVER_BOUNDS) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let _ = writeln!(
        err,
        "{:<44} {:>7} {:>5} {:>9} {:>8} {:>5} {:>4} {:>8}",
        "file", "states", "depth", "trans", "outcomes", "cases", "ops", "seconds"
    );
    let mut reachable = BTreeSet::new();
    let (mut cases, mut ops) = (0, 0);
    for s in &searched {
        let c = &s.coverage;
        let path_ops: usize = c.paths.iter().map(|p| p.events.len()).sum();
        cases += c.paths.len();
        ops += path_ops;
        reachable.extend(c.reached.iter());
        let _ = writeln!(
            err,
            "{:<44} {:>6}{} {:>5} {:>9} {:>8} {:>5} {:>4} {:>8.2}",
            c.file,
            c.states,
            if c.truncated { "+" } else { " " },
            c.depth_reached,
            c.transitions,
            c.reached.len(),
            c.paths.len(),
            path_ops,
            s.seconds
        );
    }
    let _ = writeln!(
        err,
        "total: {} outcomes reachable, {cases} cases, {ops} ops after the prefixes, {:.2} s on {} thread(s); `+`: the state bound was reached",
        reachable.len(),
        started.elapsed().as_secs_f64(),
        threads()
    );
    match write {
        Some(path) => match std::fs::write(&path, &text) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: cannot write `{}`: {e}; expected a writable path",
                    path.display()
                );
                EXIT_BAD_INPUT
            }
        },
        None => {
            let _ = write!(out, "{text}");
            EXIT_OK
        }
    }
}
