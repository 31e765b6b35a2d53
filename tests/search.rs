//! The checker's search and its reductions are sound: on every model in
//! `models/`, the known-fault models included, the verdicts of `check`
//! with every reduction (fingerprints only, the memoised fair continuation,
//! two threads, symmetry) equal those of stateright's plain breadth-first
//! search; a violation that only one interleaving of two independent
//! clients reaches is found, and a reduction that merges interleavings
//! misses it and fails the comparison; a bounded run stops, says so, and
//! exits 4.

mod common;

use common::{cli, model_files};
use offline_im::check::search::{self, Limits, Searchable, Stop};
use offline_im::check::{self, CheckModel, CheckOptions, Kind};
use offline_im::formats::scenario;
use stateright::{Checker, Model, Property};
use std::collections::BTreeMap;
use std::path::Path;

/// The bound the comparison puts on a file without its own `[check]`
/// section: one message, so that stateright's plain search stays within
/// seconds; the deployment, the setup and every property stay as they are.
const MESSAGES_MAX_WITHOUT_CHECK_SECTION: u8 = 1;

/// The model of a file, with the comparison's bound where the file sets
/// none.
fn model_of(path: &Path) -> CheckModel {
    let mut s = scenario::load_path(Some(path)).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(path).expect("readable");
    if !text.lines().any(|l| l.trim() == "[check]") {
        s.check.messages_max = s.check.messages_max.min(MESSAGES_MAX_WITHOUT_CHECK_SECTION);
    }
    CheckModel::new(&s).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each property's verdict, by name: `true` when it was discovered
/// (violated, or for a probe, reached).
type Verdicts = BTreeMap<&'static str, bool>;

/// stateright's plain breadth-first search: no fingerprint-only set, no
/// memo, one thread, no symmetry. The oracle.
fn plain(m: &CheckModel) -> (Verdicts, usize) {
    let c = m.clone().checker().spawn_bfs().join();
    let found = c.discoveries();
    let verdicts = m
        .properties()
        .iter()
        .map(|p| (p.name, found.contains_key(p.name)))
        .collect();
    (verdicts, c.unique_state_count())
}

/// The checker's verdicts, in the same terms.
fn reduced(r: &check::CheckReport) -> Verdicts {
    r.properties
        .iter()
        .map(|p| {
            let discovered = match p.kind {
                Kind::Sometimes => p.holds,
                _ => !p.holds,
            };
            (p.id, discovered)
        })
        .collect()
}

/// Where two verdict tables differ, for a failure message.
fn differences(a: &Verdicts, b: &Verdicts) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} against {:?}", b.get(k)))
        .collect()
}

/// DEC-070: the search with every reduction against stateright's plain
/// breadth-first search, on every model.
#[test]
fn every_reduction_gives_stateright_plain_verdicts_on_every_model() {
    let files = model_files();
    assert!(files.len() >= 30, "{} model files", files.len());
    let mut violated_somewhere = 0;
    for path in &files {
        let name = path.display().to_string();
        let m = model_of(path);
        let (expected, unique) = plain(&m);
        for (threads, symmetry) in [(1, false), (2, false), (1, true), (2, true)] {
            let opts = CheckOptions {
                threads,
                symmetry,
                ..CheckOptions::default()
            };
            let r = check::run(m.clone(), &name, &name, opts);
            assert!(r.totals.complete(), "{name}: {:?}", r.totals.stop);
            let got = reduced(&r);
            let diff = differences(&expected, &got);
            assert!(
                diff.is_empty(),
                "{name} with {threads} thread(s), symmetry {symmetry}: {diff:?}"
            );
            if !(symmetry && m.has_symmetry()) {
                assert_eq!(
                    r.totals.states_unique, unique,
                    "{name}: the fingerprint-only search visits stateright's states"
                );
            }
            // Every violation comes with a path that really violates it.
            for p in r
                .properties
                .iter()
                .filter(|p| !p.holds && p.kind != Kind::Sometimes)
            {
                let cx = p.counterexample.as_ref().expect("a counterexample");
                assert!(!cx.why.is_empty(), "{name} {}: {cx:?}", p.id);
                violated_somewhere += 1;
            }
        }
    }
    assert!(
        violated_somewhere > 0,
        "the comparison includes violated properties"
    );
}

