//! The model checker driver: a stateright `Model` whose transition function
//! is `world::step` and whose properties are the predicates of
//! `invariants`, over a world bounded by the scenario's `[check]` section.
//!
//! What it owns:
//! - the interpretation of `Bounds` (the scenario's `[check]` section):
//!   budgets for messages, user events, crashes, outages and admin cmdlets,
//!   and the presences tried;
//! - `CheckModel`: the enabled events of a state (every interleaving of
//!   user, administrator, network, Exchange and spool-timer events), with
//!   time kept in the world and advanced only to the next due time;
//! - the property table: `always` for every INV, for the two user
//!   expectations that the known faults break (OIM-014, DEC-004) and for
//!   LIVE-001/002; `sometimes` for every route, every folder and the other
//!   reachability probes in `rules::invariants::REACH`, so that no property holds vacuously;
//! - `run`: runs the search (`search`) and turns its discoveries into a
//!   `CheckReport` with person-readable counterexamples, shrunk and
//!   replayed through the rule book.
//!
//! Invariants it keeps:
//! - no rule is written here: `next_state` is `world::step` on a clone, and
//!   an event the rule book rejects is simply not a transition;
//! - the state space is finite: each kind of external event has a budget,
//!   the spooler's retries are bounded (DEC-003), and the clock only moves
//!   to the next due time (`State::next_timer_ms`);
//! - `actions` lists events in a fixed order, so a single-threaded run
//!   finds the same counterexample every time.
//!
//! Progress (LIVE-001/002) is checked soundly, not with stateright's
//! `eventually`, which reports only at terminal states and misses cycles:
//! from every reachable state, the fair continuation `World::drain` (all
//! clients up and signed in, EWS up, time advancing, a bounded number of
//! steps) must reach a settled state. SPEC.md states the limits.
//!
//! What it may import: the rule book (`crate::rules`), the formats
//! (`crate::formats`: a scenario's `[check]` section arrives as plain
//! `formats::scenario::Bounds`, which this driver interprets) and
//! stateright. Never another driver or the CLI (`tests/layout.rs`).
//!
//! What it deliberately does not do: it does not explore sends with
//! different bodies (the body is `m<n>`, as no rule reads it), and it does
//! not model time passing with nothing due (no rule depends on it).

pub mod cover;
pub mod explorer;
pub mod search;

use crate::formats::chart::{self, Chart, ChartBuilder};
use crate::formats::report::{self, Observation};
use crate::formats::scenario::{Bounds, Scenario, ScenarioError};
use crate::rules::domain::{Deployment, UserId};
use crate::rules::invariants::{EXPECTATIONS, INVARIANTS, Invariant, LIVENESS, REACH};
use crate::rules::world::{Event, Log, State, World, step};
use serde::Serialize;
use stateright::{Model, Property};
use std::fmt::Write as _;
use std::sync::Arc;

/// The bound on the fair-continuation verdicts one thread remembers; the
/// memo starts afresh when it is full, so its memory stays under about
/// 40 MB per thread.
pub const DRAIN_MEMO_ENTRIES_MAX: usize = 1 << 20;

/// The progress verdicts of fair continuations already run, by the
/// fingerprint of the state after `World::bring_up`.
#[derive(Debug, Default)]
pub struct DrainMemo {
    verdicts: std::collections::HashMap<u64, [bool; LIVENESS_COUNT], ahash::RandomState>,
    /// The verdict computed last.
    last: Option<[bool; LIVENESS_COUNT]>,
    /// The search's number of the state `last` belongs to.
    last_visit: Option<u64>,
}

/// What is left of each bounded kind of external event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Budget {
    /// Sign-ins, sign-outs and presence changes still allowed, counting down
    /// from `Bounds::user_events_max`.
    pub user_events_left: u8,
    /// Client crashes still allowed, counting down from `Bounds::crashes_max`.
    /// Restarts are not counted: one is always enabled after a crash.
    pub crashes_left: u8,
    /// EWS outages still allowed, counting down from `Bounds::outages_max`.
    /// Recoveries are not counted: one is always enabled after an outage.
    pub outages_left: u8,
    /// Bit `i` is set while `Bounds::admin[i]` has not run.
    pub admin_unused: u8,
}

/// A state of the checked world: the rule book's state and the budget.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckState {
    /// The rule book's state, virtual clock included.
    pub world: State,
    /// What is left of each budget. It is part of the state: two equal worlds
    /// with different budgets can still reach different states.
    pub budget: Budget,
}

/// The checked model: a deployment, its bounds and its initial state.
#[derive(Clone, Debug)]
pub struct CheckModel {
    /// The scenario's deployment, with `ews_latency_ms` taken from the
    /// `[check]` section: 0 unless it says otherwise (DEC-029).
    pub deployment: Arc<Deployment>,
    /// The `[check]` bounds: who may send, how many events of each kind may
    /// happen, which admin cmdlets may run, and which probes must stay
    /// unreachable.
    pub bounds: Bounds,
    /// The one initial state: the world after the scenario's setup cmdlets and
    /// initial sign-ins, with every budget full.
    pub init: CheckState,
    /// The user renamings symmetry reduction tries, identity first: a
    /// property of the model, so no state carries (and no clone copies) it.
    symmetry: Arc<Vec<Vec<UserId>>>,
}

