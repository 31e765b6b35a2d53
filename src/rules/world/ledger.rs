//! The ledger: the ghost record of every IM sent, which no client or server
//! keeps but which lets `invariants` state "no loss" or "no pickup before
//! two minutes" over one `State`.

use crate::rules::dispatch::{Route, Unavailable, WriterFacts};
use crate::rules::domain::{MessageId, UserId};
use serde::Serialize;

/// The ledger's record of one IM.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct MessageRecord {
    /// The message's id, given at send time in send order (DEC-026).
    pub id: MessageId,
    /// The user who typed the IM.
    pub from: UserId,
    /// The user the IM is addressed to.
    pub to: UserId,
    /// What the user typed, kept so that every driver can show it.
    pub body: String,
    /// The virtual time of the send, from which the two-minute timer runs
    /// (OIM-011).
    pub sent_at_ms: u64,
    /// The route dispatch chose at send time (DEC-001).
    pub route: Route,
    /// For a live route taken because the missed-message gate failed.
    pub fallback: Option<Unavailable>,
    /// The client that spools it: the sender for `Offline`, the recipient
    /// for `MissedMessage`.
    pub writer: Option<UserId>,
    /// The facts the gate passed on, for spooled routes.
    #[serde(skip)]
    pub gate_facts: Option<WriterFacts>,
    /// The time of the first pickup, so that INV-005 can check it came no
    /// earlier than two minutes after the send.
    pub first_pickup_ms: Option<u64>,
    /// Set for a message that reached Exchange from a client outside the
    /// model (`Event::CreateItemArrives`, DEC-073). That client's gate,
    /// spooler and timer are its own, so INV-001, INV-004 and INV-005,
    /// which are about them, do not apply to it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_outside: bool,
}

impl MessageRecord {
    /// The gate that refused this IM, if one did, and the writer whose
    /// gate it was: the sender for an unavailable route, the recipient for
    /// a fallback to live (DEC-015).
    pub fn refusal(&self) -> Option<(Unavailable, UserId)> {
        match self.route {
            Route::Unavailable(why) => Some((why, self.from)),
            _ => self.fallback.map(|why| (why, self.to)),
        }
    }
}

/// The ledger: the record of every IM sent that the state still refers to,
/// in id order, and the count of all IMs ever sent.
///
/// Without `State::retire_settled` (the model checker, the scenario runner
/// and the conformance reference never call it) it holds every IM, and
/// `ledger[k]` is message `k + 1`. After retirement it is sparse: lookups
/// go through `get`, which finds a record by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Ledger {
    records: Vec<MessageRecord>,
    /// IMs ever sent; the next message id is `sent + 1` (DEC-026).
    sent: u32,
}

impl Ledger {
    /// Appends the record of a new message. Ids must increase.
    pub fn push(&mut self, record: MessageRecord) {
        assert!(
            record.id.0 > self.sent,
            "message ids increase: {} after {} sent",
            record.id,
            self.sent
        );
        self.sent = record.id.0;
        self.records.push(record);
    }

    /// The number of IMs ever sent, retired ones included.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// The id the next IM sent gets.
    pub fn next_id(&self) -> MessageId {
        MessageId(self.sent + 1)
    }

    /// The record of `m`, if the ledger still holds it.
    pub fn get(&self, m: MessageId) -> Option<&MessageRecord> {
        self.index_of(m).map(|i| &self.records[i])
    }

    /// The record of `m` for writing, if the ledger still holds it: a
    /// pickup stamps its first time there.
    pub fn get_mut(&mut self, m: MessageId) -> Option<&mut MessageRecord> {
        self.index_of(m).map(|i| &mut self.records[i])
    }

    /// Keeps only the records `keep` accepts. The count of IMs sent does
    /// not change, so ids are never given twice after a retirement.
    pub(super) fn retain(&mut self, keep: impl FnMut(&MessageRecord) -> bool) {
        self.records.retain(keep);
    }

    fn index_of(&self, m: MessageId) -> Option<usize> {
        // Dense (never retired): message k is at k - 1. Sparse: search.
        let dense = (m.0 as usize).checked_sub(1)?;
        match self.records.get(dense) {
            Some(r) if r.id == m => Some(dense),
            _ => self.records.binary_search_by_key(&m, |r| r.id).ok(),
        }
    }
}

impl std::ops::Deref for Ledger {
    type Target = [MessageRecord];
    fn deref(&self) -> &[MessageRecord] {
        &self.records
    }
}

impl<'a> IntoIterator for &'a Ledger {
    type Item = &'a MessageRecord;
    type IntoIter = std::slice::Iter<'a, MessageRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

/// Mutable access to the records, so that tests can corrupt a state on
/// purpose; ids must not be changed.
impl std::ops::DerefMut for Ledger {
    fn deref_mut(&mut self) -> &mut [MessageRecord] {
        &mut self.records
    }
}
