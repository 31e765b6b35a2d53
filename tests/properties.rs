//! proptest properties over random event sequences: every invariant after
//! every step (INV-001 no loss, INV-002 no duplicate, INV-003
//! classification, INV-004 gating, INV-005 no pickup before two minutes,
//! INV-006 Drafts, INV-007 notification, INV-008 order, INV-009 archive,
//! INV-010 bounds, INV-011 unspooled routes), progress after a fair drain
//! (LIVE-001, LIVE-002), rejected events change nothing, determinism, and
//! that the simulator's retirement of settled state changes no later step.

mod common;

use offline_im::rules::cmdlets;
use offline_im::rules::domain::{OrgId, Presence, UserId};
use offline_im::rules::invariants;
use offline_im::rules::world::{Event, World};
use proptest::prelude::*;

/// Admin commands the generator may run in Contoso.
const COMMANDS: [&str; 6] = [
    "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $False",
    "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $True",
    "Set-CsImConfiguration -EnableOfflineIM $False",
    "Set-CsImConfiguration -EnableOfflineIM $True",
    "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName OfflineIM",
    "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName $Null",
];

/// One abstract step; indices are reduced modulo what exists.
#[derive(Clone, Debug)]
enum Step {
    Send(u8, u8),
    SignIn(u8, u8),
    SignOut(u8),
    Presence(u8, u8),
    Crash(u8),
    Restart(u8),
    EwsDown(u8),
    EwsUp(u8),
    Admin(u8),
    Internal(u8),
    Advance(u32),
    NextTimer,
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Send(a, b)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::SignIn(a, b)),
        1 => any::<u8>().prop_map(Step::SignOut),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Presence(a, b)),
        1 => any::<u8>().prop_map(Step::Crash),
        1 => any::<u8>().prop_map(Step::Restart),
        1 => any::<u8>().prop_map(Step::EwsDown),
        1 => any::<u8>().prop_map(Step::EwsUp),
        1 => any::<u8>().prop_map(Step::Admin),
        4 => any::<u8>().prop_map(Step::Internal),
        1 => (0u32..200_000).prop_map(Step::Advance),
        2 => Just(Step::NextTimer),
    ]
}

/// The deployment the properties run on: BASE plus an old on-premises
/// client (Drafts fault), an MSI client, a no-mailbox user and the
/// OfflineIM policy, with EWS latency so crashes land mid-call.
fn base_world(dedup: bool) -> World {
    let text = common::BASE
        .replace("name = \"base\"", &format!("name = \"prop\"\n[deployment.options]\news_latency_ms = 3000\ndedup = {dedup}\nspool_capacity = 4\n"))
        + r#"
[[deployment.users]]
name = "Old Client"
org = "contoso"
mailbox = "on-premises"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-05-01"
[[deployment.users]]
name = "Msi User"
org = "contoso"
mailbox = "online"
install = "msi"
build = "16.0.4266.1001"
released = "2016-07-12"
[[deployment.users]]
name = "Room 42"
org = "contoso"
mailbox = "none"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-07-12"
[setup]
contoso = ["New-CsClientPolicy -Identity OfflineIM -EnableIMAutoArchiving $False"]
"#;
    common::world(&text).1
}