/// Groups of users that nothing in the deployment or the bounds tells
/// apart: same organisation, site, mailbox and client, both or neither
/// senders, and named by no admin cmdlet.
pub fn interchangeable(d: &Deployment, b: &Bounds) -> Vec<Vec<UserId>> {
    let named = |u: UserId| {
        let user = d.user(u);
        b.admin.iter().any(|e| match e {
            Event::Admin { text, .. } => text.contains(&user.name) || text.contains(&user.sip),
            _ => false,
        })
    };
    let key = |u: UserId| {
        let user = d.user(u);
        (
            user.org,
            user.site,
            user.mailbox,
            user.client,
            b.senders.contains(&u),
        )
    };
    let mut groups: Vec<Vec<UserId>> = Vec::new();
    for u in d.user_ids().filter(|u| !named(*u)) {
        match groups.iter_mut().find(|g| key(g[0]) == key(u)) {
            Some(g) => g.push(u),
            None => groups.push(vec![u]),
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// The bound on the permutations symmetry reduction tries per state.
pub const SYMMETRY_PERMUTATIONS_MAX: usize = 24;

/// Every renaming that permutes users within their group, identity first;
/// just the identity when the product would exceed the bound.
fn permutations(d: &Deployment, groups: &[Vec<UserId>]) -> Vec<Vec<UserId>> {
    let identity: Vec<UserId> = d.user_ids().collect();
    let mut out = vec![identity];
    for g in groups {
        let mut next = Vec::new();
        for base in &out {
            for order in orderings(g) {
                let mut p = base.clone();
                for (from, to) in g.iter().zip(&order) {
                    p[from.0 as usize] = *to;
                }
                next.push(p);
            }
        }
        if next.len() > SYMMETRY_PERMUTATIONS_MAX {
            return vec![d.user_ids().collect()];
        }
        out = next;
    }
    out
}

/// All orderings of a small group, the given order first.
fn orderings(g: &[UserId]) -> Vec<Vec<UserId>> {
    if g.len() <= 1 {
        return vec![g.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..g.len() {
        let mut rest = g.to_vec();
        let head = rest.remove(i);
        for mut tail in orderings(&rest) {
            tail.insert(0, head);
            out.push(tail);
        }
    }
    out
}

impl CheckModel {
    /// The model of a scenario: its deployment, its `[check]` bounds, and
    /// the state after its setup cmdlets and initial sign-ins. The timeline
    /// is not used: the checker tries every order of events instead.
    pub fn new(scenario: &Scenario) -> Result<CheckModel, ScenarioError> {
        let mut deployment = (*scenario.deployment).clone();
        deployment.options.ews_latency_ms = scenario.check.ews_latency_ms;
        CheckModel::on(scenario, Arc::new(deployment))
    }

    /// The model of a scenario on a given deployment: `new` passes the
    /// scenario's with the `[check]` latency, while the model-based case
    /// search (`cover`) passes the scenario's own, since its paths are
    /// replayed on the conformance reference, which knows no `[check]`.
    pub fn on(scenario: &Scenario, d: Arc<Deployment>) -> Result<CheckModel, ScenarioError> {
        let b = scenario.check.clone();
        let world = scenario.initial_world(Arc::clone(&d))?;
        let symmetry = Arc::new(permutations(&d, &interchangeable(&d, &b)));
        let init = CheckState {
            world: world.state,
            budget: Budget {
                user_events_left: b.user_events_max,
                crashes_left: b.crashes_max,
                outages_left: b.outages_max,
                admin_unused: ((1u16 << b.admin.len()) - 1) as u8,
            },
        };
        Ok(CheckModel {
            deployment: d,
            bounds: b,
            init,
            symmetry,
        })
    }

    /// Whether some users are interchangeable, so symmetry reduction helps.
    pub fn has_symmetry(&self) -> bool {
        self.symmetry.len() > 1
    }

    /// The renaming of `s` within its orbit (interchangeable users
    /// permuted) with the smallest fingerprint. Any deterministic choice
    /// within the orbit is sound; this one is the same for every member of
    /// the orbit, since the renamings form a group.
    pub fn representative(&self, s: &CheckState) -> CheckState {
        self.symmetry
            .iter()
            .map(|perm| CheckState {
                world: s.world.rename_users(perm),
                budget: s.budget,
            })
            .min_by_key(search::fingerprint)
            .unwrap_or_else(|| s.clone())
    }

    /// The verdict of each LIVENESS predicate after the fair continuation,
    /// for stateright's checkers (the Explorer and the tests). stateright
    /// evaluates a state's properties one after another on one thread, so
    /// the last verdict is remembered per thread and the drain runs once per
    /// state, not once per progress property. The checker's own search
    /// calls `progress_verdicts` instead.
    fn live(&self, s: &CheckState) -> [bool; LIVENESS_COUNT] {
        thread_local! {
            static LAST: std::cell::RefCell<Option<(CheckState, [bool; LIVENESS_COUNT])>> =
                const { std::cell::RefCell::new(None) };
        }
        if let Some(hit) = LAST.with_borrow(|last| {
            last.as_ref()
                .filter(|(state, _)| state == s)
                .map(|(_, verdict)| *verdict)
        }) {
            return hit;
        }
        // Deliberately not memoised: stateright's run is the tests' oracle
        // for the search's reductions, the memo among them.
        let verdict = match self.drained(s) {
            None => [false; LIVENESS_COUNT],
            Some(end) => {
                std::array::from_fn(|i| (LIVENESS[i].check)(&self.deployment, &end).is_ok())
            }
        };
        LAST.with_borrow_mut(|last| *last = Some((s.clone(), verdict)));
        verdict
    }

    /// The verdict of each LIVENESS predicate after the fair continuation
    /// from `s`. The continuation is `World::bring_up` and then a settle
    /// whose every step depends only on the state `bring_up` leaves, so the
    /// verdict is remembered by that state's fingerprint: many reachable
    /// states differ only in what `bring_up` undoes (a crashed client, a
    /// signed-out user, an outage), and share one continuation.
    pub(crate) fn progress_verdicts(
        &self,
        s: &CheckState,
        memo: &mut DrainMemo,
    ) -> [bool; LIVENESS_COUNT] {
        let mut w = World::quiet(Arc::clone(&self.deployment), s.world.clone());
        let verdict = if w.bring_up().is_err() {
            [false; LIVENESS_COUNT]
        } else {
            let key = search::fingerprint(&w.state);
            if let Some(v) = memo.verdicts.get(&key) {
                memo.last = Some(*v);
                return *v;
            }
            let horizon = w.fair_horizon_ms();
            let v = match w.settle_until(horizon) {
                Err(_) => [false; LIVENESS_COUNT],
                Ok(()) => {
                    std::array::from_fn(|i| (LIVENESS[i].check)(&self.deployment, &w.state).is_ok())
                }
            };
            if memo.verdicts.len() >= DRAIN_MEMO_ENTRIES_MAX {
                memo.verdicts.clear();
            }
            memo.verdicts.insert(key, v);
            v
        };
        memo.last = Some(verdict);
        verdict
    }

    /// The state after the fair continuation, or `None` if it could not run.
    fn drained(&self, s: &CheckState) -> Option<State> {
        let mut w = World::quiet(Arc::clone(&self.deployment), s.world.clone());
        w.drain().ok()?;
        Some(w.state)
    }
}

impl search::Searchable for CheckModel {
    type Scratch = DrainMemo;

    /// `world::step` on a copy of the state, and the budget spent; an
    /// event the rule book rejects, or one over budget, is no transition.
    fn successor(&self, last: &CheckState, action: &Event) -> Option<CheckState> {
        self.successor_logged(last, action, &mut Log::disabled())
    }

    /// With symmetry, the smallest fingerprint in the orbit: the
    /// representative's, without building it twice.
    fn key(&self, s: &CheckState, symmetry: bool) -> u64 {
        if symmetry && self.has_symmetry() {
            self.symmetry
                .iter()
                .map(|perm| {
                    search::fingerprint(&CheckState {
                        world: s.world.rename_users(perm),
                        budget: s.budget,
                    })
                })
                .min()
                .unwrap_or_else(|| search::fingerprint(s))
        } else {
            search::fingerprint(s)
        }
    }

    /// The progress properties run the fair continuation once per state
    /// (`progress_verdicts`, memoised); every other property is its
    /// condition.
    fn condition(
        &self,
        i: usize,
        p: &Property<Self>,
        s: &CheckState,
        visit: u64,
        memo: &mut DrainMemo,
    ) -> bool {
        let Some(j) = i
            .checked_sub(INVARIANTS.len() + EXPECTATIONS.len())
            .filter(|j| *j < LIVENESS_COUNT)
        else {
            return (p.condition)(self, s);
        };
        debug_assert_eq!(p.name, LIVENESS[j].id, "properties() lists LIVENESS third");
        if memo.last_visit != Some(visit) || memo.last.is_none() {
            self.progress_verdicts(s, memo);
            memo.last_visit = Some(visit);
        }
        memo.last.is_some_and(|v| v[j])
    }
}

impl CheckModel {
    /// The successor of `last` under `action`, writing the step's decisions
    /// to `log`: the search passes a disabled log, the Explorer an enabled
    /// one, so both take the same transition.
    #[inline]
    pub fn successor_logged(
        &self,
        last: &CheckState,
        action: &Event,
        log: &mut Log,
    ) -> Option<CheckState> {
        let budget = self.spend(last.budget, action)?;
        let mut next = last.clone();
        step(&self.deployment, &mut next.world, action, log).ok()?;
        next.budget = budget;
        Some(next)
    }

    /// The budget after `action` happened: one less of its kind, or the
    /// admin cmdlet marked used. `None` for an admin cmdlet that is not one
    /// of the bounds' (no enabled action is).
    pub fn spend(&self, budget: Budget, action: &Event) -> Option<Budget> {
        let mut b = budget;
        match action {
            Event::SignIn { .. } | Event::SignOut { .. } | Event::SetPresence { .. } => {
                b.user_events_left = b.user_events_left.checked_sub(1)?;
            }
            Event::CrashClient { .. } => b.crashes_left = b.crashes_left.checked_sub(1)?,
            Event::EwsDown { .. } => b.outages_left = b.outages_left.checked_sub(1)?,
            Event::Admin { .. } => {
                let i = self.bounds.admin.iter().position(|e| e == action)?;
                b.admin_unused &= !(1 << i);
            }
            _ => {}
        }
        Some(b)
    }
}

impl Model for CheckModel {
    type State = CheckState;
    type Action = Event;

    fn init_states(&self) -> Vec<CheckState> {
        vec![self.init.clone()]
    }

    fn actions(&self, s: &CheckState, out: &mut Vec<Event>) {
        let d = &*self.deployment;
        let w = &s.world;
        let b = &self.bounds;
        out.extend(w.internal_events(d));
        if let Some(at_ms) = w.next_timer_ms(d) {
            out.push(Event::AdvanceTo { at_ms });
        }
        if w.ledger.sent() < u32::from(b.messages_max) {
            let body = format!("m{}", w.ledger.next_id().0);
            for from in &b.senders {
                for to in d.user_ids().filter(|to| to != from) {
                    out.push(Event::Send {
                        from: *from,
                        to,
                        body: body.clone(),
                    });
                }
            }
        }
        for u in d.user_ids() {
            let c = w.client(u);
            if s.budget.user_events_left > 0 && c.running {
                if c.signed_in {
                    out.push(Event::SignOut { user: u });
                    for p in b.presences.iter().filter(|p| **p != c.presence) {
                        out.push(Event::SetPresence {
                            user: u,
                            presence: *p,
                        });
                    }
                } else {
                    for p in &b.presences {
                        out.push(Event::SignIn {
                            user: u,
                            presence: *p,
                        });
                    }
                }
            }
            if c.running && s.budget.crashes_left > 0 {
                out.push(Event::CrashClient { user: u });
            }
            if !c.running {
                out.push(Event::RestartClient { user: u });
            }
        }
        for o in d.org_ids() {
            if w.ews_up[o.0 as usize] {
                if s.budget.outages_left > 0 {
                    out.push(Event::EwsDown { org: o });
                }
            } else {
                out.push(Event::EwsUp { org: o });
            }
        }
        for (i, e) in b.admin.iter().enumerate() {
            if s.budget.admin_unused & (1 << i) != 0 {
                out.push(e.clone());
            }
        }
    }

    fn next_state(&self, last: &CheckState, action: Event) -> Option<CheckState> {
        search::Searchable::successor(self, last, &action)
    }

    fn format_action(&self, action: &Event) -> String {
        report::describe(&self.deployment, action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut out = Vec::new();
        for (i, inv) in INVARIANTS.iter().enumerate() {
            out.push(Property::always(inv.id, INVARIANT_FNS[i]));
        }
        for (i, inv) in EXPECTATIONS.iter().enumerate() {
            out.push(Property::always(inv.id, EXPECTATION_FNS[i]));
        }
        for (i, inv) in LIVENESS.iter().enumerate() {
            out.push(Property::always(inv.id, LIVENESS_FNS[i]));
        }
        for (i, r) in REACH.iter().enumerate() {
            out.push(Property::sometimes(r.name, REACH_FNS[i]));
        }
        out
    }
}

type Condition = fn(&CheckModel, &CheckState) -> bool;

fn invariant<const I: usize>(m: &CheckModel, s: &CheckState) -> bool {
    (INVARIANTS[I].check)(&m.deployment, &s.world).is_ok()
}

fn expectation<const I: usize>(m: &CheckModel, s: &CheckState) -> bool {
    (EXPECTATIONS[I].check)(&m.deployment, &s.world).is_ok()
}

fn liveness<const I: usize>(m: &CheckModel, s: &CheckState) -> bool {
    m.live(s)[I]
}

fn reach<const I: usize>(m: &CheckModel, s: &CheckState) -> bool {
    (REACH[I].check)(&m.deployment, &s.world)
}

// stateright takes plain function pointers, so each table entry gets one
// monomorphised function; the assertions keep the lists and tables in step.
const INVARIANT_FNS: [Condition; 11] = [
    invariant::<0>,
    invariant::<1>,
    invariant::<2>,
    invariant::<3>,
    invariant::<4>,
    invariant::<5>,
    invariant::<6>,
    invariant::<7>,
    invariant::<8>,
    invariant::<9>,
    invariant::<10>,
];
const _: () = assert!(INVARIANT_FNS.len() == INVARIANTS.len());
const EXPECTATION_FNS: [Condition; 2] = [expectation::<0>, expectation::<1>];
const _: () = assert!(EXPECTATION_FNS.len() == EXPECTATIONS.len());
const LIVENESS_COUNT: usize = 2;
const LIVENESS_FNS: [Condition; LIVENESS_COUNT] = [liveness::<0>, liveness::<1>];
const _: () = assert!(LIVENESS_FNS.len() == LIVENESS.len());
const REACH_FNS: [Condition; 12] = [
    reach::<0>,
    reach::<1>,
    reach::<2>,
    reach::<3>,
    reach::<4>,
    reach::<5>,
    reach::<6>,
    reach::<7>,
    reach::<8>,
    reach::<9>,
    reach::<10>,
    reach::<11>,
];
const _: () = assert!(REACH_FNS.len() == REACH.len());
/// How many properties `CheckModel::properties` lists.
pub(crate) const PROPERTY_COUNT: usize =
    INVARIANT_FNS.len() + EXPECTATION_FNS.len() + LIVENESS_FNS.len() + REACH_FNS.len();

/// How to run the checker.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Checker threads; 0 is taken as 1. With one thread the search, and so
    /// every counterexample, is the same on every run.
    pub threads: usize,
    /// The depth at which exploration stops (`--depth`): states more events
    /// than this from the initial state are not visited, and the run is
    /// incomplete if some were left. `None` explores the whole state space,
    /// which the bounds keep finite.
    pub depth_max: Option<usize>,
    /// Stop after this many distinct states (`--max-states`); the run is
    /// then incomplete.
    pub states_max: Option<u64>,
    /// Stop after this much wall-clock time (`--max-seconds`); the run is
    /// then incomplete.
    pub duration_max: Option<std::time::Duration>,
    /// Use symmetry reduction when users are interchangeable.
    pub symmetry: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: 1,
            depth_max: None,
            states_max: None,
            duration_max: None,
            symmetry: true,
        }
    }
}

/// The kind of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A safety invariant or expectation: every reachable state.
    Always,
    /// Progress: from every reachable state, after the fair continuation.
    Progress,
    /// Reachability: some reachable state.
    Sometimes,
    /// Declared unreachable in `[check] unreachable`: no reachable state.
    Never,
}

/// One step of a counterexample, replayed through the rule book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterexampleStep {
    /// The step's number, from 1.
    pub step: usize,
    /// The event, described for a person.
    pub event: String,
    /// What the rule book did: the decision log of this step.
    pub changes: Vec<String>,
}

/// A path to the violating state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counterexample {
    /// The events from the model's initial state to the violating state,
    /// shrunk until removing any one of them loses the violation.
    pub steps: Vec<CounterexampleStep>,
    /// Why the property fails at the end of the path, in the predicate's own
    /// words; for a progress property, after the fair continuation.
    pub why: String,
    /// The mailboxes and spoolers of the final state.
    #[serde(rename = "final")]
    pub final_state: Observation,
    /// The path drawn as a sequence chart (`check --html`); the JSON report
    /// leaves it out, as `steps` says the same.
    #[serde(skip)]
    pub chart: Chart,
}

