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

use super::protocol::{
    Answer, Driver, Fault, Op, PROTOCOL, agree, answer_json, call, encode_request, truncate,
};
use super::reference::Reference;
use crate::formats::scenario::{self, Scenario, ScenarioError};
use crate::rules::domain::Deployment;
use crate::rules::world::Event;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::fmt::Write as _;

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

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
        Event::Pickup { .. } | Event::ExchangeProcess { .. } | Event::ClientReceive { .. } => {
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

/// One generated op, with indices that `materialize` resolves against the
/// chosen deployment (modulo its size), so every draw is meaningful.
#[derive(Clone, Debug)]
pub enum GenOp {
    Send { from: u8, to: u8, body: u8 },
    SignIn { user: u8, presence: u8 },
    SignOut { user: u8 },
    SetPresence { user: u8, presence: u8 },
    Crash { user: u8 },
    Restart { user: u8 },
    EwsDown { org: u8 },
    EwsUp { org: u8 },
    Admin { command: u8 },
    Advance { by: u8 },
}

/// A generated case before name resolution.
#[derive(Clone, Debug)]
pub struct GenCase {
    /// The corpus entry whose deployment the case runs on; `materialize` takes
    /// it modulo the corpus size.
    pub scenario: usize,
    /// The drawn ops, at most `--steps` of them, before names are resolved.
    pub ops: Vec<GenOp>,
}

/// Bodies drawn by generated sends: plain, markup, non-BMP and empty.
const BODIES: [&str; 4] = ["hello", "<b>5 & 6</b> \"q\"", "caf\u{e9} \u{1F600}", ""];
/// Presences drawn by generated sign-ins and changes.
const PRESENCES: [&str; 5] = ["available", "busy", "do-not-disturb", "presenting", "away"];
/// Clock steps drawn by generated advances: around the two-minute pickup
/// delay (OIM-011), EWS latency and retry spacing.
const ADVANCES_MS: [u64; 6] = [1_000, 5_000, 60_000, 119_999, 120_000, 600_000];

fn gen_op() -> impl Strategy<Value = GenOp> {
    let u = any::<u8>;
    prop_oneof![
        4 => (u(), u(), 0..BODIES.len() as u8).prop_map(|(from, to, body)| GenOp::Send { from, to, body }),
        2 => (u(), 0..PRESENCES.len() as u8).prop_map(|(user, presence)| GenOp::SignIn { user, presence }),
        1 => u().prop_map(|user| GenOp::SignOut { user }),
        2 => (u(), 0..PRESENCES.len() as u8).prop_map(|(user, presence)| GenOp::SetPresence { user, presence }),
        1 => u().prop_map(|user| GenOp::Crash { user }),
        1 => u().prop_map(|user| GenOp::Restart { user }),
        1 => u().prop_map(|org| GenOp::EwsDown { org }),
        1 => u().prop_map(|org| GenOp::EwsUp { org }),
        1 => u().prop_map(|command| GenOp::Admin { command }),
        5 => (0..ADVANCES_MS.len() as u8).prop_map(|by| GenOp::Advance { by }),
    ]
}

/// The strategy of generated cases over `scenarios` corpus entries.
pub fn case_strategy(scenarios: usize, steps: usize) -> impl Strategy<Value = GenCase> {
    (
        0..scenarios.max(1),
        proptest::collection::vec(gen_op(), 0..=steps),
    )
        .prop_map(|(scenario, ops)| GenCase { scenario, ops })
}

/// Resolves a generated case against the corpus.
pub fn materialize(corpus: &[CorpusEntry], origin: &str, g: &GenCase) -> Case {
    let entry = &corpus[g.scenario % corpus.len()];
    let d = &entry.scenario.deployment;
    let user = |i: u8| d.users[usize::from(i) % d.users.len()].name.clone();
    let org = |i: u8| d.orgs[usize::from(i) % d.orgs.len()].name.clone();
    let presence = |i: u8| PRESENCES[usize::from(i) % PRESENCES.len()].to_string();
    let mut clock_ms = 0;
    let mut ops = entry.prefix.clone();
    for op in &g.ops {
        ops.push(match *op {
            // A deployment without cmdlets draws no admin op.
            GenOp::Admin { .. } if entry.admin.is_empty() => continue,
            GenOp::Send { from, to, body } => Op::Send {
                from: user(from),
                to: user(to),
                body: BODIES[usize::from(body) % BODIES.len()].to_string(),
            },
            GenOp::SignIn {
                user: u,
                presence: p,
            } => Op::SignIn {
                user: user(u),
                presence: presence(p),
            },
            GenOp::SignOut { user: u } => Op::SignOut { user: user(u) },
            GenOp::SetPresence {
                user: u,
                presence: p,
            } => Op::SetPresence {
                user: user(u),
                presence: presence(p),
            },
            GenOp::Crash { user: u } => Op::Crash { user: user(u) },
            GenOp::Restart { user: u } => Op::Restart { user: user(u) },
            GenOp::EwsDown { org: o } => Op::EwsDown { org: org(o) },
            GenOp::EwsUp { org: o } => Op::EwsUp { org: org(o) },
            GenOp::Admin { command } => {
                let (org, command) = &entry.admin[usize::from(command) % entry.admin.len()];
                Op::Admin {
                    org: org.clone(),
                    command: command.clone(),
                }
            }
            GenOp::Advance { by } => {
                clock_ms += ADVANCES_MS[usize::from(by) % ADVANCES_MS.len()];
                Op::Advance { to_ms: clock_ms }
            }
        });
    }
    Case {
        origin: origin.to_string(),
        file: entry.scenario.file.clone(),
        deployment: entry.deployment.clone(),
        ops,
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
    let per_case: Vec<Vec<Op>> = cases.iter().map(Case::requests).collect();
    let all: Vec<Op> = per_case.iter().flatten().cloned().collect();
    let actual = imp.exchange(&all)?;
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
            first
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

/// What `conform` is asked to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformOptions {
    /// Generated cases after the corpus.
    pub cases: u32,
    /// The seed of the generated cases: case `i` is drawn from a ChaCha
    /// generator seeded by `(seed, i)` alone, so it replays on its own
    /// (CONF-009).
    pub seed: u64,
    /// The most generated ops per case.
    pub steps: usize,
    /// Run only this case: `models/<file>.toml` or `gen:<i>`.
    pub only: Option<String>,
}

impl Default for ConformOptions {
    fn default() -> Self {
        ConformOptions {
            cases: 256,
            seed: 1,
            steps: 12,
            only: None,
        }
    }
}

/// How a conformance run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every case agreed.
    Conforms {
        /// The name the implementation gave in `hello`.
        implementation: String,
        /// Corpus scenarios run.
        corpus_cases: usize,
        /// Generated cases run.
        generated_cases: u32,
        /// Requests sent in all, `hello` excluded.
        requests: u64,
    },
    /// A case differed; `case` is minimal.
    Differs {
        /// The name the implementation gave in `hello`.
        implementation: String,
        /// The seed of the run, for the replay command.
        seed: u64,
        /// The minimal case: shrunk until removing any one op makes the two
        /// sides agree.
        case: Case,
        /// Where that case first differs.
        difference: Difference,
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
    "found `--case {found}`, expected `gen:<i>` with i below --cases ({cases}) or one of the corpus files: {files}"
)]
pub struct UnknownCase {
    /// The `--case` value given.
    pub found: String,
    /// The run's `--cases`, which bounds `gen:<i>`.
    pub cases: u32,
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

/// Runs the corpus, then the generated cases, against `imp`.
pub fn conform(
    imp: &mut dyn Driver,
    corpus: &[CorpusEntry],
    opts: &ConformOptions,
) -> Result<Outcome, UnknownCase> {
    let unknown = || UnknownCase {
        found: opts.only.clone().unwrap_or_default(),
        cases: opts.cases,
        files: crate::rules::domain::join_names(corpus.iter().map(|c| c.scenario.file.as_str())),
    };
    let (corpus_sel, gen_sel): (Vec<&CorpusEntry>, Vec<u32>) = match opts.only.as_deref() {
        None => (corpus.iter().collect(), (0..opts.cases).collect()),
        Some(sel) => match sel.strip_prefix("gen:").map(str::parse::<u32>) {
            Some(Ok(i)) if i < opts.cases => (Vec::new(), vec![i]),
            Some(_) => return Err(unknown()),
            None => {
                let entry = corpus
                    .iter()
                    .find(|c| c.scenario.file == sel)
                    .ok_or_else(unknown)?;
                (vec![entry], Vec::new())
            }
        },
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
    let mut requests = 0u64;
    let differs = |case, difference| Outcome::Differs {
        implementation: implementation.clone(),
        seed: opts.seed,
        case,
        difference,
    };
    let corpus_cases: Vec<Case> = corpus_sel.iter().map(|e| scenario_case(e)).collect();
    let gen_chunks: Vec<&[u32]> = gen_sel.chunks(CASES_PER_EXCHANGE).collect();
    let strategy = case_strategy(corpus.len(), opts.steps.min(STEPS_MAX));
    // The corpus goes as one exchange, then the generated cases in chunks.
    let batches =
        std::iter::once((corpus_cases, Vec::new())).chain(gen_chunks.iter().map(|chunk| {
            let trees: Vec<(u32, _)> = chunk
                .iter()
                .filter_map(|&i| draw(&strategy, opts.seed, i).map(|t| (i, t)))
                .collect();
            let cases = trees
                .iter()
                .map(|(i, t)| materialize(corpus, &format!("gen:{i}"), &t.current()))
                .collect();
            (cases, trees)
        }));
    for (cases, mut trees) in batches {
        if cases.is_empty() {
            continue;
        }
        requests += cases.iter().map(|c| c.requests().len() as u64).sum::<u64>();
        let differences = match check_cases(imp, &mut reference, &cases) {
            Ok(v) => v,
            Err(fault) => {
                let origin = match (cases.first(), cases.last()) {
                    (Some(a), Some(b)) if a.origin != b.origin => {
                        format!("{} to {}", a.origin, b.origin)
                    }
                    _ => cases[0].origin.clone(),
                };
                return Ok(Outcome::Fault { origin, fault });
            }
        };
        let Some((k, diff)) = differences
            .into_iter()
            .enumerate()
            .find_map(|(k, d)| d.map(|d| (k, d)))
        else {
            continue;
        };
        let case = cases[k].clone();
        let origin = case.origin.clone();
        let shrunk = if trees.is_empty() {
            Ok((case, diff))
        } else {
            let (_, tree) = trees.swap_remove(k);
            shrink_tree(imp, &mut reference, corpus, tree, case, diff)
        };
        return Ok(
            match shrunk.and_then(|(c, d)| minimize(imp, &mut reference, c, d)) {
                Ok((case, d)) => differs(case, d),
                Err(fault) => Outcome::Fault { origin, fault },
            },
        );
    }
    Ok(Outcome::Conforms {
        implementation,
        corpus_cases: corpus_sel.len(),
        generated_cases: gen_sel.len() as u32,
        requests,
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

/// Renders an outcome for a person. `replay` is the command that replays a
/// failing case, when there is one.
pub fn render(outcome: &Outcome, replay: Option<&str>) -> String {
    let mut out = String::new();
    match outcome {
        Outcome::Conforms {
            implementation,
            corpus_cases,
            generated_cases,
            requests,
        } => {
            let _ = writeln!(
                out,
                "conforms: {implementation} agrees with the reference on {corpus_cases} corpus cases and {generated_cases} generated cases ({requests} requests)"
            );
        }
        Outcome::Differs {
            implementation,
            seed,
            case,
            difference,
        } => {
            let _ = writeln!(
                out,
                "DIFFERS: {implementation} disagrees with the reference"
            );
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
            if let Some(r) = replay {
                let _ = writeln!(out, "\nreplay: {r}");
            }
        }
        Outcome::Fault { origin, fault } => {
            let _ = writeln!(out, "FAULT in case {origin}: {fault}");
            if let Some(r) = replay {
                let _ = writeln!(out, "replay: {r}");
            }
        }
    }
    out
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
