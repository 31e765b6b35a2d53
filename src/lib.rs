//! `offline_im`: the executable specification of offline instant messaging
//! as Skype for Business defines it. See SPEC.md for the rules and their
//! sources, and README.md for the code map.
//!
//! The rule book is `world::step`; everything else either feeds it
//! (`scenario`, `cmdlets`) or drives it (`cli`).

pub mod check;
pub mod cli;
pub mod cli_conform;
pub mod cli_sim;
pub mod cmdlets;
pub mod conformance;
pub mod dispatch;
pub mod domain;
pub mod encode;
pub mod invariants;
pub mod mailbox;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod spooler;
pub mod world;