/// The known faults, at their own bounds: the violation is found with and
/// without every reduction.
#[test]
fn known_faults_are_found_with_every_reduction() {
    for (file, id) in [
        ("models/drafts-fault-old-client.toml", "OIM-014"),
        ("models/no-dedup-duplicate.toml", "DEC-004"),
    ] {
        let m = model_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file));
        assert!(plain(&m).0[id], "{file}: stateright finds {id}");
        for threads in [1, 2] {
            let opts = CheckOptions {
                threads,
                ..CheckOptions::default()
            };
            let r = check::run(m.clone(), file, file, opts);
            let p = r.property(id).expect("checked");
            assert!(!p.holds, "{file} on {threads} thread(s): {id} is found");
            assert!(p.counterexample.is_some());
        }
    }
}

/// Two clients, `a` and `b`, of two steps each, whose steps touch nothing
/// of one another's: the textbook independent events. The state keeps the
/// order in which the steps happened, and the property says that one
/// order, a1 b1 a2 b2, never happens. Only one of the six interleavings
/// violates it.
#[derive(Clone)]
struct TwoClients {
    /// A reduction that treats the two clients' steps as commuting and
    /// keys a state by where each client is, not by how it got there: what
    /// a partial-order reduction without the visibility condition does.
    merge_interleavings: bool,
}

/// Where each client is, and the order of the steps so far.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TwoClientsState {
    a: u8,
    b: u8,
    order: Vec<(char, u8)>,
}

const FORBIDDEN_ORDER: [(char, u8); 4] = [('a', 1), ('b', 1), ('a', 2), ('b', 2)];

impl Model for TwoClients {
    type State = TwoClientsState;
    type Action = char;

    fn init_states(&self) -> Vec<TwoClientsState> {
        vec![TwoClientsState {
            a: 0,
            b: 0,
            order: Vec::new(),
        }]
    }

    fn actions(&self, s: &TwoClientsState, out: &mut Vec<char>) {
        if s.a < 2 {
            out.push('a');
        }
        if s.b < 2 {
            out.push('b');
        }
    }

    fn next_state(&self, s: &TwoClientsState, client: char) -> Option<TwoClientsState> {
        let mut n = s.clone();
        let step = if client == 'a' { &mut n.a } else { &mut n.b };
        *step += 1;
        let at = *step;
        n.order.push((client, at));
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("never a1 b1 a2 b2", |_, s: &TwoClientsState| {
                s.order != FORBIDDEN_ORDER
            }),
            Property::sometimes("both done", |_, s: &TwoClientsState| s.a == 2 && s.b == 2),
            // Holds everywhere, so that the search never stops early with
            // every property decided and the state counts stay whole.
            Property::always("at most two steps each", |_, s: &TwoClientsState| {
                s.a <= 2 && s.b <= 2
            }),
        ]
    }
}

impl Searchable for TwoClients {
    type Scratch = ();

    fn key(&self, s: &TwoClientsState, _symmetry: bool) -> u64 {
        if self.merge_interleavings {
            search::fingerprint(&(s.a, s.b))
        } else {
            search::fingerprint(s)
        }
    }
}

fn two_clients_verdicts(m: &TwoClients, threads: usize) -> (Vec<bool>, u64) {
    let limits = Limits {
        threads,
        ..Limits::default()
    };
    let out = search::search(m, limits, &|_| {});
    assert_eq!(out.stop, Stop::Complete);
    (
        out.found.iter().map(Option::is_some).collect(),
        out.totals.states_unique,
    )
}

#[test]
fn a_violation_in_one_interleaving_of_independent_clients_is_found() {
    let sound = TwoClients {
        merge_interleavings: false,
    };
    // stateright's plain search is the oracle here too.
    let c = sound.clone().checker().spawn_bfs().join();
    c.assert_discovery("never a1 b1 a2 b2", vec!['a', 'b', 'a', 'b']);
    for threads in [1, 2] {
        let (found, unique) = two_clients_verdicts(&sound, threads);
        assert_eq!(found, vec![true, true, false], "{threads} thread(s)");
        assert_eq!(unique as usize, c.unique_state_count());
    }
    let out = search::search(&sound, Limits::default(), &|_| {});
    assert_eq!(out.found[0].as_deref(), Some(&['a', 'b', 'a', 'b'][..]));
}

