//! Runs every models/*.toml scenario through the reference model, checks
//! that the run succeeds with every invariant holding after every step, and
//! pins each outcome with an insta YAML snapshot (tests/snapshots/).
//!
//! The files are run in one test, in name order, rather than with
//! `insta::glob!`, which misattributes failures when tests run in parallel.

mod common;

use offline_im::formats::report;
use offline_im::formats::scenario;

#[test]
fn every_scenario_runs_and_matches_its_snapshot() {
    let files = common::model_files();
    assert!(
        files.len() >= 20,
        "at least 20 scenarios, found {}",
        files.len()
    );
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = format!("models/{stem}.toml");
        let s = scenario::load(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        let r = report::run(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_yaml_snapshot!(stem, r);
    }
}

#[test]
fn every_scenario_names_the_requirements_it_shows() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap();
    for path in common::model_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("# Requirements:"))
            .unwrap_or_else(|| panic!("{} has no `# Requirements:` comment", path.display()));
        let ids: Vec<&str> = line["# Requirements:".len()..]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert!(
            !ids.is_empty(),
            "{}: empty requirement list",
            path.display()
        );
        for id in ids {
            assert!(
                spec.contains(&format!("**{id}**")),
                "{}: {id} is not defined in SPEC.md",
                path.display()
            );
        }
    }
}

#[test]
fn the_embedded_default_runs() {
    // The embedded text is `include_str!` of models/default.toml, so the
    // two cannot differ; what can fail is loading and running it.
    let s = scenario::load_path(None).unwrap();
    let r = report::run(&s).unwrap();
    assert!(r.steps.len() > 5);
}

#[test]
fn a_run_is_byte_identical_twice() {
    let s = scenario::load_path(None).unwrap();
    let a = serde_json::to_string(&report::run(&s).unwrap()).unwrap();
    let b = serde_json::to_string(&report::run(&s).unwrap()).unwrap();
    assert_eq!(a, b);
}
