//! The conformance runner: the corpus and generated cases, run against an
//! implementation and the reference side by side, compared after every
//! step, and shrunk to a minimal counterexample on a difference.
//!
//! Invariants it keeps:
//! - The reference is `Reference`, the rule book behind the protocol; the
//!   runner never computes an expected value itself.
//! - Every case is `reset`, then each op followed by `observe`, so a
//!   difference is pinned to the first step whose answer or observation
//!   differs.
//! - Generated case `i` under seed `s` is the same on every machine: its
//!   proptest RNG is ChaCha seeded from `(s, i)` alone, so `--case gen:i`
//!   replays it without running the cases before it.
//! - Shrinking ends with a 1-minimal sequence: removing any single op makes
//!   the implementation agree with the reference.
//!
//! What it deliberately does not do: judge the reference. The reference's
//! own invariants are the model checker's business; here it is the oracle.

use super::coverage::Coverage;
use super::edge::{EdgeDifference, check_edge_cases, edge_cases, render_edge_differences};
use super::generate::{GenWorld, world_strategy};
use super::model_cases::{MODEL_CASES, parse_model_cases, reachable_outcomes};
use super::protocol::{
    Answer, Driver, Fault, Op, PROTOCOL, agree, answer_json, call, encode_request, one_answer_each,
    truncate,
};
use super::reference::{Reference, load_deployment};
use super::swarm::{
    GenCase, GenWorldChoice, WorldNames, case_strategy, materialize_ops, start_sign_ins,
};
use crate::formats::scenario::{self, Scenario, ScenarioError};
use crate::rules::domain::Deployment;
use crate::rules::world::{Decision, Event};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

/// Generated cases in a default run (`--cases`): with `STEPS_DEFAULT`, the
/// smallest measured setting at which every wrong implementation of
/// examples/ is caught without the corpus (BENCHMARKS.md), well inside the
/// 30 s a default run may take.
pub const CASES_DEFAULT: u32 = 8192;
/// Ops per generated case in a default run (`--steps`); 4,096 cases of 24
/// ops missed one wrong implementation that 8,192 of 32 catch.
pub const STEPS_DEFAULT: usize = 32;
/// The most generated ops a case may have (`--steps`).
pub const STEPS_MAX: usize = 64;
/// The most generated cases one run may ask for (`--cases`).
pub const CASES_MAX: u32 = 1_000_000;
/// Generated cases sent to the implementation in one pipelined exchange.
pub const CASES_PER_EXCHANGE: usize = 32;
/// The bound on proptest shrinking iterations per failing case.
const SHRINK_ITERS_MAX: u32 = 512;

/// One case: a deployment and the ops applied to it after `reset`.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// `models/<file>.toml` for a corpus case, `gen:<i>` for a generated one.
    pub origin: String,
    /// The corpus file whose deployment the case runs on.
    pub file: String,
    /// The `[deployment]` table of that file as JSON, as `reset` sends it.
    pub deployment: Value,
    /// The ops after `reset`: the scenario's setup cmdlets and initial
    /// sign-ins, then its timeline (a corpus case) or the drawn ops (a
    /// generated case).
    pub ops: Vec<Op>,
}

impl Case {
    /// The requests of the case, in order: `reset`, then each op followed by
    /// `observe`.
    pub fn requests(&self) -> Vec<Op> {
        let mut out = Vec::with_capacity(1 + 2 * self.ops.len());
        out.push(Op::Reset {
            deployment: self.deployment.clone(),
        });
        for op in &self.ops {
            out.push(op.clone());
            out.push(Op::Observe);
        }
        out
    }
}

/// A corpus scenario prepared for the protocol.
#[derive(Clone, Debug)]
pub struct CorpusEntry {
    /// The scenario as loaded.
    pub scenario: Scenario,
    /// Its `[deployment]` table as JSON, without the users' `signed_in` and
    /// `presence` keys (`deployment_json`).
    pub deployment: Value,
    /// Setup cmdlets and initial sign-ins: where every case on this
    /// deployment starts.
    pub prefix: Vec<Op>,
    /// The organisation and command of every cmdlet the scenario mentions,
    /// for generated `admin` ops.
    pub admin: Vec<(String, String)>,
}

/// Loads the embedded corpus.
pub fn corpus() -> Result<Vec<CorpusEntry>, ScenarioError> {
    CORPUS
        .iter()
        .map(|(file, text)| corpus_entry(file, text))
        .collect()
}

/// Prepares one scenario file for the protocol.
pub fn corpus_entry(file: &str, text: &str) -> Result<CorpusEntry, ScenarioError> {
    let scenario = scenario::load(file, text)?;
    let deployment = deployment_json(text).map_err(|message| ScenarioError {
        file: file.to_string(),
        line: 1,
        column: 1,
        message,
        source_line: String::new(),
    })?;
    let d = &scenario.deployment;
    let prefix = scenario
        .setup
        .iter()
        .chain(&scenario.initial_sign_ins)
        .filter_map(|te| op_of(d, &te.event))
        .collect();
    let mut admin: Vec<(String, String)> = scenario
        .setup
        .iter()
        .chain(&scenario.timeline)
        .filter_map(|te| match op_of(d, &te.event) {
            Some(Op::Admin { org, command }) => Some((org, command)),
            _ => None,
        })
        .chain(
            scenario
                .check
                .admin
                .iter()
                .filter_map(|e| match op_of(d, e) {
                    Some(Op::Admin { org, command }) => Some((org, command)),
                    _ => None,
                }),
        )
        .collect();
    admin.sort();
    admin.dedup();
    Ok(CorpusEntry {
        scenario,
        deployment,
        prefix,
        admin,
    })
}

