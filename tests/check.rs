//! The model checker: every property of the default world holds, the known
//! faults are found with pinned minimal paths, the state spaces are pinned
//! (so a silent change to the model fails here, as in stateright's own
//! examples), symmetry reduction is used and sound, and `explore` serves
//! the Explorer.

mod common;

use offline_im::check::{self, CheckModel, CheckOptions, Kind};
use offline_im::cli::main_with;
use offline_im::formats::scenario;
use offline_im::rules::domain::{OrgId, Presence, UserId};
use offline_im::rules::world::Event;
use stateright::{Checker, Model};
use std::path::Path;

fn model(file: &str) -> CheckModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let s = scenario::load_path(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
    CheckModel::new(&s).unwrap_or_else(|e| panic!("{e}"))
}

fn default_model() -> CheckModel {
    let s = scenario::load_path(None).unwrap_or_else(|e| panic!("{e}"));
    CheckModel::new(&s).unwrap_or_else(|e| panic!("{e}"))
}

const TONY: UserId = UserId(0);
const KEN: UserId = UserId(1);

fn send(from: UserId, to: UserId, body: &str) -> Event {
    Event::Send {
        from,
        to,
        body: body.into(),
    }
}

/// The default world: pinned state space, every property holds, and every
/// `sometimes` probe except the two declared unreachable is reached.
#[test]
fn default_world_proves_every_property() {
    let m = default_model();
    assert!(
        !m.has_symmetry(),
        "the default world's users are told apart"
    );
    let r = check::run(m, "models/default.toml", "default", CheckOptions::default());
    for p in &r.properties {
        assert!(
            p.holds,
            "{} {} does not hold: {:?}",
            p.id, p.name, p.counterexample
        );
    }
    // The positive space: the properties are really there, by SPEC id.
    for id in [
        "INV-001", "INV-002", "INV-003", "INV-004", "INV-005", "INV-006", "INV-007", "INV-008",
        "INV-009", "INV-010", "INV-011", "OIM-014", "DEC-004", "LIVE-001", "LIVE-002",
    ] {
        let p = r
            .property(id)
            .unwrap_or_else(|| panic!("{id} is not checked"));
        assert_ne!(p.kind, Kind::Sometimes);
    }
    let reached: Vec<&str> = r
        .properties
        .iter()
        .filter(|p| p.kind == Kind::Sometimes)
        .map(|p| p.id)
        .collect();
    assert_eq!(
        reached.len(),
        offline_im::rules::invariants::REACH.len() - 2
    );
    for id in ["folder Drafts", "folder Sent Items"] {
        assert_eq!(r.property(id).map(|p| p.kind), Some(Kind::Never));
    }
    assert_eq!(r.totals.states_unique, 253_459);
    assert_eq!(r.totals.states_generated, 567_063);
    assert_eq!(r.totals.depth_max, 25);
    assert_eq!(r.totals.strategy, "dfs");
    assert!(r.totals.complete());
}

/// The issue's minimum world: 3 users in 2 federated organisations, an
/// on-premises and an Online mailbox, 2 messages, crashes and outages on.
#[test]
fn default_world_has_the_required_shape() {
    let m = default_model();
    let d = &m.deployment;
    assert!(d.users.len() >= 3);
    assert_eq!(d.orgs.len(), 2);
    assert!(d.federated(OrgId(0), OrgId(1)));
    use offline_im::rules::domain::MailboxLocation::{OnPremises, Online};
    assert!(d.users.iter().any(|u| u.mailbox == OnPremises));
    assert!(d.users.iter().any(|u| u.mailbox == Online));
    assert_eq!(m.bounds.messages_max, 2);
    assert!(m.bounds.crashes_max >= 1);
    assert!(m.bounds.outages_max >= 1);
}