/// The verdict on one property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PropertyResult {
    /// The property's id: a SPEC id (`INV-001`, `OIM-014`, `DEC-004`,
    /// `LIVE-001`, …) or a probe name such as `route offline`.
    pub id: &'static str,
    /// The person-readable name, e.g. `no loss`; for a probe, the same as
    /// `id`.
    pub name: &'static str,
    /// Whether the property must hold in every state, after the fair
    /// continuation, in some state, or in none.
    pub kind: Kind,
    /// The verdict. For a `sometimes` probe, whether some reachable state
    /// shows it; for every other kind, whether no reachable state violates it.
    pub holds: bool,
    /// For a violation, the counterexample; for a reached `sometimes`
    /// probe, the example is left out of the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
}

impl PropertyResult {
    /// The verdict in words, as the text report prints it: `holds`,
    /// `VIOLATED`, `reached`, `NOT REACHED`, …, qualified by "in the part
    /// explored" when the run was not `complete`.
    pub fn verdict(&self, complete: bool) -> &'static str {
        match (self.kind, self.holds, complete) {
            (Kind::Sometimes, true, _) => "reached",
            (Kind::Sometimes, false, true) => "NOT REACHED",
            (Kind::Sometimes, false, false) => "not reached in the part explored",
            (Kind::Never, true, true) => "unreachable, as declared",
            (Kind::Never, true, false) => "not reached in the part explored, as declared",
            (Kind::Never, false, _) => "REACHED, declared unreachable",
            (_, true, true) => "holds",
            (_, true, false) => "holds in the part explored",
            (_, false, _) => "VIOLATED",
        }
    }
}

