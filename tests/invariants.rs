//! The negative space of every invariant: each predicate is shown a state
//! corrupted in exactly the way it forbids and must reject it, after being
//! shown the honest state and accepting it. An invariant that cannot fail
//! proves nothing.

mod common;

use common::{BASE, apply, world};
use offline_im::rules::dispatch::Route;
use offline_im::rules::domain::{Folder, FolderSet, MessageClass, UserId};
use offline_im::rules::invariants::{self, INVARIANTS};
use offline_im::rules::mailbox::ItemKind;
use offline_im::rules::spooler::SpoolStatus;
use offline_im::rules::world::{Event, World};

const TONY: UserId = UserId(0);
const KEN: UserId = UserId(1);
const PAT: UserId = UserId(3);

/// Tony sends to Ken (same org) and to Pat (federated); both are delivered.
fn delivered_world() -> World {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "a");
    send(&mut w, TONY, PAT, "b");
    w.settle_until(200_000).unwrap();
    common::assert_invariants(&w);
    assert!(w.state.delivered(offline_im::rules::domain::MessageId(1)));
    w
}

fn send(w: &mut World, from: UserId, to: UserId, body: &str) -> offline_im::rules::world::Outcome {
    apply(
        w,
        Event::Send {
            from,
            to,
            body: body.into(),
        },
    )
}

fn check(id: &str, w: &World) -> Result<(), String> {
    let inv = INVARIANTS.iter().find(|i| i.id == id).unwrap();
    (inv.check)(&w.deployment, &w.state)
}

fn assert_caught(id: &str, w: &World) {
    let r = check(id, w);
    assert!(r.is_err(), "{id} did not catch the corruption");
}

#[test]
fn inv_001_no_loss_catches_a_dropped_spool_entry() {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "a");
    assert!(check("INV-001", &w).is_ok());
    w.state.spoolers[0].entries.clear();
    assert_caught("INV-001", &w);
}

#[test]
fn inv_002_no_duplicate_catches_a_second_copy() {
    let mut w = delivered_world();
    let dup = w.state.mailboxes[1].items[0];
    w.state.mailboxes[1].items.push(dup);
    assert_caught("INV-002", &w);
}

#[test]
fn inv_003_classification_catches_a_federated_missed_conversation() {
    let mut w = delivered_world();
    let item = w.state.mailboxes[3]
        .items
        .iter_mut()
        .find(|i| i.kind == ItemKind::Delivered)
        .unwrap();
    item.class = MessageClass::MissedConversation;
    assert_caught("INV-003", &w);
    let mut w = delivered_world();
    let item = w.state.mailboxes[3]
        .items
        .iter_mut()
        .find(|i| i.kind == ItemKind::Delivered)
        .unwrap();
    item.folders = FolderSet::of(&[Folder::Inbox, Folder::ConversationHistory]);
    assert_caught("INV-003", &w);
}

#[test]
fn inv_004_gating_catches_a_message_spooled_against_policy() {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "a");
    assert!(check("INV-004", &w).is_ok());
    let facts = w.state.ledger[0].gate_facts.as_mut().unwrap();
    facts.auto_archiving = false;
    assert_caught("INV-004", &w);
}

#[test]
fn inv_005_timer_catches_an_early_pickup() {
    let mut w = delivered_world();
    w.state.ledger[0].first_pickup_ms = Some(w.state.ledger[0].sent_at_ms + 119_999);
    assert_caught("INV-005", &w);
}

#[test]
fn inv_006_drafts_catches_a_draft_from_a_fixed_client() {
    let mut w = delivered_world();
    let mut draft = w.state.mailboxes[0].items[0];
    draft.kind = ItemKind::Draft;
    draft.folders = FolderSet::of(&[Folder::Drafts]);
    w.state.mailboxes[0].items.push(draft);
    assert_caught("INV-006", &w);
}

#[test]
fn inv_007_notification_catches_a_double_and_a_missing_notification() {
    let mut w = delivered_world();
    apply(
        &mut w,
        Event::SignIn {
            user: KEN,
            presence: offline_im::rules::domain::Presence::Available,
        },
    );
    assert!(check("INV-007", &w).is_ok());
    assert_eq!(w.state.notifications.len(), 1);
    let n = w.state.notifications[0];
    w.state.notifications.push(n);
    assert_caught("INV-007", &w);
    let mut w = delivered_world();
    apply(
        &mut w,
        Event::SignIn {
            user: KEN,
            presence: offline_im::rules::domain::Presence::Available,
        },
    );
    w.state.mailboxes[1].items[0].notified = false;
    w.state.notifications.clear();
    assert_caught("INV-007", &w);
}

/// Tony's two offline messages, both delivered into Ken's mailbox.
fn two_to_ken() -> World {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "1");
    send(&mut w, TONY, KEN, "2");
    w.settle_until(400_000).unwrap();
    w
}

#[test]
fn inv_008_ordering_catches_an_overtaking_message() {
    let mut w = two_to_ken();
    assert!(check("INV-008", &w).is_ok());
    w.state.mailboxes[1].items.reverse();
    assert_caught("INV-008", &w);
}

