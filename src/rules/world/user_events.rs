//! The rules of what a user does at the keyboard: send an IM, sign in,
//! sign out, and set presence. A send is routed and, for the spooled
//! routes, accepted into the writing client's History Spooler; sign-in is
//! when a client is provisioned with its policy.

use super::decision_log::name;
use super::decision_log::{Decision, Log};
use super::event::fail;
use super::event::{Outcome, StepError};
use super::ledger::MessageRecord;
use super::notification::notify_pending;
use super::state::{State, provision};
use crate::rules::dispatch::{self, Facts, RecipientState, Route, Unavailable, WriterFacts};
use crate::rules::domain::{Build, Deployment, Presence, UserId};

/// The rule of `Event::Send`: a user types an IM and their client routes
/// it. DEC-001: the route follows the recipient's presence as the sender's
/// client sees it, and OIM-018: a signed-out recipient routes offline.
/// DEC-002: there is no route between organisations that are not federated,
/// nor to oneself. OIM-017, DEC-015: a Do Not Disturb or Presenting
/// recipient's own client writes a missed message, or the IM goes live if
/// that client's gate fails. OIM-002, OIM-003, OIM-004, OIM-005, OIM-006,
/// OIM-007, DEC-018: the writer's gate, which `dispatch::decide` applies to
/// the facts `route_facts` gathers. OIM-008: the offline route's gate reads
/// only the sender, never whether the recipient can receive. OIM-011: a
/// spooled message is due two minutes after it was accepted. DEC-025: a
/// live IM spools nothing. DEC-026: every send, whatever its route, takes
/// the next message id.
pub(super) fn send(
    d: &Deployment,
    s: &mut State,
    from: UserId,
    to: UserId,
    body: &str,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    let facts = route_facts(d, s, from, to);
    let decision = dispatch::decide(&facts);
    let id = s.ledger.next_id();
    let (writer, gate_facts) = match decision.route {
        Route::Offline => (Some(from), Some(facts.sender)),
        Route::MissedMessage => (Some(to), Some(facts.recipient_writer)),
        _ => (None, None),
    };
    if let Some(w) = writer {
        s.spoolers[w.0 as usize].accept(id, to, now, opts.pickup_delay_ms);
    }
    s.ledger.push(MessageRecord {
        id,
        from,
        to,
        body: body.to_owned(),
        sent_at_ms: now,
        route: decision.route,
        fallback: decision.fallback,
        writer,
        gate_facts,
        first_pickup_ms: None,
        from_outside: false,
    });
    let seen_name = match facts.recipient {
        RecipientState::SignedOut => "signed-out",
        RecipientState::SignedIn(p) => p.name(),
    };
    let outcome = match (decision.route, decision.fallback) {
        (Route::Live, None) => {
            Decision::new("dispatch", "route", "live", "DEC-001").with(seen_name)
        }
        (Route::Live, Some(why)) => {
            Decision::new("dispatch", "route", "live-fallback", "DEC-015").with(why.name())
        }
        (Route::Offline, _) => {
            Decision::new("dispatch", "route", "offline", "DEC-001, OIM-011").with(seen_name)
        }
        (Route::MissedMessage, _) => {
            Decision::new("dispatch", "route", "missed-message", "OIM-017").with(seen_name)
        }
        (Route::Unavailable(why), _) => {
            Decision::new("dispatch", "route", "unavailable", why.source()).with(why.name())
        }
    };
    log.note(now, outcome, || {
        let who = format!("{id} {} -> {}", name(d, from), name(d, to));
        let seen = match facts.recipient {
            RecipientState::SignedOut => "signed out".to_string(),
            RecipientState::SignedIn(p) => format!("signed in, {}", p.name()),
        };
        match (decision.route, decision.fallback) {
            (Route::Live, None) => {
                format!("{who}: route=live (recipient {seen}; DEC-001)")
            }
            (Route::Live, Some(why)) => format!(
                "{who}: route=live (recipient {seen}, but their client cannot file a missed message: {} per {}{}; DEC-015)",
                why.name(),
                why.source(),
                detail(why, facts.recipient_writer.build)
            ),
            (Route::Offline, _) => format!(
                "{who}: route=offline (recipient {seen}; DEC-001); sender gate passed (OIM-002..OIM-007); spooled, due at {} ms (OIM-011); no check that the recipient can receive (OIM-008)",
                now + opts.pickup_delay_ms
            ),
            (Route::MissedMessage, _) => format!(
                "{who}: route=missed-message (recipient {seen}; OIM-017); spooled by the recipient's client, due at {} ms",
                now + opts.pickup_delay_ms
            ),
            (Route::Unavailable(why), _) => format!(
                "{who}: route=unavailable reason={} ({}{}); nothing spooled",
                why.name(),
                why.source(),
                detail(why, facts.sender.build)
            ),
        }
    });
    Ok(Outcome {
        route: Some((id, decision.route)),
        shell_output: Vec::new(),

        created: None,
    })
}