/// Totals of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    /// Successor states computed, duplicates included.
    pub states_generated: usize,
    /// Distinct states visited; with symmetry reduction, distinct up to
    /// renaming interchangeable users.
    pub states_unique: usize,
    /// The deepest state the depth-first search visited, in events from the
    /// initial state (not the length of a shortest path to it).
    pub depth_max: usize,
    /// Wall-clock seconds the exploration took, counterexample shrinking
    /// excluded. It and `states_per_second` are the only wall-clock figures
    /// of the report.
    pub seconds: f64,
    /// `states_generated` divided by `seconds`.
    pub states_per_second: f64,
    /// Threads the checker ran on.
    pub threads: usize,
    /// `dfs`, or `dfs+symmetry` when symmetry reduction ran.
    pub strategy: &'static str,
    /// Why the search ended: `complete` when every reachable state was
    /// visited; otherwise the limit that stopped it (`depth-max`,
    /// `states-max`, `duration-max`), or `all-decided` when every property
    /// was already violated or reached.
    pub stop: search::Stop,
}

impl Totals {
    /// Whether every reachable state was visited, or nothing left could
    /// change a verdict. When not, a property that holds holds only in the
    /// part explored, and a probe not reached may be reachable.
    pub fn complete(&self) -> bool {
        matches!(self.stop, search::Stop::Complete | search::Stop::AllDecided)
    }
}

