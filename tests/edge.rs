//! The protocol edge cases of CONF-017 and DEC-065 (`conformance::edge_cases`, SPEC.md §7): the
//! reference has no edge difference with itself, served as a process or in
//! process; the reference's answers are the ones each case was written for;
//! and implementations that part from the reference on one edge are caught
//! in the case that exercises it.

use offline_im::conformance::{
    self, Answer, Driver, EDGE_LINES_MAX, ErrorCode, Fault, Op, Process, RawAnswer, Reference,
    check_edge_cases, edge_cases, edge_replay, render_edge_differences,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// `offline-im serve`, as a command line for `sh -c`.
fn serve_command() -> String {
    format!("'{}' serve", env!("CARGO_BIN_EXE_offline-im"))
}

/// The names of the cases in which `imp`, after `hello`, differs from the
/// reference, and the rendered differences.
fn differing_cases(imp: &mut dyn Driver) -> (BTreeSet<&'static str>, String) {
    conformance::hello(imp).expect("hello is answered");
    let differences =
        check_edge_cases(imp, &mut Reference::new()).expect("the edge cases are answered");
    let text = render_edge_differences(&differences, "IMPL");
    (differences.iter().map(|d| d.case).collect(), text)
}

/// The reference's answers, case by case, as `case: id:code …` lines
/// (`id:ok` for `ok: true`).
fn reference_summary() -> String {
    let mut reference = Reference::new();
    edge_cases()
        .iter()
        .map(|case| {
            let answers = reference
                .exchange_lines(&case.lines)
                .expect("the reference answers");
            let codes: Vec<String> = answers.iter().map(short).collect();
            format!("{}: {}", case.name, codes.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn short(a: &RawAnswer) -> String {
    let code = match a.code {
        None => "ok".to_string(),
        Some(c) => serde_json::to_value(c)
            .expect("a code")
            .as_str()
            .expect("a string")
            .to_string(),
    };
    format!("{}:{code}", a.id)
}

#[test]
fn the_reference_served_as_a_process_has_no_edge_difference() {
    let mut p = Process::spawn(&serve_command(), Duration::from_secs(10)).expect("serve starts");
    let (cases, text) = differing_cases(&mut p);
    assert!(cases.is_empty(), "{text}");
    // The conversation goes on after the raw lines: ids are the kit's again.
    let answers = p.exchange(&[Op::Observe]).expect("observe is answered");
    assert!(answers[0].is_ok(), "{answers:?}");
}

#[test]
fn the_reference_in_process_has_no_edge_difference() {
    let (cases, text) = differing_cases(&mut Reference::new());
    assert!(cases.is_empty(), "{text}");
}

/// `before-reset` runs first, every line is one line (no LF), names are
/// unique, and the corpus stays within its bound.
#[test]
fn the_corpus_starts_before_reset_and_is_bounded() {
    let cases = edge_cases();
    assert_eq!(cases[0].name, "before-reset");
    assert!(
        !cases[0]
            .lines
            .iter()
            .take(cases[0].lines.len() - 1)
            .any(|l| l.windows(7).any(|w| w == b"\"reset\"")),
        "only the last line of before-reset may be a reset"
    );
    for case in &cases[1..] {
        assert!(
            case.lines[0].starts_with(br#"{"id":"#)
                && case.lines[0].windows(7).any(|w| w == b"\"reset\""),
            "{} starts with its own reset",
            case.name
        );
    }
    let names: BTreeSet<_> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len());
    let total: usize = cases.iter().map(|c| c.lines.len()).sum();
    assert!(total <= EDGE_LINES_MAX, "{total} lines");
    for case in &cases {
        assert!(
            !case.lines.iter().any(|l| l.contains(&b'\n')),
            "{}",
            case.name
        );
    }
}

/// Each case draws the answers it was written for from the reference:
/// this pins the corpus, so that a line meant to be `no_deployment` does
/// not turn into `bad_request` by a typo.
#[test]
fn the_reference_answers_each_case_as_it_was_written_for() {
    let expected = include_str!("edge_reference_answers.txt");
    assert_eq!(reference_summary(), expected.trim_end());
}

/// The replay feeds a case byte for byte: through `cat` it gives back
/// `hello` and the lines, the 1 MiB ones, the invalid UTF-8 and the quotes
/// included.
#[test]
fn a_replay_feeds_the_case_byte_for_byte() {
    for case in edge_cases() {
        let command = edge_replay(&case, "cat");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .output()
            .expect("sh runs");
        let mut expected = br#"{"id":0,"op":"hello","protocol":"offline-im/1"}"#.to_vec();
        expected.push(b'\n');
        for line in &case.lines {
            expected.extend_from_slice(line);
            expected.push(b'\n');
        }
        assert!(out.stdout == expected, "{}: the replay differs", case.name);
    }
}

/// A wrapper round the reference that rewrites each raw line, or answers
/// it itself, before the reference sees it.
struct Wrong {
    reference: Reference,
    line: fn(&mut bool, &[u8]) -> Result<Vec<u8>, RawAnswer>,
    reset_seen: bool,
}

impl Driver for Wrong {
    fn exchange(&mut self, ops: &[Op]) -> Result<Vec<Answer>, Fault> {
        self.reference.exchange(ops)
    }

    fn exchange_lines(&mut self, lines: &[Vec<u8>]) -> Result<Vec<RawAnswer>, Fault> {
        let mut answers = Vec::new();
        for line in lines {
            match (self.line)(&mut self.reset_seen, line) {
                Ok(rewritten) => answers.extend(self.reference.exchange_lines(&[rewritten])?),
                Err(answer) => answers.push(answer),
            }
        }
        Ok(answers)
    }
}

fn wrong(line: fn(&mut bool, &[u8]) -> Result<Vec<u8>, RawAnswer>) -> Wrong {
    Wrong {
        reference: Reference::new(),
        line,
        reset_seen: false,
    }
}

/// Checks that the wrapper with `line` differs from the reference in
/// `case` alone, and that the rendered differences contain `shown`.
fn assert_caught_in(
    line: fn(&mut bool, &[u8]) -> Result<Vec<u8>, RawAnswer>,
    case: &str,
    shown: &str,
) {
    let (cases, text) = differing_cases(&mut wrong(line));
    assert_eq!(cases, BTreeSet::from([case]), "{text}");
    assert!(text.contains(shown), "{text}");
}

fn unreadable(code: ErrorCode) -> RawAnswer {
    RawAnswer {
        id: Value::Null,
        ok: false,
        code: Some(code),
        message: "wrong on purpose".into(),
    }
}

#[test]
fn an_implementation_that_trims_no_break_spaces_is_caught_in_framing() {
    assert_caught_in(
        |_, line| {
            Ok(match std::str::from_utf8(line) {
                Ok(text) => text.trim_matches('\u{a0}').as_bytes().to_vec(),
                Err(_) => line.to_vec(),
            })
        },
        "framing",
        "\\u{a0}\n    expected id null: bad_request",
    );
}

#[test]
fn an_implementation_that_cannot_read_id_1_0_is_caught_in_integers() {
    assert_caught_in(
        |_, line| {
            if line.windows(9).any(|w| w == br#""id":1.0,"#) {
                Err(unreadable(ErrorCode::BadRequest))
            } else {
                Ok(line.to_vec())
            }
        },
        "integers",
        "expected id 1: ok",
    );
}

#[test]
fn an_implementation_that_answers_no_deployment_to_a_malformed_line_is_caught_before_reset() {
    assert_caught_in(
        |reset_seen, line| {
            let json = serde_json::from_slice::<Value>(line);
            if json.as_ref().is_ok_and(|v| v["op"] == "reset") {
                *reset_seen = true;
            }
            if !*reset_seen && json.is_err() {
                Err(unreadable(ErrorCode::NoDeployment))
            } else {
                Ok(line.to_vec())
            }
        },
        "before-reset",
        "actual   id null: no_deployment",
    );
}
