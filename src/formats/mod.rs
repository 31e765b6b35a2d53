//! The formats: the texts that go into the rule book and come out of it.
//!
//! What it owns:
//! - `scenario`: the scenario files (models/*.toml) with their deployment,
//!   Management Shell set-up, timeline and `[check]` section, parsed into
//!   the rule book's types with positioned errors;
//! - `report`: what a scenario run observed at each step, rendered as text
//!   or JSON;
//! - `chart`: a run drawn as a sequence chart of its parties, for
//!   `run --html`, `check --html` and the Explorer;
//! - `html`: what every HTML page shares (escaping, the page shell, times
//!   for people, the SPEC ids a line cites);
//! - `encode` (feature `encode`): the EWS `CreateItem` request a spooled
//!   message becomes, its hot-path writer, its escape engines and its
//!   decoder.
//!
//! What it may import: the rule book (`crate::rules`) and, inside this
//! folder, `report` may read a `scenario`. It never names a driver
//! (`check`, `sim`, `conformance`) or the CLI; `tests/layout.rs` fails if it
//! does.
//!
//! What it deliberately does not do: decide anything. A format translates
//! between text and the rule book's values; every rule it needs, it asks
//! the rule book.

pub mod chart;
#[cfg(feature = "encode")]
pub mod encode;
pub mod html;
pub mod report;
pub mod scenario;