/// The `[deployment]` table of a scenario file as JSON, without the users'
/// `signed_in` and `presence` keys: those are sign-ins, sent as ops.
pub fn deployment_json(text: &str) -> Result<Value, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut d = serde_json::to_value(doc.get("deployment")).map_err(|e| e.to_string())?;
    if let Some(users) = d.get_mut("users").and_then(Value::as_array_mut) {
        for u in users.iter_mut().filter_map(Value::as_object_mut) {
            u.remove("signed_in");
            u.remove("presence");
        }
    }
    Ok(d)
}

/// The op for a scenario event; `None` for the rule book's internal events,
/// which the protocol leaves to the implementation's own scheduler.
pub fn op_of(d: &Deployment, e: &Event) -> Option<Op> {
    let user = |u: &crate::rules::domain::UserId| d.user(*u).name.clone();
    let org = |o: &crate::rules::domain::OrgId| d.org(*o).name.clone();
    Some(match e {
        Event::Send { from, to, body } => Op::Send {
            from: user(from),
            to: user(to),
            body: body.clone(),
        },
        Event::SignIn { user: u, presence } => Op::SignIn {
            user: user(u),
            presence: presence.name().to_string(),
        },
        Event::SignOut { user: u } => Op::SignOut { user: user(u) },
        Event::SetPresence { user: u, presence } => Op::SetPresence {
            user: user(u),
            presence: presence.name().to_string(),
        },
        Event::CrashClient { user: u } => Op::Crash { user: user(u) },
        Event::RestartClient { user: u } => Op::Restart { user: user(u) },
        Event::EwsDown { org: o } => Op::EwsDown { org: org(o) },
        Event::EwsUp { org: o } => Op::EwsUp { org: org(o) },
        Event::Admin { org: o, text, .. } => Op::Admin {
            org: org(o),
            command: text.clone(),
        },
        Event::AdvanceTo { at_ms } => Op::Advance { to_ms: *at_ms },
        // Internal events, and the EWS endpoint's, which no case holds.
        Event::Pickup { .. }
        | Event::ExchangeProcess { .. }
        | Event::ClientReceive { .. }
        | Event::CreateItemArrives { .. } => {
            return None;
        }
    })
}

/// A corpus scenario as a case: the prefix, then each timeline entry after
/// advancing to its time, then an advance to `end_ms`.
pub fn scenario_case(entry: &CorpusEntry) -> Case {
    let s = &entry.scenario;
    let mut ops = entry.prefix.clone();
    let mut clock_ms = 0;
    for te in &s.timeline {
        if te.at_ms > clock_ms {
            clock_ms = te.at_ms;
            ops.push(Op::Advance { to_ms: clock_ms });
        }
        ops.extend(op_of(&s.deployment, &te.event));
    }
    if s.end_ms > clock_ms {
        ops.push(Op::Advance { to_ms: s.end_ms });
    }
    Case {
        origin: s.file.clone(),
        file: s.file.clone(),
        deployment: entry.deployment.clone(),
        ops,
    }
}

/// The committed model-based cases on the corpus, in file order: each is
/// its corpus file's prefix followed by the path's ops, and `origin` is
/// `model:<i>`, its index here. A file the corpus does not hold has no
/// cases; an unparsable committed file gives none (a test proves it parses).
pub fn model_cases(corpus: &[CorpusEntry]) -> Vec<Case> {
    let Ok(m) = parse_model_cases(MODEL_CASES) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in &m.files {
        let Some(entry) = corpus.iter().find(|e| e.scenario.file == f.file) else {
            continue;
        };
        for c in &f.cases {
            out.push(Case {
                origin: format!("model:{}", out.len()),
                file: f.file.clone(),
                deployment: entry.deployment.clone(),
                ops: entry.prefix.iter().chain(&c.ops).cloned().collect(),
            });
        }
    }
    out
}

/// The `file` of a case in a generated world, which has no corpus file.
pub const GENERATED_WORLD: &str = "a generated world";

