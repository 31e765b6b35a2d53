//! The rule book: everything offline IM decides, as pure functions over
//! plain data, and the one transition function `world::step` that every
//! driver calls.
//!
//! What it owns:
//! - `domain`: the static deployment and the value types every other
//!   module speaks in (organisations, users, clients, builds, dates,
//!   presence, message classes and folders);
//! - `policy`: the admin store of each organisation and the effective value
//!   of a setting for a user (DEC-009 to DEC-012);
//! - `cmdlets`: the Management Shell subset, parsed and applied to the
//!   admin store (DEC-019);
//! - `dispatch`: the route of one IM and the gate a writing client must
//!   pass (OIM-002 to OIM-008, DEC-001, DEC-015);
//! - `spooler`: the History Spooler's pickup, retry and recovery rules
//!   (OIM-011, OIM-012, DEC-003, DEC-005);
//! - `mailbox`: what `CreateItem` files where (OIM-009, OIM-010, DEC-004,
//!   DEC-008);
//! - `world`: the state of a whole deployment, its events, and `step`;
//! - `invariants`: the safety invariants, expectations, progress
//!   properties and reachability probes, each written once, that every
//!   driver evaluates.
//!
//! What it may import: the standard library, serde and thiserror, and
//! nothing else of this crate. No file in this folder names `formats`, a
//! driver (`check`, `sim`, `conformance`) or `cli`; `tests/layout.rs`
//! fails if one does.
//!
//! What it deliberately does not do: read files or the clock, draw random
//! numbers, iterate a hash map, or choose which event happens next. The
//! drivers choose; the rule book only answers what happens when they do.

pub mod cmdlets;
pub mod dispatch;
pub mod domain;
pub mod invariants;
pub mod mailbox;
pub mod policy;
pub mod spooler;
pub mod world;
