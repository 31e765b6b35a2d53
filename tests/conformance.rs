//! The conformance kit (SPEC.md §7): the reference conforms to itself over
//! the pipe, the seven wrong implementations in examples/ are each caught
//! with the right diagnosis and a short counterexample, implementation
//! faults exit 3 without hanging or leaving a process behind, the schema
//! matches the traffic, and snapshots are insta's own format.

use offline_im::cli::main_with;
use offline_im::conformance::{
    self, Answer, ConformOptions, ErrorCode, Implementation, Op, Outcome, Reference, SCHEMA,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The seven wrong implementations, also run in-process here.
#[path = "../examples/wrong_implementations.rs"]
#[allow(dead_code)]
mod wrong_implementations;

const BIN: &str = env!("CARGO_BIN_EXE_offline-im");

fn serve_command() -> String {
    format!("{BIN} serve")
}

/// The wrong implementations of examples/, built as a program. `cargo
/// test` builds examples only as test harnesses, so the test asks cargo for
/// the program itself, with the test profile whose dependencies are built.
fn wrong_implementations() -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args([
                "build",
                "--profile",
                "test",
                "--example",
                "wrong_implementations",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = built {
        panic!("cannot build examples/wrong_implementations.rs: {e}");
    }
    let path = Path::new(BIN)
        .parent()
        .expect("the binary has a directory")
        .join("examples")
        .join("wrong_implementations");
    assert!(
        path.exists(),
        "{} is missing after the build",
        path.display()
    );
    path
}

fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("offline-im")
        .chain(args.iter().copied())
        .map(String::from);
    let code = main_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// CONF-009: the reference served over the pipe agrees with the reference
/// on the whole corpus and on generated cases.
#[test]
fn conf_009_the_reference_conforms_over_the_pipe() {
    let serve = serve_command();
    let (code, out, err) = cli(&["conform", "--impl", &serve, "--cases", "300"]);
    assert_eq!(code, 0, "{out}{err}");
    let corpus = conformance::CORPUS.len();
    assert!(
        out.contains(&format!(", {corpus} corpus, ")) && out.contains(" 300 generated;"),
        "{out}"
    );
}

/// CONF-011: the Rust trait runs the same checks in-process.
#[test]
fn conf_011_the_reference_conforms_in_process() {
    conformance::assert_conforms(
        &mut Reference::new(),
        &ConformOptions {
            cases: 200,
            ..ConformOptions::default()
        },
    );
}

/// Each wrong implementation, what its diagnosis must name, and the most
/// steps its minimal counterexample may have.
const WRONG: [(&str, &str, usize); 7] = [
    (
        "federated-as-missed-conversation",
        ".class`: expected \"IPM.Note\", found \"IM.Note.MissedConversation\"",
        4,
    ),
    ("early-pickup", ".due_ms`: expected 120000, found 60000", 3),
    (
        "per-user-grant-ignored",
        "differs at `reason`: expected nothing, found \"auto-archiving-disabled\"",
        6,
    ),
    ("crash-drops-spool", "spooler`: expected [{", 4),
    ("duplicate-after-crash", "items`: expected [{", 7),
    (
        "out-of-order",
        ".items[0].body`: expected \"Lunch at noon?\"",
        4,
    ),
    (
        "dnd-ignored",
        "`route`: expected \"missed-message\", found \"live\"",
        3,
    ),
];

/// CONF-009, CONF-012: every wrong implementation is caught, with the
/// right diagnosis, a counterexample of a handful of steps, and a replay
/// command that reproduces the same report byte for byte.
#[test]
fn conf_012_every_wrong_implementation_is_caught() {
    let binary = wrong_implementations();
    for (fault, diagnosis, steps_max) in WRONG {
        let command = format!("{} {fault}", binary.display());
        let (code, out, err) = cli(&["conform", "--impl", &command, "--cases", "50"]);
        assert_eq!(code, 1, "{fault}: {out}{err}");
        assert!(
            out.starts_with("DIFFERS: wrong implementation: "),
            "{fault}: {out}"
        );
        assert!(
            out.contains(diagnosis),
            "{fault}: expected `{diagnosis}` in\n{out}"
        );
        let steps: usize = out
            .split("minimal sequence (")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{fault}: no step count in\n{out}"));
        assert!(
            (1..=steps_max).contains(&steps),
            "{fault}: {steps} steps, expected at most {steps_max}\n{out}"
        );
        assert!(
            out.contains("--- expected\n+++ actual\n"),
            "{fault}: no diff\n{out}"
        );
        let replay = out
            .lines()
            .find_map(|l| l.strip_prefix("replay: offline-im "))
            .unwrap_or_else(|| panic!("{fault}: no replay line\n{out}"));
        let args = shell_words(replay);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (again, out_again, _) = cli(&args);
        assert_eq!(again, 1, "{fault}: the replay passed");
        // The replay runs one case, so its totals differ; the difference
        // itself, from its heading on, is the same bytes.
        // The coverage line that ends the report counts the cases run too.
        let detail = |text: &str| {
            text.split_once("\ndifference 1 of ")
                .and_then(|(_, d)| d.rsplit_once("\ncoverage: "))
                .map(|(d, _)| d.to_string())
        };
        assert_eq!(
            detail(&out_again),
            detail(&out),
            "{fault}: the replay differs"
        );
    }
}

/// Splits the replay command as `sh` would (single quotes only, which is
/// all `shell_quote` produces).
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// A wrong implementation is caught in generated cases too, where proptest
/// shrinks it: only the generated cases run with `--case gen:I`.
#[test]
fn conf_009_generated_cases_catch_and_shrink() {
    let corpus = conformance::corpus().expect("the corpus loads");
    let mut wrong = wrong_implementations::wrong("out-of-order").expect("a known fault");
    let opts = ConformOptions {
        cases: 4096,
        seed: 1,
        steps: 24,
        ..ConformOptions::default()
    };
    // Skip the corpus: find the first generated case that catches it.
    let mut caught = None;
    for i in 0..opts.cases {
        let only = ConformOptions {
            only: Some(format!("gen:{i}")),
            ..opts.clone()
        };
        let outcome = conformance::conform(&mut wrong, &corpus, &only).expect("a known case");
        if let Outcome::Differs { mut found, .. } = outcome {
            let first = found.remove(0);
            caught = Some((first.case, first.difference));
            break;
        }
    }
    let (case, difference) = caught.expect("some generated case sends two messages");
    assert!(case.origin.starts_with("gen:"));
    assert!(case.ops.len() <= 8, "not shrunk: {:#?}", case.ops);
    let sends = case
        .ops
        .iter()
        .filter(|op| matches!(op, Op::Send { .. }))
        .count();
    assert_eq!(sends, 2, "{:#?}", case.ops);
    assert!(
        conformance::diagnose(&difference).contains(".items"),
        "{difference:?}"
    );
    // 1-minimal: removing any op makes it agree.
    let mut reference = Reference::new();
    for i in 0..case.ops.len() {
        let mut smaller = case.clone();
        smaller.ops.remove(i);
        let v = conformance::check_case(&mut wrong, &mut reference, &smaller);
        assert_eq!(
            v,
            conformance::Verdict::Agrees,
            "removing op {i} still differs"
        );
    }
}

/// CONF-011: `assert_conforms` panics with the minimal counterexample.
#[test]
fn conf_011_assert_conforms_panics_with_the_counterexample() {
    let caught = std::panic::catch_unwind(|| {
        conformance::assert_conforms(
            &mut wrong_implementations::wrong("out-of-order").expect("a known fault"),
            &ConformOptions {
                cases: 10,
                ..ConformOptions::default()
            },
        )
    });
    let payload = caught.expect_err("a reordering implementation does not conform");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.starts_with("DIFFERS: wrong implementation: out-of-order disagrees"),
        "{text}"
    );
    assert!(text.contains("minimal sequence"), "{text}");
    assert!(
        text.contains("replay: conformance::assert_conforms"),
        "{text}"
    );
}

/// Each fault, the implementation that commits it, and what the report
/// must say.
fn faults() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "exits",
            "echo 'dying now' >&2; exit 0".into(),
            "exited (exit status: 0)",
        ),
        (
            "not JSON",
            "read l; echo 'hello there'; sleep 5".into(),
            "not JSON",
        ),
        (
            "wrong id",
            r#"while read l; do echo '{"id":999,"ok":true,"result":{}}'; done"#.into(),
            "answered with id 999",
        ),
        (
            "missing fields",
            r#"read l; echo '{"id":1,"ok":true}'; sleep 5"#.into(),
            "lacks or mistypes `result`",
        ),
        (
            "another protocol",
            r#"read l; echo '{"id":1,"ok":true,"result":{"protocol":"offline-im/0","implementation":"old"}}'; sleep 5"#.into(),
            "speaks \"offline-im/0\"",
        ),
        (
            "silent",
            "sleep 30.25".into(),
            "did not answer request 1 (`hello offline-im/1`) within 300 ms",
        ),
    ]
}