/// Resolves a generated case: the world's deployment and prefix (a corpus
/// entry's set-up and sign-ins, or a generated world's set-up and the
/// case's starting sign-ins), then the drawn ops (`swarm::materialize_ops`).
pub fn materialize(corpus: &[CorpusEntry], origin: &str, g: &GenCase) -> Case {
    match &g.world {
        GenWorldChoice::Corpus(i) => {
            // An empty corpus (a library caller's) draws the minimal world
            // instead: indexing modulo zero would panic.
            let Some(entry) = corpus.get(i % corpus.len().max(1)) else {
                let minimal = GenCase {
                    world: GenWorldChoice::Generated(GenWorld::minimal()),
                    ..g.clone()
                };
                return materialize(corpus, origin, &minimal);
            };
            let names = WorldNames {
                deployment: &entry.scenario.deployment,
                admin: &entry.admin,
            };
            let mut ops = entry.prefix.clone();
            ops.extend(materialize_ops(&names, g, 0));
            Case {
                origin: origin.to_string(),
                file: entry.scenario.file.clone(),
                deployment: entry.deployment.clone(),
                ops,
            }
        }
        GenWorldChoice::Generated(world) => {
            let deployment = world.deployment();
            let setup = world.setup();
            let mut ops = setup.clone();
            ops.extend(start_sign_ins(&world.user_names(), &g.start));
            // Every generated deployment loads (generate.rs's tests); were
            // one not to, the case is its `reset` alone, which both sides
            // must answer `bad_deployment`.
            if let Ok(loaded) = load_deployment(&deployment) {
                let admin: Vec<(String, String)> = setup
                    .into_iter()
                    .chain(g.cmdlets.iter().map(|c| c.resolve(world)))
                    .filter_map(|op| match op {
                        Op::Admin { org, command } => Some((org, command)),
                        _ => None,
                    })
                    .collect();
                let names = WorldNames {
                    deployment: &loaded.deployment,
                    admin: &admin,
                };
                ops.extend(materialize_ops(&names, g, 0));
            } else {
                ops.clear();
            }
            Case {
                origin: origin.to_string(),
                file: GENERATED_WORLD.to_string(),
                deployment,
                ops,
            }
        }
    }
}

/// Where a case first differs from the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The 0-based index of the op in `Case::ops`; `None` for `reset`.
    pub step: Option<usize>,
    /// The request whose answer differs (the op itself, or the `observe`
    /// after it).
    pub request: Op,
    /// The reference's answer.
    pub expected: Answer,
    /// The implementation's answer.
    pub actual: Answer,
}

/// The verdict on one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every answer agreed with the reference's.
    Agrees,
    /// An answer differed; this is the first one that did.
    Differs(Difference),
    /// The implementation broke the protocol.
    Fault(Fault),
}

/// Runs `case` on both sides and finds the first disagreement.
pub fn check_case(imp: &mut dyn Driver, reference: &mut Reference, case: &Case) -> Verdict {
    match check_cases(imp, reference, std::slice::from_ref(case)) {
        Ok(mut differences) => differences
            .pop()
            .flatten()
            .map_or(Verdict::Agrees, Verdict::Differs),
        Err(f) => Verdict::Fault(f),
    }
}

/// The requests of `cases`, concatenated in chunks of
/// `CASES_PER_EXCHANGE` cases: the exchanges `conform` makes.
pub fn batched_requests(cases: &[Case]) -> Vec<Vec<Op>> {
    cases
        .chunks(CASES_PER_EXCHANGE)
        .map(|chunk| chunk.iter().flat_map(Case::requests).collect())
        .collect()
}

/// Runs several cases in one exchange, so that a child process gets them
/// pipelined, and returns each case's first difference, if any. Every case
/// starts with `reset`, so the cases are independent.
pub fn check_cases(
    imp: &mut dyn Driver,
    reference: &mut Reference,
    cases: &[Case],
) -> Result<Vec<Option<Difference>>, Fault> {
    Ok(check_cases_covering(imp, reference, cases)?
        .into_iter()
        .map(|(d, _)| d)
        .collect())
}

/// One case's first difference, if any, and the decision outcomes the
/// reference took in it.
pub type CaseResult = (Option<Difference>, Vec<Decision>);

/// `check_cases`, with the decision outcomes the reference took in each
/// case (CONF-016's coverage).
pub fn check_cases_covering(
    imp: &mut dyn Driver,
    reference: &mut Reference,
    cases: &[Case],
) -> Result<Vec<CaseResult>, Fault> {
    let per_case: Vec<Vec<Op>> = cases.iter().map(Case::requests).collect();
    let all: Vec<Op> = per_case.iter().flatten().cloned().collect();
    let actual = one_answer_each(imp.exchange(&all)?, all.len())?;
    let mut answers = actual.into_iter();
    Ok(per_case
        .iter()
        .map(|requests| {
            let mut first = None;
            for (i, (op, a)) in requests
                .iter()
                .zip(answers.by_ref().take(requests.len()))
                .enumerate()
            {
                // The reference answers every request, even after a
                // difference, so that both sides reach the next `reset`.
                let e = call(reference, op);
                if first.is_none() && !agree(&e, &a) {
                    first = Some(Difference {
                        step: i.checked_sub(1).map(|k| k / 2),
                        request: op.clone(),
                        expected: e,
                        actual: a,
                    });
                }
            }
            (first, reference.take_decisions())
        })
        .collect())
}