/// The result of checking one model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckReport {
    /// The scenario's `name`.
    pub model: String,
    /// The name the scenario was loaded under.
    pub file: String,
    /// The verdict on every property: the invariants, the expectations and the
    /// progress properties by SPEC id, then the probes in `REACH` order.
    pub properties: Vec<PropertyResult>,
    /// How big and how fast the exploration was.
    pub totals: Totals,
}

impl CheckReport {
    /// Whether every property holds: in every reachable state, when the
    /// run was complete (`Totals::complete`).
    pub fn holds(&self) -> bool {
        self.properties.iter().all(|p| p.holds)
    }

    /// Whether nothing the run explored contradicts a property: no
    /// invariant, expectation or progress property violated and no probe
    /// declared unreachable reached. A `sometimes` probe not reached counts
    /// against this only in a complete run, since a bounded one may have
    /// stopped before it.
    pub fn holds_where_explored(&self) -> bool {
        let complete = self.totals.complete();
        self.properties
            .iter()
            .all(|p| p.holds || (p.kind == Kind::Sometimes && !complete))
    }

    /// The verdict on one property, by id or probe name.
    pub fn property(&self, id: &str) -> Option<&PropertyResult> {
        self.properties.iter().find(|p| p.id == id)
    }
}

/// The name and kind of a property id.
fn describe_property(m: &CheckModel, id: &'static str) -> (&'static str, Kind) {
    if let Some((inv, kind)) = predicate(id) {
        return (inv.name, kind);
    }
    if m.bounds.unreachable.contains(&id) {
        (id, Kind::Never)
    } else {
        (id, Kind::Sometimes)
    }
}

