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
//! - `notification`: the sign-in notification that sign-in and delivery
//!   share (OIM-016, DEC-021);
//! - `step` (here): the transition function, one `match` arm per event,
//!   and the CreateItem that Exchange performs;
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
//! and `mailbox` hold those rules, and the rules here only gather
//! their inputs from the state and apply their answers to it. It never
//! imports a format, a driver or the command line.

mod decision_log;
mod event;
mod ledger;
mod notification;
mod retirement;
mod scheduler;
mod state;

pub use decision_log::{Log, TraceRecord};
pub use event::{Event, Outcome, StepError};
pub use ledger::{Ledger, MessageRecord};
pub use notification::notifies;
pub use retirement::Retired;
pub use scheduler::{SETTLE_STEPS_MAX, SettleError, World};
pub use state::{ClientState, EwsRequest, EwsResponse, Notification, Provisioned, State};

use crate::rules::cmdlets;
use crate::rules::dispatch::{self, Facts, RecipientState, Route, WriterFacts};
use crate::rules::domain::{Deployment, Folder, MailboxLocation, MessageClass, UserId};
use crate::rules::mailbox::{self, Item, ItemKind};
use crate::rules::policy::{self, OrgConfig};
use crate::rules::spooler::{FailReason, SpoolStatus};
use notification::notify_pending;

/// The provisioning a client receives at sign-in.
fn provision(d: &Deployment, config: &[OrgConfig], u: UserId) -> Provisioned {
    let org = d.user(u).org.0 as usize;
    Provisioned {
        auto_archiving: policy::effective_auto_archiving(d, &config[org], u).value,
        switch: policy::effective_offline_im_switch(d, &config[org], u).0,
    }
}

/// The gate facts of a user's client as a writer.
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

fn name(d: &Deployment, u: UserId) -> &str {
    &d.user(u).name
}

fn fail(why: String) -> Result<Outcome, StepError> {
    Err(StepError::Precondition(why))
}

