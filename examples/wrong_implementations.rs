//! Seven deliberately wrong implementations of `offline-im/1`, each a small
//! variation of the reference, to show that `offline-im conform` catches
//! each with a short counterexample (tests/conformance.rs runs them all).
//!
//! Run one as an implementation under test:
//!
//! ```text
//! cargo build --examples
//! offline-im conform --impl "target/debug/examples/wrong_implementations dnd-ignored"
//! ```
//!
//! It is also the template for an in-process implementation: implement
//! `conformance::Implementation`, then either call
//! `conformance::assert_conforms` from a test or `conformance::serve` from
//! `main` to speak the protocol on stdin and stdout.

use offline_im::conformance::{self, Answer, Implementation, Reference};
use serde_json::Value;
use std::process::ExitCode;

/// The faults, by the name given on the command line.
const FAULTS: [&str; 7] = [
    "federated-as-missed-conversation",
    "early-pickup",
    "per-user-grant-ignored",
    "crash-drops-spool",
    "duplicate-after-crash",
    "out-of-order",
    "dnd-ignored",
];

pub struct Wrong {
    fault: &'static str,
    inner: Reference,
}

/// The wrong implementation named `fault`, if there is one. tests/
/// conformance.rs also runs them in-process through this.
pub fn wrong(fault: &str) -> Option<Wrong> {
    let fault = FAULTS.iter().find(|f| **f == fault)?;
    Some(Wrong {
        fault,
        inner: Reference::new(),
    })
}

impl Wrong {
    /// Applies `f` to every folder's item list of an observation.
    fn each_folder(mut observation: Value, f: impl Fn(&mut Vec<Value>)) -> Value {
        // `get_mut`, not indexing: indexing a missing key would add it.
        let users = observation.get_mut("users").and_then(Value::as_array_mut);
        for user in users.into_iter().flatten() {
            let folders = user.get_mut("folders").and_then(Value::as_array_mut);
            for folder in folders.into_iter().flatten() {
                if let Some(items) = folder.get_mut("items").and_then(Value::as_array_mut) {
                    f(items);
                }
            }
        }
        observation
    }

    /// The recipient's presence in the inner world, by name.
    fn presence_of(&mut self, user: &str) -> Option<String> {
        let observation = self.inner.observe().ok()?;
        observation["users"]
            .as_array()?
            .iter()
            .find(|u| u["name"] == user)?
            .get("presence")?
            .as_str()
            .map(str::to_string)
    }
}

impl Implementation for Wrong {
    fn name(&self) -> String {
        format!("wrong implementation: {}", self.fault)
    }

    fn reset(&mut self, deployment: &Value) -> Answer {
        let mut d = deployment.clone();
        match self.fault {
            // Picks the spool up after one minute instead of two (OIM-011).
            "early-pickup" => d["options"]["pickup_delay_ms"] = Value::from(60_000),
            // Files a resent message again (DEC-004).
            "duplicate-after-crash" => d["options"]["dedup"] = Value::from(false),
            _ => {}
        }
        self.inner.reset(&d)
    }

    fn send(&mut self, from: &str, to: &str, body: &str) -> Answer {
        if self.fault == "dnd-ignored" {
            // Routes as if the recipient were Available (OIM-017).
            if let Some(p) = self.presence_of(to)
                && (p == "do-not-disturb" || p == "presenting")
            {
                self.inner.set_presence(to, "available")?;
                let answer = self.inner.send(from, to, body);
                self.inner.set_presence(to, &p)?;
                return answer;
            }
        }
        self.inner.send(from, to, body)
    }

    fn sign_in(&mut self, user: &str, presence: &str) -> Answer {
        self.inner.sign_in(user, presence)
    }

    fn sign_out(&mut self, user: &str) -> Answer {
        self.inner.sign_out(user)
    }

    fn set_presence(&mut self, user: &str, presence: &str) -> Answer {
        self.inner.set_presence(user, presence)
    }

    fn crash(&mut self, user: &str) -> Answer {
        let answer = self.inner.crash(user)?;
        if self.fault == "crash-drops-spool" {
            // Keeps the History Spooler in memory only (DEC-005).
            if let Some(world) = self.inner.world_mut()
                && let Some(u) = world.deployment.find_user(user)
            {
                world.state.spoolers[u.0 as usize]
                    .entries
                    .retain(|e| e.status != offline_im::rules::spooler::SpoolStatus::Waiting);
            }
        }
        Ok(answer)
    }

    fn restart(&mut self, user: &str) -> Answer {
        self.inner.restart(user)
    }

    fn ews_down(&mut self, org: &str) -> Answer {
        self.inner.ews_down(org)
    }

    fn ews_up(&mut self, org: &str) -> Answer {
        self.inner.ews_up(org)
    }

    fn admin(&mut self, org: &str, command: &str) -> Answer {
        let answer = self.inner.admin(org, command)?;
        if self.fault == "per-user-grant-ignored" {
            // Validates and accepts a grant, then forgets it by unassigning
            // the policy again (OIM-019, DEC-010).
            let words: Vec<&str> = command.split_whitespace().collect();
            let is_grant = words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("Grant-CsClientPolicy"));
            if let Some(i) = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("-PolicyName"))
                && is_grant
                && i + 1 < words.len()
            {
                let mut undo = words.clone();
                undo[i + 1] = "$Null";
                self.inner.admin(org, &undo.join(" "))?;
            }
        }
        Ok(answer)
    }

    fn advance(&mut self, to_ms: u64) -> Answer {
        self.inner.advance(to_ms)
    }

    fn observe(&mut self) -> Answer {
        let observation = self.inner.observe()?;
        Ok(match self.fault {
            // Classes every item as a missed conversation (OIM-010).
            "federated-as-missed-conversation" => Wrong::each_folder(observation, |items| {
                for item in items {
                    item["class"] = Value::from("IM.Note.MissedConversation");
                }
            }),
            // Files a folder's items newest first (INV-008, DEC-006).
            "out-of-order" => Wrong::each_folder(observation, |items| items.reverse()),
            _ => observation,
        })
    }
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let Some(mut imp) = wrong(&arg) else {
        eprintln!(
            "found fault `{arg}`, expected one of: {}",
            FAULTS.join(", ")
        );
        return ExitCode::from(2);
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match conformance::serve(&mut imp, stdin.lock(), stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::from(2)
        }
    }
}
