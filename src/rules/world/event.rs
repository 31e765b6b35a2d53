//! The events `step` accepts (SPEC.md §4.2), what an accepted event
//! produces besides the new state, and why an event can be rejected.

use crate::rules::cmdlets::{CmdletError, Parsed};
use crate::rules::dispatch::Route;
use crate::rules::domain::{MessageId, OrgId, Presence, UserId};
use crate::rules::spooler::FailReason;
use serde::Serialize;

/// An event: something a user, an administrator, the network or time does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// A user types an IM.
    Send {
        /// The user who types it, whose client routes it.
        from: UserId,
        /// The user it is addressed to.
        to: UserId,
        /// The text typed.
        body: String,
    },
    /// A user signs in with a running client and is provisioned.
    SignIn {
        /// The user signing in.
        user: UserId,
        /// The presence published at sign-in, which routes their IMs.
        presence: Presence,
    },
    /// A user signs out; the client keeps running.
    SignOut {
        /// The user signing out.
        user: UserId,
    },
    /// A signed-in user publishes another presence.
    SetPresence {
        /// The user changing presence.
        user: UserId,
        /// The new presence, which routes the IMs sent to them from now on.
        presence: Presence,
    },
    /// The client crashes or is closed; both are the same event (DEC-005).
    CrashClient {
        /// The user whose client stops.
        user: UserId,
    },
    /// A stopped client starts again, signed out.
    RestartClient {
        /// The user whose client starts.
        user: UserId,
    },
    /// An organisation's EWS becomes unavailable.
    EwsDown {
        /// The organisation whose EWS goes down.
        org: OrgId,
    },
    /// An organisation's EWS becomes available again.
    EwsUp {
        /// The organisation whose EWS comes back.
        org: OrgId,
    },
    /// A Management Shell command run in one organisation.
    Admin {
        /// The organisation whose admin store the command acts on.
        org: OrgId,
        /// The command line as typed, which is what the trace and a
        /// serialised event show.
        #[serde(rename = "command")]
        text: String,
        /// The command as parsed when the event was built, where a syntax
        /// error can still point at its place in the input; boxed to keep
        /// `Event` small.
        #[serde(skip)]
        parsed: Box<Parsed>,
    },
    /// Virtual time moves forward to an absolute time.
    AdvanceTo {
        /// The new clock; it must not be earlier than the current one.
        at_ms: u64,
    },
    /// The client's spool timer fires and it starts an EWS call.
    Pickup {
        /// The user whose client picks up an entry.
        user: UserId,
    },
    /// Exchange processes the oldest request from this writer.
    ExchangeProcess {
        /// The client whose request Exchange processes.
        writer: UserId,
    },
    /// The client reads the oldest response addressed to it.
    ClientReceive {
        /// The user whose client reads the response.
        user: UserId,
    },
    /// A `CreateItem` request reaches Exchange from a client outside the
    /// model, through the EWS endpoint (`offline-im ews`, DEC-073). That
    /// client has already routed, gated, spooled and timed the message; the
    /// rule book only files it, as `exchange-process` files a spooled one.
    CreateItemArrives {
        /// The authenticated user whose client sent the request.
        writer: UserId,
        /// `offline` for `SendOnly` and `SendAndSaveCopy`, `missed-message`
        /// for `SaveOnly` (DEC-030, read backwards).
        route: Route,
        /// The item's `t:From` mailbox.
        from: UserId,
        /// The item's one `t:ToRecipients` mailbox.
        to: UserId,
        /// The item's `t:Body`.
        body: String,
        /// The message this request carries again, when the client retries
        /// a request whose answer it never read: the endpoint recognises it
        /// by its `t:InternetMessageId` (DEC-073), and deduplication by
        /// message id (DEC-004) applies to it. `None` for a new message.
        again: Option<MessageId>,
    },
}

impl Event {
    /// The event's kebab-case name, as its serialised `event` tag spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Send { .. } => "send",
            Event::SignIn { .. } => "sign-in",
            Event::SignOut { .. } => "sign-out",
            Event::SetPresence { .. } => "set-presence",
            Event::CrashClient { .. } => "crash-client",
            Event::RestartClient { .. } => "restart-client",
            Event::EwsDown { .. } => "ews-down",
            Event::EwsUp { .. } => "ews-up",
            Event::Admin { .. } => "admin",
            Event::AdvanceTo { .. } => "advance-to",
            Event::Pickup { .. } => "pickup",
            Event::ExchangeProcess { .. } => "exchange-process",
            Event::ClientReceive { .. } => "client-receive",
            Event::CreateItemArrives { .. } => "create-item-arrives",
        }
    }
}

/// What an event produced, besides the new state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// For `Send`: the message id and the route taken.
    pub route: Option<(MessageId, Route)>,
    /// For `Admin`: what the shell printed.
    pub shell_output: Vec<String>,
    /// For `CreateItemArrives`: the message id the request was given, and
    /// Exchange's answer to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<(MessageId, Result<(), FailReason>)>,
}

/// Why an event could not happen in this state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The event is not enabled in this state (SPEC.md §4.2's
    /// precondition column); the text says which condition failed.
    #[error("{0}")]
    Precondition(String),
    /// The Management Shell rejected the command, as the real shell would.
    #[error("{0}")]
    Cmdlet(CmdletError),
}

/// The answer of an event whose precondition fails: the state is left as
/// it was, and the text says which condition failed.
pub(super) fn fail(why: String) -> Result<Outcome, StepError> {
    Err(StepError::Precondition(why))
}
