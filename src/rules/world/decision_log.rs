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

/// Where `step` writes its decisions. When disabled (the model checker),
/// the closures that format records are never called.
#[derive(Debug, Default)]
pub struct Log {
    /// Whether records are written at all.
    pub enabled: bool,
    /// The records written so far, in the order decided.
    pub records: Vec<TraceRecord>,
}

impl Log {
    /// A log that keeps every record, for the drivers that show a trace.
    pub fn enabled() -> Log {
        Log {
            enabled: true,
            records: Vec::new(),
        }
    }

    /// A log that keeps nothing and formats nothing, for the model checker,
    /// which steps millions of states and reads no trace.
    pub fn disabled() -> Log {
        Log::default()
    }

    /// Writes one record, formatting its text only if the log is enabled.
    pub(super) fn note(
        &mut self,
        at_ms: u64,
        component: &'static str,
        text: impl FnOnce() -> String,
    ) {
        if self.enabled {
            self.records.push(TraceRecord {
                at_ms,
                component,
                text: text(),
            });
        }
    }
}

/// A user's display name, as every trace line and precondition message
/// names users.
pub(super) fn name(d: &Deployment, u: UserId) -> &str {
    &d.user(u).name
}
