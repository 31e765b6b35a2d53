//! Retirement: what the simulator drops once it is settled, so that a long
//! run's memory follows what is held, not what was sent. It is not a rule;
//! no later step can tell that it happened (a proptest pins this).

use super::notification::notifies;
use super::state::State;
use crate::rules::domain::{MessageId, UserId};
use crate::rules::mailbox::{Item, ItemKind};
use crate::rules::spooler::SpoolStatus;

/// What `State::retire_settled` dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Each retired item with its message's send time, so that the
    /// simulator can still tally its latency.
    pub items: Vec<(Item, u64)>,
    /// How many notifications went with the retired items; the simulator
    /// adds them to its count of notifications shown.
    pub notifications: usize,
    /// How many ledger records were dropped, so that a test can see that
    /// retirement reached the ledger.
    pub records: usize,
}

impl State {
    /// Drops what no rule will read again and no invariant can still find
    /// wrong, so that a long run's memory follows the messages in flight
    /// rather than the events processed. Only the simulator calls it, right
    /// after the invariants held, so everything it drops has been checked
    /// in its final form. Retirement is not a rule: it changes nothing any
    /// later event does or any later check can see (a proptest pins this).
    ///
    /// A message is *busy* while a spool entry (of any status, OIM-012
    /// keeps failed ones), a request or a response refers to it, and
    /// *unsettled* while busy or while one of its items still awaits its
    /// sign-in notification. It retires with all of its items once settled:
    /// no spool entry can send it again, so neither deduplication nor
    /// notification reads them again. A delivered item also waits until
    /// every message that may still reach the same mailbox (an unfailed
    /// entry, a request or a response) has a higher id, so INV-008's
    /// per-pair order still sees every pair a later delivery could break.
    /// Notifications of retired items go with them, and a record goes once
    /// nothing refers to it: live and unavailable IMs at once.
    pub fn retire_settled(&mut self) -> Retired {
        fn sorted(mut v: Vec<MessageId>) -> Vec<MessageId> {
            v.sort_unstable();
            v.dedup();
            v
        }
        let entries = || self.spoolers.iter().flat_map(|sp| sp.entries.iter());
        let in_transit = self
            .requests
            .iter()
            .map(|r| r.message)
            .chain(self.responses.iter().map(|r| r.message));
        let busy = sorted(
            entries()
                .map(|e| e.message)
                .chain(in_transit.clone())
                .collect(),
        );
        let deliverable = sorted(
            entries()
                .filter(|e| !matches!(e.status, SpoolStatus::Failed(_)))
                .map(|e| e.message)
                .chain(in_transit)
                .collect(),
        );
        let awaiting = sorted(
            self.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter())
                .filter(|i| notifies(i) && !i.notified)
                .map(|i| i.message)
                .collect(),
        );
        // The lowest id that may still reach each mailbox.
        let mut watermark = vec![MessageId(u32::MAX); self.mailboxes.len()];
        for m in &deliverable {
            let to = self.record(*m).to.0 as usize;
            watermark[to] = watermark[to].min(*m);
        }
        let settled =
            |m: MessageId| busy.binary_search(&m).is_err() && awaiting.binary_search(&m).is_err();
        let mut out = Retired::default();
        let mut gone: Vec<(UserId, MessageId)> = Vec::new();
        for (u, mb) in self.mailboxes.iter_mut().enumerate() {
            let ledger = &self.ledger;
            mb.items.retain(|i| {
                let retire = settled(i.message)
                    && (i.kind != ItemKind::Delivered || i.message < watermark[u]);
                if retire {
                    let sent_at_ms = ledger.get(i.message).map_or(i.at_ms, |r| r.sent_at_ms);
                    out.items.push((*i, sent_at_ms));
                    if i.kind == ItemKind::Delivered {
                        gone.push((UserId(u as u32), i.message));
                    }
                }
                !retire
            });
        }
        gone.sort_unstable();
        let before = self.notifications.len();
        self.notifications
            .retain(|n| gone.binary_search(&(n.user, n.message)).is_err());
        out.notifications = before - self.notifications.len();
        let referenced = sorted(
            self.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter().map(|i| i.message))
                .chain(busy)
                .collect(),
        );
        let before = self.ledger.len();
        self.ledger
            .retain(|r| referenced.binary_search(&r.id).is_ok());
        out.records = before - self.ledger.len();
        out
    }
}
