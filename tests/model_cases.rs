//! The model-based conformance cases (DEC-068): the committed file is what
//! this build generates, byte for byte and run after run; every case,
//! replayed on the reference, reaches exactly the outcomes the file says;
//! and the cases of a world together reach every outcome its search did.

use offline_im::cli::model_cases_text;
use offline_im::conformance::{
    self, MODEL_CASES, MODEL_CASES_COMMAND, ModelCases, ModelFile, ModelPath, Op, Reference, call,
    parse_model_cases, render_model_cases,
};
use std::collections::BTreeSet;

/// One generation, compared with the committed file. That file was
/// written by an earlier run, on another machine or thread count, so the
/// comparison is also the determinism check; a second generation here
/// would double the test's 25 s of search for no more evidence.
#[test]
fn the_committed_cases_are_current_and_generation_is_deterministic() {
    let first = model_cases_text().expect("the corpus searches");
    assert!(
        first == MODEL_CASES,
        "src/conformance/model_cases.txt is not what this build generates; regenerate it with\n    {MODEL_CASES_COMMAND}\nand review the diff"
    );
}

/// The outcome keys the reference decides while it runs `ops` after a
/// `reset` to `deployment`.
fn replayed_outcomes(deployment: &serde_json::Value, ops: &[Op]) -> BTreeSet<String> {
    let mut r = Reference::new();
    call(
        &mut r,
        &Op::Reset {
            deployment: deployment.clone(),
        },
    )
    .expect("the corpus deployment loads");
    r.take_decisions();
    for op in ops {
        // A rejected op is part of a path too: its rejection is an outcome.
        let _ = call(&mut r, op);
    }
    r.take_decisions().iter().map(|d| d.key()).collect()
}

#[test]
fn every_case_reaches_exactly_what_the_file_says_and_together_all_that_was_reached() {
    let corpus = conformance::corpus().expect("the corpus loads");
    let file = parse_model_cases(MODEL_CASES).unwrap_or_else(|e| panic!("{e}"));
    let cases = conformance::model_cases(&corpus);
    let expected: Vec<(&str, &Vec<String>)> = file
        .files
        .iter()
        .flat_map(|f| f.cases.iter().map(|c| (f.file.as_str(), &c.covers)))
        .collect();
    assert_eq!(
        cases.len(),
        expected.len(),
        "a file of the cases is not in the corpus"
    );
    let mut reachable = BTreeSet::new();
    for (i, (case, (world, covers))) in cases.iter().zip(&expected).enumerate() {
        assert_eq!(case.origin, format!("model:{i}"));
        assert_eq!(case.file, *world);
        let got = replayed_outcomes(&case.deployment, &case.ops);
        let want: BTreeSet<String> = covers.iter().cloned().collect();
        assert_eq!(
            got, want,
            "{} ({world}) on the reference reaches other outcomes than the file says; regenerate with\n    {MODEL_CASES_COMMAND}",
            case.origin
        );
    }
    for f in &file.files {
        let covered: BTreeSet<&String> = f.cases.iter().flat_map(|c| &c.covers).collect();
        let reached: BTreeSet<&String> = f.reached.iter().collect();
        assert_eq!(
            covered, reached,
            "{}: the cases do not cover what was reached",
            f.file
        );
        reachable.extend(f.reached.iter().cloned());
    }
    let listed: BTreeSet<String> = conformance::reachable_outcomes().into_iter().collect();
    assert_eq!(
        listed, reachable,
        "the reachable list is not the union of the worlds'"
    );
}

#[test]
fn outcomes_known_reachable_are_listed() {
    let listed = conformance::reachable_outcomes();
    for key in [
        "dispatch/route/offline/signed-out",
        "dispatch/route/live/available",
        "spooler/response/confirmed",
        "spooler/response/given-up/recipient-has-no-mailbox",
        "exchange/create-item/duplicate-suppressed/IM.Note.MissedConversation",
    ] {
        assert!(
            listed.iter().any(|k| k == key),
            "`{key}` is reachable in the corpus but not listed"
        );
    }
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted, listed,
        "the reachable list is not sorted and unique"
    );
}

#[test]
fn a_malformed_line_is_named_by_line_and_column() {
    let e = parse_model_cases("bounds x\nfile models/a.toml\nstates many\n").unwrap_err();
    assert_eq!((e.line, e.column), (3, 8), "{e}");
    assert!(e.message.contains("found `many`"), "{e}");
    let e =
        parse_model_cases("file models/a.toml\ncase\nop {\"id\":1,\"op\":\"fly\"}\n").unwrap_err();
    assert_eq!((e.line, e.column), (3, 4), "{e}");
    let e = parse_model_cases("covers a/b/c\n").unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(e.message.contains("before any `file`"), "{e}");
    let e = parse_model_cases("file models/a.toml\nbogus\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1), "{e}");
}

#[test]
fn rendering_and_parsing_are_inverse() {
    let m = ModelCases {
        bounds: "depth 8".into(),
        files: vec![ModelFile {
            file: "models/a.toml".into(),
            states: 3,
            reached: vec!["a/b/c".into(), "d/e/f/g".into()],
            cases: vec![ModelPath {
                covers: vec!["a/b/c".into()],
                ops: vec![
                    Op::SignOut {
                        user: "alice".into(),
                    },
                    Op::Advance { to_ms: 5 },
                ],
            }],
        }],
        reachable: vec!["a/b/c".into(), "d/e/f/g".into()],
    };
    let text = render_model_cases(&m);
    assert_eq!(parse_model_cases(&text), Ok(m));
}
