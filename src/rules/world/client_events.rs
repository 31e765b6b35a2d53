//! The rules of the client process and its History Spooler: a crash or
//! close, a restart, the spool timer's pickup that starts an EWS call, and
//! the client reading Exchange's response.

use super::decision_log::name;
use super::decision_log::{Decision, Log};
use super::event::fail;
use super::event::{Outcome, StepError};
use super::state::{EwsRequest, State};
use crate::rules::domain::{Deployment, UserId};
use crate::rules::spooler::{FailReason, SpoolStatus};

/// The rule of `Event::CrashClient`: the client crashes or is closed, which
/// DEC-005 makes one event. The History Spooler is on disk and keeps every
/// entry (OIM-012, DEC-005). A request already sent is orphaned, so Exchange
/// may still deliver it but nobody reads the answer, and responses not yet
/// read are lost (DEC-005).
pub(super) fn crash_client(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if !s.client(user).running {
        return fail(format!("{}'s client is not running", name(d, user)));
    }
    let c = &mut s.clients[user.0 as usize];
    c.running = false;
    c.signed_in = false;
    for r in s.requests.iter_mut().filter(|r| r.writer == user) {
        r.orphaned = true;
    }
    let lost = s.responses.iter().filter(|r| r.writer == user).count();
    s.responses.retain(|r| r.writer != user);
    let crashed = Decision::new("client", "crash", "spool-kept", "DEC-005");
    let crashed = if lost > 0 {
        crashed.with("responses-lost")
    } else {
        crashed.with("no-response-lost")
    };
    log.note(now, crashed, || {
        format!(
            "{}'s client stopped; the History Spooler is on disk and keeps {} entr(y/ies); {lost} unread response(s) lost (DEC-005)",
            name(d, user),
            s.spoolers[user.0 as usize].entries.len()
        )
    });
    Ok(Outcome::default())
}

/// The rule of `Event::RestartClient`: a stopped client starts again,
/// signed out. DEC-005: what was in flight when it stopped is unconfirmed,
/// and is due again two minutes after the restart (OIM-011) if attempts
/// remain, or else kept as failed (OIM-012). DEC-003: an entry already
/// failed stays failed, even after a restart.
pub(super) fn restart_client(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    if s.client(user).running {
        return fail(format!("{}'s client is already running", name(d, user)));
    }
    s.clients[user.0 as usize].running = true;
    s.spoolers[user.0 as usize].recover(now, opts.pickup_delay_ms, opts.attempts_max);
    log.note(
        now,
        Decision::new("spooler", "restart", "unconfirmed-due-again", "DEC-005"),
        || {
            format!(
                "{}'s client restarted; unconfirmed entries are due again in {} ms (DEC-005)",
                name(d, user),
                opts.pickup_delay_ms
            )
        },
    );
    Ok(Outcome::default())
}

/// The rule of `Event::Pickup`: the spool timer fires and the client starts
/// an EWS call. OIM-011: the timer falls due two minutes after acceptance,
/// and DEC-023: it fires only while the client runs and is signed in.
/// DEC-006: the spooler chooses the entry, one request at a time and never
/// ahead of an earlier entry to the same recipient. DEC-024: the pickup
/// sends one CreateItem request, or fails at once if the writer's EWS is
/// down (OIM-005), and then DEC-003 and OIM-012 decide between a retry and
/// keeping the entry as failed. The first pickup's time goes into the ledger,
/// where INV-005 checks it.
pub(super) fn pickup(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    let nothing_due = || fail(format!("{}'s client has no spool entry due", name(d, user)));
    if !s.pickup_due(user) {
        return nothing_due();
    }
    let sp = &mut s.spoolers[user.0 as usize];
    let Some(i) = sp.candidate() else {
        return nothing_due();
    };
    sp.entries[i].attempts += 1;
    let entry = sp.entries[i];
    let rec = s
        .ledger
        .get_mut(entry.message)
        .unwrap_or_else(|| panic!("the ledger holds no record of {}", entry.message));
    rec.first_pickup_ms.get_or_insert(now);
    let org = d.user(user).org;
    if !s.ews_up[org.0 as usize] {
        sp.fail(
            i,
            FailReason::EwsUnavailable,
            now,
            opts.pickup_delay_ms,
            opts.attempts_max,
        );
        let status = sp.entries[i].status;
        let outcome = Decision::new(
            "spooler",
            "pickup",
            "ews-unavailable",
            "OIM-005, DEC-003, OIM-012",
        );
        log.note(now, outcome.with(status.name()), || {
            format!(
                "{} attempt {}/{}: EWS unavailable (OIM-005); now {} (DEC-003, OIM-012)",
                entry.message, entry.attempts, opts.attempts_max, status
            )
        });
    } else {
        sp.entries[i].status = SpoolStatus::InFlight;
        s.requests.push(EwsRequest {
            writer: user,
            message: entry.message,
            ready_ms: now + opts.ews_latency_ms,
            orphaned: false,
        });
        log.note(now, Decision::new("spooler", "pickup", "sent", "OIM-011"), || {
            format!(
                "{} picked up by {}'s client after the two-minute timer (OIM-011); EWS CreateItem sent, attempt {}/{}",
                entry.message,
                name(d, user),
                entry.attempts,
                opts.attempts_max
            )
        });
    }
    Ok(Outcome::default())
}

/// The rule of `Event::ClientReceive`: the client reads Exchange's answer
/// to its request. OIM-012: an entry leaves the spooler only when EWS
/// confirms it. DEC-003, OIM-012: a transient failure is retried two
/// minutes later while attempts remain; a permanent one, or one with no
/// attempt left, is kept as failed.
pub(super) fn client_receive(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    let Some(i) = s
        .responses
        .iter()
        .position(|r| r.writer == user && r.ready_ms <= now)
    else {
        return fail(format!("no response waiting for {}", name(d, user)));
    };
    let resp = s.responses.remove(i);
    let sp = &mut s.spoolers[user.0 as usize];
    let Some(j) = sp
        .find(resp.message)
        .filter(|j| sp.entries[*j].status == SpoolStatus::InFlight)
    else {
        log.note(
            now,
            Decision::new("spooler", "response", "unmatched", "DEC-005"),
            || {
                format!(
                    "{} response for {} matches no entry in flight; ignored",
                    name(d, user),
                    resp.message
                )
            },
        );
        return Ok(Outcome::default());
    };
    match resp.result {
        Ok(()) => {
            sp.entries.remove(j);
            log.note(
                now,
                Decision::new("spooler", "response", "confirmed", "OIM-011"),
                || format!("{} confirmed by EWS; spool entry removed", resp.message),
            );
        }
        Err(reason) => {
            sp.fail(j, reason, now, opts.pickup_delay_ms, opts.attempts_max);
            let status = sp.entries[j].status;
            let outcome = match status {
                SpoolStatus::Failed(_) => {
                    Decision::new("spooler", "response", "given-up", "DEC-003, OIM-012")
                }
                _ => Decision::new("spooler", "response", "retry", "DEC-003"),
            };
            log.note(now, outcome.with(reason.name()), || {
                format!(
                    "{} failed: {}; now {status} (DEC-003, OIM-012)",
                    resp.message,
                    reason.name()
                )
            });
        }
    }
    Ok(Outcome::default())
}