/// DEC-071: why the checker has no partial-order reduction.
#[test]
fn a_reduction_that_merges_interleavings_misses_it_and_fails_the_comparison() {
    let sound = TwoClients {
        merge_interleavings: false,
    };
    let wrong = TwoClients {
        merge_interleavings: true,
    };
    let (expected, _) = two_clients_verdicts(&sound, 1);
    let (got, unique) = two_clients_verdicts(&wrong, 1);
    // The wrong reduction visits one state per position (9, not 19)...
    assert_eq!(unique, 9);
    // ...reaches the end, but never the forbidden order: the comparison
    // every reduction must pass tells the two apart.
    assert_eq!(got, vec![false, true, false]);
    assert_ne!(got, expected);
}

/// DEC-072: a bounded run without a violation exits 4; with one, 1.
#[test]
fn a_bounded_run_stops_cleanly_says_so_and_exits_4() {
    let (code, out, _) = cli(&["check", "--max-states", "1000"]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("search: INCOMPLETE: stopped at --max-states"),
        "{out}"
    );
    assert!(out.contains("holds in the part explored"), "{out}");
    assert!(
        out.contains("result: no violation in the part explored (incomplete)"),
        "{out}"
    );
    assert!(!out.contains("VIOLATED"), "{out}");
    let (code, out, _) = cli(&["check", "--max-states", "1000", "--json"]);
    assert_eq!(code, 4);
    let v: serde_json::Value = serde_json::from_str(&out).expect("pure JSON on stdout");
    assert_eq!(v["totals"]["stop"], "states-max");
    let unique = v["totals"]["states_unique"].as_u64().expect("a count");
    // The threads look at the limit every 256 steps.
    assert!((1000..1000 + 256).contains(&unique), "{unique}");
    // A violation found before the bound is still a violation.
    let drafts = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/drafts-fault-old-client.toml"
    );
    let (code, out, _) = cli(&["check", "--model", drafts, "--max-states", "60"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("VIOLATED"), "{out}");
    // The whole default world is complete, exit 0.
    let (code, out, _) = cli(&["check", "--max-states", "10000000"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("search: complete"), "{out}");
    let (code, _, err) = cli(&["check", "--max-states", "0"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&["check", "--max-seconds", "0"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn max_seconds_stops_a_run_that_would_take_longer() {
    let m = common::check_model_replacing("default.toml", "messages_max = 2", "messages_max = 3");
    let opts = CheckOptions {
        duration_max: Some(std::time::Duration::from_secs(1)),
        ..CheckOptions::default()
    };
    let r = check::run(m, "three", "three", opts);
    assert_eq!(r.totals.stop, Stop::DurationMax);
    assert!(!r.totals.complete());
    assert!(r.totals.states_unique < 14_118_480);
    assert!(r.holds_where_explored());
}

#[test]
fn one_thread_gives_the_same_report_twice() {
    let m = model_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/no-dedup-duplicate.toml"));
    let strip = |mut r: check::CheckReport| {
        r.totals.seconds = 0.0;
        r.totals.states_per_second = 0.0;
        serde_json::to_string(&r).expect("JSON")
    };
    let a = strip(check::run(m.clone(), "a", "a", CheckOptions::default()));
    let b = strip(check::run(m, "a", "a", CheckOptions::default()));
    assert_eq!(a, b);
}

#[test]
fn progress_is_reported_while_a_run_lasts() {
    let m = model_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.toml"));
    let seen = std::sync::Mutex::new(Vec::new());
    let limits = Limits {
        progress_interval: std::time::Duration::from_millis(50),
        ..Limits::default()
    };
    let out = search::search(&m, limits, &|p| seen.lock().expect("lock").push(*p));
    let seen = seen.into_inner().expect("lock");
    assert!(!seen.is_empty(), "a run of about a second reports progress");
    assert!(
        seen.windows(2)
            .all(|w| w[0].states_unique <= w[1].states_unique)
    );
    assert!(
        seen.iter()
            .all(|p| p.states_unique <= out.totals.states_unique)
    );
    assert!(seen.iter().any(|p| p.states_pending > 0));
}
