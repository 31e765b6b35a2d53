//! The simulator: determinism (a seed twice gives byte-identical JSON and
//! trace), the violation path and its replay command, bad input, swarms
//! and shards, and the HTML report.

use offline_im::cli::main_with;
use offline_im::rules::invariants::{INVARIANTS, Invariant};
use offline_im::rules::world::TraceRecord;
use offline_im::sim::{self, Observer, SimConfig};

fn small(seed: u64) -> SimConfig {
    let mut c = SimConfig::default_config();
    c.users = 300;
    c.orgs = 3;
    c.hours = 12;
    c.seed = seed;
    c.faults.outages_per_org_day = 3.0;
    c.faults.crashes_per_user_day = 0.3;
    c.faults.admin_changes_per_day = 8;
    c.deployment.server_org_share = 0.8;
    c
}

#[derive(Default)]
struct Collect(Vec<String>);

impl Observer for Collect {
    fn trace(&mut self, line: &TraceRecord) {
        self.0.push(serde_json::to_string(line).unwrap());
    }
    fn wants_trace(&self) -> bool {
        true
    }
}

fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("offline-im".to_string()).chain(args.iter().map(|a| a.to_string()));
    let code = main_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn the_embedded_default_loads() {
    let c = SimConfig::default_config();
    assert_eq!((c.users, c.hours, c.seed), (1000, 24, 1));
}

#[test]
fn a_seed_run_twice_is_byte_identical() {
    let c = small(7);
    let mut t1 = Collect::default();
    let mut t2 = Collect::default();
    let r1 = sim::run(&c, None, &mut t1);
    let r2 = sim::run(&c, None, &mut t2);
    let j1 = serde_json::to_string(&r1).unwrap();
    let j2 = serde_json::to_string(&r2).unwrap();
    assert_eq!(j1, j2);
    assert_eq!(t1.0, t2.0);
    assert!(t1.0.len() > 1000, "the trace is not empty: {}", t1.0.len());
    // The run is not vacuous: every route and every fault happened.
    let s = &r1.summary;
    assert!(r1.violation.is_none(), "{:?}", r1.violation);
    assert!(s.routes.live > 0 && s.routes.offline > 0 && s.routes.missed_message > 0);
    assert!(s.routes.unavailable > 0);
    assert!(s.outages > 0, "{s:?}");
    assert!(s.crashes > 0, "{s:?}");
    assert!(s.admin_changes > 0, "{s:?}");
    assert!(s.spooled.delivered > 0 && s.notifications > 0 && s.drafts_items > 0);
    assert!(
        s.latency.p50_ms >= 120_000,
        "no delivery before the two-minute timer"
    );
    assert_eq!(
        s.spooled.accepted,
        s.spooled.delivered + s.spooled.retained + s.spooled.failed,
        "every accepted message is delivered, retained or failed"
    );
    // And a different seed is a different run.
    let r3 = sim::run(&small(8), None, &mut sim::Quiet);
    assert_ne!(serde_json::to_string(&r3).unwrap(), j1);
}

#[test]
fn the_cli_json_is_byte_identical_across_runs() {
    let args = [
        "simulate", "--users", "200", "--hours", "6", "--seed", "3", "--json",
    ];
    let (c1, o1, _) = cli(&args);
    let (c2, o2, _) = cli(&args);
    assert_eq!((c1, c2), (0, 0));
    assert_eq!(o1, o2);
    let v: serde_json::Value = serde_json::from_str(&o1).unwrap();
    assert_eq!(v["summary"]["users"], 200);
    assert!(v["violation"].is_null());
}

/// A predicate that fails as soon as any Missed Conversations item is
/// notified: a stand-in for a broken rule, to drive the violation path.
fn no_notification(
    _: &offline_im::rules::domain::Deployment,
    s: &offline_im::rules::world::State,
) -> Result<(), String> {
    match s.notifications.first() {
        None => Ok(()),
        Some(n) => Err(format!("{} was notified", n.message)),
    }
}