/// Shrinks a differing case until removing any single op makes it agree.
/// Ops after the first difference are dropped first: they cannot matter.
pub fn minimize(
    imp: &mut dyn Driver,
    reference: &mut Reference,
    mut case: Case,
    mut diff: Difference,
) -> Result<(Case, Difference), Fault> {
    if let Some(k) = diff.step {
        case.ops.truncate(k + 1);
    }
    // Each pass removes at least one op or ends the loop, so the loop is
    // bounded by the case length.
    for _ in 0..=case.ops.len() {
        let mut removed = false;
        let mut i = case.ops.len();
        while i > 0 {
            i -= 1;
            let mut candidate = case.clone();
            candidate.ops.remove(i);
            match check_case(imp, reference, &candidate) {
                Verdict::Differs(d) => {
                    case = candidate;
                    diff = d;
                    removed = true;
                    i = i.min(case.ops.len());
                }
                Verdict::Agrees => {}
                Verdict::Fault(f) => return Err(f),
            }
        }
        if !removed {
            break;
        }
    }
    Ok((case, diff))
}

/// Where a case comes from: the sources `--only` selects, in the order a
/// run takes them (CONF-009).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The protocol edge cases of CONF-017: raw lines compared by id, `ok`
    /// and `code`.
    Protocol,
    /// The hand-written scenarios of models/.
    Corpus,
    /// Paths through the rule book's state graph chosen to cover every
    /// decision outcome (CONF-015).
    Model,
    /// Cases drawn from the seed with swarm op mixes (CONF-014).
    Generated,
}

impl Source {
    /// Every source, in run order.
    pub const ALL: [Source; 4] = [
        Source::Protocol,
        Source::Corpus,
        Source::Model,
        Source::Generated,
    ];

    /// The name `--only` takes.
    pub fn name(self) -> &'static str {
        match self {
            Source::Protocol => "protocol",
            Source::Corpus => "corpus",
            Source::Model => "model",
            Source::Generated => "generated",
        }
    }
}

/// What `conform` is asked to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformOptions {
    /// Generated cases after the corpus and the model-based cases.
    pub cases: u32,
    /// The seed of the generated cases: case `i` is drawn from a ChaCha
    /// generator seeded by `(seed, i)` alone, so it replays on its own
    /// (CONF-009).
    pub seed: u64,
    /// The most generated ops per case.
    pub steps: usize,
    /// Run only this case: `models/<file>.toml`, `model:<i>` or `gen:<i>`.
    pub only: Option<String>,
    /// The sources to run (`--only`, `--no-corpus`), in run order.
    pub sources: Vec<Source>,
    /// Run every case and report every distinct difference, instead of
    /// stopping at the first differing exchange.
    pub keep_going: bool,
}

impl Default for ConformOptions {
    fn default() -> Self {
        ConformOptions {
            cases: CASES_DEFAULT,
            seed: 1,
            steps: STEPS_DEFAULT,
            only: None,
            sources: Source::ALL.to_vec(),
            keep_going: false,
        }
    }
}

/// How many cases of each source ran, and how many differed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Protocol edge cases run (CONF-017).
    pub protocol_cases: u64,
    /// Corpus scenarios run.
    pub corpus_cases: u64,
    /// Model-based cases run.
    pub model_cases: u64,
    /// Generated cases run.
    pub generated_cases: u64,
    /// Cases whose answers differed from the reference's.
    pub cases_differ: u64,
    /// Requests sent in all, `hello` excluded, shrinking excluded.
    pub requests: u64,
}

impl Totals {
    /// Cases run, of every source.
    pub fn cases(&self) -> u64 {
        self.protocol_cases + self.corpus_cases + self.model_cases + self.generated_cases
    }
}

/// One distinct difference: a minimal counterexample, and how many cases
/// showed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// What makes two differences one (`signature`): the op, the JSON path
    /// and the kinds of value there, read off the minimal counterexample.
    pub signature: String,
    /// The cases whose first difference shrank to this one, or had the
    /// same unshrunk signature as one that did.
    pub cases: u64,
    /// The minimal case: shrunk until removing any one op makes the two
    /// sides agree.
    pub case: Case,
    /// Where that case first differs.
    pub difference: Difference,
}

/// The most distinct differences one run shrinks; past it, differing cases
/// are counted but not shrunk, so a thoroughly wrong implementation cannot
/// make a run take hours.
pub const DISTINCT_MAX: usize = 16;

/// How a conformance run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every case agreed.
    Conforms {
        /// The name the implementation gave in `hello`.
        implementation: String,
        /// The cases run.
        totals: Totals,
        /// The decision outcomes the cases exercised.
        coverage: Coverage,
    },
    /// Some case differed.
    Differs {
        /// The name the implementation gave in `hello`.
        implementation: String,
        /// The seed of the run, for the replay command.
        seed: u64,
        /// The distinct differences, in the order first found.
        found: Vec<Found>,
        /// The protocol edge-case lines answered differently (CONF-017);
        /// this and `found` are never both empty.
        edge: Vec<EdgeDifference>,
        /// The cases run (all of them with `keep_going`, up to the first
        /// differing exchange without).
        totals: Totals,
        /// The decision outcomes the cases exercised.
        coverage: Coverage,
    },
    /// The implementation broke the protocol.
    Fault {
        /// The case or cases in flight: an origin, `a to b` for a batch of
        /// cases, or `hello`.
        origin: String,
        /// How the implementation broke the protocol.
        fault: Fault,
    },
}

