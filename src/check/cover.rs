//! The model-based case search: explores a corpus world at the level of
//! the conformance protocol and chooses a few paths that together reach
//! every decision outcome the exploration reached (DEC-068).
//!
//! What it owns:
//! - the protocol-level state graph of a scenario: states are the rule
//!   book's `State` with the `[check]` budget, and a transition is one
//!   protocol op as the conformance reference performs it: an external event
//!   through `World::apply` followed by `World::settle_until` at the current
//!   clock (the eager scheduler), or an advance of the clock, which is
//!   `settle_until` alone. Internal events are never transitions of their
//!   own: the scheduler performs them;
//! - a bounded breadth-first search of that graph (`CoverBounds`) that
//!   records the decision outcomes (`rules::world::Decision`) of every
//!   transition, rejected events included, and keeps a shortest path to
//!   each outcome;
//! - the greedy set cover that chooses the paths (`Coverage::paths`).
//!
//! Invariants it keeps:
//! - no rule is written here: every transition is `World::apply` and
//!   `World::settle_until`, and the external events are the ones
//!   `CheckModel::actions` enables under the scenario's `[check]` bounds;
//! - the result is deterministic: actions are tried in `CheckModel`'s
//!   fixed order, states are expanded in breadth-first order, ties in the
//!   set cover go to the shorter path and then to the outcome found first,
//!   and every list it returns is sorted or in that order. Hash sets only
//!   answer membership, never an order;
//! - the search is finite: at most `CoverBounds::depth_max` ops per path
//!   and `CoverBounds::states_max` states per world.
//!
//! What it deliberately does not do: use stateright's checker to walk the
//! graph. stateright's visitor sees each new state once, so an outcome taken
//! only on a transition into a state already seen (a duplicate suppressed,
//! a rejected event, which leaves the state unchanged) would never be
//! recorded; this search visits every transition of every expanded state.
//! It shares the checker's model (`CheckModel`: its enabled events and its
//! budgets) instead. Nor does it convert paths to protocol ops: the
//! conformance kit is not the checker's to import, so the command line does
//! that (`conformance::op_of`).

use super::CheckModel;
use super::CheckState;
use crate::formats::scenario::{Scenario, ScenarioError};
use crate::rules::domain::Deployment;
use crate::rules::world::{Event, State, World};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// How far the search goes in one world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoverBounds {
    /// The most ops on one path after the scenario's prefix.
    pub depth_max: usize,
    /// The most distinct states kept; states found beyond it are not
    /// expanded (`Coverage::truncated` says so).
    pub states_max: usize,
}

/// The bounds the committed model-based cases are generated with: paths of
/// at most 8 ops, and 60,000 states per world. Within them, 26 of the 31
/// corpus worlds are searched to depth 8 or to exhaustion; the other five
/// reach the state bound at depth 4 to 7. The whole corpus takes about 22 s
/// of CPU in a release build (25 s wall on two busy cores) and under 1 GB;
/// 20,000 states took under half of that but missed
/// `exchange/create-item/duplicate-suppressed/IPM.Note`.
pub const COVER_BOUNDS: CoverBounds = CoverBounds {
    depth_max: 8,
    states_max: 60_000,
};

/// One chosen path: the external events and clock advances after the
/// scenario's prefix, and every outcome replaying it reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverPath {
    /// The events in order; `Event::AdvanceTo` stands for the protocol's
    /// `advance`, every other event for its own op.
    pub events: Vec<Event>,
    /// The keys (`Decision::key`) of every outcome the prefix and these
    /// events reach, sorted.
    pub covers: Vec<String>,
}

/// What the search found in one world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The scenario's file name.
    pub file: String,
    /// Distinct states kept (the initial one included).
    pub states: usize,
    /// Transitions tried, rejected events included.
    pub transitions: usize,
    /// Whether some state was dropped because `states_max` was reached.
    pub truncated: bool,
    /// The greatest depth of a kept state, in ops after the prefix.
    pub depth_reached: usize,
    /// The keys of every outcome reached, the prefix's included, sorted.
    pub reached: Vec<String>,
    /// The chosen paths, in the order the set cover chose them: together
    /// they cover `reached`.
    pub paths: Vec<CoverPath>,
}

