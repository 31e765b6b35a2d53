//! Traceability between SPEC.md and the tests.
//!
//! An id is *defined* when SPEC.md prints it in bold (`**OIM-001**`). It is
//! *referenced by a test* when it appears in tests/*.rs (as `OIM-001` or as
//! part of a test name such as `oim_001_…`) or in a models/*.toml scenario,
//! which tests/scenarios.rs runs and snapshots.
//!
//! This test fails when a defined id has no test, when a test or scenario
//! references an id that SPEC.md lacks, or when src/ cites an undefined id.

use std::collections::BTreeSet;
use std::path::Path;

const PREFIXES: [&str; 5] = ["OIM", "DEC", "INV", "LIVE", "CONF"];

/// Every `PREFIX-nnn` in `text`; with `snake`, also `prefix_nnn`.
fn ids_in(text: &str, snake: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in PREFIXES {
        let mut forms = vec![(format!("{prefix}-"), false)];
        if snake {
            forms.push((format!("{}_", prefix.to_ascii_lowercase()), true));
        }
        for (form, is_snake) in forms {
            let mut rest = text;
            while let Some(i) = rest.find(&form) {
                let after = &rest[i + form.len()..];
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                let boundary_ok = !is_snake
                    || i == 0
                    || !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric());
                if digits.len() == 3 && boundary_ok {
                    out.insert(format!("{prefix}-{digits}"));
                }
                rest = &rest[i + form.len()..];
            }
        }
    }
    out
}

fn defined_ids(spec: &str) -> BTreeSet<String> {
    ids_in(spec, false)
        .into_iter()
        .filter(|id| spec.contains(&format!("**{id}**")))
        .collect()
}

fn read_dir_texts(dir: &Path, ext: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(read_dir_texts(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn every_spec_id_is_tested_and_every_tested_id_is_specified() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).unwrap();
    let defined = defined_ids(&spec);
    assert!(
        defined.len() >= 60,
        "SPEC.md defines only {} ids",
        defined.len()
    );

    let mut referenced = BTreeSet::new();
    let mut unknown = Vec::new();
    let sources = read_dir_texts(&root.join("tests"), "rs")
        .into_iter()
        .map(|(p, t)| (p, t, true))
        .chain(
            read_dir_texts(&root.join("models"), "toml")
                .into_iter()
                .map(|(p, t)| (p, t, false)),
        );
    for (path, text, snake) in sources {
        if path.ends_with("traceability.rs") {
            continue;
        }
        for id in ids_in(&text, snake) {
            if !defined.contains(&id) {
                unknown.push(format!("{path}: {id}"));
            }
            referenced.insert(id);
        }
    }
    for (path, text) in read_dir_texts(&root.join("src"), "rs") {
        for id in ids_in(&text, false) {
            if !defined.contains(&id) {
                unknown.push(format!("{path}: {id}"));
            }
        }
    }
    let untested: Vec<&String> = defined.difference(&referenced).collect();
    assert!(
        untested.is_empty(),
        "ids in SPEC.md that no test references: {untested:?}"
    );
    assert!(
        unknown.is_empty(),
        "ids referenced but not defined in SPEC.md: {unknown:?}"
    );
}

#[test]
fn the_scanner_finds_both_forms_and_respects_boundaries() {
    let ids = ids_in(
        "see OIM-001 and fn dec_002_x() and xinv_003 and LIVE-01",
        true,
    );
    let expected: BTreeSet<String> = ["OIM-001", "DEC-002"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ids, expected);
    let defined = defined_ids("**OIM-001** defined, OIM-002 only mentioned");
    assert_eq!(defined.len(), 1);
}
