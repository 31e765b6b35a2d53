//! Helpers shared by the integration tests (included with `mod common;`).

#![allow(dead_code)]

use offline_im::formats::scenario::{self, Scenario};
use offline_im::rules::world::{Event, World};
use std::path::PathBuf;

/// Every scenario file in models/, sorted by name.
pub fn model_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("models/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs the command line with `args`, returning the exit code, stdout and
/// stderr.
#[cfg(feature = "cli")]
pub fn cli(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("offline-im".to_string()).chain(args.iter().map(|a| a.to_string()));
    let code = offline_im::cli::main_with(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("UTF-8 on stdout"),
        String::from_utf8(err).expect("UTF-8 on stderr"),
    )
}

/// The checker model of `models/<file>` with `from` replaced by `to` in
/// its text, which must change it.
#[cfg(feature = "check")]
pub fn check_model_replacing(file: &str, from: &str, to: &str) -> offline_im::check::CheckModel {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    let text = std::fs::read_to_string(path).expect("readable");
    let changed = text.replace(from, to);
    assert_ne!(changed, text, "`{from}` is in models/{file}");
    let s = scenario::load(file, &changed).unwrap_or_else(|e| panic!("{e}"));
    offline_im::check::CheckModel::new(&s).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads a scenario from inline text, panicking with the diagnostic.
pub fn load(text: &str) -> Scenario {
    scenario::load("inline.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// A world for an inline scenario, with setup and initial sign-ins applied.
pub fn world(text: &str) -> (Scenario, World) {
    let s = load(text);
    let w = s
        .initial_world(std::sync::Arc::clone(&s.deployment))
        .unwrap_or_else(|e| panic!("{e}"));
    (s, w)
}

/// A compact deployment: Contoso (Server 2015 CU3, site Redmond, federated
/// with Fabrikam) with Tony, Ken and Ann; Fabrikam (Online) with Pat.
pub const BASE: &str = r#"
name = "base"
[[deployment.orgs]]
name = "contoso"
profile = "server"
server_version = "2015-cu3"
sites = ["Redmond"]
federated_with = ["fabrikam"]
[[deployment.orgs]]
name = "fabrikam"
profile = "online"
[[deployment.users]]
name = "Tony Smith"
org = "contoso"
site = "Redmond"
mailbox = "online"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-07-12"
signed_in = true
[[deployment.users]]
name = "Ken Myer"
org = "contoso"
site = "Redmond"
mailbox = "online"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-07-12"
[[deployment.users]]
name = "Ann Beebe"
org = "contoso"
mailbox = "on-premises"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-07-12"
[[deployment.users]]
name = "Pat Coleman"
org = "fabrikam"
mailbox = "online"
install = "c2r"
build = "16.0.6920.1000"
released = "2016-07-12"
"#;

/// Applies an event, panicking on rejection.
pub fn apply(w: &mut World, e: Event) -> offline_im::rules::world::Outcome {
    w.apply(&e).unwrap_or_else(|err| panic!("{e:?}: {err}"))
}

/// Asserts that every invariant holds.
pub fn assert_invariants(w: &World) {
    let v = offline_im::rules::invariants::violations(&w.deployment, &w.state);
    assert!(v.is_empty(), "invariants violated: {v:?}");
}