/// A kept state: where it came from, for rebuilding shortest paths.
struct Node {
    state: CheckState,
    /// The node this one was reached from and the event, `None` for the
    /// initial state.
    parent: Option<(usize, Event)>,
    depth: usize,
}

/// The result of one protocol op on a state: the next state, or `None` if
/// the rule book rejected the event, and the outcome keys it decided.
fn transition(d: &Arc<Deployment>, s: &State, e: &Event) -> (Option<State>, Vec<String>) {
    let mut w = World::quiet(Arc::clone(d), s.clone());
    w.keep_decisions = true;
    let settled = w.apply_settled(e);
    let keys = w.decisions.iter().map(|x| x.key()).collect();
    (settled.ok().map(|_| w.state), keys)
}

/// The protocol ops enabled in `s`: the checker's external events (its
/// internal events and clock jumps left out, since the scheduler performs
/// those), then an advance to one millisecond before the next timer and one
/// to the timer itself.
fn protocol_actions(m: &CheckModel, s: &CheckState) -> Vec<Event> {
    use stateright::Model as _;
    let mut all = Vec::new();
    m.actions(s, &mut all);
    let mut out: Vec<Event> = all
        .into_iter()
        .filter(|e| {
            !matches!(
                e,
                Event::Pickup { .. }
                    | Event::ExchangeProcess { .. }
                    | Event::ClientReceive { .. }
                    | Event::AdvanceTo { .. }
            )
        })
        .collect();
    if let Some(t) = s.world.next_timer_ms(&m.deployment) {
        if t > s.world.clock_ms + 1 {
            out.push(Event::AdvanceTo { at_ms: t - 1 });
        }
        out.push(Event::AdvanceTo { at_ms: t });
    }
    out
}

/// The scenario's prefix as the reference performs it: each setup cmdlet
/// and initial sign-in applied and settled at the current clock. Returns
/// the world and the prefix's outcome keys.
fn prefix_world(scenario: &Scenario) -> Result<(State, Vec<String>), ScenarioError> {
    let mut w = World::new(Arc::clone(&scenario.deployment));
    w.keep_trace = false;
    w.keep_decisions = true;
    for te in scenario.setup.iter().chain(&scenario.initial_sign_ins) {
        w.apply_settled(&te.event)
            .map_err(|e| scenario.runtime_error(te, &e))?;
    }
    let keys = w.decisions.iter().map(|x| x.key()).collect();
    Ok((w.state, keys))
}

/// The events from the initial state to node `i`.
fn path_to(nodes: &[Node], mut i: usize) -> Vec<Event> {
    let mut out = Vec::new();
    // Each step moves to a node found earlier, so the walk ends within
    // `nodes.len()` steps.
    for _ in 0..nodes.len() {
        match &nodes[i].parent {
            Some((p, e)) => {
                out.push(e.clone());
                i = *p;
            }
            None => break,
        }
    }
    out.reverse();
    out
}