/// A request the options name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "found `--case {found}`, expected `gen:<i>` with i below --cases ({cases}), `model:<i>` with i below {model_cases}, or one of the corpus files: {files}"
)]
pub struct UnknownCase {
    /// The `--case` value given.
    pub found: String,
    /// The run's `--cases`, which bounds `gen:<i>`.
    pub cases: u32,
    /// The number of model-based cases, which bounds `model:<i>`.
    pub model_cases: usize,
    /// The corpus files, listed for the message.
    pub files: String,
}

/// The 32-byte ChaCha seed of generated case `i` under `seed`.
fn case_seed(seed: u64, i: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&seed.to_le_bytes());
    out[8..12].copy_from_slice(&i.to_le_bytes());
    out[16..].copy_from_slice(b"offline-im/1 gen");
    out
}

/// Opens the conversation and returns the implementation's name.
pub fn hello(imp: &mut dyn Driver) -> Result<String, Fault> {
    let answers = imp.exchange(&[Op::Hello {
        protocol: PROTOCOL.to_string(),
    }])?;
    let found = match answers.first() {
        Some(Ok(r)) if r.get("protocol").and_then(Value::as_str) == Some(PROTOCOL) => {
            return Ok(r
                .get("implementation")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_string());
        }
        Some(Ok(r)) => r
            .get("protocol")
            .map_or("no protocol".to_string(), Value::to_string),
        Some(Err(rej)) => format!("a rejection of hello ({})", rej.message),
        None => "no answer to hello".to_string(),
    };
    Err(Fault::Protocol { found })
}

/// Runs the corpus, the model-based cases, then the generated cases,
/// against `imp` (CONF-009).
pub fn conform(
    imp: &mut dyn Driver,
    corpus: &[CorpusEntry],
    opts: &ConformOptions,
) -> Result<Outcome, UnknownCase> {
    conform_with_progress(imp, corpus, opts, &mut |_, _| {})
}

/// One exchange's worth of cases of one source.
struct Batch<T> {
    source: Source,
    cases: Vec<Case>,
    /// For generated cases, each case's value tree, for shrinking; empty
    /// for the other sources.
    trees: Vec<T>,
}

