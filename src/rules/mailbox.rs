//! Exchange mailboxes and what EWS `CreateItem` does to them for offline IM.
//!
//! This module owns:
//! - classification: same organisation → `IM.Note.MissedConversation`,
//!   listed in Missed Conversations and Conversation History (OIM-009);
//!   federated → a plain `IPM.Note` in the Inbox, in neither folder
//!   (OIM-010, DEC-012);
//! - the sender's archive copy in Conversation History on Server, and none
//!   on Online (OIM-015, DEC-008);
//! - deduplication by message id (DEC-004);
//! - the Drafts-folder fault of clients released before 2016-06-14 with
//!   on-premises mailboxes (OIM-014, DEC-013).
//!
//! Invariants it keeps: with deduplication on, a mailbox holds at most one
//! delivered item and one sender copy per message id; offline IM never
//! writes to Sent Items.
//!
//! What it deliberately does not do: it does not decide whether a request
//! may be made (that is `dispatch::gate` and `spooler`), and it does not
//! notify (that is `world`, at sign-in).

use crate::rules::domain::{Folder, FolderSet, MessageClass, MessageId, UserId};
use serde::Serialize;

/// What an item is to the mailbox that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// The offline message as the recipient receives it.
    Delivered,
    /// The sender's archived copy (Server profile only, DEC-008).
    SenderCopy,
    /// An unsent draft left by the Drafts-folder fault (OIM-014).
    Draft,
}

/// One mailbox item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Item {
    /// The message the item holds. With deduplication on, a mailbox holds at
    /// most one delivered item and one sender copy per message (DEC-004);
    /// drafts are never deduplicated.
    pub message: MessageId,
    /// Whether this is the delivered message, the sender's copy or a draft of
    /// the Drafts fault.
    pub kind: ItemKind,
    /// The Exchange message class, from whether the sender and the recipient
    /// share an organisation (OIM-009, OIM-010). A sender's copy and a draft
    /// carry the class of the delivered item.
    pub class: MessageClass,
    /// The user who sent the message. This is not always the writer: a missed
    /// message is written by the recipient's own client (OIM-017).
    pub from: UserId,
    /// The message's recipient. For a sender's copy or a draft, this is not
    /// the owner of the mailbox.
    pub to: UserId,
    /// The folders the item is listed in; one item may be listed in two
    /// (OIM-009).
    pub folders: FolderSet,
    /// When Exchange stored the item, in virtual milliseconds since the start
    /// of the run.
    pub at_ms: u64,
    /// Whether the owner has been notified of it (OIM-016, DEC-021).
    pub notified: bool,
}

/// One user's mailbox, items in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Mailbox {
    /// The items in arrival order: the order in which the observation lists a
    /// folder's items and in which INV-008 checks delivery order.
    pub items: Vec<Item>,
}

/// The class of an offline message from `same_org` (OIM-009, OIM-010).
pub fn classify(same_org: bool) -> MessageClass {
    if same_org {
        MessageClass::MissedConversation
    } else {
        MessageClass::Note
    }
}

/// The folders a delivered item of a class is listed in.
pub fn delivered_folders(class: MessageClass) -> FolderSet {
    match class {
        MessageClass::MissedConversation => {
            FolderSet::of(&[Folder::MissedConversations, Folder::ConversationHistory])
        }
        MessageClass::Note => FolderSet::of(&[Folder::Inbox]),
    }
}

/// Whether delivering a message leaves the writer an archive copy
/// (DEC-008): only offline messages, and only from Server-profile writers.
pub fn keeps_sender_copy(
    route: crate::rules::dispatch::Route,
    writer_profile: crate::rules::domain::Profile,
) -> bool {
    route == crate::rules::dispatch::Route::Offline
        && writer_profile == crate::rules::domain::Profile::Server
}

/// Whether a writer's `CreateItem` hits the Drafts-folder known issue: a
/// client released before the 2016-06-14 fix with an on-premises mailbox
/// leaves a draft and does not send (OIM-014, DEC-013). The rule book's
/// `create_item` asks this; so do the EWS endpoint's start-up lines and
/// its load run, which must not restate it.
pub fn hits_drafts_fault(writer: &crate::rules::domain::User) -> bool {
    writer.mailbox == crate::rules::domain::MailboxLocation::OnPremises
        && writer.client.released < crate::rules::domain::Date::DRAFTS_FIX
}

/// Where the sender's archive copy goes (DEC-008).
pub const SENDER_COPY_FOLDERS: FolderSet = FolderSet::of(&[Folder::ConversationHistory]);

/// Where the Drafts fault leaves its items.
pub const DRAFT_FOLDERS: FolderSet = FolderSet::of(&[Folder::Drafts]);

impl Mailbox {
    /// Whether an item of `kind` for `message` is already here.
    pub fn holds(&self, message: MessageId, kind: ItemKind) -> bool {
        self.items
            .iter()
            .any(|i| i.message == message && i.kind == kind)
    }

    /// Stores an item unless deduplication finds it already stored.
    /// Returns whether it was stored.
    pub fn store(&mut self, item: Item, dedup: bool) -> bool {
        if dedup && item.kind != ItemKind::Draft && self.holds(item.message, item.kind) {
            return false;
        }
        self.items.push(item);
        true
    }

    /// Items listed in `folder`, in arrival order.
    pub fn in_folder(&self, folder: Folder) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(move |i| i.folders.contains(folder))
    }
}