/// The Drafts known issue (OIM-014) is found, with this exact path.
#[test]
fn drafts_known_issue_is_found_with_a_minimal_path() {
    let m = model("models/drafts-fault-old-client.toml");
    let expected = vec![
        send(TONY, KEN, "m1"),
        Event::AdvanceTo { at_ms: 120_000 },
        Event::Pickup { user: TONY },
        Event::ExchangeProcess { writer: TONY },
    ];
    let c = m.clone().checker().spawn_bfs().join();
    c.assert_discovery("OIM-014", expected.clone());
    c.assert_no_discovery("INV-006");
    assert_eq!(c.unique_state_count(), 70);
    let r = check::run(m, "drafts", "drafts", CheckOptions::default());
    let p = r.property("OIM-014").expect("OIM-014 is checked");
    assert!(!p.holds);
    let cx = p.counterexample.as_ref().expect("a counterexample");
    assert_eq!(cx.steps.len(), expected.len());
    assert!(cx.steps[3].changes[0].contains("left a draft"), "{cx:?}");
    assert!(cx.why.contains("Drafts"), "{}", cx.why);
    // The fault is documented behaviour, not a violation of INV-006.
    assert!(r.property("INV-006").is_some_and(|p| p.holds));
}

/// With deduplication off (DEC-004), a crash after EWS accepted a message
/// duplicates it; the checker finds exactly this path.
#[test]
fn duplicate_after_a_crash_is_found_without_deduplication() {
    let m = model("models/no-dedup-duplicate.toml");
    let expected = vec![
        send(TONY, KEN, "m1"),
        Event::AdvanceTo { at_ms: 120_000 },
        Event::Pickup { user: TONY },
        Event::CrashClient { user: TONY },
        Event::RestartClient { user: TONY },
        Event::SignIn {
            user: TONY,
            presence: Presence::Available,
        },
        Event::ExchangeProcess { writer: TONY },
        Event::AdvanceTo { at_ms: 240_000 },
        Event::Pickup { user: TONY },
        Event::ExchangeProcess { writer: TONY },
    ];
    let c = m.clone().checker().spawn_bfs().join();
    c.assert_discovery("DEC-004", expected.clone());
    assert_eq!(c.unique_state_count(), 242);
    let r = check::run(m, "no-dedup", "no-dedup", CheckOptions::default());
    let cx = r
        .property("DEC-004")
        .and_then(|p| p.counterexample.clone())
        .expect("DEC-004 is violated");
    let shown: Vec<String> = cx.steps.iter().map(|s| s.event.clone()).collect();
    // The checker's own search is depth-first, so its shrunk path is
    // 1-minimal, as long as the shortest, but need not be stateright's.
    assert_eq!(shown.len(), expected.len(), "{shown:#?}");
    let accepted = shown
        .iter()
        .position(|e| e == "Exchange processes Tony Smith's request");
    let crash = shown.iter().position(|e| e == "crash Tony Smith's client");
    assert!(
        matches!((accepted, crash), (Some(a), Some(c)) if a < c),
        "a crash after Exchange accepted the request: {shown:#?}"
    );
}

/// The same world with deduplication on (the reference's decision) has no
/// duplicate: the fault is the option, not the checker.
#[test]
fn deduplication_removes_the_duplicate() {
    let m =
        common::check_model_replacing("no-dedup-duplicate.toml", "dedup = false", "dedup = true");
    let c = m.checker().spawn_bfs().join();
    c.assert_no_discovery("DEC-004");
    c.assert_no_discovery("INV-002");
}

/// Symmetry reduction: the three interchangeable colleagues are explored
/// with it over a sixth of the states, and give the same verdicts as
/// stateright's plain breadth-first run and the search without it.
#[test]
fn symmetry_reduction_is_used_and_sound() {
    let m = model("models/check-symmetric.toml");
    assert!(m.has_symmetry());
    let plain = m.clone().checker().spawn_bfs().join();
    assert_eq!(plain.unique_state_count(), 136_253);
    let sym = check::run(m.clone(), "sym", "sym", CheckOptions::default());
    assert_eq!(sym.totals.strategy, "dfs+symmetry");
    assert_eq!(sym.totals.states_unique, 22_724);
    let without = CheckOptions {
        symmetry: false,
        ..CheckOptions::default()
    };
    let unreduced = check::run(m.clone(), "sym", "sym", without);
    assert_eq!(unreduced.totals.strategy, "dfs");
    assert_eq!(unreduced.totals.states_unique, 136_253);
    let plain_found = plain.discoveries();
    for p in &sym.properties {
        let discovered = if p.kind == Kind::Sometimes {
            p.holds
        } else {
            !p.holds
        };
        assert_eq!(discovered, plain_found.contains_key(p.id), "{}", p.id);
        assert_eq!(Some(p.holds), unreduced.property(p.id).map(|q| q.holds));
    }
    assert!(sym.holds(), "{}", check::render_text(&sym));
}

