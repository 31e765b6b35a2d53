//! The ETL-like decision log (OIM-013): the lines `step` writes, each
//! stamped with virtual time and a component, and the switch that turns
//! writing them off where nobody reads them.

use crate::rules::domain::{Deployment, UserId};
use serde::Serialize;
use std::fmt;

/// One line of the ETL-like decision log (OIM-013).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    /// The virtual time of the decision.
    pub at_ms: u64,
    /// The part of the system that decided: `dispatch`, `client`,
    /// `spooler`, `ews`, `exchange`, `notify` or `admin`.
    pub component: &'static str,
    /// The decision and its reason, with the SPEC id it applies.
    pub text: String,
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>9} ms] {:<8} {}",
            self.at_ms, self.component, self.text
        )
    }
}

/// One decision outcome: what a trace line records with the names, ids and
/// times taken out, so that two steps that decided the same thing for
/// different users give the same outcome. The conformance kit counts cases
/// per outcome (its coverage report), and the model-based cases are chosen
/// to reach every outcome the rule book can take in a world. Every field is
/// a static name, so recording an outcome formats nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Decision {
    /// The part of the system that decided, as in `TraceRecord`.
    pub component: &'static str,
    /// What was decided: `route`, `pickup`, `response`, a cmdlet's name, …
    pub decision: &'static str,
    /// How it was decided: a route, a spool status, `delivered`, …
    pub outcome: &'static str,
    /// What the outcome depended on: the presence seen, an `Unavailable`
    /// or failure reason, a message class; empty when nothing did.
    pub detail: &'static str,
    /// The SPEC ids of the rule that decided.
    pub spec: &'static str,
}

impl Decision {
    /// An outcome without a detail.
    pub const fn new(
        component: &'static str,
        decision: &'static str,
        outcome: &'static str,
        spec: &'static str,
    ) -> Decision {
        Decision {
            component,
            decision,
            outcome,
            detail: "",
            spec,
        }
    }

    /// The same outcome with `detail`.
    pub const fn with(self, detail: &'static str) -> Decision {
        Decision { detail, ..self }
    }

    /// The outcome as one stable key, `component/decision/outcome[/detail]`,
    /// the form the coverage tables list.
    pub fn key(&self) -> String {
        let mut k = format!("{}/{}/{}", self.component, self.decision, self.outcome);
        if !self.detail.is_empty() {
            k.push('/');
            k.push_str(self.detail);
        }
        k
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// The outcome of a command line the Management Shell rejects before it
/// runs (`cmdlets::parse` fails, so no event reaches `step`): the drivers
/// that parse record it.
pub const SHELL_REJECTED: Decision = Decision::new("admin", "parse", "rejected", "DEC-019");

/// Where `step` writes its decisions. When disabled (the model checker),
/// the closures that format records are never called.
#[derive(Debug, Default)]
pub struct Log {
    /// Whether records are written at all.
    pub enabled: bool,
    /// The records written so far, in the order decided.
    pub records: Vec<TraceRecord>,
    /// Whether decision outcomes are kept. Independent of `enabled`: the
    /// model-based case search keeps outcomes but formats no text.
    pub keep_decisions: bool,
    /// The outcomes decided so far, in order, while `keep_decisions` is set.
    pub decisions: Vec<Decision>,
}

impl Log {
    /// A log that keeps every record, for the drivers that show a trace.
    pub fn enabled() -> Log {
        Log {
            enabled: true,
            ..Log::default()
        }
    }

    /// A log that keeps nothing and formats nothing, for the model checker,
    /// which steps millions of states and reads no trace.
    pub fn disabled() -> Log {
        Log::default()
    }

    /// Writes one record of `decision`, formatting its text only if the
    /// log is enabled.
    pub(super) fn note(&mut self, at_ms: u64, decision: Decision, text: impl FnOnce() -> String) {
        self.decide(decision);
        if self.enabled {
            self.records.push(TraceRecord {
                at_ms,
                component: decision.component,
                text: text(),
            });
        }
    }

    /// Records an outcome that has no trace line of its own (a duplicate
    /// sender's copy, an orphaned answer, a rejected event), so that the
    /// trace the scenario snapshots pin is unchanged.
    pub(super) fn decide(&mut self, decision: Decision) {
        if self.keep_decisions {
            self.decisions.push(decision);
        }
    }
}

/// A user's display name, as every trace line and precondition message
/// names users.
pub(super) fn name(d: &Deployment, u: UserId) -> &str {
    &d.user(u).name
}
