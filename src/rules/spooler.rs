//! The History Spooler of one client: the on-disk queue
//! (`%localappdata%\microsoft\office\16.0\lync\SipUserAddress\History
//! Spooler`) that holds offline messages from acceptance until EWS confirms
//! them, and keeps those that cannot be processed (OIM-012).
//!
//! This module owns the pickup, retry and recovery rules:
//! - an entry is due `pickup_delay_ms` (two minutes, OIM-011) after it was
//!   accepted, and again that long after each failed attempt (DEC-003);
//! - a client has at most one EWS request in flight and picks entries in
//!   acceptance order, never overtaking an earlier entry for the same
//!   mailbox, which keeps per-pair order (DEC-006);
//! - attempts are bounded by `attempts_max`; an entry that runs out, or fails
//!   permanently, stays in the spooler as `Failed` (OIM-012, DEC-003);
//! - the spooler is on disk, so a crash keeps every entry; an entry that was
//!   in flight becomes due again on restart (DEC-005).
//!
//! Invariants it keeps: entries are never dropped except on confirmed
//! success; `attempts <= attempts_max`; `len() <= spool_capacity`.
//!
//! What it deliberately does not do: it never talks to Exchange; `world`
//! moves requests and responses between the spooler and `mailbox`.

use crate::rules::domain::{MessageId, UserId};
use serde::Serialize;

/// Why an entry is kept as failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailReason {
    /// Every attempt found EWS unavailable (OIM-005).
    EwsUnavailable,
    /// The recipient has no mailbox (DEC-007); permanent.
    RecipientHasNoMailbox,
    /// Every attempt hit the Drafts-folder fault (OIM-014, DEC-013).
    DraftsFault,
    /// The last attempt was in flight when the client stopped, and no
    /// attempt is left to confirm it (DEC-005).
    Unconfirmed,
}

impl FailReason {
    /// The reason's name in people's output, the same kebab-case name the
    /// JSON observation carries (`drafts-fault`).
    pub fn name(self) -> &'static str {
        match self {
            FailReason::EwsUnavailable => "ews-unavailable",
            FailReason::RecipientHasNoMailbox => "recipient-has-no-mailbox",
            FailReason::DraftsFault => "drafts-fault",
            FailReason::Unconfirmed => "unconfirmed",
        }
    }

    /// Whether retrying could help.
    pub fn transient(self) -> bool {
        !matches!(self, FailReason::RecipientHasNoMailbox)
    }
}

/// The state of one spool entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "reason")]
pub enum SpoolStatus {
    /// Waiting for its timer.
    Waiting,
    /// An EWS request for it is in flight.
    InFlight,
    /// Kept, visible, not retried (OIM-012).
    Failed(FailReason),
}

impl SpoolStatus {
    /// The status's name without its reason: `waiting`, `in-flight` or
    /// `failed`, as decision outcomes name it.
    pub fn name(self) -> &'static str {
        match self {
            SpoolStatus::Waiting => "waiting",
            SpoolStatus::InFlight => "in-flight",
            SpoolStatus::Failed(_) => "failed",
        }
    }
}

impl std::fmt::Display for SpoolStatus {
    /// The status in people's output, in the JSON observation's kebab-case
    /// names: `waiting`, `in-flight`, or `failed: drafts-fault`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolStatus::Waiting => f.write_str("waiting"),
            SpoolStatus::InFlight => f.write_str("in-flight"),
            SpoolStatus::Failed(reason) => write!(f, "failed: {}", reason.name()),
        }
    }
}

/// One offline message in a client's History Spooler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SpoolEntry {
    /// The message the entry sends. Its id travels in every attempt, so the
    /// mailbox can recognise a resend (DEC-004).
    pub message: MessageId,
    /// Whose mailbox the message is for.
    pub target: UserId,
    /// When the entry's timer fires, in virtual milliseconds since the start
    /// of the run: acceptance plus `pickup_delay_ms` (OIM-011), then, after a
    /// failed attempt or a restart, that time plus the same delay (DEC-003,
    /// DEC-005). Meaningful only while the entry is `Waiting`.
    pub due_ms: u64,
    /// EWS attempts started so far.
    pub attempts: u8,
    /// Waiting for its timer, in flight with one EWS request, or kept as
    /// failed with its reason (OIM-012).
    pub status: SpoolStatus,
}

/// One client's History Spooler, in acceptance order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Spooler {
    /// The entries in acceptance order. The order matters: an entry never
    /// overtakes an earlier waiting one for the same target (DEC-006), and of
    /// two entries due at the same time the earlier goes first.
    pub entries: Vec<SpoolEntry>,
}

impl Spooler {
    /// Adds an accepted message, due after the pickup delay.
    pub fn accept(&mut self, message: MessageId, target: UserId, now_ms: u64, delay_ms: u64) {
        self.entries.push(SpoolEntry {
            message,
            target,
            due_ms: now_ms.saturating_add(delay_ms),
            attempts: 0,
            status: SpoolStatus::Waiting,
        });
    }