/// The representative is a renaming within the orbit: applying it twice
/// changes nothing, and renamed states have the same representative.
#[test]
fn representative_is_canonical_on_renamed_states() {
    let m = model("models/check-symmetric.toml");
    let init = &m.init_states()[0];
    let mut seen = 0;
    for (_, next) in m.next_steps(init) {
        for (_, s) in m.next_steps(&next) {
            let r = m.representative(&s);
            assert_eq!(m.representative(&r), r);
            let swapped = s.world.rename_users(&[UserId(1), UserId(0), UserId(2)]);
            let mut twin = s.clone();
            twin.world = swapped;
            assert_eq!(m.representative(&twin), r);
            seen += 1;
        }
    }
    assert!(seen > 10, "explored {seen} states");
}

/// Progress is checked soundly: a world whose spooler can never drain is
/// reported as a LIVE-001 violation, not passed at a terminal state.
#[test]
fn progress_violation_is_reported() {
    // The reference never strands an entry, so the stranded state is built
    // by hand: an entry marked in flight with no request behind it. No fair
    // continuation picks it up again, and the property must say so.
    let m = default_model();
    let mut s = m.init_states()[0].clone();
    s.world.spoolers[0].accept(offline_im::rules::domain::MessageId(1), KEN, 0, 120_000);
    s.world.spoolers[0].entries[0].status = offline_im::rules::spooler::SpoolStatus::InFlight;
    s.world
        .ledger
        .push(offline_im::rules::world::MessageRecord {
            id: offline_im::rules::domain::MessageId(1),
            from: TONY,
            to: KEN,
            body: "m1".into(),
            sent_at_ms: 0,
            route: offline_im::rules::dispatch::Route::Offline,
            fallback: None,
            writer: Some(TONY),
            gate_facts: None,
            first_pickup_ms: Some(0),
            from_outside: false,
        });
    let live = m.property("LIVE-001");
    assert!(
        !(live.condition)(&m, &s),
        "an entry in flight with no request never settles"
    );
    assert!((live.condition)(&m, &m.init_states()[0]));
}