/// The predicate behind a property id, with its kind; `None` for a
/// reachability probe.
fn predicate(id: &str) -> Option<(&'static Invariant, Kind)> {
    INVARIANTS
        .iter()
        .chain(EXPECTATIONS)
        .map(|i| (i, Kind::Always))
        .chain(LIVENESS.iter().map(|i| (i, Kind::Progress)))
        .find(|(inv, _)| inv.id == id)
}

/// Replays `events` from the model's initial state through the rule book,
/// recording what each step did.
pub fn replay(m: &CheckModel, events: &[Event], why: String) -> Counterexample {
    let d = &m.deployment;
    let mut s = m.init.world.clone();
    let mut chart = ChartBuilder::new(&why, Arc::clone(d), &s);
    let mut steps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let mut log = Log::enabled();
        let changes = match step(d, &mut s, e, &mut log) {
            Ok(outcome) => {
                chart.record(e, Some(&outcome), &s, &log.records);
                log.records.iter().map(ToString::to_string).collect()
            }
            Err(err) => {
                chart.record_rejected(e, &err.to_string());
                vec![format!("rejected: {err}")]
            }
        };
        steps.push(CounterexampleStep {
            step: i + 1,
            event: report::describe(d, e),
            changes,
        });
    }
    Counterexample {
        steps,
        why,
        final_state: report::observe(d, &s),
        chart: chart.finish(),
    }
}

/// The bound on shrinking passes: each pass that shrinks removes an event,
/// so a path never needs more passes than it has events.
pub const SHRINK_PASSES_MAX: usize = 10_000;