/// `conform`, calling `progress(cases_done, cases_total)` after every
/// exchange, for a progress bar.
pub fn conform_with_progress(
    imp: &mut dyn Driver,
    corpus: &[CorpusEntry],
    opts: &ConformOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome, UnknownCase> {
    conform_with(imp, corpus, Vec::new(), opts, progress)
}

/// `conform_with_progress`, with more model-based cases after the
/// committed ones: those the full build searches in generated worlds at
/// run time (`conform --model-worlds`). Their origins must continue the
/// committed ones' `model:<i>` numbering, so that `--case model:<i>`
/// replays them.
pub fn conform_with(
    imp: &mut dyn Driver,
    corpus: &[CorpusEntry],
    more_model_cases: Vec<Case>,
    opts: &ConformOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome, UnknownCase> {
    let mut model = model_cases(corpus);
    model.extend(more_model_cases);
    let unknown = || UnknownCase {
        found: opts.only.clone().unwrap_or_default(),
        cases: opts.cases,
        model_cases: model.len(),
        files: crate::rules::domain::join_names(corpus.iter().map(|c| c.scenario.file.as_str())),
    };
    let wants = |s: Source| opts.sources.contains(&s);
    let (corpus_sel, model_sel, gen_sel): (Vec<&CorpusEntry>, Vec<&Case>, Vec<u32>) =
        match opts.only.as_deref() {
            None => (
                corpus.iter().filter(|_| wants(Source::Corpus)).collect(),
                model.iter().filter(|_| wants(Source::Model)).collect(),
                (0..opts.cases)
                    .filter(|_| wants(Source::Generated))
                    .collect(),
            ),
            Some(sel) => {
                let index = |prefix: &str| sel.strip_prefix(prefix).map(str::parse::<u32>);
                match (index("gen:"), index("model:")) {
                    (Some(Ok(i)), _) if i < opts.cases => (Vec::new(), Vec::new(), vec![i]),
                    (_, Some(Ok(i))) if (i as usize) < model.len() => {
                        (Vec::new(), vec![&model[i as usize]], Vec::new())
                    }
                    (Some(_), _) | (_, Some(_)) => return Err(unknown()),
                    (None, None) => {
                        let entry = corpus
                            .iter()
                            .find(|c| c.scenario.file == sel)
                            .ok_or_else(unknown)?;
                        (vec![entry], Vec::new(), Vec::new())
                    }
                }
            }
        };
    let implementation = match hello(imp) {
        Ok(n) => n,
        Err(fault) => {
            return Ok(Outcome::Fault {
                origin: "hello".into(),
                fault,
            });
        }
    };
    let mut reference = Reference::new();
    let mut totals = Totals::default();
    // The edge cases come first, while the connection has had no `reset`
    // (their first sequence needs that), with a reference of their own so
    // that their lines do not count towards coverage.
    let mut edge = Vec::new();
    if opts.only.is_none() && wants(Source::Protocol) {
        edge = match check_edge_cases(imp, &mut Reference::new()) {
            Ok(v) => v,
            Err(fault) => {
                return Ok(Outcome::Fault {
                    origin: "the protocol edge cases".into(),
                    fault,
                });
            }
        };
        let cases = edge_cases();
        totals.protocol_cases = cases.len() as u64;
        totals.cases_differ += cases
            .iter()
            .filter(|c| edge.iter().any(|d| d.case == c.name))
            .count() as u64;
    }
    let mut coverage = Coverage::new(reachable_outcomes());
    let mut found: Vec<Found> = Vec::new();
    // Unshrunk signatures already accounted for, with the index in `found`
    // of the difference they shrank to; a case with one of them is counted,
    // not shrunk again.
    let mut raw_seen: BTreeMap<String, usize> = BTreeMap::new();
    let cases_total =
        totals.protocol_cases + (corpus_sel.len() + model_sel.len() + gen_sel.len()) as u64;
    let strategy = case_strategy(corpus.len(), opts.steps.min(STEPS_MAX));
    let corpus_cases: Vec<Case> = corpus_sel.iter().map(|e| scenario_case(e)).collect();
    let model_cases: Vec<Case> = model_sel.into_iter().cloned().collect();
    let fixed = [(Source::Corpus, corpus_cases), (Source::Model, model_cases)];
    let fixed_batches = fixed.into_iter().flat_map(|(source, cases)| {
        cases
            .chunks(CASES_PER_EXCHANGE)
            .map(|chunk| (source, chunk.to_vec()))
            .collect::<Vec<_>>()
    });
    let gen_batches = gen_sel.chunks(CASES_PER_EXCHANGE).map(|chunk| {
        let trees: Vec<(u32, _)> = chunk
            .iter()
            .filter_map(|&i| draw(&strategy, opts.seed, i).map(|t| (i, t)))
            .collect();
        let cases = trees
            .iter()
            .map(|(i, t)| materialize(corpus, &format!("gen:{i}"), &t.current()))
            .collect();
        Batch {
            source: Source::Generated,
            cases,
            trees: trees.into_iter().map(|(_, t)| Some(t)).collect(),
        }
    });
    let batches = fixed_batches
        .map(|(source, cases)| Batch {
            source,
            cases,
            trees: Vec::new(),
        })
        .chain(gen_batches);
    progress(totals.cases(), cases_total);
    let stop_now = !edge.is_empty() && !opts.keep_going;
    'batches: for mut batch in batches {
        if stop_now {
            break;
        }
        if batch.cases.is_empty() {
            continue;
        }
        let results = match check_cases_covering(imp, &mut reference, &batch.cases) {
            Ok(v) => v,
            Err(fault) => {
                let origin = match (batch.cases.first(), batch.cases.last()) {
                    (Some(a), Some(b)) if a.origin != b.origin => {
                        format!("{} to {}", a.origin, b.origin)
                    }
                    _ => batch.cases[0].origin.clone(),
                };
                return Ok(Outcome::Fault { origin, fault });
            }
        };
        let n = batch.cases.len() as u64;
        totals.requests += batch
            .cases
            .iter()
            .map(|c| c.requests().len() as u64)
            .sum::<u64>();
        match batch.source {
            Source::Protocol => totals.protocol_cases += n,
            Source::Corpus => totals.corpus_cases += n,
            Source::Model => totals.model_cases += n,
            Source::Generated => totals.generated_cases += n,
        }
        for (k, (diff, decisions)) in results.into_iter().enumerate() {
            coverage.count_case(&decisions);
            let Some(diff) = diff else { continue };
            totals.cases_differ += 1;
            let raw = signature(&diff);
            if let Some(&i) = raw_seen.get(&raw) {
                found[i].cases += 1;
                continue;
            }
            if found.len() >= DISTINCT_MAX {
                continue;
            }
            let case = batch.cases[k].clone();
            let origin = case.origin.clone();
            let shrunk = match batch.trees.get_mut(k).and_then(Option::take) {
                Some(tree) => shrink_tree(imp, &mut reference, corpus, tree, case, diff),
                None => Ok((case, diff)),
            };
            let (case, difference) =
                match shrunk.and_then(|(c, d)| minimize(imp, &mut reference, c, d)) {
                    Ok(minimal) => minimal,
                    Err(fault) => return Ok(Outcome::Fault { origin, fault }),
                };
            let sig = signature(&difference);
            let i = match found.iter().position(|f| f.signature == sig) {
                Some(i) => {
                    found[i].cases += 1;
                    i
                }
                None => {
                    found.push(Found {
                        signature: sig,
                        cases: 1,
                        case,
                        difference,
                    });
                    found.len() - 1
                }
            };
            raw_seen.insert(raw, i);
            if !opts.keep_going {
                progress(totals.cases(), cases_total);
                break 'batches;
            }
        }
        progress(totals.cases(), cases_total);
    }
    Ok(if found.is_empty() && edge.is_empty() {
        Outcome::Conforms {
            implementation,
            totals,
            coverage,
        }
    } else {
        Outcome::Differs {
            implementation,
            seed: opts.seed,
            found,
            edge,
            totals,
            coverage,
        }
    })
}

/// The value tree of generated case `i` under `seed`. The case strategy
/// has no filters, so a draw cannot be rejected; were it ever, the case
/// would be skipped, not failed.
fn draw<S: Strategy>(strategy: &S, seed: u64, i: u32) -> Option<S::Tree> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &case_seed(seed, i)),
    );
    strategy.new_tree(&mut runner).ok()
}