/// Explores one scenario's protocol-level state graph within `bounds` and
/// chooses paths that together reach every outcome found.
pub fn explore(scenario: &Scenario, bounds: CoverBounds) -> Result<Coverage, ScenarioError> {
    let d = Arc::clone(&scenario.deployment);
    let model = CheckModel::on(scenario, Arc::clone(&d))?;
    let (init, prefix_keys) = prefix_world(scenario)?;
    let root = CheckState {
        world: init,
        ..model.init.clone()
    };
    let mut seen: HashSet<CheckState> = HashSet::new();
    seen.insert(root.clone());
    let mut nodes = vec![Node {
        state: root,
        parent: None,
        depth: 0,
    }];
    // Each outcome with where it was first reached: the empty path for the
    // prefix's, else a node and the event taken from it. In discovery
    // order, which is breadth-first, so each path is a shortest one.
    let mut reached: HashSet<String> = HashSet::new();
    let mut first: Vec<Option<(usize, Event)>> = Vec::new();
    for k in &prefix_keys {
        if reached.insert(k.clone()) && first.is_empty() {
            first.push(None);
        }
    }
    let mut transitions = 0;
    let mut truncated = false;
    let mut i = 0;
    while i < nodes.len() {
        if nodes[i].depth < bounds.depth_max {
            for e in protocol_actions(&model, &nodes[i].state) {
                transitions += 1;
                let (next, keys) = transition(&d, &nodes[i].state.world, &e);
                let mut new_outcome = false;
                for k in keys {
                    new_outcome |= reached.insert(k);
                }
                if new_outcome {
                    first.push(Some((i, e.clone())));
                }
                let Some(world) = next else { continue };
                let Some(budget) = model.spend(nodes[i].state.budget, &e) else {
                    continue;
                };
                let state = CheckState { world, budget };
                if seen.contains(&state) {
                    continue;
                }
                if nodes.len() >= bounds.states_max {
                    truncated = true;
                    continue;
                }
                seen.insert(state.clone());
                let depth = nodes[i].depth + 1;
                nodes.push(Node {
                    state,
                    parent: Some((i, e)),
                    depth,
                });
            }
        }
        i += 1;
    }
    let root_state = nodes[0].state.world.clone();
    let candidates: Vec<CoverPath> = dedup(first.iter().map(|f| match f {
        None => Vec::new(),
        Some((n, e)) => {
            let mut p = path_to(&nodes, *n);
            p.push(e.clone());
            p
        }
    }))
    .into_iter()
    .map(|events| {
        let covers = replay_covers(&d, &root_state, &prefix_keys, &events);
        CoverPath { events, covers }
    })
    .collect();
    let reached: BTreeSet<String> = reached.into_iter().collect();
    Ok(Coverage {
        file: scenario.file.clone(),
        states: nodes.len(),
        transitions,
        truncated,
        depth_reached: nodes.iter().map(|n| n.depth).max().unwrap_or(0),
        paths: set_cover(&reached, candidates),
        reached: reached.into_iter().collect(),
    })
}

/// The paths without repeats, in first-seen order.
fn dedup(paths: impl Iterator<Item = Vec<Event>>) -> Vec<Vec<Event>> {
    let mut out: Vec<Vec<Event>> = Vec::new();
    for p in paths {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// Every outcome key the prefix and `events` reach, sorted. An event the
/// rule book rejects leaves the state as it was, as on the protocol.
fn replay_covers(
    d: &Arc<Deployment>,
    init: &State,
    prefix_keys: &[String],
    events: &[Event],
) -> Vec<String> {
    let mut covers: BTreeSet<String> = prefix_keys.iter().cloned().collect();
    let mut s = init.clone();
    for e in events {
        let (next, keys) = transition(d, &s, e);
        covers.extend(keys);
        if let Some(next) = next {
            s = next;
        }
    }
    covers.into_iter().collect()
}

/// Greedy set cover: repeatedly the candidate that covers the most outcomes
/// not yet covered, ties to the one with fewer events and then to the one
/// found first, until every outcome in `all` is covered.
fn set_cover(all: &BTreeSet<String>, candidates: Vec<CoverPath>) -> Vec<CoverPath> {
    let mut uncovered: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    let mut left: Vec<Option<CoverPath>> = candidates.into_iter().map(Some).collect();
    let mut chosen = Vec::new();
    // Each round covers at least one more outcome, so there are at most
    // as many rounds as candidates.
    for _ in 0..left.len() {
        let gain = |p: &CoverPath| {
            p.covers
                .iter()
                .filter(|k| uncovered.contains(k.as_str()))
                .count()
        };
        let best = left
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, gain(p), p.events.len())))
            .filter(|(_, g, _)| *g > 0)
            .min_by_key(|(i, g, len)| (std::cmp::Reverse(*g), *len, *i));
        let Some((i, _, _)) = best else { break };
        let Some(p) = left[i].take() else { break };
        for k in &p.covers {
            uncovered.remove(k.as_str());
        }
        chosen.push(p);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(events: usize, covers: &[&str]) -> CoverPath {
        CoverPath {
            events: vec![Event::AdvanceTo { at_ms: 1 }; events],
            covers: covers.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn set_cover_takes_the_biggest_gain_then_the_shortest_then_the_first() {
        let all: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let chosen = set_cover(
            &all,
            vec![
                path(1, &["a"]),
                path(3, &["a", "b", "c"]),
                path(2, &["b", "c", "d"]),
                path(1, &["d"]),
            ],
        );
        assert_eq!(chosen, vec![path(2, &["b", "c", "d"]), path(1, &["a"])]);
    }
}