/// The enabled action of `s` that `e` stands for: `e` itself, or, for a
/// send or a clock advance whose details depend on earlier events (the
/// body numbers messages, the clock jumps to the next due time), the
/// enabled action of the same kind and users.
fn realign(m: &CheckModel, s: &CheckState, e: &Event) -> Option<Event> {
    let mut enabled = Vec::new();
    m.actions(s, &mut enabled);
    if enabled.contains(e) {
        return Some(e.clone());
    }
    enabled.into_iter().find(|a| match (a, e) {
        (Event::Send { from, to, .. }, Event::Send { from: f, to: t, .. }) => from == f && to == t,
        (Event::AdvanceTo { .. }, Event::AdvanceTo { .. }) => true,
        _ => false,
    })
}

/// Replays `events` as a path of the model, stopping at the first state
/// where `violated` holds. `None` if some event is not an enabled action.
fn replay_path(
    m: &CheckModel,
    events: &[Event],
    violated: &dyn Fn(&CheckState) -> bool,
) -> Option<(Vec<Event>, bool)> {
    let mut s = m.init.clone();
    let mut path = Vec::new();
    if violated(&s) {
        return Some((path, true));
    }
    for e in events {
        let a = realign(m, &s, e)?;
        s = m.next_state(&s, a.clone())?;
        path.push(a);
        if violated(&s) {
            return Some((path, true));
        }
    }
    Some((path, false))
}

/// Shrinks a path to property `id`'s violation until removing any single
/// event loses it: a deterministic, 1-minimal counterexample. stateright
/// reports the last violating state it happened to visit, not the nearest.
pub fn shrink(m: &CheckModel, id: &str, events: &[Event]) -> Vec<Event> {
    let Some(property) = m.properties().into_iter().find(|p| p.name == id) else {
        return events.to_vec();
    };
    let violated = |s: &CheckState| !(property.condition)(m, s);
    let mut best = match replay_path(m, events, &violated) {
        Some((path, true)) => path,
        _ => return events.to_vec(),
    };
    for _ in 0..SHRINK_PASSES_MAX {
        let shorter = (0..best.len()).rev().find_map(|i| {
            let mut candidate = best.clone();
            candidate.remove(i);
            match replay_path(m, &candidate, &violated) {
                Some((path, true)) => Some(path),
                _ => None,
            }
        });
        match shorter {
            Some(path) => best = path,
            None => break,
        }
    }
    best
}

/// Why a property fails in a state, in the predicate's own words.
fn why(m: &CheckModel, id: &str, s: &CheckState) -> String {
    let d = &m.deployment;
    match predicate(id) {
        Some((inv, Kind::Progress)) => match m.drained(s) {
            None => "the fair continuation could not run".into(),
            Some(end) => format!(
                "after the fair continuation (all clients up and signed in, EWS up, time advancing): {}",
                (inv.check)(d, &end).err().unwrap_or_default()
            ),
        },
        Some((inv, _)) => (inv.check)(d, &s.world).err().unwrap_or_default(),
        None => format!("`{id}` was declared unreachable in [check], but this path reaches it"),
    }
}

/// Checks the model exhaustively and reports every property.
pub fn run(m: CheckModel, file: &str, name: &str, opts: CheckOptions) -> CheckReport {
    run_with_progress(m, file, name, opts, &|_| {})
}

/// `run`, calling `progress` with the search's counters every second while
/// it runs.
pub fn run_with_progress(
    m: CheckModel,
    file: &str,
    name: &str,
    opts: CheckOptions,
    progress: &(dyn Fn(&search::Snapshot) + Sync),
) -> CheckReport {
    let symmetric = opts.symmetry && m.has_symmetry();
    let limits = search::Limits {
        threads: opts.threads.max(1),
        depth_max: opts.depth_max,
        states_max: opts.states_max,
        duration_max: opts.duration_max,
        symmetry: symmetric,
        ..search::Limits::default()
    };
    let outcome = search::search(&m, limits, progress);
    debug_assert_eq!(outcome.found.len(), m.properties().len());
    let strategy = if symmetric { "dfs+symmetry" } else { "dfs" };
    let seconds = outcome.totals.seconds;
    let properties = m
        .properties()
        .into_iter()
        .zip(&outcome.found)
        .map(|(p, found)| {
            let (pname, kind) = describe_property(&m, p.name);
            let holds = match kind {
                Kind::Sometimes => found.is_some(),
                _ => found.is_none(),
            };
            let counterexample = match (kind, found) {
                (Kind::Sometimes, _) | (_, None) => None,
                (_, Some(path)) => {
                    let events = shrink(&m, p.name, path);
                    let last = events
                        .iter()
                        .try_fold(m.init.clone(), |s, e| m.next_state(&s, e.clone()));
                    let why = why(&m, p.name, last.as_ref().unwrap_or(&m.init));
                    Some(replay(&m, &events, why))
                }
            };
            PropertyResult {
                id: p.name,
                name: pname,
                kind,
                holds,
                counterexample,
            }
        })
        .collect();
    CheckReport {
        model: name.to_string(),
        file: file.to_string(),
        properties,
        totals: Totals {
            states_generated: outcome.totals.states_generated as usize,
            states_unique: outcome.totals.states_unique as usize,
            depth_max: outcome.totals.depth_max,
            seconds,
            states_per_second: outcome.totals.states_generated as f64 / seconds.max(1e-9),
            threads: limits.threads,
            strategy,
            stop: outcome.stop,
        },
    }
}

