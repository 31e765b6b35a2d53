//! The safety invariants (`INV-…`) of SPEC.md, each written once as a
//! predicate over a deployment and a state, and the table that every driver
//! iterates: the scenario runner, proptest, the model checker, the simulator
//! and the conformance runner.
//!
//! The predicates are stated declaratively from the requirements, not by
//! calling the rule that produced the state: an invariant that re-ran the
//! rule would agree with any bug in it.
//!
//! What it deliberately does not do: progress (`LIVE-…`) needs more than
//! one state; it is checked by draining a world (`World::drain`) and then
//! asserting `settled`, below.

use crate::rules::dispatch::Route;
use crate::rules::domain::{
    Build, Date, Deployment, Folder, FolderSet, Install, MailboxLocation, MessageClass, MessageId,
    Profile,
};
use crate::rules::mailbox::ItemKind;
use crate::rules::policy::SwitchVerdict;
use crate::rules::spooler::SpoolStatus;
use crate::rules::world::{MessageRecord, State};

/// One named invariant.
#[derive(Clone, Copy)]
pub struct Invariant {
    /// The SPEC.md id, e.g. `INV-001`.
    pub id: &'static str,
    /// A short name, printed after the id in `check` reports, e.g. `no loss`.
    pub name: &'static str,
    /// The predicate: `Ok` when the state satisfies it, otherwise `Err` with
    /// an explanation naming the message or user at fault.
    pub check: fn(&Deployment, &State) -> Result<(), String>,
}

/// Every safety invariant, in SPEC.md order.
pub const INVARIANTS: &[Invariant] = &[
    Invariant {
        id: "INV-001",
        name: "no loss",
        check: no_loss,
    },
    Invariant {
        id: "INV-002",
        name: "no duplicate",
        check: no_duplicate,
    },
    Invariant {
        id: "INV-003",
        name: "classification by organisation",
        check: classification,
    },
    Invariant {
        id: "INV-004",
        name: "gating",
        check: gating,
    },
    Invariant {
        id: "INV-005",
        name: "no pickup before two minutes",
        check: timer,
    },
    Invariant {
        id: "INV-006",
        name: "no Drafts items from fixed clients",
        check: drafts,
    },
    Invariant {
        id: "INV-007",
        name: "sign-in notification exactly once",
        check: notification,
    },
    Invariant {
        id: "INV-008",
        name: "per-pair order",
        check: ordering,
    },
    Invariant {
        id: "INV-009",
        name: "archive copies and Sent Items",
        check: archive,
    },
    Invariant {
        id: "INV-010",
        name: "bounded spooler",
        check: bounded,
    },
    Invariant {
        id: "INV-011",
        name: "unspooled routes leave nothing",
        check: unspooled,
    },
];

/// Every violated invariant, as `(id, explanation)`.
pub fn violations(d: &Deployment, s: &State) -> Vec<(&'static str, String)> {
    INVARIANTS
        .iter()
        .filter_map(|inv| (inv.check)(d, s).err().map(|why| (inv.id, why)))
        .collect()
}

