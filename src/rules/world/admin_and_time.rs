//! The rules of the administrator and of time: a Management Shell command
//! run in one organisation, and the virtual clock moving forward.

use super::decision_log::{Decision, Log};
use super::event::fail;
use super::event::{Outcome, StepError};
use super::state::State;
use crate::rules::cmdlets::{self, Parsed};
use crate::rules::domain::{Deployment, OrgId};

/// The rule of `Event::Admin`: an administrator runs a Management Shell
/// command in one organisation. DEC-009, OIM-021: the command changes the
/// admin store only; a signed-in client keeps what it was provisioned with
/// until its next sign-in, and messages already accepted are delivered
/// whatever changes. The cmdlets' own rules are `cmdlets::apply`'s.
pub(super) fn admin(
    d: &Deployment,
    s: &mut State,
    org: OrgId,
    text: &str,
    parsed: &Parsed,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let out = match s
        .config
        .update(org.0 as usize, |c| cmdlets::apply(parsed, org, d, c))
    {
        Ok(out) => out,
        Err(e) => {
            log.decide(Decision::new("admin", parsed.name, "rejected", "DEC-019"));
            return Err(StepError::Cmdlet(e));
        }
    };
    let outcome = if parsed.mutates() {
        Decision::new("admin", parsed.name, "applied", "DEC-009")
    } else {
        Decision::new("admin", parsed.name, "shown", "OIM-006")
    };
    log.note(now, outcome, || {
        if parsed.mutates() {
            format!(
                "{}> {text}; signed-in clients pick this up at their next sign-in (DEC-009)",
                d.org(org).name
            )
        } else {
            format!("{}> {text}", d.org(org).name)
        }
    });
    Ok(Outcome {
        route: None,
        shell_output: out,

        created: None,
    })
}

/// The rule of `Event::AdvanceTo`: virtual time moves forward. DEC-026: the
/// clock never goes back. Nothing else happens here: a timer that falls due
/// by the new time fires afterwards as its own event, when the driver
/// chooses it.
pub(super) fn advance_to(s: &mut State, at_ms: u64) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if at_ms < now {
        return fail(format!("time cannot go back from {now} ms to {at_ms} ms"));
    }
    s.clock_ms = at_ms;
    Ok(Outcome::default())
}
