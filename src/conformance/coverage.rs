//! The coverage report of a conformance run (CONF-016): every decision
//! outcome the reference took in the run's cases, how many cases took it,
//! and which of the reachable outcomes no case took.
//!
//! Invariants it keeps:
//! - The tally is keyed by `Decision::key` in a `BTreeMap`, so the table
//!   is the same bytes for the same cases on every machine.
//! - "Reachable" is the committed list the model-based search found
//!   (`model_cases::reachable_outcomes`); an outcome a case took that the
//!   list lacks is listed too, marked as beyond the search's bounds.
//!
//! What it deliberately does not do: judge the implementation. Coverage is
//! of the reference's decisions in the cases sent, whatever the
//! implementation answered.

use crate::rules::world::Decision;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Cases per decision outcome, against the reachable outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// For each outcome key a case took: its SPEC ids and the number of
    /// cases that took it at least once.
    pub cases: BTreeMap<String, (&'static str, u64)>,
    /// The keys of the outcomes the model-based search reached.
    pub reachable: BTreeSet<String>,
}

impl Coverage {
    /// An empty tally against `reachable`.
    pub fn new(reachable: impl IntoIterator<Item = String>) -> Coverage {
        Coverage {
            cases: BTreeMap::new(),
            reachable: reachable.into_iter().collect(),
        }
    }

    /// Counts one case's outcomes: each distinct outcome once.
    pub fn count_case(&mut self, decisions: &[Decision]) {
        let distinct: BTreeSet<&Decision> = decisions.iter().collect();
        for d in distinct {
            self.cases.entry(d.key()).or_insert((d.spec, 0)).1 += 1;
        }
    }

    /// The reachable outcomes no case took, in key order.
    pub fn unexercised(&self) -> Vec<&str> {
        self.reachable
            .iter()
            .filter(|k| !self.cases.contains_key(*k))
            .map(String::as_str)
            .collect()
    }

    /// The reachable outcomes some case took.
    pub fn covered(&self) -> usize {
        self.reachable.len() - self.unexercised().len()
    }

    /// The one-line summary: covered of reachable, as a count and a share.
    pub fn summary(&self) -> String {
        let reachable = self.reachable.len();
        let covered = self.covered();
        // Tenths of a percent in integers, so the figure is the same bytes
        // everywhere; an empty list counts as fully covered.
        let per_mille = (covered * 1000).checked_div(reachable).unwrap_or(1000);
        format!(
            "coverage: {covered} of {reachable} reachable decision outcomes ({}.{} %)",
            per_mille / 10,
            per_mille % 10
        )
    }

    /// The table `--coverage` prints: every outcome, reachable or taken,
    /// with its SPEC ids and case count, then the unexercised ones.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.summary());
        let keys: BTreeSet<&str> = self
            .reachable
            .iter()
            .map(String::as_str)
            .chain(self.cases.keys().map(String::as_str))
            .collect();
        let width = keys.iter().map(|k| k.len()).max().unwrap_or(0).min(120);
        let _ = writeln!(out, "{:<width$}  {:>7}  spec", "outcome", "cases");
        for k in keys {
            let (spec, n) = self.cases.get(k).copied().unwrap_or(("", 0));
            let mark = if !self.reachable.contains(k) {
                "  (beyond the model search's bounds)"
            } else if n == 0 {
                "  <- unexercised"
            } else {
                ""
            };
            let _ = writeln!(out, "{k:<width$}  {n:>7}  {spec}{mark}");
        }
        let missing = self.unexercised();
        if !missing.is_empty() {
            let _ = writeln!(out, "unexercised reachable outcomes: {}", missing.len());
            for k in missing {
                let _ = writeln!(out, "  {k}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_016_an_outcome_counts_once_per_case_and_unexercised_ones_are_listed() {
        let routed = Decision::new("dispatch", "route", "offline", "DEC-001").with("signed-out");
        let confirmed = Decision::new("spooler", "response", "confirmed", "OIM-011");
        let mut c = Coverage::new([routed.key(), confirmed.key()]);
        c.count_case(&[routed, routed]);
        c.count_case(&[routed]);
        assert_eq!(c.cases[&routed.key()], ("DEC-001", 2));
        assert_eq!(c.unexercised(), ["spooler/response/confirmed"]);
        assert_eq!(
            c.summary(),
            "coverage: 1 of 2 reachable decision outcomes (50.0 %)"
        );
        assert!(c.render().contains("spooler/response/confirmed"));
    }
}
