//! `offline_im`: the executable specification of offline instant messaging
//! as Skype for Business defines it. See SPEC.md for the rules and their
//! sources, and README.md for the code map.

pub mod formats;
pub mod rules;

#[cfg(feature = "check")]
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "simulate")]
pub mod sim;