/// Generated world `i` under `seed`, for the model-based search of
/// generated worlds at run time (`conform --model-worlds`). Its ChaCha
/// seed is tagged apart from the generated cases', so the worlds are not
/// those cases' worlds.
pub fn draw_world(seed: u64, i: u32) -> Option<GenWorld> {
    let mut key = case_seed(seed, i);
    key[16..].copy_from_slice(b"offline-im/1 wld");
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &key),
    );
    world_strategy()
        .new_tree(&mut runner)
        .ok()
        .map(|t| t.current())
}

/// Generated cases `0..cases` under `seed`, as drawn (for benchmarks).
pub fn generated_cases(corpus: &[CorpusEntry], opts: &ConformOptions) -> Vec<Case> {
    let strategy = case_strategy(corpus.len(), opts.steps.min(STEPS_MAX));
    (0..opts.cases)
        .filter_map(|i| {
            draw(&strategy, opts.seed, i)
                .map(|t| materialize(corpus, &format!("gen:{i}"), &t.current()))
        })
        .collect()
}

/// Shrinks a differing generated case with proptest's value tree:
/// simplify while it still differs, complicate when it agrees.
fn shrink_tree(
    imp: &mut dyn Driver,
    reference: &mut Reference,
    corpus: &[CorpusEntry],
    mut tree: impl ValueTree<Value = GenCase>,
    mut case: Case,
    mut diff: Difference,
) -> Result<(Case, Difference), Fault> {
    let mut more = tree.simplify();
    for _ in 0..SHRINK_ITERS_MAX {
        if !more {
            break;
        }
        let candidate = materialize(corpus, &case.origin, &tree.current());
        more = match check_case(imp, reference, &candidate) {
            Verdict::Differs(d) => {
                (case, diff) = (candidate, d);
                tree.simplify()
            }
            Verdict::Agrees => tree.complicate(),
            Verdict::Fault(f) => return Err(f),
        };
    }
    Ok((case, diff))
}

/// The first place where two JSON values differ, as a path like
/// `users[1].folders[0].items[0].class`, with both values there (`None`
/// where the key is absent on that side).
pub fn first_difference(
    expected: &Value,
    actual: &Value,
) -> Option<(String, Option<Value>, Option<Value>)> {
    type Found = Option<(String, Option<Value>, Option<Value>)>;
    fn walk(path: &mut String, e: &Value, a: &Value) -> Found {
        match (e, a) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let (ev, av) = (x.get(k), y.get(k));
                    if ev != av {
                        let len = path.len();
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(k);
                        let found = match (ev, av) {
                            (Some(ev), Some(av)) => walk(path, ev, av),
                            _ => Some((path.clone(), ev.cloned(), av.cloned())),
                        };
                        path.truncate(len);
                        return found;
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (ev, av)) in x.iter().zip(y).enumerate() {
                    if ev != av {
                        let len = path.len();
                        let _ = write!(path, "[{i}]");
                        let found = walk(path, ev, av);
                        path.truncate(len);
                        return found;
                    }
                }
                None
            }
            _ if e == a => None,
            _ => Some((path.clone(), Some(e.clone()), Some(a.clone()))),
        }
    }
    walk(&mut String::new(), expected, actual)
}

/// A JSON value in a diagnosis; an absent key is "nothing".
fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_string(), |v| truncate(&v.to_string(), 200))
}

/// A one-line diagnosis of a difference.
pub fn diagnose(d: &Difference) -> String {
    let what = match d.step {
        None => "the answer to `reset`".to_string(),
        Some(k) if d.request == Op::Observe => format!("the observation after step {}", k + 1),
        Some(k) => format!("the answer to step {} (`{}`)", k + 1, d.request),
    };
    match (&d.expected, &d.actual) {
        (Ok(e), Ok(a)) => match first_difference(e, a) {
            Some((path, e, a)) => format!(
                "{what} differs at `{}`: expected {}, found {}",
                if path.is_empty() { "." } else { &path },
                shown(e.as_ref()),
                shown(a.as_ref())
            ),
            None => format!("{what} differs"),
        },
        (Ok(_), Err(r)) => format!(
            "{what} differs: expected success, found a rejection `{}` ({})",
            serde_json::to_value(r.code).unwrap_or_default(),
            r.message
        ),
        (Err(r), Ok(_)) => format!(
            "{what} differs: expected a rejection `{}` ({}), found success",
            serde_json::to_value(r.code).unwrap_or_default(),
            r.message
        ),
        (Err(e), Err(a)) => format!(
            "{what} differs: expected the rejection code {}, found {}",
            serde_json::to_value(e.code).unwrap_or_default(),
            serde_json::to_value(a.code).unwrap_or_default()
        ),
    }
}

