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
