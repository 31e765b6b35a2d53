//! The sign-in notification (OIM-016, DEC-021): which items trigger one,
//! and the rule that shows each exactly once, at the recipient's sign-in or
//! at delivery if the recipient is already signed in.

use super::decision_log::name;
use super::decision_log::{Decision, Log};
use super::state::{Notification, State};
use crate::rules::domain::{Deployment, Folder, MessageId, UserId};
use crate::rules::mailbox::{Item, ItemKind};

/// Whether the item is one that triggers a sign-in notification: a
/// delivered item listed in Missed Conversations (DEC-021).
pub fn notifies(item: &Item) -> bool {
    item.kind == ItemKind::Delivered && item.folders.contains(Folder::MissedConversations)
}

/// OIM-016, DEC-021: notifies `u` of every not-yet-notified item that
/// triggers one. Sign-in and delivery to a signed-in user call it; the
/// `notified` flag on the item is what makes it exactly once (INV-007).
pub(super) fn notify_pending(s: &mut State, u: UserId, log: &mut Log, d: &Deployment) {
    let now = s.clock_ms;
    let mut fresh: Vec<MessageId> = Vec::new();
    for item in &mut s.mailboxes[u.0 as usize].items {
        if notifies(item) && !item.notified {
            item.notified = true;
            fresh.push(item.message);
        }
    }
    for m in fresh {
        s.notifications.push(Notification {
            user: u,
            message: m,
            at_ms: now,
        });
        log.note(
            now,
            Decision::new("notify", "notification", "notified", "OIM-016, DEC-021"),
            || {
                format!(
                    "{} notified of missed conversation {m} (OIM-016, DEC-021)",
                    name(d, u)
                )
            },
        );
    }
}