/// The kind of a JSON value, for a difference's signature: two values of
/// one kind at one path are the same difference whatever they hold.
fn value_kind(v: Option<&Value>) -> &'static str {
    match v {
        None => "absent",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// The JSON path with array indices taken out (`users[].folders[]`), so
/// that one wrong rule seen on two users is one difference.
fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// What makes two differences one (CONF-016): the request's op, then for
/// two answers the JSON path where they first differ (array indices taken
/// out) with the kind of value on each side; for a rejection on either
/// side, the codes. Two cases whose minimal counterexamples have the same
/// signature are one distinct difference.
pub fn signature(d: &Difference) -> String {
    let code = |r: &super::protocol::Rejection| {
        serde_json::to_value(r.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let op = d.request.name();
    match (&d.expected, &d.actual) {
        (Ok(e), Ok(a)) => match first_difference(e, a) {
            Some((path, e, a)) => format!(
                "{op} at `{}`: {} against {}",
                if path.is_empty() {
                    ".".to_string()
                } else {
                    path_shape(&path)
                },
                value_kind(e.as_ref()),
                value_kind(a.as_ref())
            ),
            None => format!("{op}: equal values compared unequal"),
        },
        (Ok(_), Err(r)) => format!("{op}: success against `{}`", code(r)),
        (Err(r), Ok(_)) => format!("{op}: `{}` against success", code(r)),
        (Err(e), Err(a)) => format!("{op}: `{}` against `{}`", code(e), code(a)),
    }
}

/// The line of totals every report ends its head with.
fn totals_line(t: &Totals) -> String {
    format!(
        "cases run: {} ({} protocol, {} corpus, {} model-based, {} generated; {} requests); cases that differ: {}",
        t.cases(),
        t.protocol_cases,
        t.corpus_cases,
        t.model_cases,
        t.generated_cases,
        t.requests,
        t.cases_differ
    )
}

/// One distinct difference, in full: the case, the diagnosis, the minimal
/// sequence, the diff of the answers, the requests and the replay line.
fn render_found(out: &mut String, implementation: &str, seed: u64, f: &Found, replay: &str) {
    let (case, difference) = (&f.case, &f.difference);
    let _ = writeln!(
        out,
        "  case: {} (seed {seed}) on the deployment of {}",
        case.origin, case.file
    );
    let _ = writeln!(out, "  {}", diagnose(difference));
    let _ = writeln!(
        out,
        "\nminimal sequence ({} steps, after `reset`):",
        case.ops.len()
    );
    for (i, op) in case.ops.iter().enumerate() {
        let mark = if difference.step == Some(i) {
            "  <- differs"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}. {op}{mark}", i + 1);
    }
    let expected = pretty(&answer_json(&difference.expected));
    let actual = pretty(&answer_json(&difference.actual));
    let _ = writeln!(
        out,
        "\nexpected (reference) against actual ({implementation}), for `{}`:",
        difference.request.name()
    );
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(4)
            .header("expected", "actual")
    );
    let _ = writeln!(
        out,
        "\nthe requests, one per line, to feed the implementation by hand:"
    );
    for (i, op) in case.requests().iter().enumerate() {
        let _ = writeln!(out, "{}", encode_request(i as u64 + 1, op));
    }
    let _ = writeln!(out, "\nreplay: {replay}");
}

/// Renders an outcome for a person. `command` is the implementation's
/// command line, for the edge cases' replay; `replay` makes the command
/// that replays one case from its origin; `show_coverage` adds the
/// coverage table (`--coverage`).
pub fn render(
    outcome: &Outcome,
    command: &str,
    replay: &dyn Fn(&str) -> String,
    show_coverage: bool,
) -> String {
    let mut out = String::new();
    match outcome {
        Outcome::Conforms {
            implementation,
            totals,
            coverage,
        } => {
            let _ = writeln!(
                out,
                "conforms: {implementation} agrees with the reference on every case"
            );
            let _ = writeln!(out, "{}", totals_line(totals));
            if show_coverage {
                let _ = write!(out, "{}", coverage.render());
            } else {
                let _ = writeln!(out, "{}", coverage.summary());
            }
        }
        Outcome::Differs {
            implementation,
            seed,
            found,
            edge,
            totals,
            coverage,
        } => {
            let edge_cases_differing = edge_cases()
                .iter()
                .filter(|c| edge.iter().any(|d| d.case == c.name))
                .count();
            let distinct = found.len() + edge_cases_differing;
            let _ = writeln!(
                out,
                "DIFFERS: {implementation} disagrees with the reference: {distinct} distinct difference{}",
                if distinct == 1 { "" } else { "s" }
            );
            let _ = writeln!(out, "{}", totals_line(totals));
            if !edge.is_empty() {
                let _ = write!(out, "\n{}", render_edge_differences(edge, command));
            }
            for (i, f) in found.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "\ndifference {} of {} ({} case{}): {}",
                    i + 1,
                    found.len(),
                    f.cases,
                    if f.cases == 1 { "" } else { "s" },
                    f.signature
                );
                render_found(&mut out, implementation, *seed, f, &replay(&f.case.origin));
            }
            if show_coverage {
                let _ = write!(out, "\n{}", coverage.render());
            } else {
                let _ = writeln!(out, "\n{}", coverage.summary());
            }
        }
        Outcome::Fault { origin, fault } => {
            let _ = writeln!(out, "FAULT in case {origin}: {fault}");
            let _ = writeln!(out, "replay: {}", replay(origin));
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
