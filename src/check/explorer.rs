//! The model stateright's Explorer serves (`offline-im explore`): the
//! checker's model with states a person can read.
//!
//! stateright's Explorer shows a state as its `Debug` text, an action as
//! `Model::format_action` and the outcome of a step as
//! `Model::format_step`, and draws `Model::as_svg` beside them. A
//! `CheckState` cannot name its users in `Debug`, because it does not carry
//! the deployment (the checker keeps it out of every state so that a clone
//! touches no shared counter), and its derived `Debug` is hundreds of lines
//! of nested configuration. So the Explorer serves `ExplorerModel`, whose
//! state is a `CheckState` with the deployment beside it. That is the
//! smallest change that can: the transitions, the properties and the
//! equality of states are the checker's own, and only the text differs.
//!
//! What the Explorer then shows:
//! - each state as `report::render_state`: the clock, each organisation's
//!   EWS, every user with presence, spooler, folders with classes and
//!   notifications, the requests and responses in flight, and the budget;
//! - each action as `report::describe` names events ("Tony Smith's spool
//!   timer fires");
//! - each step's outcome as its decision-log lines, then the state;
//! - the path to the state as a sequence chart (`formats::chart`).
//!
//! What it deliberately does not do: search. The checker's own search
//! (`search`) runs `CheckModel`; this model exists only for the Explorer,
//! and stateright's Explorer still labels an initial state `Init 0`, which
//! no `Model` method can change.

use crate::check::{CheckModel, CheckState};
use crate::formats::chart::{self, ChartBuilder};
use crate::formats::report;
use crate::rules::domain::Deployment;
use crate::rules::world::{Event, Log, step};
use stateright::{Model, Path, Property};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A checker state shown with the deployment that names its users.
#[derive(Clone)]
pub struct ShownState {
    /// The checker's state.
    pub state: CheckState,
    deployment: Arc<Deployment>,
}

impl PartialEq for ShownState {
    /// Equal when the checker's states are: the deployment is the same for
    /// every state of one model.
    fn eq(&self, other: &ShownState) -> bool {
        self.state == other.state
    }
}

impl Eq for ShownState {}

impl Hash for ShownState {
    /// The checker state's hash, so that the Explorer's fingerprints are
    /// those of the states the checker visits.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.state.hash(h);
    }
}

impl fmt::Debug for ShownState {
    /// The state as a person reads it (`report::render_state`) and the
    /// budget left, whatever the formatter's flags: the Explorer asks for
    /// `{:#?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&report::render_state(&self.deployment, &self.state.world))?;
        let b = &self.state.budget;
        write!(
            f,
            "budget left: {} user events, {} crashes, {} outages, {} admin cmdlets unused",
            b.user_events_left,
            b.crashes_left,
            b.outages_left,
            b.admin_unused.count_ones()
        )
    }
}

/// The checker's model, with readable states, for stateright's Explorer.
pub struct ExplorerModel {
    inner: CheckModel,
    /// The checker's properties, which `SHOWN_FNS` evaluate by index.
    properties: Vec<Property<CheckModel>>,
}

impl ExplorerModel {
    /// The Explorer's model of `inner`.
    pub fn new(inner: CheckModel) -> ExplorerModel {
        let properties = inner.properties();
        debug_assert_eq!(properties.len(), SHOWN_FNS.len(), "PROPERTY_COUNT is exact");
        ExplorerModel { inner, properties }
    }

    fn shown(&self, state: CheckState) -> ShownState {
        ShownState {
            state,
            deployment: Arc::clone(&self.inner.deployment),
        }
    }
}

impl Model for ExplorerModel {
    type State = ShownState;
    type Action = Event;

    fn init_states(&self) -> Vec<ShownState> {
        self.inner
            .init_states()
            .into_iter()
            .map(|s| self.shown(s))
            .collect()
    }

    fn actions(&self, s: &ShownState, out: &mut Vec<Event>) {
        self.inner.actions(&s.state, out);
    }

    fn next_state(&self, last: &ShownState, action: Event) -> Option<ShownState> {
        self.inner
            .next_state(&last.state, action)
            .map(|s| self.shown(s))
    }

    fn format_action(&self, action: &Event) -> String {
        report::describe(&self.inner.deployment, action)
    }

    /// The step's decision-log lines, then the state it leaves: one
    /// transition, with its log kept.
    fn format_step(&self, last: &ShownState, action: Event) -> Option<String> {
        let mut log = Log::enabled();
        let next = self
            .inner
            .successor_logged(&last.state, &action, &mut log)
            .map(|s| self.shown(s))?;
        let mut out = String::new();
        for r in &log.records {
            out.push_str(&r.to_string());
            out.push('\n');
        }
        if log.records.is_empty() {
            out.push_str("(no decision logged)\n");
        }
        out.push('\n');
        out.push_str(&format!("{next:?}"));
        Some(out)
    }

    /// The path to the state as a sequence chart.
    fn as_svg(&self, path: Path<ShownState, Event>) -> Option<String> {
        let d = &self.inner.deployment;
        let mut world = self.inner.init.world.clone();
        let mut drawn = ChartBuilder::new("the path so far", Arc::clone(d), &world);
        for e in path.into_actions() {
            let mut log = Log::enabled();
            let outcome = step(d, &mut world, &e, &mut log).ok()?;
            drawn.record(&e, Some(&outcome), &world, &log.records);
        }
        Some(chart::Chart::svg(&drawn.finish()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties
            .iter()
            .enumerate()
            .map(|(i, p)| Property {
                expectation: p.expectation.clone(),
                name: p.name,
                condition: SHOWN_FNS[i],
            })
            .collect()
    }
}

/// The checker's property `I`, on a shown state.
fn shown<const I: usize>(m: &ExplorerModel, s: &ShownState) -> bool {
    (m.properties[I].condition)(&m.inner, &s.state)
}

type ShownCondition = fn(&ExplorerModel, &ShownState) -> bool;

// stateright takes plain function pointers, so each of the checker's
// properties gets one monomorphised function, as in `CheckModel`.
const SHOWN_FNS: [ShownCondition; 27] = [
    shown::<0>,
    shown::<1>,
    shown::<2>,
    shown::<3>,
    shown::<4>,
    shown::<5>,
    shown::<6>,
    shown::<7>,
    shown::<8>,
    shown::<9>,
    shown::<10>,
    shown::<11>,
    shown::<12>,
    shown::<13>,
    shown::<14>,
    shown::<15>,
    shown::<16>,
    shown::<17>,
    shown::<18>,
    shown::<19>,
    shown::<20>,
    shown::<21>,
    shown::<22>,
    shown::<23>,
    shown::<24>,
    shown::<25>,
    shown::<26>,
];
const _: () = assert!(SHOWN_FNS.len() == super::PROPERTY_COUNT);
