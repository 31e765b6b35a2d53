//! The exit codes of every subcommand, in one place (README.md lists them).

/// Exit code for success; for `check`, every property holds.
pub const EXIT_OK: u8 = 0;
/// Exit code for a violation: the reference broke one of its own
/// invariants (`run`), a property is violated or a probe not reached
/// (`check`), an invariant broke (`simulate`), the implementation differs
/// from the reference (`conform`), or the world to serve broke one (`ews`).
pub const EXIT_VIOLATION: u8 = 1;
/// Exit code for bad input: an unreadable or invalid file, a rejected
/// cmdlet or event, or bad flags.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for an implementation that broke the protocol (`conform` and
/// `snapshot`): it exited, answered garbage, or timed out; and for an
/// endpoint that could not start its runtime or stopped serving (`ews`).
pub const EXIT_FAULT: u8 = 3;
/// Exit code for a bounded `check` (`--depth`, `--max-states`,
/// `--max-seconds`) that stopped before visiting every reachable state and
/// found no violation: every property held in the part explored, which
/// proves nothing about the rest. A violation found in a bounded run is
/// still exit code 1, since its counterexample is a real path.
pub const EXIT_INCOMPLETE: u8 = 4;
