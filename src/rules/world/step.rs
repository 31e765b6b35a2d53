//! `step`, the transition function every driver calls: a dispatcher from
//! each event to the one function that holds its rule.

use super::admin_and_time;
use super::client_events;
use super::decision_log::{Decision, Log};
use super::event::{Event, Outcome, StepError};
use super::exchange_events;
use super::state::State;
use super::user_events;
use crate::rules::domain::Deployment;

/// Applies one event. This is the transition function of the model: it
/// only dispatches, and each event's rule is the function it names.
pub fn step(d: &Deployment, s: &mut State, e: &Event, log: &mut Log) -> Result<Outcome, StepError> {
    let out = dispatch(d, s, e, log);
    if let Err(StepError::Precondition(_)) = &out {
        // A precondition that fails is an outcome too: the protocol answers
        // it `rejected` (CONF-007), and an implementation must agree.
        log.decide(Decision::new(
            "precondition",
            e.name(),
            "rejected",
            "CONF-007",
        ));
    }
    out
}

/// Calls the one function that holds the rule of `e`.
fn dispatch(d: &Deployment, s: &mut State, e: &Event, log: &mut Log) -> Result<Outcome, StepError> {
    match e {
        Event::Send { from, to, body } => user_events::send(d, s, *from, *to, body, log),
        Event::SignIn { user, presence } => user_events::sign_in(d, s, *user, *presence, log),
        Event::SignOut { user } => user_events::sign_out(d, s, *user, log),
        Event::SetPresence { user, presence } => {
            user_events::set_presence(d, s, *user, *presence, log)
        }
        Event::CrashClient { user } => client_events::crash_client(d, s, *user, log),
        Event::RestartClient { user } => client_events::restart_client(d, s, *user, log),
        Event::EwsDown { org } => exchange_events::ews_down(d, s, *org, log),
        Event::EwsUp { org } => exchange_events::ews_up(d, s, *org, log),
        Event::Admin { org, text, parsed } => admin_and_time::admin(d, s, *org, text, parsed, log),
        Event::AdvanceTo { at_ms } => admin_and_time::advance_to(s, *at_ms),
        Event::Pickup { user } => client_events::pickup(d, s, *user, log),
        Event::ExchangeProcess { writer } => exchange_events::exchange_process(d, s, *writer, log),
        Event::ClientReceive { user } => client_events::client_receive(d, s, *user, log),
        Event::CreateItemArrives {
            writer,
            route,
            from,
            to,
            body,
            again,
        } => exchange_events::create_item_arrives(
            d,
            s,
            exchange_events::Arrival {
                writer: *writer,
                route: *route,
                from: *from,
                to: *to,
                body,
                again: *again,
            },
            log,
        ),
    }
}