/// Applies one event. This is the transition function of the model.
pub fn step(d: &Deployment, s: &mut State, e: &Event, log: &mut Log) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    match e {
        Event::Send { from, to, body } => {
            let (from, to) = (*from, *to);
            let (fo, to_org) = (d.user(from).org, d.user(to).org);
            let rc = s.client(to);
            let facts = Facts {
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
            };
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
                body: body.clone(),
                sent_at_ms: now,
                route: decision.route,
                fallback: decision.fallback,
                writer,
                gate_facts,
                first_pickup_ms: None,
            });
            log.note(now, "dispatch", || {
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
                        "{who}: route=live (recipient {seen}, but their client cannot file a missed message: {} per {}; DEC-015)",
                        why.name(),
                        why.source()
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
                        "{who}: route=unavailable reason={} ({}); nothing spooled",
                        why.name(),
                        why.source()
                    ),
                }
            });
            Ok(Outcome {
                route: Some((id, decision.route)),
                shell_output: Vec::new(),
            })
        }
        Event::SignIn { user, presence } => {
            let c = s.client(*user);
            if !c.running {
                return fail(format!(
                    "{} cannot sign in: the client is not running (restart it first)",
                    name(d, *user)
                ));
            }
            if c.signed_in {
                return fail(format!("{} is already signed in", name(d, *user)));
            }
            let provisioned = provision(d, &s.config, *user);
            let c = &mut s.clients[user.0 as usize];
            c.signed_in = true;
            c.presence = *presence;
            c.provisioned = provisioned;
            log.note(now, "client", || {
                format!(
                    "{} signed in as {}; provisioned EnableIMAutoArchiving={} EnableOfflineIM={:?} (DEC-009)",
                    name(d, *user),
                    presence.name(),
                    provisioned.auto_archiving,
                    provisioned.switch
                )
            });
            notify_pending(s, *user, log, d);
            Ok(Outcome::default())
        }
        Event::SignOut { user } => {
            if !s.client(*user).signed_in {
                return fail(format!("{} is not signed in", name(d, *user)));
            }
            s.clients[user.0 as usize].signed_in = false;
            log.note(now, "client", || {
                format!(
                    "{} signed out; spool processing pauses (DEC-023)",
                    name(d, *user)
                )
            });
            Ok(Outcome::default())
        }
        Event::SetPresence { user, presence } => {
            if !s.client(*user).signed_in {
                return fail(format!(
                    "{} must be signed in to set presence",
                    name(d, *user)
                ));
            }
            s.clients[user.0 as usize].presence = *presence;
            log.note(now, "client", || {
                format!("{} is now {}", name(d, *user), presence.name())
            });
            Ok(Outcome::default())
        }
        Event::CrashClient { user } => {
            if !s.client(*user).running {
                return fail(format!("{}'s client is not running", name(d, *user)));
            }
            let c = &mut s.clients[user.0 as usize];
            c.running = false;
            c.signed_in = false;
            for r in s.requests.iter_mut().filter(|r| r.writer == *user) {
                r.orphaned = true;
            }
            let lost = s.responses.iter().filter(|r| r.writer == *user).count();
            s.responses.retain(|r| r.writer != *user);
            log.note(now, "client", || {
                format!(
                    "{}'s client stopped; the History Spooler is on disk and keeps {} entr(y/ies); {lost} unread response(s) lost (DEC-005)",
                    name(d, *user),
                    s.spoolers[user.0 as usize].entries.len()
                )
            });
            Ok(Outcome::default())
        }
        Event::RestartClient { user } => {
            if s.client(*user).running {
                return fail(format!("{}'s client is already running", name(d, *user)));
            }
            s.clients[user.0 as usize].running = true;
            s.spoolers[user.0 as usize].recover(now, opts.pickup_delay_ms, opts.attempts_max);
            log.note(now, "spooler", || {
                format!(
                    "{}'s client restarted; unconfirmed entries are due again in {} ms (DEC-005)",
                    name(d, *user),
                    opts.pickup_delay_ms
                )
            });
            Ok(Outcome::default())
        }
        Event::EwsDown { org } => {
            if !s.ews_up[org.0 as usize] {
                return fail(format!("EWS of {} is already down", d.org(*org).name));
            }
            s.ews_up[org.0 as usize] = false;
            let mut failed: Vec<EwsRequest> = Vec::new();
            s.requests.retain(|r| {
                let hit = d.user(r.writer).org == *org;
                if hit {
                    failed.push(*r);
                }
                !hit
            });
            for r in &failed {
                if !r.orphaned {
                    s.responses.push(EwsResponse {
                        writer: r.writer,
                        message: r.message,
                        ready_ms: now,
                        result: Err(FailReason::EwsUnavailable),
                    });
                }
            }
            log.note(now, "ews", || {
                format!(
                    "EWS of {} down; {} request(s) in flight fail (OIM-005)",
                    d.org(*org).name,
                    failed.len()
                )
            });
            Ok(Outcome::default())
        }
        Event::EwsUp { org } => {
            if s.ews_up[org.0 as usize] {
                return fail(format!("EWS of {} is already up", d.org(*org).name));
            }
            s.ews_up[org.0 as usize] = true;
            log.note(now, "ews", || format!("EWS of {} up", d.org(*org).name));
            Ok(Outcome::default())
        }
        Event::Admin { org, text, parsed } => {
            let out = cmdlets::apply(parsed, *org, d, &mut s.config[org.0 as usize])
                .map_err(StepError::Cmdlet)?;
            log.note(now, "admin", || {
                if parsed.mutates() {
                    format!(
                        "{}> {text}; signed-in clients pick this up at their next sign-in (DEC-009)",
                        d.org(*org).name
                    )
                } else {
                    format!("{}> {text}", d.org(*org).name)
                }
            });
            Ok(Outcome {
                route: None,
                shell_output: out,
            })
        }
        Event::AdvanceTo { at_ms } => {
            if *at_ms < now {
                return fail(format!("time cannot go back from {now} ms to {at_ms} ms"));
            }
            s.clock_ms = *at_ms;
            Ok(Outcome::default())
        }
        Event::Pickup { user } => {
            if !s.pickup_due(*user) {
                return fail(format!(
                    "{}'s client has no spool entry due",
                    name(d, *user)
                ));
            }
            let sp = &mut s.spoolers[user.0 as usize];
            let Some(i) = sp.candidate() else {
                return fail(format!(
                    "{}'s client has no spool entry due",
                    name(d, *user)
                ));
            };
            sp.entries[i].attempts += 1;
            let entry = sp.entries[i];
            let rec = s
                .ledger
                .get_mut(entry.message)
                .unwrap_or_else(|| panic!("the ledger holds no record of {}", entry.message));
            rec.first_pickup_ms.get_or_insert(now);
            let org = d.user(*user).org;
            if !s.ews_up[org.0 as usize] {
                sp.fail(
                    i,
                    FailReason::EwsUnavailable,
                    now,
                    opts.pickup_delay_ms,
                    opts.attempts_max,
                );
                let status = sp.entries[i].status;
                log.note(now, "spooler", || {
                    format!(
                        "{} attempt {}/{}: EWS unavailable (OIM-005); now {:?} (DEC-003, OIM-012)",
                        entry.message, entry.attempts, opts.attempts_max, status
                    )
                });
            } else {
                sp.entries[i].status = SpoolStatus::InFlight;
                s.requests.push(EwsRequest {
                    writer: *user,
                    message: entry.message,
                    ready_ms: now + opts.ews_latency_ms,
                    orphaned: false,
                });
                log.note(now, "spooler", || {
                    format!(
                        "{} picked up by {}'s client after the two-minute timer (OIM-011); EWS CreateItem sent, attempt {}/{}",
                        entry.message,
                        name(d, *user),
                        entry.attempts,
                        opts.attempts_max
                    )
                });
            }
            Ok(Outcome::default())
        }
        Event::ExchangeProcess { writer } => {
            let Some(i) = s
                .requests
                .iter()
                .position(|r| r.writer == *writer && r.ready_ms <= now)
            else {
                return fail(format!(
                    "no request from {} has reached Exchange",
                    name(d, *writer)
                ));
            };
            if !s.ews_up[d.user(*writer).org.0 as usize] {
                return fail(format!("EWS of {} is down", d.org_of(*writer).name));
            }
            let req = s.requests.remove(i);
            let result = exchange_process(d, s, req, log);
            if !req.orphaned {
                s.responses.push(EwsResponse {
                    writer: req.writer,
                    message: req.message,
                    ready_ms: now + opts.ews_latency_ms,
                    result,
                });
            }
            Ok(Outcome::default())
        }
        Event::ClientReceive { user } => {
            let Some(i) = s
                .responses
                .iter()
                .position(|r| r.writer == *user && r.ready_ms <= now)
            else {
                return fail(format!("no response waiting for {}", name(d, *user)));
            };
            let resp = s.responses.remove(i);
            let sp = &mut s.spoolers[user.0 as usize];
            let Some(j) = sp
                .find(resp.message)
                .filter(|j| sp.entries[*j].status == SpoolStatus::InFlight)
            else {
                log.note(now, "spooler", || {
                    format!(
                        "{} response for {} matches no entry in flight; ignored",
                        name(d, *user),
                        resp.message
                    )
                });
                return Ok(Outcome::default());
            };
            match resp.result {
                Ok(()) => {
                    sp.entries.remove(j);
                    log.note(now, "spooler", || {
                        format!("{} confirmed by EWS; spool entry removed", resp.message)
                    });
                }
                Err(reason) => {
                    sp.fail(j, reason, now, opts.pickup_delay_ms, opts.attempts_max);
                    let status = sp.entries[j].status;
                    log.note(now, "spooler", || {
                        format!(
                            "{} failed: {reason:?}; now {status:?} (DEC-003, OIM-012)",
                            resp.message
                        )
                    });
                }
            }
            Ok(Outcome::default())
        }
    }
}