/// The rule of `Event::SignIn`: a user signs in with a running client.
/// DEC-009, OIM-021: the client is provisioned with the policy and server
/// switch in force now, and keeps them until its next sign-in. OIM-016,
/// DEC-021: the user is notified of every missed conversation delivered
/// while they were away. DEC-023: the spooler runs again from now on, so an
/// entry that fell due while the user was signed out is picked up next.
pub(super) fn sign_in(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    presence: Presence,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let c = s.client(user);
    if !c.running {
        return fail(format!(
            "{} cannot sign in: the client is not running (restart it first)",
            name(d, user)
        ));
    }
    if c.signed_in {
        return fail(format!("{} is already signed in", name(d, user)));
    }
    let provisioned = provision(d, &s.config, user);
    let c = &mut s.clients[user.0 as usize];
    c.signed_in = true;
    c.presence = presence;
    c.provisioned = provisioned;
    let switch = Decision::new("client", "sign-in", provisioned.switch.name(), "DEC-009");
    let archiving = if provisioned.auto_archiving {
        "auto-archiving"
    } else {
        "no-auto-archiving"
    };
    log.note(now, switch.with(archiving), || {
        format!(
            "{} signed in as {}; provisioned EnableIMAutoArchiving={} EnableOfflineIM={} (DEC-009)",
            name(d, user),
            presence.name(),
            provisioned.auto_archiving,
            provisioned.switch.name()
        )
    });
    notify_pending(s, user, log, d);
    Ok(Outcome::default())
}

/// The rule of `Event::SignOut`: a user signs out and the client keeps
/// running. DEC-023: its spooler pauses until the next sign-in, because EWS
/// calls are made with the signed-in user's session.
pub(super) fn sign_out(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if !s.client(user).signed_in {
        return fail(format!("{} is not signed in", name(d, user)));
    }
    s.clients[user.0 as usize].signed_in = false;
    log.note(
        now,
        Decision::new("client", "sign-out", "spool-paused", "DEC-023"),
        || {
            format!(
                "{} signed out; spool processing pauses (DEC-023)",
                name(d, user)
            )
        },
    );
    Ok(Outcome::default())
}

/// The rule of `Event::SetPresence`: a signed-in user publishes another
/// presence. DEC-001 routes every later IM to this user by the presence set
/// here; IMs already routed keep their route.
pub(super) fn set_presence(
    d: &Deployment,
    s: &mut State,
    user: UserId,
    presence: Presence,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if !s.client(user).signed_in {
        return fail(format!(
            "{} must be signed in to set presence",
            name(d, user)
        ));
    }
    s.clients[user.0 as usize].presence = presence;
    log.note(
        now,
        Decision::new("client", "presence", presence.name(), "DEC-001"),
        || format!("{} is now {}", name(d, user), presence.name()),
    );
    Ok(Outcome::default())
}

/// What the sender's client knows when it routes an IM from `from` to
/// `to`: who is signed in, the recipient's published presence, the two
/// organisations, and both clients' gate facts, since either may be the
/// writer (the recipient's for a missed message, OIM-017).
fn route_facts(d: &Deployment, s: &State, from: UserId, to: UserId) -> Facts {
    let (fo, to_org) = (d.user(from).org, d.user(to).org);
    let rc = s.client(to);
    Facts {
        self_addressed: from == to,
        sender_signed_in: s.client(from).running && s.client(from).signed_in,
        same_org: fo == to_org,
        federated: d.federated(fo, to_org),
        recipient: if rc.running && rc.signed_in {
            RecipientState::SignedIn(rc.presence)
        } else {
            RecipientState::SignedOut
        },
        sender: writer_facts(d, s, from),
        recipient_writer: writer_facts(d, s, to),
    }
}

/// The gate facts of a user's client as a writer: its install, build and
/// mailbox, its organisation's EWS, what it was provisioned with, and
/// whether its spooler is full (DEC-018).
fn writer_facts(d: &Deployment, s: &State, u: UserId) -> WriterFacts {
    let user = d.user(u);
    let c = s.client(u);
    WriterFacts {
        install: user.client.install,
        build: user.client.build,
        mailbox: user.mailbox,
        ews_published: d.org(user.org).ews_published,
        auto_archiving: c.provisioned.auto_archiving,
        switch: c.provisioned.switch,
        spool_full: s.spooler(u).entries.len() >= d.options.spool_capacity as usize,
    }
}

/// What a build refusal found and required, after a colon; empty for every
/// other reason (OIM-002, OIM-003).
fn detail(why: Unavailable, build: Build) -> String {
    why.detail(build)
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}
