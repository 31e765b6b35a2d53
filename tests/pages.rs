//! The pictures: `run --html` and `check --html` sequence charts, the
//! simulation report, the Explorer's readable states, and each page in a
//! real browser (headless Chromium).
//!
//! The structure tests count what a page must draw (a lane per party, a
//! mark per event, a band per outage, an hour tick per hour) against what
//! the rule book says happened, computed here independently of the page.

mod common;

use common::cli;
use offline_im::formats::scenario::{self, Scenario};
use offline_im::rules::domain::MailboxLocation;
use offline_im::rules::world::Event;
use offline_im::sim::{self, FaultKind, SimConfig};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pages");
    std::fs::create_dir_all(&dir).expect("the target's scratch folder is writable");
    dir.join(name)
}

fn model(file: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    scenario::load_path(Some(&path)).expect("the model loads")
}

/// A page links to nothing: no address, no script, no style sheet, no
/// image from elsewhere.
fn assert_self_contained(page: &str) {
    for external in [
        "http:", "https:", "<link", "<script", "src=", "@import", "<img",
    ] {
        assert!(
            !page.contains(external),
            "the page must be self-contained, but contains `{external}`"
        );
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
}

/// Writes the default scenario's `run --html` page and returns it.
fn run_page(file: &str, name: &str) -> String {
    let path = scratch(name);
    let path_text = path.to_str().expect("UTF-8 path");
    let (code, _, err) = cli(&["run", file, "--html", path_text]);
    assert_eq!(code, 0, "{err}");
    std::fs::read_to_string(&path).expect("the page was written")
}

/// The events a scenario run takes: its setup, sign-ins and timeline
/// entries, and every internal event the scheduler performs, counted by
/// driving the rule book here rather than by reading the page.
fn events_of(s: &Scenario) -> Vec<Event> {
    let mut world = s.world();
    let mut events = Vec::new();
    let entries = s.setup.iter().chain(&s.initial_sign_ins).chain(&s.timeline);
    for te in entries {
        world
            .settle_until_with(te.at_ms, |_, e| {
                events.push(e.clone());
                Ok::<(), ()>(())
            })
            .expect("the scenario settles");
        world.apply(&te.event).expect("the scenario's events apply");
        events.push(te.event.clone());
    }
    world
        .settle_until_with(s.end_ms, |_, e| {
            events.push(e.clone());
            Ok::<(), ()>(())
        })
        .expect("the scenario settles");
    events
}

#[test]
fn dec_077_run_html_draws_a_lane_per_party_and_a_mark_per_event() {
    let page = run_page("models/default.toml", "run-default.html");
    assert_self_contained(&page);
    let s = model("models/default.toml");
    let d = &s.deployment;
    let mailboxes = d
        .users
        .iter()
        .filter(|u| u.mailbox != MailboxLocation::None)
        .count();
    assert_eq!(
        count(&page, "<g class=\"lane\" data-kind=\"client\""),
        d.users.len()
    );
    assert_eq!(
        count(&page, "<g class=\"lane\" data-kind=\"exchange\""),
        d.orgs.len()
    );
    assert_eq!(
        count(&page, "<g class=\"lane\" data-kind=\"mailbox\""),
        mailboxes
    );
    assert_eq!(
        count(&page, "<g class=\"lane\""),
        d.users.len() + d.orgs.len() + mailboxes
    );
    for user in &d.users {
        assert!(
            page.contains(&format!(">{}</text>", user.name)),
            "a lane for {}",
            user.name
        );
    }

    let events = events_of(&s);
    assert!(
        events.len() > 10,
        "the default scenario has a story to tell"
    );
    assert_eq!(
        count(&page, "<g class=\"mark\""),
        events.len(),
        "one mark per event"
    );
    for (i, e) in events.iter().enumerate() {
        let tag = format!(
            "<g class=\"mark\" data-kind=\"{}\" data-step=\"{}\"",
            e.name(),
            i + 1
        );
        assert!(
            page.contains(&tag),
            "mark {} is the event {}",
            i + 1,
            e.name()
        );
    }
    let outages = events
        .iter()
        .filter(|e| matches!(e, Event::EwsDown { .. }))
        .count();
    let crashes = events
        .iter()
        .filter(|e| matches!(e, Event::CrashClient { .. }))
        .count();
    assert!(
        outages >= 1 && crashes >= 1,
        "the default scenario has an outage and a crash"
    );
    assert_eq!(
        count(&page, "<rect class=\"band\" data-kind=\"outage\""),
        outages
    );
    assert_eq!(
        count(&page, "<rect class=\"band\" data-kind=\"crash\""),
        crashes
    );

    // Each mark carries its trace lines and SPEC ids: the sends cite the
    // routing rule, and the pickups the two-minute timer.
    assert!(page.contains("data-kind=\"send\" data-step=\"4\" data-spec=\"DEC-001"));
    assert!(count(&page, "OIM-011") >= 2);
    assert!(
        page.contains("IM.Note.MissedConversation → Conversation History, Missed Conversations")
    );
    assert!(page.contains("sign-in notification of m1"));
    // The final spoolers and mailboxes are tables.
    assert!(page.contains("<table class=\"mailboxes\">"));
    assert!(page.contains("<td>Missed Conversations</td>"));
}

#[test]
fn dec_077_check_html_draws_every_counterexample_of_a_known_fault() {
    let file = "models/drafts-fault-old-client.toml";
    let path = scratch("check-drafts-fault.html");
    let (code, _, err) = cli(&[
        "check",
        "--model",
        file,
        "--html",
        path.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(code, 1, "the known fault is a violation: {err}");
    let page = std::fs::read_to_string(&path).expect("the page was written");
    assert_self_contained(&page);

    let s = model(file);
    let m = offline_im::check::CheckModel::new(&s).expect("a checker model");
    let report = offline_im::check::run(m, &s.file, &s.name, Default::default());
    let violated: Vec<_> = report
        .properties
        .iter()
        .filter_map(|p| Some((p.id, p.counterexample.as_ref()?)))
        .collect();
    assert_eq!(
        violated.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ["OIM-014"],
        "the known fault breaks OIM-014 only"
    );
    assert_eq!(count(&page, "<section>"), violated.len());
    let steps: usize = violated.iter().map(|(_, c)| c.steps.len()).sum();
    assert_eq!(
        count(&page, "<g class=\"mark\""),
        steps,
        "one mark per step"
    );
    assert!(page.contains("OIM-014 (no offline IM left in a Drafts folder): VIOLATED"));
    // The probes this small world never reaches fail the check too, and
    // have no path to draw: the page lists them.
    assert!(page.contains("<li>route live: NOT REACHED</li>"));
    assert!(page.contains("(unsent draft) → Drafts"));
    let d = &s.deployment;
    assert_eq!(
        count(&page, "<g class=\"lane\""),
        d.users.len()
            + d.orgs.len()
            + d.users
                .iter()
                .filter(|u| u.mailbox != MailboxLocation::None)
                .count()
    );
}

#[test]
fn check_html_without_a_violation_says_so() {
    let path = scratch("check-default.html");
    let (code, _, err) = cli(&["check", "--html", path.to_str().expect("UTF-8 path")]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&path).expect("the page was written");
    assert_self_contained(&page);
    assert!(page.contains("No counterexample"));
    assert_eq!(count(&page, "<g class=\"mark\""), 0);
}

#[test]
fn an_unwritable_html_path_is_a_clear_error_with_exit_2() {
    let (code, out, err) = cli(&["run", "--html", "/nonexistent-dir/page.html"]);
    assert_eq!(code, 2);
    assert!(out.contains("scenario:"), "the report is still printed");
    assert!(
        err.contains("cannot write the sequence chart to /nonexistent-dir/page.html"),
        "{err}"
    );
}

/// A small simulated day with every kind of fault.
fn faulty_day() -> SimConfig {
    let mut c = SimConfig::default_config();
    c.users = 200;
    c.faults.outages_per_org_day = 3.0;
    c.faults.admin_changes_per_day = 3;
    c.faults.crashes_per_user_day = 0.2;
    c
}

#[test]
fn dec_079_the_simulation_report_shows_every_fault_on_every_time_series() {
    let r = sim::run(&faulty_day(), None, &mut sim::Quiet);
    assert!(r.violation.is_none());
    let page = sim::page::render_html(&r);
    assert_self_contained(&page);
    let series_charts = count(&page, "<svg class=\"series\"");
    assert_eq!(series_charts, 3, "spool depth, routes and crashes");

    let outages = r
        .faults
        .iter()
        .filter(|f| f.kind == FaultKind::Outage)
        .count();
    assert_eq!(outages as u64, r.summary.outages);
    assert!(outages >= 3, "the faulty day has outages");
    assert_eq!(
        count(&page, "<rect class=\"band\" data-kind=\"outage\""),
        outages * series_charts,
        "a band per outage on every time series"
    );
    let switch_offs = r
        .faults
        .iter()
        .filter(|f| f.kind == FaultKind::AdminOff)
        .count();
    assert!(switch_offs >= 1);
    assert_eq!(
        count(&page, "<rect class=\"band\" data-kind=\"admin-off\""),
        switch_offs * series_charts
    );
    assert_eq!(r.crashes_per_hour.iter().sum::<u64>(), r.summary.crashes);
    assert_eq!(r.crashes_per_sample.iter().sum::<u64>(), r.summary.crashes);
    assert_eq!(r.crashes_per_hour.len(), 24);

    // An hour tick on every time axis: 0 to 24 hours on each series, and
    // ten intervals on the latency axis.
    assert_eq!(
        count(&page, "<line class=\"tick\""),
        series_charts * 25 + 11
    );
    for name in ["p50", "p90", "p99", "max"] {
        assert!(page.contains(&format!("<g class=\"percentile\" data-name=\"{name}\">")));
    }
    assert!(page.contains("counts on a log scale"));

    // The fault table lists each outage and switch-off with its times.
    assert_eq!(count(&page, "<tr class=\"fault\""), outages + switch_offs);
    // The spool table's cells add up to the summary's retained and failed.
    let retained: u64 = r.spool_at_end.iter().map(|s| s.waiting + s.in_flight).sum();
    let failed: u64 = r
        .spool_at_end
        .iter()
        .map(|s| s.failed.iter().sum::<u64>())
        .sum();
    assert_eq!(retained, r.summary.spooled.retained);
    assert_eq!(failed, r.summary.spooled.failed);
    assert_eq!(r.spool_at_end.len() as u32, r.summary.orgs);
}

#[test]
fn dec_079_a_crash_burst_is_shaded_and_single_crashes_are_not() {
    // Every client crashes once in the day: about 0.7 a sample interval, so
    // some intervals reach three and more.
    let mut c = faulty_day();
    c.faults.crashes_per_user_day = 1.0;
    let r = sim::run(&c, None, &mut sim::Quiet);
    let total: u64 = r.crashes_per_sample.iter().sum();
    let intervals = r.crashes_per_sample.len() as u64;
    // DEC-079's rule, restated here as the test's oracle.
    let bursts: Vec<usize> = (0..r.crashes_per_sample.len())
        .filter(|i| {
            let n = r.crashes_per_sample[*i];
            n >= sim::page::CRASH_BURST_MIN && n * intervals >= 3 * total
        })
        .collect();
    assert!(!bursts.is_empty(), "this day has a burst");
    assert!(
        bursts.len() < r.crashes_per_sample.len() / 4,
        "not every interval is one"
    );
    assert_eq!(sim::page::crash_bursts(&r.crashes_per_sample), bursts);
    let page = sim::page::render_html(&r);
    assert_eq!(
        count(&page, "<rect class=\"band\" data-kind=\"crash-burst\""),
        bursts.len() * 3,
        "a band per burst on every time series"
    );

    // The default day's few crashes make no burst.
    let quiet = sim::run(&SimConfig::default_config(), None, &mut sim::Quiet);
    assert!(quiet.summary.crashes > 0);
    assert!(!sim::page::render_html(&quiet).contains("data-kind=\"crash-burst\""));
}

#[test]
fn names_bodies_and_cmdlets_are_escaped_in_every_page() {
    // A display name with markup in it, used everywhere the default
    // scenario names Tony Smith.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default.toml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let hostile = "Tony <b>&' Smith";
    let text = text.replace("Tony Smith", hostile);
    let s = scenario::load("hostile.toml", &text).expect("the renamed scenario loads");
    let (_, drawn) = offline_im::formats::chart::run_chart(&s).expect("it runs");
    let page = offline_im::formats::chart::page("hostile", "", &[(drawn, String::new())]);
    // The page's own `<b>` marks times; the name's would come with its `&`.
    assert!(
        !page.contains("<b>&"),
        "markup from a name reached the page"
    );
    assert!(page.contains("Tony &lt;b&gt;&amp;&#39; Smith"));
    assert_self_contained(&page);
}

/// The Chromium binary: `OFFLINE_IM_CHROMIUM`, or Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("OFFLINE_IM_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "Chromium is needed at {} (Debian's `chromium` package, which scripts/test installs; or set OFFLINE_IM_CHROMIUM)",
        path.display()
    );
    path
}

/// Loads a page in headless Chromium; returns the DOM it built and the
/// console messages it logged.
fn load_in_chromium(page: &Path) -> (String, Vec<String>) {
    let profile = tempdir_for(page);
    // Under coreutils' `timeout`, so that a page that hangs the browser
    // fails the test (exit 124) instead of stalling it.
    let output = Command::new("timeout")
        .arg("60")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("Chromium starts");
    assert!(
        output.status.success(),
        "Chromium failed on {} ({}; 124 is the 60 s timeout)",
        page.display(),
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    )
}

fn tempdir_for(page: &Path) -> PathBuf {
    let dir = page.with_extension("chromium-profile");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a profile folder");
    dir
}

#[test]
fn chromium_test_sees_a_broken_page_fail() {
    // The browser check must be able to fail: a page with a script error
    // logs it, and the helper sees it.
    let path = scratch("broken.html");
    std::fs::write(
        &path,
        "<!DOCTYPE html><html><body><script>throw new Error('broken on purpose')</script></body></html>",
    )
    .expect("writable");
    let (_, console) = load_in_chromium(&path);
    assert!(
        console.iter().any(|l| l.contains("broken on purpose")),
        "{console:?}"
    );
}

#[test]
fn chromium_loads_every_page_without_console_errors_and_draws_its_svg() {
    let run = run_page("models/default.toml", "chromium-run.html");
    let check = scratch("chromium-check.html");
    let (code, _, err) = cli(&[
        "check",
        "--model",
        "models/drafts-fault-old-client.toml",
        "--html",
        check.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(code, 1, "{err}");
    let report = sim::run(&faulty_day(), None, &mut sim::Quiet);
    let sim_page = scratch("chromium-sim.html");
    std::fs::write(&sim_page, sim::page::render_html(&report)).expect("writable");
    let pages = [
        (scratch("chromium-run.html"), run),
        (
            check.clone(),
            std::fs::read_to_string(&check).expect("written"),
        ),
        (sim_page, sim::page::render_html(&report)),
    ];
    for (path, source) in &pages {
        let (dom, console) = load_in_chromium(path);
        assert!(
            console.is_empty(),
            "{}: console: {console:?}",
            path.display()
        );
        assert!(
            dom.contains("<svg"),
            "{}: the DOM has its SVG",
            path.display()
        );
        // The browser built every element the page wrote.
        for element in [
            "<g class=\"mark\"",
            "<g class=\"lane\"",
            "<rect class=\"band\"",
            "<g class=\"effect\"",
            "<polyline class=\"line\"",
            "<rect class=\"bar\"",
            "<g class=\"percentile\"",
            "<line class=\"tick\"",
        ] {
            assert_eq!(
                count(&dom, element),
                count(source, element),
                "{}: {element}",
                path.display()
            );
        }
    }
}

/// A free local port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills the Explorer when the test ends, passing or failing.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> String {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut response = agent.get(url).call().expect("the Explorer answers");
    let mut text = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut text)
        .expect("UTF-8 body");
    text
}

/// The Explorer's views of the states after `path` (action indices).
fn states(base: &str, path: &[usize]) -> Vec<serde_json::Value> {
    let suffix: String = path.iter().map(|i| format!("/{i}")).collect();
    serde_json::from_str(&get(&format!("{base}/.states{suffix}"))).expect("JSON from the Explorer")
}

/// The index of the action named `name` among the views.
fn action(views: &[serde_json::Value], name: &str) -> usize {
    views
        .iter()
        .position(|v| v["action"].as_str() == Some(name))
        .unwrap_or_else(|| {
            let names: Vec<_> = views.iter().map(|v| v["action"].clone()).collect();
            panic!("no action `{name}` among {names:?}")
        })
}

#[test]
fn dec_078_the_explorer_shows_the_default_worlds_first_three_steps_readably() {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_offline-im"))
        .args(["explore", "--addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the Explorer starts");
    let _served = Served(child);
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the Explorer did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let init = states(&base, &[]);
    assert_eq!(init.len(), 1);
    let text = init[0]["state"].as_str().expect("a state");
    assert!(
        text.starts_with("clock 0:00:00 (0 ms)\nEWS: contoso up, fabrikam up\n"),
        "{text}"
    );
    assert!(
        text.contains("  Tony Smith: signed in, available\n"),
        "{text}"
    );
    assert!(text.contains("  Ken Myer: signed out\n"), "{text}");
    assert!(text.contains("nothing in flight"), "{text}");
    assert!(!text.contains("OrgConfig"), "no Debug dump: {text}");
    assert!(text.lines().count() < 20, "a state fits a screen: {text}");

    // Step 1: Tony Smith sends to Ken Myer, who is signed out.
    let after_init = states(&base, &[0]);
    let send = action(&after_init, "send Tony Smith -> Ken Myer: \"m1\"");
    let state = after_init[send]["state"].as_str().expect("a state");
    assert!(
        state.contains("    spooler  m1 to Ken Myer due 120000 ms, attempts 0, waiting\n"),
        "{state}"
    );
    let outcome = after_init[send]["outcome"].as_str().expect("an outcome");
    assert!(
        outcome.contains("route=offline (recipient signed out; DEC-001)"),
        "{outcome}"
    );

    // Step 2: the clock moves to the spool timer.
    let after_send = states(&base, &[0, send]);
    let advance = action(&after_send, "advance to 120000 ms");
    let state = after_send[advance]["state"].as_str().expect("a state");
    assert!(state.starts_with("clock 0:02:00 (120000 ms)"), "{state}");

    // Step 3: Tony Smith's spool timer fires and a CreateItem is in flight.
    let after_advance = states(&base, &[0, send, advance]);
    let pickup = action(&after_advance, "Tony Smith's spool timer fires");
    let state = after_advance[pickup]["state"].as_str().expect("a state");
    assert!(
        state.contains("request in flight: CreateItem m1 from Tony Smith's client"),
        "{state}"
    );
    assert!(state.contains("attempts 1, in-flight"), "{state}");
    let svg = after_advance[pickup]["svg"]
        .as_str()
        .expect("a sequence chart");
    assert_eq!(count(svg, "<g class=\"mark\""), 3, "the path's three steps");
    assert!(svg.contains("CreateItem m1"));
}