#[test]
fn a_violation_stops_the_run_and_its_replay_reproduces_it() {
    let table = [
        INVARIANTS,
        &[Invariant {
            id: "TEST-001",
            name: "probe",
            check: no_notification,
        }],
    ]
    .concat();
    let c = small(11);
    let r = sim::run_with(&c, None, &table, &mut sim::Quiet);
    let v = r.violation.expect("the probe fires");
    assert_eq!(v.id, "TEST-001");
    assert!(
        v.at_ms < u64::from(c.hours) * 3_600_000,
        "the run stopped early"
    );
    assert!(!v.last_events.is_empty() && v.last_events.len() <= sim::LAST_EVENTS_MAX);
    assert_eq!(
        v.replay,
        "offline-im simulate --users 300 --orgs 3 --hours 12 --seed 11"
    );
    // The replay command, parsed back, gives the same config and the same
    // violation at the same point.
    let mut replayed = SimConfig::default_config();
    let words: Vec<&str> = v.replay.split_whitespace().collect();
    for pair in words[2..].chunks(2) {
        match pair[0] {
            "--users" => replayed.users = pair[1].parse().unwrap(),
            "--orgs" => replayed.orgs = pair[1].parse().unwrap(),
            "--hours" => replayed.hours = pair[1].parse().unwrap(),
            "--seed" => replayed.seed = pair[1].parse().unwrap(),
            other => panic!("unexpected flag {other}"),
        }
    }
    replayed.faults = c.faults.clone();
    let again = sim::run_with(&replayed, None, &table, &mut sim::Quiet)
        .violation
        .unwrap();
    assert_eq!(
        (again.at_ms, again.events, again.why),
        (v.at_ms, v.events, v.why)
    );
    let text = sim::render_text(&sim::run_with(&c, None, &table, &mut sim::Quiet));
    assert!(text.contains("VIOLATION of TEST-001"), "{text}");
    assert!(text.contains("replay with: offline-im simulate"), "{text}");
}