/// The report as one page (`check --html`): every counterexample as a
/// sequence chart, headed by its verdict, and the probes that failed
/// without one.
pub fn render_html(report: &CheckReport) -> String {
    use crate::formats::html::escape;
    let complete = report.totals.complete();
    let charts: Vec<(Chart, String)> = report
        .properties
        .iter()
        .filter_map(|p| {
            let c = p.counterexample.as_ref()?;
            let mut drawn = c.chart.clone();
            drawn.title = format!("{} ({}): {}", p.id, p.name, p.verdict(complete));
            Some((drawn, c.why.clone()))
        })
        .collect();
    let title = format!("offline-im check: {} ({})", report.model, report.file);
    // A probe that must be reached and was not has no path to draw, but
    // fails the check all the same.
    let unreached: Vec<String> = report
        .properties
        .iter()
        .filter(|p| !p.holds && p.counterexample.is_none())
        .map(|p| format!("<li>{}: {}</li>", escape(p.id), p.verdict(complete)))
        .collect();
    let mut intro = format!(
        "<p>{} states explored{}.</p>",
        report.totals.states_unique,
        if complete {
            ", which are every reachable state"
        } else {
            ", a bounded part of the state space"
        }
    );
    if !unreached.is_empty() {
        intro.push_str("<p>Failed without a path to draw:</p><ul>");
        intro.push_str(&unreached.concat());
        intro.push_str("</ul>");
    }
    if charts.is_empty() {
        intro.push_str("<p>No counterexample: no property was violated.</p>");
    }
    chart::page(&title, &intro, &charts)
}

/// Renders a report for a person.
pub fn render_text(r: &CheckReport) -> String {
    let mut out = String::new();
    let complete = r.totals.complete();
    let _ = writeln!(out, "model: {} ({})", r.model, r.file);
    for p in &r.properties {
        let verdict = p.verdict(complete);
        let kind = match p.kind {
            Kind::Always => "always",
            Kind::Progress => "progress",
            Kind::Sometimes => "sometimes",
            Kind::Never => "never",
        };
        let label = if p.name == p.id {
            p.id.to_string()
        } else {
            format!("{} {}", p.id, p.name)
        };
        let _ = writeln!(out, "  {kind:<9} {label:<40} {verdict}");
    }
    for p in &r.properties {
        let Some(cx) = &p.counterexample else {
            continue;
        };
        let _ = writeln!(out, "\ncounterexample to {} ({}): {}", p.id, p.name, cx.why);
        for s in &cx.steps {
            let _ = writeln!(out, "  {:>3}. {}", s.step, s.event);
            for c in &s.changes {
                let _ = writeln!(out, "         {c}");
            }
        }
        let _ = writeln!(out, "  final state at {} ms:", cx.final_state.clock_ms);
        for u in &cx.final_state.users {
            let _ = writeln!(out, "    {}:", u.name);
            for f in &u.folders {
                for i in &f.items {
                    let _ = writeln!(
                        out,
                        "      {}: {} {} {} -> {} {:?}",
                        f.folder, i.id, i.class, i.from, i.to, i.body
                    );
                }
            }
            for e in &u.spooler {
                let _ = writeln!(
                    out,
                    "      spooler: {} to {} due {} ms, {} attempt(s), {:?}",
                    e.id, e.to, e.due_ms, e.attempts, e.status
                );
            }
        }
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "\nstates generated: {}\nunique states: {}\nmaximum depth: {}\nseconds: {:.2}\nstates per second: {:.0}\nstrategy: {} on {} thread(s)",
        t.states_generated,
        t.states_unique,
        t.depth_max,
        t.seconds,
        t.states_per_second,
        t.strategy,
        t.threads
    );
    let stopped = match t.stop {
        search::Stop::Complete => "complete: every reachable state visited",
        search::Stop::AllDecided => "complete: every property decided",
        search::Stop::DepthMax => "INCOMPLETE: states deeper than --depth were not visited",
        search::Stop::StatesMax => "INCOMPLETE: stopped at --max-states",
        search::Stop::DurationMax => "INCOMPLETE: stopped at --max-seconds",
    };
    let _ = writeln!(out, "search: {stopped}");
    let result = if !r.holds_where_explored() {
        "VIOLATED"
    } else if !complete {
        "no violation in the part explored (incomplete)"
    } else {
        "every property holds"
    };
    let _ = writeln!(out, "result: {result}");
    out
}