/// The record of a message the state holds. An item, entry or notification
/// whose record is gone is itself a violation, never a panic.
fn record(s: &State, m: MessageId) -> Result<&MessageRecord, String> {
    s.ledger
        .get(m)
        .ok_or_else(|| format!("{m} is held but the ledger has no record of it"))
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

/// INV-001: every spooled message is delivered or still in the writer's
/// History Spooler.
pub fn no_loss(_d: &Deployment, s: &State) -> Result<(), String> {
    for r in s.ledger.iter().filter(|r| !r.from_outside) {
        let Some(w) = r.writer else { continue };
        let spooled = s.spooler(w).find(r.id).is_some();
        ensure(spooled || s.delivered(r.id), || {
            format!(
                "{} was accepted ({}) but is neither delivered nor in the spooler",
                r.id,
                r.route.name()
            )
        })?;
    }
    Ok(())
}

/// INV-002: with deduplication on, at most one delivered item and one
/// sender copy per message, and only in the right mailboxes.
pub fn no_duplicate(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, mb) in s.mailboxes.iter().enumerate() {
        for (i, item) in mb.items.iter().enumerate() {
            let r = record(s, item.message)?;
            let owner = match item.kind {
                ItemKind::Delivered => r.to,
                ItemKind::SenderCopy | ItemKind::Draft => r.writer.unwrap_or(r.from),
            };
            ensure(owner.0 as usize == u, || {
                format!(
                    "{} {:?} is in the mailbox of user {u}, not of its owner",
                    item.message, item.kind
                )
            })?;
            if d.options.dedup && item.kind != ItemKind::Draft {
                let again = mb.items[..i]
                    .iter()
                    .any(|p| p.message == item.message && p.kind == item.kind);
                ensure(!again, || {
                    format!(
                        "{} is stored twice as {:?} in one mailbox",
                        item.message, item.kind
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// INV-003: same organisation → IM.Note.MissedConversation in Missed
/// Conversations and Conversation History; federated → IPM.Note in the
/// Inbox only.
pub fn classification(d: &Deployment, s: &State) -> Result<(), String> {
    let mc = FolderSet::of(&[Folder::MissedConversations, Folder::ConversationHistory]);
    for mb in &s.mailboxes {
        for item in &mb.items {
            let same = d.user(item.from).org == d.user(item.to).org;
            let class_ok = if same {
                item.class == MessageClass::MissedConversation
            } else {
                item.class == MessageClass::Note
            };
            ensure(class_ok, || {
                format!(
                    "{} has class {} but same_org={same}",
                    item.message,
                    item.class.as_str()
                )
            })?;
            if item.kind == ItemKind::Delivered {
                let folders_ok = if same {
                    item.folders == mc
                } else {
                    item.folders == FolderSet::of(&[Folder::Inbox])
                };
                ensure(folders_ok, || {
                    format!(
                        "{} (same_org={same}) is listed in the wrong folders",
                        item.message
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// INV-004: a message is spooled only when its writer's client is C2R,
/// at least 16.0.6701.1000, at least 16.0.6920.1000 with an on-premises
/// mailbox, has its own mailbox and EWS, and was provisioned with
/// EnableIMAutoArchiving and EnableOfflineIM on; and the facts recorded are
/// the writer's real client.
pub fn gating(d: &Deployment, s: &State) -> Result<(), String> {
    for r in s.ledger.iter().filter(|r| !r.from_outside) {
        let (Some(w), Some(f)) = (r.writer, r.gate_facts) else {
            ensure(!r.route.spools(), || {
                format!("{} spooled without gate facts", r.id)
            })?;
            continue;
        };
        let user = d.user(w);
        ensure(
            f.install == user.client.install
                && f.build == user.client.build
                && f.mailbox == user.mailbox,
            || {
                format!(
                    "{}: gate facts do not describe {}'s client",
                    r.id, user.name
                )
            },
        )?;
        ensure(f.install == Install::C2r, || {
            format!("{}: spooled by an MSI client", r.id)
        })?;
        ensure(f.build >= Build::OFFLINE_IM_MIN, || {
            format!("{}: spooled by build {}", r.id, f.build)
        })?;
        ensure(
            f.mailbox != MailboxLocation::OnPremises || f.build >= Build::ON_PREMISES_MIN,
            || format!("{}: on-premises mailbox with build {}", r.id, f.build),
        )?;
        ensure(f.mailbox != MailboxLocation::None, || {
            format!("{}: writer has no mailbox", r.id)
        })?;
        ensure(f.ews_published, || {
            format!("{}: writer's organisation publishes no EWS", r.id)
        })?;
        ensure(f.auto_archiving, || {
            format!("{}: EnableIMAutoArchiving was off", r.id)
        })?;
        ensure(f.switch == SwitchVerdict::On, || {
            format!("{}: EnableOfflineIM was {:?}", r.id, f.switch)
        })?;
        let writer_is_right = match r.route {
            Route::Offline => w == r.from,
            Route::MissedMessage => w == r.to,
            _ => false,
        };
        ensure(writer_is_right, || {
            format!("{}: wrong writer for route {}", r.id, r.route.name())
        })?;
    }
    Ok(())
}

/// INV-005: no pickup, and so no delivery, before the two-minute timer.
pub fn timer(d: &Deployment, s: &State) -> Result<(), String> {
    let delay = d.options.pickup_delay_ms;
    for r in &s.ledger {
        if let Some(p) = r.first_pickup_ms {
            ensure(p >= r.sent_at_ms + delay, || {
                format!("{} picked up at {p} ms, sent at {} ms", r.id, r.sent_at_ms)
            })?;
        }
    }
    for mb in &s.mailboxes {
        for item in &mb.items {
            let r = record(s, item.message)?;
            ensure(r.from_outside || item.at_ms >= r.sent_at_ms + delay, || {
                format!(
                    "{} reached a mailbox at {} ms, sent at {} ms",
                    item.message, item.at_ms, r.sent_at_ms
                )
            })?;
        }
    }
    Ok(())
}

/// INV-006: Drafts items exist only for writers whose client predates the
/// 2016-06-14 fix and whose mailbox is on premises; never for fixed clients.
pub fn drafts(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, mb) in s.mailboxes.iter().enumerate() {
        let user = &d.users[u];
        let faulty =
            user.mailbox == MailboxLocation::OnPremises && user.client.released < Date::DRAFTS_FIX;
        for item in mb.in_folder(Folder::Drafts) {
            ensure(faulty && item.kind == ItemKind::Draft, || {
                format!(
                    "{} in {}'s Drafts, client released {}",
                    item.message, user.name, user.client.released
                )
            })?;
        }
    }
    Ok(())
}

/// INV-007: each Missed Conversations item is notified at most once, only
/// such items are notified, and a signed-in user has been notified of all
/// of them.
pub fn notification(_d: &Deployment, s: &State) -> Result<(), String> {
    // A set, not a pairwise scan: the simulator's worlds hold hundreds of
    // thousands of notifications.
    let mut seen = std::collections::BTreeSet::new();
    for n in &s.notifications {
        ensure(seen.insert((n.user, n.message)), || {
            format!("{} notified twice to user {}", n.message, n.user.0)
        })?;
        let item = s
            .mailbox(n.user)
            .items
            .iter()
            .find(|it| it.message == n.message && it.kind == ItemKind::Delivered);
        ensure(
            item.is_some_and(|it| it.folders.contains(Folder::MissedConversations) && it.notified),
            || {
                format!(
                    "notification of {} matches no notified Missed Conversations item",
                    n.message
                )
            },
        )?;
    }
    for (u, mb) in s.mailboxes.iter().enumerate() {
        for item in &mb.items {
            let triggers = item.kind == ItemKind::Delivered
                && item.folders.contains(Folder::MissedConversations);
            ensure(triggers || !item.notified, || {
                format!("{} notified but not a missed conversation", item.message)
            })?;
            ensure(
                !triggers || !s.clients[u].signed_in || item.notified,
                || {
                    format!(
                        "{} not notified although user {u} is signed in",
                        item.message
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// INV-008: per sender, recipient and writing client, delivered items
/// arrive in the order the messages were accepted. Messages written by
/// different clients (the sender's spooler for an offline message, the
/// recipient's own client for a missed message) are not ordered (DEC-028).
pub fn ordering(_d: &Deployment, s: &State) -> Result<(), String> {
    for mb in &s.mailboxes {
        let delivered: Vec<_> = mb
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::Delivered)
            .collect();
        for (i, a) in delivered.iter().enumerate() {
            for b in &delivered[i + 1..] {
                let same_writer = record(s, a.message)?.writer == record(s, b.message)?.writer;
                ensure(
                    !(a.from == b.from && same_writer && a.message > b.message),
                    || {
                        format!(
                            "{} arrived before {} from the same sender",
                            a.message, b.message
                        )
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// INV-009: offline IM never writes to Sent Items; sender copies exist only
/// on the Server profile and only for the offline route.
pub fn archive(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, mb) in s.mailboxes.iter().enumerate() {
        ensure(mb.in_folder(Folder::SentItems).next().is_none(), || {
            format!("offline IM wrote to {}'s Sent Items", d.users[u].name)
        })?;
        for item in mb.items.iter().filter(|i| i.kind == ItemKind::SenderCopy) {
            let org = d.org(d.users[u].org);
            ensure(org.profile == Profile::Server, || {
                format!(
                    "{}: copy archived in the Online mailbox of {}",
                    item.message, d.users[u].name
                )
            })?;
            ensure(record(s, item.message)?.route == Route::Offline, || {
                format!("{}: sender copy for a non-offline route", item.message)
            })?;
        }
    }
    Ok(())
}

/// INV-010: spoolers stay within capacity, attempts within the bound, and
/// at most one request per client is in flight.
pub fn bounded(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, sp) in s.spoolers.iter().enumerate() {
        ensure(
            sp.entries.len() <= d.options.spool_capacity as usize,
            || {
                format!(
                    "{}'s spooler holds {} entries",
                    d.users[u].name,
                    sp.entries.len()
                )
            },
        )?;
        ensure(
            sp.entries
                .iter()
                .all(|e| e.attempts <= d.options.attempts_max),
            || {
                format!(
                    "{}'s spooler exceeded {} attempts",
                    d.users[u].name, d.options.attempts_max
                )
            },
        )?;
        let in_flight = sp
            .entries
            .iter()
            .filter(|e| e.status == SpoolStatus::InFlight)
            .count();
        ensure(in_flight <= 1, || {
            format!("{} has {in_flight} requests in flight", d.users[u].name)
        })?;
    }
    Ok(())
}

/// INV-011: live and unavailable IMs leave no spool entry and no item.
pub fn unspooled(_d: &Deployment, s: &State) -> Result<(), String> {
    for r in s.ledger.iter().filter(|r| !r.route.spools()) {
        ensure(r.writer.is_none(), || {
            format!("{} has a writer but route {}", r.id, r.route.name())
        })?;
    }
    // Every spool entry and item belongs to a spooled message: one pass
    // over entries and items, not one per message.
    let held = s
        .spoolers
        .iter()
        .flat_map(|sp| sp.entries.iter().map(|e| e.message))
        .chain(
            s.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter().map(|i| i.message)),
        );
    for m in held {
        let r = record(s, m)?;
        ensure(r.route.spools(), || {
            format!(
                "{} ({}) left a spool entry or an item",
                r.id,
                r.route.name()
            )
        })?;
    }
    Ok(())
}

/// The expectations a user holds without the documented exceptions. The
/// reference keeps INV-002 and INV-006, which allow exactly these
/// exceptions, so the model checker reports a counterexample to one of
/// these as a known fault being found: the Drafts known issue (OIM-014) in
/// a world with an old client and an on-premises mailbox, and the duplicate
/// after a crash (DEC-004) in a world with deduplication off.
pub const EXPECTATIONS: &[Invariant] = &[
    Invariant {
        id: "OIM-014",
        name: "no offline IM left in a Drafts folder",
        check: no_drafts,
    },
    Invariant {
        id: "DEC-004",
        name: "no message delivered twice",
        check: delivered_once,
    },
];

/// OIM-014 as a user states it: no Drafts folder holds an offline-IM item.
pub fn no_drafts(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, mb) in s.mailboxes.iter().enumerate() {
        if let Some(item) = mb.in_folder(Folder::Drafts).next() {
            return Err(format!(
                "{} is in {}'s Drafts folder (the known issue of OIM-014)",
                item.message, d.users[u].name
            ));
        }
    }
    Ok(())
}

/// DEC-004 as a user states it: no mailbox holds two delivered items of
/// one message, whatever the deduplication option says.
pub fn delivered_once(d: &Deployment, s: &State) -> Result<(), String> {
    for (u, mb) in s.mailboxes.iter().enumerate() {
        let delivered: Vec<_> = mb
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::Delivered)
            .collect();
        for (i, item) in delivered.iter().enumerate() {
            ensure(
                !delivered[..i].iter().any(|p| p.message == item.message),
                || {
                    format!(
                        "{} was delivered twice into {}'s mailbox",
                        item.message, d.users[u].name
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// The progress properties, each a predicate over a state that a fair
/// continuation (`World::drain`) has settled.
pub const LIVENESS: &[Invariant] = &[
    Invariant {
        id: "LIVE-001",
        name: "every accepted offline message is delivered or kept as failed",
        check: settled_delivery,
    },
    Invariant {
        id: "LIVE-002",
        name: "every Missed Conversations item is notified",
        check: settled_notified,
    },
];

/// LIVE-001 and LIVE-002, checked after `World::drain`.
pub fn settled(d: &Deployment, s: &State) -> Result<(), String> {
    settled_delivery(d, s)?;
    settled_notified(d, s)
}

/// LIVE-001 after a drain: nothing is waiting or in flight, and every
/// spooled message is delivered or kept as failed.
pub fn settled_delivery(_d: &Deployment, s: &State) -> Result<(), String> {
    ensure(s.requests.is_empty() && s.responses.is_empty(), || {
        "requests or responses still in flight".into()
    })?;
    for r in s.ledger.iter().filter(|r| !r.from_outside) {
        let Some(w) = r.writer else { continue };
        let terminal = match s.spooler(w).find(r.id) {
            None => s.delivered(r.id),
            Some(i) => matches!(s.spooler(w).entries[i].status, SpoolStatus::Failed(_)),
        };
        ensure(terminal, || {
            format!("LIVE-001: {} is neither delivered nor kept as failed", r.id)
        })?;
    }
    Ok(())
}

/// LIVE-002 after a drain: every Missed Conversations item is notified.
pub fn settled_notified(_d: &Deployment, s: &State) -> Result<(), String> {
    for mb in &s.mailboxes {
        for item in &mb.items {
            ensure(
                !crate::rules::world::notifies(item) || item.notified,
                || format!("LIVE-002: {} was never notified", item.message),
            )?;
        }
    }
    Ok(())
}

/// A reachability probe: a `sometimes` property that shows a behaviour is
/// explored at all.
pub struct Reach {
    /// The probe's name, e.g. `folder Drafts`. It is the property's id in
    /// `check` reports, and what the `unreachable` list of a `[check]` section
    /// names.
    pub name: &'static str,
    /// Whether the state shows the behaviour. A `sometimes` property holds
    /// once any reachable state does.
    pub check: fn(&Deployment, &State) -> bool,
}

fn any_route(s: &State, f: impl Fn(Route) -> bool) -> bool {
    s.ledger.iter().any(|r| f(r.route))
}

fn any_in(s: &State, f: Folder) -> bool {
    s.mailboxes
        .iter()
        .any(|mb| mb.in_folder(f).next().is_some())
}

/// Every reachability probe, in report order.
pub const REACH: &[Reach] = &[
    Reach {
        name: "route live",
        check: |_, s| any_route(s, |r| r == Route::Live),
    },
    Reach {
        name: "route offline",
        check: |_, s| any_route(s, |r| r == Route::Offline),
    },
    Reach {
        name: "route missed-message",
        check: |_, s| any_route(s, |r| r == Route::MissedMessage),
    },
    Reach {
        name: "route unavailable",
        check: |_, s| any_route(s, |r| matches!(r, Route::Unavailable(_))),
    },
    Reach {
        name: "folder Inbox",
        check: |_, s| any_in(s, Folder::Inbox),
    },
    Reach {
        name: "folder Drafts",
        check: |_, s| any_in(s, Folder::Drafts),
    },
    Reach {
        name: "folder Sent Items",
        check: |_, s| any_in(s, Folder::SentItems),
    },
    Reach {
        name: "folder Conversation History",
        check: |_, s| any_in(s, Folder::ConversationHistory),
    },
    Reach {
        name: "folder Missed Conversations",
        check: |_, s| any_in(s, Folder::MissedConversations),
    },
    Reach {
        name: "entry kept as failed",
        check: |_, s| {
            s.spoolers.iter().any(|sp| {
                sp.entries
                    .iter()
                    .any(|e| matches!(e.status, SpoolStatus::Failed(_)))
            })
        },
    },
    Reach {
        name: "sign-in notification",
        check: |_, s| !s.notifications.is_empty(),
    },
    Reach {
        name: "request orphaned by a crash",
        check: |_, s| s.requests.iter().any(|r| r.orphaned),
    },
];