#[test]
fn bad_flags_and_config_values_name_the_key_and_range() {
    let (code, _, err) = cli(&["simulate", "--hours", "0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("hours") && err.contains("found hours = 0, expected 1 to 168"),
        "{err}"
    );
    let (code, _, err) = cli(&["simulate", "--users", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected 2 to 1000000"), "{err}");
    let (code, _, err) = cli(&["simulate", "--swarm", "2", "--shard", "3/2"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected K/N with 1 <= K <= N"), "{err}");
    let (code, _, err) = cli(&["simulate", "--shard", "1/2"]);
    assert_eq!(code, 2, "{err}");
    let bad = sim::DEFAULT_CONFIG.replace("dnd_share = 0.15", "dnd_share = 1.5");
    let e = SimConfig::load("bad.toml", &bad).unwrap_err();
    assert!(
        e.message
            .contains("found workload.dnd_share = 1.5, expected 0 to 1"),
        "{e}"
    );
    let line = bad
        .lines()
        .position(|l| l.starts_with("dnd_share"))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
    let unknown = format!("{}\ncolour = 1\n", sim::DEFAULT_CONFIG);
    let e = SimConfig::load("bad.toml", &unknown).unwrap_err();
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    let (code, _, err) = cli(&["simulate", "--config", "/no/such.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such.toml:1:1"), "{err}");
}

#[test]
fn swarm_shards_partition_the_seeds() {
    let args = |shard: &str| {
        let (code, out, err) = cli(&[
            "simulate", "--users", "60", "--hours", "4", "--swarm", "5", "--shard", shard, "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["seeds_run"].as_u64().unwrap()
    };
    assert_eq!(args("1/2") + args("2/2"), 5);
    assert_eq!(args("1/1"), 5);
    // Each swarm seed draws different fault parameters.
    let base = SimConfig::default_config();
    assert_ne!(
        base.with_faults_from_seed(1).faults,
        base.with_faults_from_seed(2).faults
    );
}

#[test]
fn the_html_report_draws_four_charts() {
    // Three time series and the latency histogram; tests/pages.rs checks
    // what each draws.
    let r = sim::run(&small(5), None, &mut sim::Quiet);
    let html = sim::page::render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.contains("aria-label=\"Entries in all History Spoolers\""));
    assert!(html.contains("aria-label=\"delivery latency\""));
    assert!(html.contains("aria-label=\"IMs per sample interval, by route\""));
    assert!(html.contains("aria-label=\"Client crashes per sample interval\""));
    assert_eq!(html.matches("<polyline").count(), 6, "one line per series");
    assert!(html.matches("<rect class=\"bar\"").count() >= 1);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
}

/// The CLI's `--trace` and `--report` files: the trace is the decision log
/// as JSON lines, byte-identical across runs of one seed and equal to what
/// an observer collects in-process; the report is the HTML page. An
/// unwritable trace path is bad input.
#[test]
fn the_cli_writes_the_trace_and_report_files() {
    let dir = std::env::temp_dir().join(format!("offline-im-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str| {
        let trace = dir.join(format!("{name}.jsonl"));
        let report = dir.join(format!("{name}.html"));
        let (code, _, err) = cli(&[
            "simulate",
            "--users",
            "200",
            "--hours",
            "12",
            "--seed",
            "3",
            "--trace",
            trace.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        (
            std::fs::read_to_string(trace).unwrap(),
            std::fs::read_to_string(report).unwrap(),
        )
    };
    let (t1, r1) = run("a");
    let (t2, _) = run("b");
    assert_eq!(t1, t2, "the trace of one seed differs between runs");
    let lines: Vec<&str> = t1.lines().collect();
    assert!(lines.len() > 100, "{} trace lines", lines.len());
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
        assert!(
            v["at_ms"].is_u64() && v["component"].is_string() && v["text"].is_string(),
            "{l}"
        );
    }
    let mut c = SimConfig::default_config();
    c.users = 200;
    c.hours = 12;
    c.seed = 3;
    let mut collected = Collect::default();
    sim::run(&c, None, &mut collected);
    assert_eq!(lines, collected.0, "the file is not the observer's trace");
    assert!(r1.starts_with("<!DOCTYPE html>") && r1.matches("<svg").count() == 4);
    let missing = dir.join("no-such-dir").join("t.jsonl");
    let (code, _, err) = cli(&[
        "simulate",
        "--users",
        "200",
        "--hours",
        "1",
        "--trace",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot write the trace"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Memory follows what the world holds, not the events processed: over two
/// simulated days the ledger, sampled through the run, stays a small
/// fraction of the IMs sent, and the second day's peak is no larger than
/// the first's in proportion to the events. Retirement changes nothing
/// else (tests/properties.rs), so the summary still counts every IM.
#[test]
fn the_ledger_follows_what_is_held_not_what_was_sent() {
    let mut c = small(11);
    c.hours = 48;
    let r = sim::run(&c, None, &mut sim::Quiet);
    assert!(r.violation.is_none(), "{:?}", r.violation);
    let s = &r.summary;
    let sent = s.routes.live + s.routes.offline + s.routes.missed_message + s.routes.unavailable;
    let peak = |from_h: u64, to_h: u64| {
        r.samples
            .iter()
            .filter(|p| (from_h * 3_600_000..to_h * 3_600_000).contains(&p.at_ms))
            .map(|p| p.ledger_records)
            .max()
            .unwrap()
    };
    let (day1, day2) = (peak(0, 24), peak(24, 48));
    assert!(
        day1 > 0 && day2 > 0,
        "the ledger is sampled: {day1}, {day2}"
    );
    assert!(
        day2 * 10 < sent,
        "the ledger peaked at {day2} records for {sent} IMs sent"
    );
    assert!(
        day2 < day1 * 3 / 2,
        "the ledger grew with the events: day 1 peak {day1}, day 2 peak {day2}"
    );
}

/// DEC-050: the simulator's `deployment.ews_latency_ms` is checked against
/// the deployment option's own row of `domain::RANGES`, so a scenario, a
/// `reset` and a simulator config accept exactly the same latencies.
#[test]
fn dec_050_the_simulator_checks_ews_latency_against_the_shared_range() {
    use offline_im::rules::domain::EWS_LATENCY_MS;
    let with = |v: u64| {
        sim::DEFAULT_CONFIG.replace("ews_latency_ms = 2000", &format!("ews_latency_ms = {v}"))
    };
    for v in [EWS_LATENCY_MS.min, EWS_LATENCY_MS.max] {
        SimConfig::load("ok.toml", &with(v)).unwrap_or_else(|e| panic!("{v}: {e}"));
    }
    for v in [EWS_LATENCY_MS.max + 1, u64::MAX] {
        let e = SimConfig::load("bad.toml", &with(v)).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "found deployment.ews_latency_ms = {v}, expected 0 to {} ms",
                EWS_LATENCY_MS.max
            )
        );
    }
}