/// CONF-008: every implementation fault exits 3 with its diagnosis, never
/// hangs, and leaves no process behind.
#[test]
fn conf_008_faults_exit_3_and_leave_nothing_behind() {
    for (name, command, says) in faults() {
        let started = Instant::now();
        let (code, out, err) = cli(&["conform", "--impl", &command, "--timeout-ms", "300"]);
        assert_eq!(code, 3, "{name}: {out}{err}");
        assert!(out.starts_with("FAULT in case hello: "), "{name}: {out}");
        assert!(out.contains(says), "{name}: expected `{says}` in {out}");
        assert!(
            out.contains("replay: offline-im conform --impl "),
            "{name}: {out}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{name}: took {:?}",
            started.elapsed()
        );
    }
    // What a dying implementation wrote to stderr is shown.
    let (_, out, _) = cli(&["conform", "--impl", "echo 'dying now' >&2; exit 0"]);
    assert!(
        out.contains("stderr, last 1 lines:\n  | dying now\n"),
        "{out}"
    );
    // The silent implementation's `sleep 30.25` must be gone.
    assert!(
        !processes().iter().any(|c| c.contains("sleep 30.25")),
        "an implementation outlived the run"
    );
}

/// The command lines of every process on the machine.
fn processes() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            out.push(String::from_utf8_lossy(&raw).replace('\0', " "));
        }
    }
    out
}

