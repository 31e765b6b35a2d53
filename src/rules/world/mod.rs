//! The rule book: the world state, the events that change it, and the one
//! transition function `step` that every driver calls.
//!
//! `State` is everything that changes during a run: the virtual clock in
//! milliseconds, each organisation's admin store and EWS availability, each
//! client (running, signed in, presence, provisioned policy), each History
//! Spooler and mailbox, the requests and responses in flight between
//! clients and Exchange, the notifications, and a ledger of every IM sent.
//! The static `Deployment` is shared and never changes.
//!
//! What each file owns:
//! - `state`: `State` and its parts (`ClientState`, `Provisioned`,
//!   `EwsRequest`, `EwsResponse`, `Notification`), the initial state, and
//!   what the drivers ask of a state: the internal events enabled now, the
//!   next timer, the same state with users renamed;
//! - `ledger`: `Ledger` and `MessageRecord`, the ghost record of every IM;
//! - `retirement`: `State::retire_settled` and `Retired`, the simulator's
//!   memory bound;
//! - `event`: `Event`, `Outcome` and `StepError`;
//! - `decision_log`: `Log` and `TraceRecord`, the ETL-like trace (OIM-013);
//! - `step.rs`: `step`, a dispatcher that calls one rule function per event.
//!   Each rule function's doc comment names the SPEC ids it implements, so
//!   that searching for an id finds its rule:
//!   - `user_events`: send, sign-in, sign-out, set-presence;
//!   - `client_events`: crash, restart, pickup, client-receive;
//!   - `exchange_events`: EWS down, EWS up, exchange-process and the
//!     CreateItem it performs;
//!   - `admin_and_time`: admin, advance-to;
//!   - `notification`: the sign-in notification that sign-in and delivery
//!     share (OIM-016, DEC-021);
//! - `scheduler`: `World`, the eager scheduler (`World::settle_until`,
//!   `World::drain`), and `SettleError`.
//!
//! Every public item is re-exported here, so that its path is
//! `rules::world::X` whichever file holds it; the files themselves are
//! private.
//!
//! Invariants it keeps:
//! - `step` is pure and deterministic: no I/O, no wall clock, no randomness,
//!   no hash-ordered iteration. The same state and event give the same
//!   state, outcome and trace, byte for byte.
//! - An event whose precondition fails returns `StepError` and leaves the
//!   state unchanged.
//! - Time only moves through `Event::AdvanceTo`, never backwards.
//! - The ledger is ghost state: it records what was sent and decided, so
//!   that the invariants in `invariants` can be stated over one `State`.
//! - `State::retire_settled`, which only the simulator calls, drops settled
//!   messages and changes no later step (a proptest pins this), so a long
//!   run's memory follows what is held, not what was sent.
//!
//! What it deliberately does not do: it does not choose which event happens
//! next. Drivers do: the eager scheduler here (`World::settle_until`), the
//! model checker (every enabled event), the simulator (seeded choices) and
//! the conformance runner (a test case). Nor does it decide a route, apply
//! a cmdlet or schedule a retry itself: `dispatch`, `cmdlets`, `spooler`
//! and `mailbox` hold those rules, and the rule functions here only gather
//! their inputs from the state and apply their answers to it. It never
//! imports a format, a driver or the command line.

mod admin_and_time;
mod client_events;
mod decision_log;
mod event;
mod exchange_events;
mod ledger;
mod notification;
mod retirement;
mod scheduler;
mod state;
mod step;
mod user_events;

pub use decision_log::{Decision, Log, SHELL_REJECTED, TraceRecord};
pub use event::{Event, Outcome, StepError};
pub use ledger::{Ledger, MessageRecord};
pub use notification::notifies;
pub use retirement::Retired;
pub use scheduler::{SETTLE_STEPS_MAX, SettleError, World};
pub use state::{ClientState, EwsRequest, EwsResponse, Notification, Provisioned, State};
pub use step::step;
