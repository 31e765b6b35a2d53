//! `offline_im` is the executable specification of **offline instant
//! messaging as Skype for Business defines it**: a user messages someone who
//! is signed out, in Do Not Disturb or presenting; the sender's client keeps
//! the message in its History Spooler, waits two minutes, and sends it
//! through Exchange Web Services (EWS) to the recipient's mailbox, where it
//! becomes a Missed Conversation (same organisation) or a plain email
//! (federated organisation).
//!
//! SPEC.md is the contract: every rule with its source or its labelled
//! decision. This crate is that contract made executable, as one rule book
//! and the drivers that call it.
//!
//! # The layout
//!
//! - [`rules`]: the rule book. One pure, deterministic transition function,
//!   [`rules::world::step`], and the rules it is made of (routing, the
//!   spooler, mailboxes, policies, cmdlets) and the invariants every driver
//!   checks. It imports nothing else from this crate.
//! - [`formats`]: the texts that go into and out of the rule book: scenario
//!   files, run reports, and (feature `encode`) the EWS `CreateItem` request.
//!   They import only the rule book.
//! - The drivers, each importing only the rule book and the formats, never
//!   each other: `check` (the model checker, feature `check`), `sim` (the
//!   simulator, feature `simulate`) and `conformance` (the conformance kit,
//!   feature `conformance`).
//! - `cli` (feature `cli`): the `offline-im` binary's subcommands.
//!
//! # Feature flags
//!
//! | feature | what it adds | crates it pulls in |
//! |---|---|---|
//! | `cli` (default) | the `offline-im` binary; turns on every feature below | clap, indicatif |
//! | `conformance` | `conformance`: `Reference`, `Implementation`, `assert_conforms`, `serve` and the runner behind `offline-im conform` | proptest, similar, serde_json, libc |
//! | `check` | `check`: the model checker | stateright |
//! | `simulate` | `sim`: the simulator | rand, rand_chacha |
//! | `encode` | `formats::encode`: the EWS encoder and decoder | quick-xml |
//!
//! With no feature at all, the crate is the rule book and the scenario and
//! report formats (serde, toml, thiserror).
//!
//! # Checking your own implementation from `cargo test`
//!
//! An implementer who only wants the conformance kit depends on it lightly:
//!
//! ```toml
//! [dev-dependencies]
//! offline-im = { version = "0.1", default-features = false, features = ["conformance"] }
//! ```
//!
//! and implements `conformance::Implementation` over their own system. Each
//! method is one op of the wire protocol `offline-im/1` (SPEC.md §7) and
//! answers with the same JSON the protocol carries. Here the wrapper
//! delegates to the reference; yours would call your client, gateway or
//! mailbox integration instead. `assert_conforms` runs the scenario corpus
//! and the generated cases, and panics with the minimal counterexample and
//! a replay line if anything differs.
//!
//! ```
//! # #[cfg(feature = "conformance")]
//! # fn main() {
//! use offline_im::conformance::{self, Answer, ConformOptions, Implementation, Reference};
//! use serde_json::Value;
//!
//! /// A thin wrapper: a real one would translate each op into calls on the
//! /// system under test.
//! struct MyClient {
//!     inner: Reference,
//! }
//!
//! impl Implementation for MyClient {
//!     fn name(&self) -> String {
//!         "my client".to_string()
//!     }
//!     fn reset(&mut self, deployment: &Value) -> Answer {
//!         self.inner.reset(deployment)
//!     }
//!     fn send(&mut self, from: &str, to: &str, body: &str) -> Answer {
//!         self.inner.send(from, to, body)
//!     }
//!     fn sign_in(&mut self, user: &str, presence: &str) -> Answer {
//!         self.inner.sign_in(user, presence)
//!     }
//!     fn sign_out(&mut self, user: &str) -> Answer {
//!         self.inner.sign_out(user)
//!     }
//!     fn set_presence(&mut self, user: &str, presence: &str) -> Answer {
//!         self.inner.set_presence(user, presence)
//!     }
//!     fn crash(&mut self, user: &str) -> Answer {
//!         self.inner.crash(user)
//!     }
//!     fn restart(&mut self, user: &str) -> Answer {
//!         self.inner.restart(user)
//!     }
//!     fn ews_down(&mut self, org: &str) -> Answer {
//!         self.inner.ews_down(org)
//!     }
//!     fn ews_up(&mut self, org: &str) -> Answer {
//!         self.inner.ews_up(org)
//!     }
//!     fn admin(&mut self, org: &str, command: &str) -> Answer {
//!         self.inner.admin(org, command)
//!     }
//!     fn advance(&mut self, to_ms: u64) -> Answer {
//!         self.inner.advance(to_ms)
//!     }
//!     fn observe(&mut self) -> Answer {
//!         self.inner.observe()
//!     }
//! }
//!
//! let mut mine = MyClient { inner: Reference::new() };
//! conformance::assert_conforms(&mut mine, &ConformOptions::default());
//! # }
//! # #[cfg(not(feature = "conformance"))]
//! # fn main() {}
//! ```
//!
//! To test a program in another language, make it speak `offline-im/1` on
//! stdin and stdout and run `offline-im conform --impl "<command>"`
//! (README.md).

#![warn(missing_docs)]
// Unsafe code is denied everywhere but in the files that allow it by name
// (the encoder's SIMD engines and their writer, and the conformance
// runner's process-group kill); there, every block must say why it is
// sound, which clippy checks.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod formats;
pub mod rules;

#[cfg(feature = "check")]
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "ews")]
pub mod ews;
#[cfg(feature = "simulate")]
pub mod sim;