fn to_event(w: &World, s: &Step) -> Option<Event> {
    let d = &w.deployment;
    let n = d.users.len() as u8;
    let u = |i: u8| UserId(u32::from(i % n));
    let o = |i: u8| OrgId(i % d.orgs.len() as u8);
    let p = |i: u8| Presence::ALL[i as usize % Presence::ALL.len()];
    Some(match *s {
        Step::Send(a, b) => Event::Send {
            from: u(a),
            to: u(b),
            body: format!("b{a}"),
        },
        Step::SignIn(a, b) => Event::SignIn {
            user: u(a),
            presence: p(b),
        },
        Step::SignOut(a) => Event::SignOut { user: u(a) },
        Step::Presence(a, b) => Event::SetPresence {
            user: u(a),
            presence: p(b),
        },
        Step::Crash(a) => Event::CrashClient { user: u(a) },
        Step::Restart(a) => Event::RestartClient { user: u(a) },
        Step::EwsDown(a) => Event::EwsDown { org: o(a) },
        Step::EwsUp(a) => Event::EwsUp { org: o(a) },
        Step::Admin(a) => {
            let text = COMMANDS[a as usize % COMMANDS.len()].to_string();
            let parsed = Box::new(cmdlets::parse(&text).expect("fixed commands parse"));
            Event::Admin {
                org: OrgId(0),
                text,
                parsed,
            }
        }
        Step::Internal(i) => {
            let enabled = w.state.internal_events(d);
            if enabled.is_empty() {
                return None;
            }
            enabled[i as usize % enabled.len()].clone()
        }
        Step::Advance(ms) => Event::AdvanceTo {
            at_ms: w.state.clock_ms + u64::from(ms),
        },
        Step::NextTimer => Event::AdvanceTo {
            at_ms: w.state.next_timer_ms(d)?,
        },
    })
}

/// Applies the steps, checking every invariant after each accepted event
/// and that a rejected event leaves the state unchanged.
fn run(w: &mut World, steps: &[Step]) -> Result<(), TestCaseError> {
    for s in steps {
        let Some(e) = to_event(w, s) else { continue };
        let before = w.state.clone();
        match w.apply(&e) {
            Ok(_) => {
                let v = invariants::violations(&w.deployment, &w.state);
                prop_assert!(v.is_empty(), "after {e:?}: {v:?}");
            }
            Err(_) => prop_assert_eq!(&before, &w.state, "a rejected {:?} changed the state", e),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_invariant(steps in prop::collection::vec(step_strategy(), 0..60)) {
        let mut w = base_world(true);
        run(&mut w, &steps)?;
    }

    #[test]
    fn drained_worlds_settle_live_001_live_002(steps in prop::collection::vec(step_strategy(), 0..60)) {
        let mut w = base_world(true);
        run(&mut w, &steps)?;
        w.drain().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let v = invariants::violations(&w.deployment, &w.state);
        prop_assert!(v.is_empty(), "after drain: {v:?}");
        invariants::settled(&w.deployment, &w.state).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn without_dedup_every_other_invariant_still_holds(steps in prop::collection::vec(step_strategy(), 0..60)) {
        let mut w = base_world(false);
        run(&mut w, &steps)?;
    }

    #[test]
    fn the_same_sequence_gives_the_same_state_and_trace(steps in prop::collection::vec(step_strategy(), 0..40)) {
        let mut a = base_world(true);
        let mut b = base_world(true);
        run(&mut a, &steps)?;
        run(&mut b, &steps)?;
        prop_assert_eq!(&a.state, &b.state);
        prop_assert_eq!(&a.trace, &b.trace);
    }
}

/// The invariant ids a state violates.
fn violated(w: &World) -> Vec<&'static str> {
    invariants::violations(&w.deployment, &w.state)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Every record a retired state keeps is referenced by a spool entry, a
/// request, a response or an item: the ledger follows what is held.
fn only_referenced_records(s: &offline_im::rules::world::State) -> Result<(), TestCaseError> {
    for r in &s.ledger {
        let m = r.id;
        let held = s.spoolers.iter().any(|sp| sp.find(m).is_some())
            || s.requests.iter().any(|q| q.message == m)
            || s.responses.iter().any(|q| q.message == m)
            || s.mailboxes
                .iter()
                .any(|mb| mb.items.iter().any(|i| i.message == m));
        prop_assert!(held, "{} is kept but nothing refers to it", m);
    }
    Ok(())
}

/// Runs the steps on a full world and on a lean one that retires settled
/// state whenever `retire` says so, and requires the two to agree: the same
/// outcome and trace for every event, the same invariant verdicts, and the
/// same state once both are retired. Retirement is monotone, so equal
/// retired states mean the lean world lost nothing a later step reads.
fn lean_agrees(dedup: bool, steps: &[Step], retire: &[bool]) -> Result<usize, TestCaseError> {
    let mut full = base_world(dedup);
    let mut lean = base_world(dedup);
    let mut retired = 0;
    for (k, s) in steps.iter().enumerate() {
        let Some(e) = to_event(&full, s) else {
            continue;
        };
        prop_assert_eq!(to_event(&lean, s), Some(e.clone()));
        prop_assert_eq!(full.apply(&e), lean.apply(&e), "outcome of {:?}", e);
        prop_assert_eq!(&full.trace, &lean.trace, "trace of {:?}", e);
        prop_assert_eq!(violated(&full), violated(&lean), "verdicts after {:?}", e);
        if retire[k % retire.len()] {
            retired += lean.state.retire_settled().records;
            only_referenced_records(&lean.state)?;
        }
        let (mut f, mut l) = (full.state.clone(), lean.state.clone());
        f.retire_settled();
        l.retire_settled();
        prop_assert_eq!(f, l, "retired states differ after {:?}", e);
    }
    full.drain()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    lean.drain()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&full.trace, &lean.trace, "drained traces");
    prop_assert_eq!(
        invariants::settled(&full.deployment, &full.state),
        invariants::settled(&lean.deployment, &lean.state)
    );
    Ok(retired)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn retiring_settled_state_changes_no_later_step(
        dedup in any::<bool>(),
        steps in prop::collection::vec(step_strategy(), 0..80),
        retire in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        lean_agrees(dedup, &steps, &retire)?;
    }
}

/// Retirement really drops things on the generated worlds, so the property
/// above is not vacuous.
#[test]
fn retirement_drops_settled_records() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(step_strategy(), 40..80);
    let mut retired = 0;
    for _ in 0..50 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        retired += lean_agrees(true, &steps, &[true]).unwrap();
    }
    assert!(retired > 100, "only {retired} records retired");
}

