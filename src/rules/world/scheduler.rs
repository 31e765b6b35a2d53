//! The eager scheduler: `World`, a state with its deployment and trace,
//! which performs every internal event as soon as it is enabled. The
//! scenario runner, the simulator and the conformance reference drive it.
//! The model checker explores every order instead, and uses `World` only
//! for `drain`, the fair continuation its progress properties run.

use super::decision_log::{Decision, Log, TraceRecord};
use super::event::{Event, Outcome, StepError};
use super::state::State;
use super::step::step;
use crate::rules::domain::{Deployment, Presence};
use std::sync::Arc;

/// Why settling stopped: a rejected event, or the caller's check.
#[derive(Debug)]
pub enum SettleError<E> {
    /// An event the scheduler applied was rejected, or it did not settle
    /// within `SETTLE_STEPS_MAX` steps; either is a rule bug, since it
    /// applies only enabled events.
    Step(StepError),
    /// The caller's check after an event failed, for example an invariant.
    Check(E),
}

/// The bound on internal steps per `settle_until`, so a rule bug cannot
/// hang a driver.
pub const SETTLE_STEPS_MAX: usize = 1_000_000;

/// A state together with its deployment and, optionally, its trace: what the
/// scenario runner, the simulator and the conformance runner drive.
#[derive(Clone, Debug)]
pub struct World {
    /// The static deployment, shared with the driver and never changed.
    pub deployment: Arc<Deployment>,
    /// The state the events change.
    pub state: State,
    /// Every decision written so far, in order, while `keep_trace` is set.
    pub trace: Vec<TraceRecord>,
    /// Whether `apply` writes and keeps trace lines; drivers that read no
    /// trace turn it off, so that `step` formats nothing.
    pub keep_trace: bool,
    /// Every decision outcome so far, in order, while `keep_decisions` is
    /// set (the conformance kit's coverage and model-based cases).
    pub decisions: Vec<Decision>,
    /// Whether `apply` keeps decision outcomes; off by default, since only
    /// coverage reads them.
    pub keep_decisions: bool,
}

impl World {
    /// The world of a freshly installed deployment (`State::initial`),
    /// keeping its trace.
    pub fn new(deployment: Arc<Deployment>) -> World {
        let state = State::initial(&deployment);
        World {
            deployment,
            state,
            trace: Vec::new(),
            keep_trace: true,
            decisions: Vec::new(),
            keep_decisions: false,
        }
    }

    /// A world in `state` that keeps no trace and no outcomes: what the
    /// drivers that only step (the checker's fair continuation, the
    /// model-based case search) start from.
    pub fn quiet(deployment: Arc<Deployment>, state: State) -> World {
        World {
            deployment,
            state,
            trace: Vec::new(),
            keep_trace: false,
            decisions: Vec::new(),
            keep_decisions: false,
        }
    }

    /// One step as the protocol takes it (CONF-004): an event happens at
    /// the current clock, and then everything it made due at that instant;
    /// `AdvanceTo` lets time run to its instant. The conformance reference
    /// and the model-based case search both step here, so the two cannot
    /// drift apart.
    pub fn apply_settled(&mut self, e: &Event) -> Result<Outcome, StepError> {
        if let Event::AdvanceTo { at_ms } = e {
            self.settle_until(*at_ms)?;
            return Ok(Outcome::default());
        }
        let out = self.apply(e)?;
        let now = self.state.clock_ms;
        self.settle_until(now)?;
        Ok(out)
    }

    /// Applies one event and appends its trace lines.
    pub fn apply(&mut self, e: &Event) -> Result<Outcome, StepError> {
        let mut log = if self.keep_trace {
            Log::enabled()
        } else {
            Log::disabled()
        };
        log.keep_decisions = self.keep_decisions;
        let out = step(&self.deployment, &mut self.state, e, &mut log);
        self.trace.extend(log.records);
        self.decisions.extend(log.decisions);
        out
    }

    /// The eager scheduler: performs every internal event as soon as it is
    /// enabled, moving the clock from timer to timer, up to `until_ms`; the
    /// clock ends at `until_ms`. `after` runs after every internal event
    /// (the scenario runner checks the invariants there).
    pub fn settle_until_with<E>(
        &mut self,
        until_ms: u64,
        mut after: impl FnMut(&World, &Event) -> Result<(), E>,
    ) -> Result<(), SettleError<E>> {
        for _ in 0..SETTLE_STEPS_MAX {
            let d = Arc::clone(&self.deployment);
            if let Some(e) = self.state.internal_events(&d).into_iter().next() {
                self.apply(&e).map_err(SettleError::Step)?;
                after(self, &e).map_err(SettleError::Check)?;
                continue;
            }
            match self.state.next_timer_ms(&d) {
                Some(t) if t <= until_ms => {
                    self.apply(&Event::AdvanceTo { at_ms: t })
                        .map_err(SettleError::Step)?;
                }
                _ => {
                    if until_ms > self.state.clock_ms {
                        self.apply(&Event::AdvanceTo { at_ms: until_ms })
                            .map_err(SettleError::Step)?;
                    }
                    return Ok(());
                }
            }
        }
        Err(SettleError::Step(StepError::Precondition(format!(
            "the scheduler did not settle within {SETTLE_STEPS_MAX} steps"
        ))))
    }

    /// `settle_until_with` without a check.
    pub fn settle_until(&mut self, until_ms: u64) -> Result<(), StepError> {
        self.settle_until_with(until_ms, |_, _| Ok::<(), std::convert::Infallible>(()))
            .map_err(|e| match e {
                SettleError::Step(s) => s,
                SettleError::Check(never) => match never {},
            })
    }

    /// Brings every client up and signed in and every EWS up, then runs until
    /// nothing is pending: the fair continuation LIVE-001 and LIVE-002
    /// quantify over.
    pub fn drain(&mut self) -> Result<(), StepError> {
        self.bring_up()?;
        self.settle_until(self.fair_horizon_ms())
    }

    /// The first half of `drain`: every EWS up, every client running and
    /// signed in as available. What follows depends only on the state this
    /// leaves, which is why the model checker memoises `drain` by it.
    pub fn bring_up(&mut self) -> Result<(), StepError> {
        let d = Arc::clone(&self.deployment);
        for o in d.org_ids() {
            if !self.state.ews_up[o.0 as usize] {
                self.apply(&Event::EwsUp { org: o })?;
            }
        }
        for u in d.user_ids() {
            if !self.state.client(u).running {
                self.apply(&Event::RestartClient { user: u })?;
            }
            if !self.state.client(u).signed_in {
                self.apply(&Event::SignIn {
                    user: u,
                    presence: Presence::Available,
                })?;
            }
        }
        Ok(())
    }

    /// How far the second half of `drain` lets time run: long enough for
    /// every message sent so far, and one more, to use every attempt. A
    /// function of the state alone.
    pub fn fair_horizon_ms(&self) -> u64 {
        let o = &self.deployment.options;
        self.state.clock_ms
            + o.pickup_delay_ms
                * (u64::from(o.attempts_max) + 1)
                * (u64::from(self.state.ledger.sent()) + 1)
    }
}