#[test]
fn inv_009_archive_catches_sent_items_and_online_copies() {
    let mut w = delivered_world();
    w.state.mailboxes[0].items[0].folders = FolderSet::of(&[Folder::SentItems]);
    assert_caught("INV-009", &w);
    let mut w = delivered_world();
    // A sender copy in Pat's Online mailbox: INV-009 alone must object.
    let mut copy = w.state.mailboxes[0].items[0];
    assert_eq!(copy.kind, ItemKind::SenderCopy);
    copy.message = w.state.ledger[1].id;
    copy.from = PAT;
    copy.to = TONY;
    w.state.mailboxes[3].items.push(copy);
    let why = invariants::archive(&w.deployment, &w.state).unwrap_err();
    assert!(why.contains("Online mailbox of Pat Coleman"), "{why}");
}

#[test]
fn inv_010_bounded_catches_too_many_attempts_and_two_in_flight() {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "1");
    send(&mut w, TONY, PAT, "2");
    assert!(check("INV-010", &w).is_ok());
    w.state.spoolers[0].entries[0].attempts = w.deployment.options.attempts_max + 1;
    assert_caught("INV-010", &w);
    w.state.spoolers[0].entries[0].attempts = 1;
    for e in &mut w.state.spoolers[0].entries {
        e.status = SpoolStatus::InFlight;
    }
    assert_caught("INV-010", &w);
}

/// Ken is signed in and Tony's IM to him goes live.
fn live_world() -> World {
    let (_, mut w) = world(BASE);
    apply(
        &mut w,
        Event::SignIn {
            user: KEN,
            presence: offline_im::rules::domain::Presence::Available,
        },
    );
    let out = send(&mut w, TONY, KEN, "live");
    assert_eq!(out.route.unwrap().1, Route::Live);
    w
}

#[test]
fn inv_011_unspooled_catches_an_item_for_a_live_message() {
    let mut w = live_world();
    assert!(check("INV-011", &w).is_ok());
    w.state.spoolers[0].accept(offline_im::rules::domain::MessageId(1), KEN, 0, 1);
    assert_caught("INV-011", &w);
}

#[test]
fn settled_catches_a_message_still_waiting() {
    let (_, mut w) = world(BASE);
    send(&mut w, TONY, KEN, "a");
    assert!(
        invariants::settled(&w.deployment, &w.state).is_err(),
        "LIVE-001 must see the waiting entry"
    );
    w.drain().unwrap();
    invariants::settled(&w.deployment, &w.state).unwrap();
}

#[test]
fn the_table_lists_every_invariant_once_in_order() {
    let ids: Vec<&str> = INVARIANTS.iter().map(|i| i.id).collect();
    let expected: Vec<String> = (1..=ids.len()).map(|n| format!("INV-{n:03}")).collect();
    assert_eq!(ids, expected);
}

/// Two offline messages from Tony, delivered into Ken's mailbox, and Ken
/// signed in so that both are notified: everything is settled.
fn settled_pair() -> World {
    let mut w = two_to_ken();
    apply(
        &mut w,
        Event::SignIn {
            user: KEN,
            presence: offline_im::rules::domain::Presence::Available,
        },
    );
    common::assert_invariants(&w);
    assert_eq!(w.state.mailboxes[1].items.len(), 2);
    w
}

/// The positive space of retirement: a settled world gives up its items,
/// notifications and records, keeps counting message ids, and still
/// satisfies every invariant.
#[test]
fn retirement_drops_settled_items_records_and_notifications() {
    let mut w = settled_pair();
    let r = w.state.retire_settled();
    let delivered = r
        .items
        .iter()
        .filter(|(i, _)| i.kind == ItemKind::Delivered);
    // Two delivered items to Ken and Tony's two archive copies (Server).
    assert_eq!(delivered.count(), 2);
    assert_eq!((r.items.len(), r.notifications, r.records), (4, 2, 2));
    assert!(w.state.mailboxes.iter().all(|mb| mb.items.is_empty()));
    assert!(w.state.notifications.is_empty() && w.state.ledger.is_empty());
    assert_eq!(
        w.state.ledger.next_id(),
        offline_im::rules::domain::MessageId(3)
    );
    common::assert_invariants(&w);
}

/// The negative space: retirement keeps a delivered item while an older
/// message may still reach the same mailbox, so INV-008 still catches that
/// older message overtaken; and an item of a retired live message is still
/// caught by INV-011 (as a record the ledger no longer holds), not a panic.
#[test]
fn retirement_keeps_what_an_invariant_still_needs() {
    let mut w = settled_pair();
    // Put m1 back in Tony's spooler, as if not yet delivered.
    let m1 = w.state.mailboxes[1].items.remove(0);
    w.state.notifications.retain(|n| n.message != m1.message);
    w.state.spoolers[0].accept(m1.message, KEN, 0, 120_000);
    let r = w.state.retire_settled();
    assert!(
        r.items.iter().all(|(i, _)| i.kind != ItemKind::Delivered),
        "m2's delivered item must wait for m1: {r:?}"
    );
    // m1 now arrives after m2: the overtaking INV-008 forbids.
    w.state.spoolers[0].entries.clear();
    w.state.mailboxes[1].items.push(m1);
    assert_caught("INV-008", &w);

    let mut w = live_world();
    assert_eq!(w.state.retire_settled().records, 1);
    w.state.spoolers[0].accept(offline_im::rules::domain::MessageId(1), KEN, 0, 1);
    let why = check("INV-011", &w).unwrap_err();
    assert!(why.contains("no record"), "{why}");
}
