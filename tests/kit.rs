//! The conformance kit as a library user gets it, with only the
//! `conformance` feature (CI runs this file under
//! `--no-default-features --features conformance`): `assert_conforms`
//! passes the reference and catches a one-rule bug (a recipient in Do Not
//! Disturb routed as if Available), in process, with no
//! model checker, simulator or command line built.

use offline_im::conformance::{self, ConformOptions, Reference};

// The deliberately wrong implementations need only the conformance kit too.
#[path = "../examples/wrong_implementations.rs"]
#[allow(dead_code)]
mod wrong_implementations;

#[test]
fn conf_011_the_reference_passes_assert_conforms_with_the_kit_alone() {
    conformance::assert_conforms(&mut Reference::new(), &ConformOptions::default());
}

#[test]
fn conf_011_assert_conforms_catches_a_one_rule_bug_with_the_kit_alone() {
    let caught = std::panic::catch_unwind(|| {
        conformance::assert_conforms(
            &mut wrong_implementations::wrong("dnd-ignored").expect("a known fault"),
            &ConformOptions::default(),
        )
    });
    let payload =
        caught.expect_err("an implementation that routes Do Not Disturb as Available differs");
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.starts_with("DIFFERS: wrong implementation: dnd-ignored disagrees with the reference"),
        "{text}"
    );
    assert!(
        text.contains("replay: conformance::assert_conforms"),
        "{text}"
    );
}