/// The generator reaches every interesting outcome, so the properties above
/// do not pass vacuously: deliveries of both classes, sender copies, Drafts
/// items, failed spool entries, missed messages, live and unavailable
/// routes, and notifications.
#[test]
fn random_sequences_reach_every_outcome() {
    use offline_im::rules::dispatch::Route;
    use offline_im::rules::domain::MessageClass;
    use offline_im::rules::mailbox::ItemKind;
    use offline_im::rules::spooler::SpoolStatus;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec(step_strategy(), 40..80);
    let mut seen = [false; 9];
    for _ in 0..300 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let mut w = base_world(true);
        run(&mut w, &steps).unwrap();
        w.drain().unwrap();
        let s = &w.state;
        let items = || s.mailboxes.iter().flat_map(|m| m.items.iter());
        seen[0] |= items()
            .any(|i| i.kind == ItemKind::Delivered && i.class == MessageClass::MissedConversation);
        seen[1] |= items().any(|i| i.kind == ItemKind::Delivered && i.class == MessageClass::Note);
        seen[2] |= items().any(|i| i.kind == ItemKind::SenderCopy);
        seen[3] |= items().any(|i| i.kind == ItemKind::Draft);
        seen[4] |= s
            .spoolers
            .iter()
            .flat_map(|sp| &sp.entries)
            .any(|e| matches!(e.status, SpoolStatus::Failed(_)));
        seen[5] |= s.ledger.iter().any(|r| r.route == Route::MissedMessage);
        seen[6] |= s.ledger.iter().any(|r| r.route == Route::Live);
        seen[7] |= s
            .ledger
            .iter()
            .any(|r| matches!(r.route, Route::Unavailable(_)));
        seen[8] |= !s.notifications.is_empty();
    }
    assert_eq!(seen, [true; 9], "outcomes reached: {seen:?}");
}
