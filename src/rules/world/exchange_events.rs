//! The rules of the network and Exchange: an organisation's EWS going down
//! and coming back, and Exchange processing one CreateItem request, which
//! files the message, the sender's copy or a draft into the mailboxes.

use super::decision_log::name;
use super::decision_log::{Decision, Log};
use super::event::fail;
use super::event::{Outcome, StepError};
use super::ledger::MessageRecord;
use super::notification::notify_pending;
use super::state::{EwsRequest, EwsResponse, State};
use crate::rules::dispatch::Route;
use crate::rules::domain::{
    Deployment, Folder, MailboxLocation, MessageClass, MessageId, OrgId, UserId,
};
use crate::rules::mailbox::{self, Item, ItemKind};
use crate::rules::spooler::FailReason;

/// The rule of `Event::EwsDown`: an organisation's EWS becomes unavailable.
/// OIM-005: EWS must be available to the client, and an outage is
/// transient. DEC-024: an outage fails every request of that organisation
/// still in flight, and each client still there to read the answer gets the
/// failure.
pub(super) fn ews_down(
    d: &Deployment,
    s: &mut State,
    org: OrgId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if !s.ews_up[org.0 as usize] {
        return fail(format!("EWS of {} is already down", d.org(org).name));
    }
    s.ews_up[org.0 as usize] = false;
    let mut failed: Vec<EwsRequest> = Vec::new();
    s.requests.retain(|r| {
        let hit = d.user(r.writer).org == org;
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
    let down = Decision::new("ews", "down", "requests-fail", "OIM-005, DEC-024");
    let down = if failed.is_empty() {
        down.with("none-in-flight")
    } else {
        down.with("some-in-flight")
    };
    log.note(now, down, || {
        format!(
            "EWS of {} down; {} request(s) in flight fail (OIM-005)",
            d.org(org).name,
            failed.len()
        )
    });
    Ok(Outcome::default())
}

/// The rule of `Event::EwsUp`: an organisation's EWS is available again.
/// OIM-005: the outage was transient, and the entries that failed during it
/// are picked up again when their retry falls due (DEC-003).
pub(super) fn ews_up(
    d: &Deployment,
    s: &mut State,
    org: OrgId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    if s.ews_up[org.0 as usize] {
        return fail(format!("EWS of {} is already up", d.org(org).name));
    }
    s.ews_up[org.0 as usize] = true;
    log.note(now, Decision::new("ews", "up", "up", "DEC-024"), || {
        format!("EWS of {} up", d.org(org).name)
    });
    Ok(Outcome::default())
}

/// The rule of `Event::ExchangeProcess`: Exchange processes one request.
/// DEC-024: a request is processed once it has reached Exchange and while
/// the writer's EWS is up (DEC-017: the writer's organisation's EWS), and
/// the client can read the answer `ews_latency_ms` later. DEC-005: an
/// orphaned request is processed, but its answer goes to nobody. What the
/// CreateItem does is `create_item`'s: OIM-009, OIM-010, OIM-014, OIM-015,
/// OIM-016, DEC-004, DEC-007, DEC-008, DEC-013, DEC-021.
pub(super) fn exchange_process(
    d: &Deployment,
    s: &mut State,
    writer: UserId,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let now = s.clock_ms;
    let opts = d.options;
    let Some(i) = s
        .requests
        .iter()
        .position(|r| r.writer == writer && r.ready_ms <= now)
    else {
        return fail(format!(
            "no request from {} has reached Exchange",
            name(d, writer)
        ));
    };
    if !s.writer_ews_up(d, writer) {
        return fail(format!("EWS of {} is down", d.org_of(writer).name));
    }
    let req = s.requests.remove(i);
    let result = create_item(d, s, req, log);
    if req.orphaned {
        log.decide(Decision::new("exchange", "answer", "orphaned", "DEC-005"));
    } else {
        s.responses.push(EwsResponse {
            writer: req.writer,
            message: req.message,
            ready_ms: now + opts.ews_latency_ms,
            result,
        });
    }
    Ok(Outcome::default())
}

/// The rule of `Event::CreateItemArrives`: a `CreateItem` request from a
/// client outside the model reaches Exchange through the EWS endpoint
/// (DEC-073). The endpoint only translates the request; this rule records
/// the message in the ledger, marked as from outside, and files it exactly
/// as `exchange_process` files a spooled one (`create_item`). Its
/// preconditions: the route is one that writes (`offline` or
/// `missed-message`); the writer writes only as itself, the sender of an
/// offline message or the recipient of a missed one (DEC-030, OIM-017);
/// the writer has a mailbox and its organisation's EWS is up (OIM-005,
/// DEC-017).
/// A request sent again must carry the same message as the first time:
/// the same writer, route, sender, recipient and body.
pub(super) fn create_item_arrives(
    d: &Deployment,
    s: &mut State,
    a: Arrival<'_>,
    log: &mut Log,
) -> Result<Outcome, StepError> {
    let (writer, route, from, to, body, again) = (a.writer, a.route, a.from, a.to, a.body, a.again);
    let now = s.clock_ms;
    let writes_as_itself = match route {
        Route::Offline => writer == from,
        Route::MissedMessage => writer == to,
        Route::Live | Route::Unavailable(_) => {
            return fail(format!(
                "a {} message is not written through EWS",
                route.name()
            ));
        }
    };
    if !writes_as_itself {
        return fail(format!(
            "{} cannot write a {} message from {} to {}: a client writes only as its own user (DEC-030, OIM-017)",
            name(d, writer),
            route.name(),
            name(d, from),
            name(d, to)
        ));
    }
    if d.user(writer).mailbox == MailboxLocation::None {
        return fail(format!(
            "{} has no mailbox, so no EWS to write through (DEC-017)",
            name(d, writer)
        ));
    }
    if !s.writer_ews_up(d, writer) {
        return fail(format!("EWS of {} is down", d.org_of(writer).name));
    }
    // Without deduplication (DEC-004), a retry is filed as a new message,
    // as the model's own resend after a crash is: storing the old message
    // again after later ones would break the per-writer order of INV-008.
    let again = again.filter(|_| d.options.dedup);
    let id = match again {
        Some(m) => {
            let same = s.ledger.get(m).is_some_and(|r| {
                r.from_outside
                    && r.writer == Some(writer)
                    && r.route == route
                    && r.from == from
                    && r.to == to
                    && r.body == body
            });
            if !same {
                return fail(format!(
                    "{m} is not a message that {}'s client sent before with this content",
                    name(d, writer)
                ));
            }
            m
        }
        None => s.ledger.next_id(),
    };
    if again.is_none() {
        s.ledger.push(MessageRecord {
            id,
            from,
            to,
            body: body.to_owned(),
            sent_at_ms: now,
            route,
            fallback: None,
            writer: Some(writer),
            gate_facts: None,
            first_pickup_ms: None,
            from_outside: true,
        });
    }
    log.note(
        now,
        Decision::new("exchange", "create-item", "from-outside", "DEC-073"),
        || {
            format!(
                "{id}: CreateItem from {}'s client outside the model ({} to {})",
                name(d, writer),
                name(d, from),
                name(d, to)
            )
        },
    );
    let request = EwsRequest {
        writer,
        message: id,
        ready_ms: now,
        orphaned: false,
    };
    let result = create_item(d, s, request, log);
    Ok(Outcome {
        created: Some((id, result)),
        ..Outcome::default()
    })
}

/// What `Event::CreateItemArrives` carries, borrowed from it.
pub(super) struct Arrival<'a> {
    pub(super) writer: UserId,
    pub(super) route: Route,
    pub(super) from: UserId,
    pub(super) to: UserId,
    pub(super) body: &'a str,
    pub(super) again: Option<MessageId>,
}

/// What Exchange does with one CreateItem request. OIM-014, DEC-013: an
/// old client with an on-premises mailbox leaves a draft and fails. DEC-007:
/// a recipient without a mailbox fails permanently. OIM-009, OIM-010: the
/// item's class and folders follow from the organisations (DEC-022).
/// DEC-004: a mailbox stores one delivered item per message id. OIM-016,
/// DEC-021: a signed-in recipient is notified at delivery. DEC-008,
/// OIM-015: a Server-profile sender keeps a copy of an offline message in
/// Conversation History, an Online one keeps none.
fn create_item(
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
    if mailbox::hits_drafts_fault(writer) {
        s.mailboxes[req.writer.0 as usize]
            .store(item(ItemKind::Draft, mailbox::DRAFT_FOLDERS), false);
        log.note(now, Decision::new("exchange", "create-item", "drafts-fault", "OIM-014, DEC-013"), || {
            format!(
                "{}: client released {} (before the 2016-06-14 fix) with an on-premises mailbox left a draft in {}'s Drafts and did not send (OIM-014, DEC-013)",
                rec.id, writer.client.released, writer.name
            )
        });
        return Err(FailReason::DraftsFault);
    }
    if d.user(rec.to).mailbox == MailboxLocation::None {
        log.note(
            now,
            Decision::new("exchange", "create-item", "no-mailbox", "DEC-007"),
            || {
                format!(
                    "{}: {} has no mailbox; CreateItem fails permanently (DEC-007)",
                    rec.id,
                    d.user(rec.to).name
                )
            },
        );
        return Err(FailReason::RecipientHasNoMailbox);
    }
    let stored = s.mailboxes[rec.to.0 as usize].store(
        item(ItemKind::Delivered, mailbox::delivered_folders(class)),
        d.options.dedup,
    );
    let delivered = if stored {
        Decision::new("exchange", "create-item", "delivered", "OIM-009, OIM-010")
    } else {
        Decision::new("exchange", "create-item", "duplicate-suppressed", "DEC-004")
    };
    log.note(now, delivered.with(class.as_str()), || {
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
                log.note(
                    now,
                    Decision::new("exchange", "sender-copy", "saved", "DEC-008"),
                    || {
                        format!(
                            "{}: sender's copy saved to {}'s Conversation History (DEC-008)",
                            rec.id, writer.name
                        )
                    },
                );
            } else {
                log.decide(Decision::new(
                    "exchange",
                    "sender-copy",
                    "duplicate-suppressed",
                    "DEC-004, DEC-008",
                ));
            }
        } else {
            log.note(
                now,
                Decision::new(
                    "exchange",
                    "sender-copy",
                    "not-archived",
                    "OIM-015, DEC-008",
                ),
                || {
                    format!(
                        "{}: no copy archived in {}'s mailbox (Online, OIM-015, DEC-008)",
                        rec.id, writer.name
                    )
                },
            );
        }
    }
    Ok(())
}