/// What Exchange does with one CreateItem request.
fn exchange_process(
    d: &Deployment,
    s: &mut State,
    req: EwsRequest,
    log: &mut Log,
) -> Result<(), FailReason> {
    let now = s.clock_ms;
    let rec = s.record(req.message).clone();
    let writer = d.user(req.writer);
    let class: MessageClass = mailbox::classify(d.user(rec.from).org == d.user(rec.to).org);
    let item = |kind, folders| Item {
        message: rec.id,
        kind,
        class,
        from: rec.from,
        to: rec.to,
        folders,
        at_ms: now,
        notified: false,
    };
    // The known issue: "Offline messages failed to send and the 'Drafts'
    // folder was getting filled with messages ... Exchange On-Premises
    // mailboxes ... fixed in all C2R channels as of 6/14/2016" (OIM-014).
    if writer.mailbox == MailboxLocation::OnPremises
        && writer.client.released < crate::rules::domain::Date::DRAFTS_FIX
    {
        s.mailboxes[req.writer.0 as usize]
            .store(item(ItemKind::Draft, mailbox::DRAFT_FOLDERS), false);
        log.note(now, "exchange", || {
            format!(
                "{}: client released {} (before the 2016-06-14 fix) with an on-premises mailbox left a draft in {}'s Drafts and did not send (OIM-014, DEC-013)",
                rec.id, writer.client.released, writer.name
            )
        });
        return Err(FailReason::DraftsFault);
    }
    if d.user(rec.to).mailbox == MailboxLocation::None {
        log.note(now, "exchange", || {
            format!(
                "{}: {} has no mailbox; CreateItem fails permanently (DEC-007)",
                rec.id,
                d.user(rec.to).name
            )
        });
        return Err(FailReason::RecipientHasNoMailbox);
    }
    let stored = s.mailboxes[rec.to.0 as usize].store(
        item(ItemKind::Delivered, mailbox::delivered_folders(class)),
        d.options.dedup,
    );
    log.note(now, "exchange", || {
        if stored {
            format!(
                "{} delivered to {} as {} in {} (OIM-009/OIM-010)",
                rec.id,
                d.user(rec.to).name,
                class.as_str(),
                mailbox::delivered_folders(class)
                    .iter()
                    .map(Folder::display_name)
                    .collect::<Vec<_>>()
                    .join(" + ")
            )
        } else {
            format!(
                "{} already in {}'s mailbox; duplicate suppressed by message id (DEC-004)",
                rec.id,
                d.user(rec.to).name
            )
        }
    });
    if stored && s.client(rec.to).signed_in {
        notify_pending(s, rec.to, log, d);
    }
    if rec.route == Route::Offline {
        if mailbox::keeps_sender_copy(rec.route, d.org(writer.org).profile) {
            let copied = s.mailboxes[req.writer.0 as usize].store(
                item(ItemKind::SenderCopy, mailbox::SENDER_COPY_FOLDERS),
                d.options.dedup,
            );
            if copied {
                log.note(now, "exchange", || {
                    format!(
                        "{}: sender's copy saved to {}'s Conversation History (DEC-008)",
                        rec.id, writer.name
                    )
                });
            }
        } else {
            log.note(now, "exchange", || {
                format!(
                    "{}: no copy archived in {}'s mailbox (Online, OIM-015, DEC-008)",
                    rec.id, writer.name
                )
            });
        }
    }
    Ok(())
}