    /// Whether one of the entries has an EWS request in flight. A client has
    /// at most one at a time (DEC-006, INV-010), so while this holds nothing
    /// else is picked up.
    pub fn in_flight(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.status == SpoolStatus::InFlight)
    }

    /// The index of the entry the client would pick next, ignoring time:
    /// among waiting entries with no earlier unfinished entry for the same
    /// target (DEC-006), the one due first, earliest accepted on a tie.
    /// `None` while a request is in flight.
    pub fn candidate(&self) -> Option<usize> {
        if self.in_flight() {
            return None;
        }
        let mut best: Option<usize> = None;
        for (i, e) in self.entries.iter().enumerate() {
            let blocked = self.entries[..i]
                .iter()
                .any(|p| p.target == e.target && p.status == SpoolStatus::Waiting);
            if e.status != SpoolStatus::Waiting || blocked {
                continue;
            }
            if best.is_none_or(|b| e.due_ms < self.entries[b].due_ms) {
                best = Some(i);
            }
        }
        best
    }

    /// The candidate's due time, if any.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.candidate().map(|i| self.entries[i].due_ms)
    }

    /// The entry for `message`, if the spooler holds it.
    pub fn find(&self, message: MessageId) -> Option<usize> {
        self.entries.iter().position(|e| e.message == message)
    }

    /// Records a failed attempt: due again after the delay, or kept as
    /// failed when the failure is permanent or attempts are used up.
    pub fn fail(
        &mut self,
        index: usize,
        reason: FailReason,
        now_ms: u64,
        delay_ms: u64,
        attempts_max: u8,
    ) {
        let e = &mut self.entries[index];
        e.status = if reason.transient() && e.attempts < attempts_max {
            e.due_ms = now_ms.saturating_add(delay_ms);
            SpoolStatus::Waiting
        } else {
            SpoolStatus::Failed(reason)
        };
    }

    /// Recovery after a restart: what was in flight is unconfirmed and is
    /// tried again if attempts remain (DEC-005).
    pub fn recover(&mut self, now_ms: u64, delay_ms: u64, attempts_max: u8) {
        for e in &mut self.entries {
            if e.status == SpoolStatus::InFlight {
                if e.attempts < attempts_max {
                    e.status = SpoolStatus::Waiting;
                    e.due_ms = now_ms.saturating_add(delay_ms);
                } else {
                    e.status = SpoolStatus::Failed(FailReason::Unconfirmed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in people's output are the JSON names, so that a reader of
    /// `run`'s text and of `--json` sees one vocabulary (issue 15, item 14).
    #[test]
    fn people_see_the_json_names() {
        let reasons = [
            FailReason::EwsUnavailable,
            FailReason::RecipientHasNoMailbox,
            FailReason::DraftsFault,
            FailReason::Unconfirmed,
        ];
        for reason in reasons {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::from(reason.name())
            );
            let json = serde_json::to_value(SpoolStatus::Failed(reason)).unwrap();
            assert_eq!(
                SpoolStatus::Failed(reason).to_string(),
                format!(
                    "{}: {}",
                    json["status"].as_str().unwrap(),
                    json["reason"].as_str().unwrap()
                )
            );
        }
        for status in [SpoolStatus::Waiting, SpoolStatus::InFlight] {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(status.to_string(), json["status"].as_str().unwrap());
        }
    }

    #[test]
    fn later_entry_for_same_target_never_overtakes() {
        let mut s = Spooler::default();
        s.accept(MessageId(1), UserId(1), 0, 100);
        s.accept(MessageId(2), UserId(1), 10, 100);
        s.accept(MessageId(3), UserId(2), 20, 100);
        assert_eq!(s.candidate(), Some(0));
        s.entries[0].attempts = 1;
        s.fail(0, FailReason::EwsUnavailable, 150, 100, 3);
        // Entry 0 is due at 250 now; entry 1 (same target) must still wait
        // behind it, but entry 2 (another target, due at 120) goes first.
        assert_eq!(s.candidate(), Some(2));
        s.entries[2].status = SpoolStatus::Failed(FailReason::EwsUnavailable);
        assert_eq!(s.candidate(), Some(0), "entry 1 never overtakes entry 0");
        s.entries[0].status = SpoolStatus::InFlight;
        assert_eq!(s.candidate(), None, "one request in flight at a time");
    }

    #[test]
    fn permanent_failure_and_exhaustion_keep_the_entry() {
        let mut s = Spooler::default();
        s.accept(MessageId(1), UserId(1), 0, 100);
        s.entries[0].attempts = 1;
        s.fail(0, FailReason::RecipientHasNoMailbox, 100, 100, 3);
        assert_eq!(
            s.entries[0].status,
            SpoolStatus::Failed(FailReason::RecipientHasNoMailbox)
        );
        s.accept(MessageId(2), UserId(2), 0, 100);
        s.entries[1].attempts = 3;
        s.fail(1, FailReason::EwsUnavailable, 100, 100, 3);
        assert_eq!(
            s.entries[1].status,
            SpoolStatus::Failed(FailReason::EwsUnavailable)
        );
        assert_eq!(s.entries.len(), 2, "nothing is dropped");
    }
}