/// `check` through the CLI: exit 0 and the totals on the default; exit 1
/// with a numbered counterexample and the final state on a fault; JSON.
#[test]
fn cli_check_exit_codes_and_output() {
    let run = |args: &[&str]| {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let argv =
            std::iter::once("offline-im".to_string()).chain(args.iter().map(|a| a.to_string()));
        let code = main_with(argv, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let drafts = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/drafts-fault-old-client.toml"
    );
    let (code, out, _) = run(&["check", "--model", drafts]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("OIM-014 no offline IM left in a Drafts folder VIOLATED"),
        "{out}"
    );
    assert!(out.contains("    1. send Tony Smith -> Ken Myer"), "{out}");
    assert!(out.contains("final state at 120000 ms"), "{out}");
    assert!(out.contains("unique states: 70"), "{out}");
    let (code, out, _) = run(&["check", "--model", drafts, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let oim = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "OIM-014")
        .unwrap();
    assert_eq!(oim["holds"], false);
    assert_eq!(oim["counterexample"]["steps"].as_array().unwrap().len(), 4);
    assert!(oim["counterexample"]["final"]["users"].is_array());
    assert_eq!(v["totals"]["states_unique"], 70);
    let sym = concat!(env!("CARGO_MANIFEST_DIR"), "/models/check-symmetric.toml");
    let (code, out, _) = run(&["check", "--model", sym, "--depth", "6"]);
    assert_eq!(
        code, 4,
        "a depth-bounded run misses examples, and says so: {out}"
    );
    assert!(out.contains("not reached in the part explored"), "{out}");
    assert!(out.contains("search: INCOMPLETE"), "{out}");
    let (code, _, err) = run(&["check", "--threads", "0"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["check", "--model", "/no/such/model.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/model.toml:1:1"), "{err}");
}

/// Bad `[check]` sections get a file:line:column diagnostic.
#[test]
fn bad_check_sections_are_diagnosed() {
    let cases = [
        (
            "messages_max = 9",
            "found check.messages_max = 9, expected 0 to 4",
        ),
        (
            "unreachable = [\"folder Attic\"]",
            "found check.unreachable = `folder Attic`, expected one of",
        ),
        ("presences = [\"asleep\"]", "found the presence `asleep`"),
        ("senders = [\"Nobody\"]", "found the unknown user `Nobody`"),
        (
            "admin = [{ org = \"contoso\", cmdlet = \"Set-CsImConfiguration -EnableOfflineIM $Ture\" }]",
            "$True",
        ),
        (
            "admin = [{ cmdlet = \"Get-CsImConfiguration\" }]",
            "without `org`",
        ),
        ("colour = 1", "unknown field `colour`"),
    ];
    for (line, expected) in cases {
        let text = format!("{}\n[check]\n{line}\n", common::BASE);
        let err = scenario::load("bad.toml", &text)
            .err()
            .unwrap_or_else(|| panic!("{line} accepted"));
        let shown = err.to_string();
        assert!(shown.contains(expected), "{line}: {shown}");
        let check_line = text.lines().position(|l| l == "[check]").unwrap() + 2;
        assert_eq!(err.line, check_line, "{line}: {shown}");
    }
}

/// Admin cmdlets in `[check]` run once each at every point: switching
/// offline IM off mid-run is explored, and gating (INV-004) still holds.
#[test]
fn admin_cmdlets_are_explored_once_each() {
    let text = format!(
        "{}\n[check]\nmessages_max = 1\nsenders = [\"Tony Smith\"]\nuser_events_max = 1\ncrashes_max = 0\noutages_max = 0\nadmin = [{{ org = \"contoso\", cmdlet = \"Set-CsImConfiguration -EnableOfflineIM $False\" }}]\n",
        common::BASE
    );
    let s = scenario::load("admin.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let m = CheckModel::new(&s).unwrap_or_else(|e| panic!("{e}"));
    let admin = m.bounds.admin[0].clone();
    let init = &m.init_states()[0];
    let mut actions = Vec::new();
    m.actions(init, &mut actions);
    assert!(actions.contains(&admin));
    let after = m.next_state(init, admin.clone()).expect("the cmdlet runs");
    actions.clear();
    m.actions(&after, &mut actions);
    assert!(!actions.contains(&admin), "each admin cmdlet runs once");
    let c = m.checker().spawn_bfs().join();
    c.assert_no_discovery("INV-004");
    c.assert_any_discovery("route unavailable");
}

/// Kills the child when the test ends, passing or not, so no server is
/// left behind.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP GET over a plain socket; the Explorer speaks HTTP/1.1.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// `explore` serves stateright's Explorer for the same model.
#[test]
fn explore_serves_the_explorer() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_offline-im"))
        .args(["explore", "--addr", &addr])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("offline-im starts");
    let _reaper = Reaper(child);
    let mut page = Err(std::io::Error::other("not tried"));
    for _ in 0..100 {
        page = http_get(&addr, "/");
        if page.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let page = page.expect("the Explorer answers within 10 s");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Stateright"), "{page}");
    let states = http_get(&addr, "/.states/0").expect("the states endpoint answers");
    assert!(states.contains("send Tony Smith -> Ken Myer"), "{states}");
}

/// A taken address is bad input, not a panic.
#[test]
fn explore_on_a_taken_address_is_bad_input() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = held.local_addr().expect("its address").to_string();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = ["offline-im", "explore", "--addr", &addr].map(String::from);
    let code = main_with(argv, &mut out, &mut err);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("cannot listen on"));
}