/// CONF-008: a fault in the middle of a case (the implementation dies
/// after a few answers) is reported with the request in flight.
#[test]
fn conf_008_a_crash_mid_case_is_a_fault_with_the_request_in_flight() {
    // The loop forwards three request lines unbuffered, then ends the
    // input; serve answers them and exits.
    let command =
        format!("for i in 1 2 3; do read -r l; printf '%s\\n' \"$l\"; done | {BIN} serve");
    let (code, out, _) = cli(&[
        "conform",
        "--impl",
        &command,
        "--timeout-ms",
        "2000",
        "--only",
        "corpus",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("exited"), "{out}");
    assert!(out.contains("while request 4"), "{out}");
}

/// Bad flags and unknown cases exit 2 and name what was expected.
#[test]
fn bad_conform_input_exits_2() {
    let serve = serve_command();
    let (code, _, err) = cli(&[
        "conform", "--impl", &serve, "--case", "gen:99", "--cases", "5",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("found `--case gen:99`, expected `gen:<i>`"),
        "{err}"
    );
    let (code, _, err) = cli(&["conform", "--impl", &serve, "--steps", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--steps"), "{err}");
    let (code, _, err) = cli(&["conform"]);
    assert_eq!(code, 2);
    assert!(err.contains("--impl"), "{err}");
}

/// CONF-001, CONF-002, CONF-007: `serve` answers every line in order, echoes
/// ids, and turns bad lines into `bad_request` answers.
#[test]
fn conf_001_serve_answers_every_line() {
    let input = [
        r#"{"id":1,"op":"hello","protocol":"offline-im/1"}"#.to_string(),
        "not json".into(),
        r#"{"op":"observe"}"#.into(),
        r#"{"id":4,"op":"observe"}"#.into(),
        r#"{"id":5,"op":"fly"}"#.into(),
        r#"{"id":6,"op":"advance"}"#.into(),
        String::new(),
        "x".repeat(conformance::LINE_BYTES_MAX + 10),
        r#"{"id":9,"op":"hello","protocol":"offline-im/9"}"#.into(),
    ]
    .join("\n");
    let mut bytes = input.into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    let mut out = Vec::new();
    conformance::serve(&mut Reference::new(), &bytes[..], &mut out).expect("serves");
    let answers: Vec<Value> = String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every answer is JSON"))
        .collect();
    let summary: Vec<(Value, Value, Value)> = answers
        .iter()
        .map(|a| (a["id"].clone(), a["ok"].clone(), a["code"].clone()))
        .collect();
    let expect = |id: Value, ok: bool, code: Option<&str>| {
        (id, Value::Bool(ok), code.map_or(Value::Null, Value::from))
    };
    assert_eq!(
        summary,
        vec![
            expect(Value::from(1), true, None),
            expect(Value::Null, false, Some("bad_request")),
            expect(Value::Null, false, Some("bad_request")),
            expect(Value::from(4), false, Some("no_deployment")),
            expect(Value::from(5), false, Some("bad_request")),
            expect(Value::from(6), false, Some("bad_request")),
            // The empty line: it is not JSON (CONF-001).
            expect(Value::Null, false, Some("bad_request")),
            expect(Value::Null, false, Some("bad_request")),
            expect(Value::from(9), false, Some("bad_request")),
            expect(Value::Null, false, Some("bad_request")),
        ]
    );
}

/// CONF-003, CONF-004, CONF-005: the ops drive the rule book: a send's
/// route and id, the two-minute pickup on `advance`, and rejections.
#[test]
fn conf_004_ops_drive_the_rule_book() {
    let corpus = conformance::corpus().expect("the corpus loads");
    let default = corpus
        .iter()
        .find(|c| c.scenario.file == "models/default.toml")
        .expect("the default scenario");
    let mut r = Reference::new();
    assert_eq!(
        r.send("Tony Smith", "Ken Myer", "x").unwrap_err().code,
        ErrorCode::NoDeployment
    );
    r.reset(&default.deployment)
        .expect("the default deployment loads");
    assert_eq!(
        r.send("Tony Smith", "Ken Myer", "x").expect("a route"),
        serde_json::json!({ "id": "m1", "route": "unavailable", "reason": "sender-signed-out" }),
    );
    assert_eq!(
        r.sign_out("Tony Smith").unwrap_err().code,
        ErrorCode::Rejected,
        "already signed out"
    );
    r.sign_in("Tony Smith", "available").expect("sign in");
    assert_eq!(
        r.sign_in("Nobody", "available").unwrap_err().code,
        ErrorCode::UnknownName
    );
    assert_eq!(
        r.sign_in("Ken Myer", "sleepy").unwrap_err().code,
        ErrorCode::BadRequest,
        "presence names are the protocol's (CONF-003)"
    );
    let sent = r.send("Tony Smith", "Ken Myer", "hi").expect("send");
    assert_eq!(
        sent,
        serde_json::json!({ "id": "m2", "route": "offline" }),
        "m1 was the unavailable send"
    );
    r.advance(119_999).expect("advance");
    let o = r.observe().expect("observe");
    assert_eq!(
        o["users"][1].get("folders"),
        None,
        "nothing before two minutes: {o}"
    );
    assert_eq!(o["users"][0]["spooler"][0]["status"], "waiting");
    r.advance(200_000).expect("advance");
    let o = r.observe().expect("observe");
    assert_eq!(o["clock_ms"], 200_000);
    assert_eq!(o["users"][1]["folders"][0]["items"][0]["body"], "hi", "{o}");
    assert_eq!(r.advance(10).unwrap_err().code, ErrorCode::Rejected);
    assert_eq!(
        r.admin("contoso", "Set-CsNothing").unwrap_err().code,
        ErrorCode::Cmdlet
    );
    let bad = serde_json::json!({ "orgs": [], "users": [{ "name": "x", "signed_in": true }] });
    assert_eq!(r.reset(&bad).unwrap_err().code, ErrorCode::BadDeployment);
    let bad = serde_json::json!({ "orgs": [], "users": [], "colour": "blue" });
    let e = r.reset(&bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadDeployment);
    assert!(e.message.contains("colour"), "{}", e.message);
}

/// CONF-006: observations are canonical: the same state serialises to the
/// same bytes, and a corpus run gives byte-identical transcripts twice.
#[test]
fn conf_006_transcripts_are_byte_identical() {
    let corpus = conformance::corpus().expect("the corpus loads");
    let run = || {
        let mut r = Reference::new();
        corpus
            .iter()
            .map(|c| {
                let case = conformance::scenario_case(c);
                let requests = case.requests();
                let answers: Vec<Answer> = requests
                    .iter()
                    .map(|op| conformance::call(&mut r, op))
                    .collect();
                conformance::snapshot_text(&case.file, &requests, &answers)
            })
            .collect::<Vec<_>>()
            .join("")
    };
    let first = run();
    assert!(first.len() > 10_000);
    assert_eq!(first, run());
}

/// CONF-001: the schema is valid JSON Schema, every request and answer of
/// a corpus run and of generated cases validates, and malformed lines do
/// not.
#[test]
fn conf_001_the_schema_matches_the_traffic() {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    assert!(
        jsonschema::meta::is_valid(&schema),
        "not a valid JSON Schema"
    );
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let corpus = conformance::corpus().expect("the corpus loads");
    let cases = corpus
        .iter()
        .map(conformance::scenario_case)
        .chain(conformance::generated_cases(
            &corpus,
            &ConformOptions::default(),
        ));
    let mut r = Reference::new();
    let mut lines = 0;
    let mut rejections = 0;
    for case in cases {
        for (i, op) in case.requests().iter().enumerate() {
            let id = i as u64;
            let request: Value =
                serde_json::from_str(&conformance::encode_request(id, op)).unwrap();
            assert!(validator.is_valid(&request), "request {request}");
            let answer = conformance::call(&mut r, op);
            rejections += usize::from(answer.is_err());
            let line: Value =
                serde_json::from_str(&conformance::encode_answer(Some(id), &answer)).unwrap();
            if let Err(e) = validator.validate(&line) {
                panic!("answer {line}: {e}");
            }
            lines += 2;
        }
    }
    assert!(
        lines > 5_000 && rejections > 10,
        "{lines} lines, {rejections} rejections"
    );
    for bad in [
        r#"{"id":1,"op":"fly"}"#,
        r#"{"op":"observe"}"#,
        r#"{"id":1,"op":"send","from":"a","to":"b"}"#,
        r#"{"id":1,"op":"sign_in","user":"a","presence":"sleepy"}"#,
        r#"{"id":1,"ok":true}"#,
        r#"{"id":1,"ok":false,"code":"oops","message":"m"}"#,
        r#"{"id":1,"ok":true,"result":{"id":"m1","route":"teleport"}}"#,
    ] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert!(!validator.is_valid(&v), "accepted {bad}");
    }
}

/// `offline-im schema` prints the schema.
#[test]
fn the_schema_command_prints_the_schema() {
    let (code, out, _) = cli(&["schema"]);
    assert_eq!(code, 0);
    assert_eq!(out, SCHEMA);
}

/// CONF-010: `snapshot` writes insta's own format: insta reads every file
/// back and finds the contents the in-process reference produces.
#[test]
fn conf_010_snapshots_are_insta_files() {
    let dir = std::env::temp_dir().join(format!("offline-im-snap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let serve = serve_command();
    let dir_text = dir.display().to_string();
    let (code, out, err) = cli(&["snapshot", "--impl", &serve, "--out", &dir_text]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("wrote {} snapshots", conformance::CORPUS.len())),
        "{out}"
    );
    assert_same_as_reference(&dir);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// CONF-010: the project's own conformance snapshots of the reference
/// (tests/snapshots/conformance/) are current.
#[test]
fn conf_010_the_committed_reference_snapshots_are_current() {
    assert_same_as_reference(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/conformance"),
    );
}

fn assert_same_as_reference(dir: &Path) {
    let corpus = conformance::corpus().expect("the corpus loads");
    let mut r = Reference::new();
    for entry in &corpus {
        let case = conformance::scenario_case(entry);
        let requests = case.requests();
        let answers: Vec<Answer> = requests
            .iter()
            .map(|op| conformance::call(&mut r, op))
            .collect();
        let text = conformance::snapshot_text(&case.file, &requests, &answers);
        let stem = Path::new(&case.file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let file = dir.join(format!("{stem}.snap"));
        let snap =
            insta::Snapshot::from_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(snap.metadata().expression(), Some(case.file.as_str()));
        insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(stem, text);
        });
    }
}

/// The figure after `label` in a report, e.g. `cases that differ: 7`.
fn figure_after(out: &str, label: &str) -> u64 {
    out.split(label)
        .nth(1)
        .and_then(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .find(|w| !w.is_empty())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure after `{label}` in\n{out}"))
}

/// CONF-016: `--keep-going` runs every case and ends with totals; each
/// distinct difference is shrunk and printed once with its replay line; and
/// the same options give the same bytes, coverage table included.
#[test]
fn conf_016_keep_going_reports_totals_and_each_distinct_difference_once() {
    let binary = wrong_implementations();
    let command = format!("{} dnd-ignored", binary.display());
    let args = [
        "conform",
        "--impl",
        &command,
        "--keep-going",
        "--cases",
        "64",
        "--coverage",
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 1, "{out}{err}");
    let run = figure_after(&out, "cases run: ");
    let corpus = conformance::CORPUS.len() as u64;
    assert!(run >= corpus + 64, "not every case ran: {run}\n{out}");
    let differ = figure_after(&out, "cases that differ: ");
    let distinct = out.matches("\ndifference ").count() as u64;
    assert!(distinct >= 1, "{out}");
    assert!(
        differ > distinct,
        "{differ} differing cases should share fewer distinct differences than {distinct}\n{out}"
    );
    assert_eq!(out.matches("\nreplay: ").count() as u64, distinct, "{out}");
    let mut signatures: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("difference "))
        .filter_map(|l| l.split_once("): ").map(|(_, s)| s))
        .collect();
    let listed = signatures.len();
    signatures.sort_unstable();
    signatures.dedup();
    assert_eq!(
        signatures.len(),
        listed,
        "a difference printed twice\n{out}"
    );
    assert!(out.contains("\ncoverage: "), "{out}");
    let (_, again, _) = cli(&args);
    assert_eq!(again, out, "the same options gave different bytes");

    // Without `--keep-going` the run stops at the first difference.
    let (code, first, _) = cli(&["conform", "--impl", &command, "--cases", "64"]);
    assert_eq!(code, 1);
    assert_eq!(first.matches("\ndifference ").count(), 1, "{first}");
    assert_eq!(figure_after(&first, "cases that differ: "), 1, "{first}");
}

/// CONF-009: `--only` runs one source and `--no-corpus` leaves the corpus
/// out; the totals say which cases ran.
#[test]
fn conf_009_only_and_no_corpus_select_the_sources() {
    let serve = serve_command();
    let (code, out, err) = cli(&["conform", "--impl", &serve, "--only", "corpus"]);
    assert_eq!(code, 0, "{out}{err}");
    let corpus = conformance::CORPUS.len();
    assert!(
        out.contains(&format!(
            "(0 protocol, {corpus} corpus, 0 model-based, 0 generated;"
        )),
        "{out}"
    );
    let (code, out, err) = cli(&["conform", "--impl", &serve, "--no-corpus", "--cases", "10"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(" protocol, 0 corpus, ") && out.contains(", 10 generated;"),
        "{out}"
    );
    let (code, _, err) = cli(&[
        "conform",
        "--impl",
        &serve,
        "--no-corpus",
        "--only",
        "model",
    ]);
    assert_eq!(code, 2, "--no-corpus and --only conflict: {err}");
}

/// CONF-009, CONF-012: every wrong implementation of examples/ is
/// caught by `conform --no-corpus` at default options, by a model-based
/// case (CONF-015), a swarm-generated case in a corpus or generated world
/// (CONF-014, CONF-018) of at most 8 steps, or a protocol edge case
/// (CONF-017).
#[test]
fn conf_012_every_wrong_implementation_is_caught_without_the_corpus() {
    let binary = wrong_implementations();
    for fault in wrong_implementations::FAULTS {
        let command = format!("{} {fault}", binary.display());
        let (code, out, err) = cli(&["conform", "--impl", &command, "--no-corpus"]);
        assert_eq!(code, 1, "{fault}: {out}{err}");
        if out.contains("\nedge case `") {
            continue;
        }
        let steps = figure_after(&out, "minimal sequence (");
        assert!(
            (1..=8).contains(&steps),
            "{fault}: {steps} steps, expected at most 8\n{out}"
        );
        assert!(
            out.contains("  case: model:") || out.contains("  case: gen:"),
            "{fault}: caught by neither a model-based nor a generated case\n{out}"
        );
    }
}

/// CONF-016: a default run against the reference takes every reachable
/// decision outcome, the kit's own coverage, and its table is the
/// committed one.
#[test]
fn conf_016_a_default_run_takes_every_reachable_outcome() {
    let corpus = conformance::corpus().expect("the corpus loads");
    let outcome = conformance::conform(&mut Reference::new(), &corpus, &ConformOptions::default())
        .expect("the default options name no case");
    let Outcome::Conforms {
        coverage, totals, ..
    } = outcome
    else {
        panic!("the reference differs from itself: {outcome:?}");
    };
    assert!(
        totals.model_cases > 0 && totals.protocol_cases > 0,
        "{totals:?}"
    );
    assert!(
        coverage.reachable.len() > 50,
        "{} reachable",
        coverage.reachable.len()
    );
    assert_eq!(
        coverage.unexercised(),
        Vec::<&str>::new(),
        "{}",
        coverage.render()
    );
    // The kit's own coverage table, committed: every outcome with its SPEC
    // ids and the number of default cases that took it. A change to the
    // generator, the model-based cases or the rule book shows here as a
    // reviewed diff (`cargo insta review`).
    insta::assert_snapshot!("kit_coverage", coverage.render());
}

/// CONF-015: `--model-worlds N` searches N generated worlds at run time
/// for model-based cases after the committed ones, and finds what the
/// corpus worlds' cases cannot: no corpus world combines a writer without
/// a mailbox with EWS unpublished, so DEC-033's order between the two is
/// only tested in a generated world. The replay line carries the flag.
#[test]
fn conf_015_generated_worlds_are_searched_at_run_time() {
    let serve = serve_command();
    let (code, out, err) = cli(&[
        "conform",
        "--impl",
        &serve,
        "--only",
        "model",
        "--model-worlds",
        "5",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let committed =
        conformance::model_cases(&conformance::corpus().expect("the corpus loads")).len();
    let run = figure_after(&out, "cases run: ");
    assert!(
        run as usize > committed,
        "{run} cases, {committed} committed\n{out}"
    );

    let binary = wrong_implementations();
    let command = format!("{} ews-before-own-mailbox", binary.display());
    let only_model = ["conform", "--impl", &command, "--only", "model"];
    let (code, out, _) = cli(&only_model);
    assert_eq!(
        code, 0,
        "the committed cases catch it now: pick another fault\n{out}"
    );
    let mut with_worlds = only_model.to_vec();
    with_worlds.extend(["--model-worlds", "20"]);
    let (code, out, err) = cli(&with_worlds);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("on the deployment of generated world "),
        "{out}"
    );
    let replay = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: offline-im "))
        .unwrap_or_else(|| panic!("no replay line\n{out}"));
    assert!(replay.contains("--model-worlds 20"), "{replay}");
    let args = shell_words(replay);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (again, out_again, _) = cli(&args);
    assert_eq!(again, 1, "the replay passed\n{out_again}");
}
