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
//! the conformance runner (a test case).

use crate::rules::cmdlets::{self, CmdletError, Parsed};
use crate::rules::dispatch::{self, Facts, RecipientState, Route, Unavailable, WriterFacts};
use crate::rules::domain::{
    Deployment, Folder, MailboxLocation, MessageClass, MessageId, OrgId, Presence, UserId,
};
use crate::rules::mailbox::{self, Item, ItemKind, Mailbox};
use crate::rules::policy::{self, OrgConfig, SwitchVerdict};
use crate::rules::spooler::{FailReason, SpoolStatus, Spooler};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// What a client was provisioned with at its last sign-in (DEC-009:
/// "Client policies are applied each time a user accesses the system").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Provisioned {
    pub auto_archiving: bool,
    pub switch: SwitchVerdict,
}

/// One user's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClientState {
    pub running: bool,
    pub signed_in: bool,
    /// Meaningful only while signed in.
    pub presence: Presence,
    pub provisioned: Provisioned,
}

/// An EWS `CreateItem` call in flight from a client to its Exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EwsRequest {
    pub writer: UserId,
    pub message: MessageId,
    /// When Exchange can process it (sent time plus `ews_latency_ms`).
    pub ready_ms: u64,
    /// Set when the writer's client stopped after sending it: Exchange may
    /// still process it, but nobody is left to read the response (DEC-005).
    pub orphaned: bool,
}

/// Exchange's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EwsResponse {
    pub writer: UserId,
    pub message: MessageId,
    /// When the client can read it.
    pub ready_ms: u64,
    pub result: Result<(), FailReason>,
}

/// The ledger's record of one IM.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct MessageRecord {
    pub id: MessageId,
    pub from: UserId,
    pub to: UserId,
    pub body: String,
    pub sent_at_ms: u64,
    pub route: Route,
    /// For a live route taken because the missed-message gate failed.
    pub fallback: Option<Unavailable>,
    /// The client that spools it: the sender for `Offline`, the recipient
    /// for `MissedMessage`.
    pub writer: Option<UserId>,
    /// The facts the gate passed on, for spooled routes.
    #[serde(skip)]
    pub gate_facts: Option<WriterFacts>,
    pub first_pickup_ms: Option<u64>,
}

/// What `State::retire_settled` dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retired {
    /// Each retired item with its message's send time.
    pub items: Vec<(Item, u64)>,
    pub notifications: usize,
    pub records: usize,
}

/// A sign-in notification of one item (OIM-016).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Notification {
    pub user: UserId,
    pub message: MessageId,
    pub at_ms: u64,
}

/// Everything that changes during a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    pub clock_ms: u64,
    pub config: Vec<OrgConfig>,
    pub ews_up: Vec<bool>,
    pub clients: Vec<ClientState>,
    pub spoolers: Vec<Spooler>,
    pub mailboxes: Vec<Mailbox>,
    pub requests: Vec<EwsRequest>,
    pub responses: Vec<EwsResponse>,
    pub notifications: Vec<Notification>,
    pub ledger: Ledger,
}

/// The ledger: the record of every IM sent that the state still refers to,
/// in id order, and the count of all IMs ever sent.
///
/// Without `State::retire_settled` (the model checker, the scenario runner
/// and the conformance reference never call it) it holds every IM, and
/// `ledger[k]` is message `k + 1`. After retirement it is sparse: lookups
/// go through `get`, which finds a record by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Ledger {
    records: Vec<MessageRecord>,
    /// IMs ever sent; the next message id is `sent + 1` (DEC-026).
    sent: u32,
}

impl Ledger {
    /// Appends the record of a new message. Ids must increase.
    pub fn push(&mut self, record: MessageRecord) {
        assert!(
            record.id.0 > self.sent,
            "message ids increase: {} after {} sent",
            record.id,
            self.sent
        );
        self.sent = record.id.0;
        self.records.push(record);
    }

    /// The number of IMs ever sent, retired ones included.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// The id the next IM sent gets.
    pub fn next_id(&self) -> MessageId {
        MessageId(self.sent + 1)
    }

    /// The record of `m`, if the ledger still holds it.
    pub fn get(&self, m: MessageId) -> Option<&MessageRecord> {
        self.index_of(m).map(|i| &self.records[i])
    }

    pub fn get_mut(&mut self, m: MessageId) -> Option<&mut MessageRecord> {
        self.index_of(m).map(|i| &mut self.records[i])
    }

    fn index_of(&self, m: MessageId) -> Option<usize> {
        // Dense (never retired): message k is at k - 1. Sparse: search.
        let dense = (m.0 as usize).checked_sub(1)?;
        match self.records.get(dense) {
            Some(r) if r.id == m => Some(dense),
            _ => self.records.binary_search_by_key(&m, |r| r.id).ok(),
        }
    }
}

impl std::ops::Deref for Ledger {
    type Target = [MessageRecord];
    fn deref(&self) -> &[MessageRecord] {
        &self.records
    }
}

impl<'a> IntoIterator for &'a Ledger {
    type Item = &'a MessageRecord;
    type IntoIter = std::slice::Iter<'a, MessageRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

/// Mutable access to the records, so that tests can corrupt a state on
/// purpose; ids must not be changed.
impl std::ops::DerefMut for Ledger {
    fn deref_mut(&mut self) -> &mut [MessageRecord] {
        &mut self.records
    }
}

/// An event: something a user, an administrator, the network or time does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Event {
    /// A user types an IM.
    Send {
        from: UserId,
        to: UserId,
        body: String,
    },
    SignIn {
        user: UserId,
        presence: Presence,
    },
    SignOut {
        user: UserId,
    },
    SetPresence {
        user: UserId,
        presence: Presence,
    },
    /// The client crashes or is closed; both are the same event (DEC-005).
    CrashClient {
        user: UserId,
    },
    RestartClient {
        user: UserId,
    },
    EwsDown {
        org: OrgId,
    },
    EwsUp {
        org: OrgId,
    },
    /// A Management Shell command run in one organisation.
    Admin {
        org: OrgId,
        #[serde(rename = "command")]
        text: String,
        #[serde(skip)]
        parsed: Box<Parsed>,
    },
    AdvanceTo {
        at_ms: u64,
    },
    /// The client's spool timer fires and it starts an EWS call.
    Pickup {
        user: UserId,
    },
    /// Exchange processes the oldest request from this writer.
    ExchangeProcess {
        writer: UserId,
    },
    /// The client reads the oldest response addressed to it.
    ClientReceive {
        user: UserId,
    },
}

/// What an event produced, besides the new state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// For `Send`: the message id and the route taken.
    pub route: Option<(MessageId, Route)>,
    /// For `Admin`: what the shell printed.
    pub shell_output: Vec<String>,
}

/// Why an event could not happen in this state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    Cmdlet(CmdletError),
}

/// One line of the ETL-like decision log (OIM-013).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    pub at_ms: u64,
    pub component: &'static str,
    pub text: String,
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>9} ms] {:<8} {}",
            self.at_ms, self.component, self.text
        )
    }
}

/// Where `step` writes its decisions. When disabled (the model checker),
/// the closures that format records are never called.
#[derive(Debug, Default)]
pub struct Log {
    pub enabled: bool,
    pub records: Vec<TraceRecord>,
}

impl Log {
    pub fn enabled() -> Log {
        Log {
            enabled: true,
            records: Vec::new(),
        }
    }

    pub fn disabled() -> Log {
        Log::default()
    }

    fn note(&mut self, at_ms: u64, component: &'static str, text: impl FnOnce() -> String) {
        if self.enabled {
            self.records.push(TraceRecord {
                at_ms,
                component,
                text: text(),
            });
        }
    }
}

impl State {
    /// The state of a freshly installed deployment: every client running
    /// and signed out, EWS up, the admin stores at their defaults.
    pub fn initial(d: &Deployment) -> State {
        let config: Vec<OrgConfig> = d.orgs.iter().map(OrgConfig::initial).collect();
        let clients = d
            .user_ids()
            .map(|u| ClientState {
                running: true,
                signed_in: false,
                presence: Presence::Available,
                provisioned: provision(d, &config, u),
            })
            .collect();
        State {
            clock_ms: 0,
            ews_up: vec![true; d.orgs.len()],
            config,
            clients,
            spoolers: vec![Spooler::default(); d.users.len()],
            mailboxes: vec![Mailbox::default(); d.users.len()],
            requests: Vec::new(),
            responses: Vec::new(),
            notifications: Vec::new(),
            ledger: Ledger::default(),
        }
    }

    pub fn client(&self, u: UserId) -> &ClientState {
        &self.clients[u.0 as usize]
    }

    pub fn spooler(&self, u: UserId) -> &Spooler {
        &self.spoolers[u.0 as usize]
    }

    pub fn mailbox(&self, u: UserId) -> &Mailbox {
        &self.mailboxes[u.0 as usize]
    }

    /// The record of a message the state refers to. Rules call it only for
    /// messages held in a spooler, a request or a mailbox, whose records are
    /// never retired.
    pub fn record(&self, m: MessageId) -> &MessageRecord {
        self.ledger
            .get(m)
            .unwrap_or_else(|| panic!("the ledger holds no record of {m}"))
    }

    /// Whether the message has been delivered into its target's mailbox.
    pub fn delivered(&self, m: MessageId) -> bool {
        let r = self.record(m);
        self.mailbox(r.to).holds(m, ItemKind::Delivered)
    }

    /// Drops what no rule will read again and no invariant can still find
    /// wrong, so that a long run's memory follows the messages in flight
    /// rather than the events processed. Only the simulator calls it, right
    /// after the invariants held, so everything it drops has been checked
    /// in its final form. Retirement is not a rule: it changes nothing any
    /// later event does or any later check can see (a proptest pins this).
    ///
    /// A message is *busy* while a spool entry (of any status, OIM-012
    /// keeps failed ones), a request or a response refers to it, and
    /// *unsettled* while busy or while one of its items still awaits its
    /// sign-in notification. It retires with all of its items once settled:
    /// no spool entry can send it again, so neither deduplication nor
    /// notification reads them again. A delivered item also waits until
    /// every message that may still reach the same mailbox (an unfailed
    /// entry, a request or a response) has a higher id, so INV-008's
    /// per-pair order still sees every pair a later delivery could break.
    /// Notifications of retired items go with them, and a record goes once
    /// nothing refers to it: live and unavailable IMs at once.
    pub fn retire_settled(&mut self) -> Retired {
        fn sorted(mut v: Vec<MessageId>) -> Vec<MessageId> {
            v.sort_unstable();
            v.dedup();
            v
        }
        let entries = || self.spoolers.iter().flat_map(|sp| sp.entries.iter());
        let in_transit = self
            .requests
            .iter()
            .map(|r| r.message)
            .chain(self.responses.iter().map(|r| r.message));
        let busy = sorted(
            entries()
                .map(|e| e.message)
                .chain(in_transit.clone())
                .collect(),
        );
        let deliverable = sorted(
            entries()
                .filter(|e| !matches!(e.status, SpoolStatus::Failed(_)))
                .map(|e| e.message)
                .chain(in_transit)
                .collect(),
        );
        let awaiting = sorted(
            self.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter())
                .filter(|i| notifies(i) && !i.notified)
                .map(|i| i.message)
                .collect(),
        );
        // The lowest id that may still reach each mailbox.
        let mut watermark = vec![MessageId(u32::MAX); self.mailboxes.len()];
        for m in &deliverable {
            let to = self.record(*m).to.0 as usize;
            watermark[to] = watermark[to].min(*m);
        }
        let settled =
            |m: MessageId| busy.binary_search(&m).is_err() && awaiting.binary_search(&m).is_err();
        let mut out = Retired::default();
        let mut gone: Vec<(UserId, MessageId)> = Vec::new();
        for (u, mb) in self.mailboxes.iter_mut().enumerate() {
            let ledger = &self.ledger;
            mb.items.retain(|i| {
                let retire = settled(i.message)
                    && (i.kind != ItemKind::Delivered || i.message < watermark[u]);
                if retire {
                    let sent_at_ms = ledger.get(i.message).map_or(i.at_ms, |r| r.sent_at_ms);
                    out.items.push((*i, sent_at_ms));
                    if i.kind == ItemKind::Delivered {
                        gone.push((UserId(u as u32), i.message));
                    }
                }
                !retire
            });
        }
        gone.sort_unstable();
        let before = self.notifications.len();
        self.notifications
            .retain(|n| gone.binary_search(&(n.user, n.message)).is_err());
        out.notifications = before - self.notifications.len();
        let referenced = sorted(
            self.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter().map(|i| i.message))
                .chain(busy)
                .collect(),
        );
        let before = self.ledger.records.len();
        self.ledger
            .records
            .retain(|r| referenced.binary_search(&r.id).is_ok());
        out.records = before - self.ledger.records.len();
        out
    }

    /// The same state with every user `u` renamed to `to[u]`: the
    /// per-user vectors are permuted and every stored user id rewritten.
    /// The model checker's symmetry reduction uses it for users the
    /// deployment cannot tell apart; `to` must be a permutation.
    pub fn rename_users(&self, to: &[UserId]) -> State {
        let r = |u: UserId| to[u.0 as usize];
        let permute = |n: usize| {
            let mut from = vec![0usize; n];
            for (old, new) in to.iter().enumerate() {
                from[new.0 as usize] = old;
            }
            from
        };
        let from = permute(to.len());
        let mut out = self.clone();
        for c in &mut out.config {
            c.grants = c.grants.iter().map(|(u, k)| (r(*u), k.clone())).collect();
        }
        out.clients = from.iter().map(|old| self.clients[*old]).collect();
        out.spoolers = from
            .iter()
            .map(|old| {
                let mut sp = self.spoolers[*old].clone();
                for e in &mut sp.entries {
                    e.target = r(e.target);
                }
                sp
            })
            .collect();
        out.mailboxes = from
            .iter()
            .map(|old| {
                let mut mb = self.mailboxes[*old].clone();
                for i in &mut mb.items {
                    i.from = r(i.from);
                    i.to = r(i.to);
                }
                mb
            })
            .collect();
        for q in &mut out.requests {
            q.writer = r(q.writer);
        }
        for q in &mut out.responses {
            q.writer = r(q.writer);
        }
        for n in &mut out.notifications {
            n.user = r(n.user);
        }
        for m in out.ledger.iter_mut() {
            m.from = r(m.from);
            m.to = r(m.to);
            m.writer = m.writer.map(r);
        }
        out
    }

    /// Internal events enabled now, in a fixed order: Exchange first, then
    /// clients reading responses, then spool timers (by user id).
    pub fn internal_events(&self, d: &Deployment) -> Vec<Event> {
        let mut out = Vec::new();
        let mut seen: Vec<UserId> = Vec::new();
        for r in &self.requests {
            if !seen.contains(&r.writer)
                && r.ready_ms <= self.clock_ms
                && self.ews_up[d.user(r.writer).org.0 as usize]
            {
                seen.push(r.writer);
                out.push(Event::ExchangeProcess { writer: r.writer });
            }
        }
        let mut seen: Vec<UserId> = Vec::new();
        for r in &self.responses {
            if !seen.contains(&r.writer) && r.ready_ms <= self.clock_ms {
                seen.push(r.writer);
                out.push(Event::ClientReceive { user: r.writer });
            }
        }
        for u in d.user_ids() {
            if self.pickup_due(u) {
                out.push(Event::Pickup { user: u });
            }
        }
        out
    }

    fn pickup_due(&self, u: UserId) -> bool {
        let c = self.client(u);
        c.running
            && c.signed_in
            && self
                .spooler(u)
                .next_due_ms()
                .is_some_and(|due| due <= self.clock_ms)
    }

    /// The earliest future time at which something becomes due: a spool
    /// timer, a request Exchange can process, or a response to read.
    pub fn next_timer_ms(&self, d: &Deployment) -> Option<u64> {
        let timers = d
            .user_ids()
            .filter(|u| {
                let c = self.client(*u);
                c.running && c.signed_in
            })
            .filter_map(|u| self.spooler(u).next_due_ms());
        let requests = self
            .requests
            .iter()
            .filter(|r| self.ews_up[d.user(r.writer).org.0 as usize])
            .map(|r| r.ready_ms);
        let responses = self.responses.iter().map(|r| r.ready_ms);
        timers
            .chain(requests)
            .chain(responses)
            .filter(|t| *t > self.clock_ms)
            .min()
    }
}

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

/// Whether the item is one that triggers a sign-in notification: a
/// delivered item listed in Missed Conversations (DEC-021).
pub fn notifies(item: &Item) -> bool {
    item.kind == ItemKind::Delivered && item.folders.contains(Folder::MissedConversations)
}

/// Notifies `u` of every not-yet-notified item that triggers one.
fn notify_pending(s: &mut State, u: UserId, log: &mut Log, d: &Deployment) {
    let now = s.clock_ms;
    let mut fresh: Vec<MessageId> = Vec::new();
    for item in &mut s.mailboxes[u.0 as usize].items {
        if notifies(item) && !item.notified {
            item.notified = true;
            fresh.push(item.message);
        }
    }
    for m in fresh {
        s.notifications.push(Notification {
            user: u,
            message: m,
            at_ms: now,
        });
        log.note(now, "notify", || {
            format!(
                "{} notified of missed conversation {m} (OIM-016, DEC-021)",
                name(d, u)
            )
        });
    }
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

/// Why settling stopped: a rejected event, or the caller's check.
#[derive(Debug)]
pub enum SettleError<E> {
    Step(StepError),
    Check(E),
}

/// The bound on internal steps per `settle_until`, so a rule bug cannot
/// hang a driver.
pub const SETTLE_STEPS_MAX: usize = 1_000_000;

/// A state together with its deployment and, optionally, its trace: what the
/// scenario runner, the simulator and the conformance runner drive.
#[derive(Clone, Debug)]
pub struct World {
    pub deployment: Arc<Deployment>,
    pub state: State,
    pub trace: Vec<TraceRecord>,
    pub keep_trace: bool,
}

impl World {
    pub fn new(deployment: Arc<Deployment>) -> World {
        let state = State::initial(&deployment);
        World {
            deployment,
            state,
            trace: Vec::new(),
            keep_trace: true,
        }
    }

    /// Applies one event and appends its trace lines.
    pub fn apply(&mut self, e: &Event) -> Result<Outcome, StepError> {
        let mut log = if self.keep_trace {
            Log::enabled()
        } else {
            Log::disabled()
        };
        let out = step(&self.deployment, &mut self.state, e, &mut log);
        self.trace.extend(log.records);
        out
    }

    /// The eager scheduler: performs every internal event as soon as it is
    /// enabled, moving the clock from timer to timer, up to `until_ms`; the
    /// clock ends at `until_ms`. `after` runs after every internal event
    /// (the scenario runner checks the invariants there).
    pub fn settle_until_with<E>(
        &mut self,
        until_ms: u64,
        mut after: impl FnMut(&World, &Event) -> Result<(), E>,
    ) -> Result<(), SettleError<E>> {
        for _ in 0..SETTLE_STEPS_MAX {
            let d = Arc::clone(&self.deployment);
            if let Some(e) = self.state.internal_events(&d).into_iter().next() {
                self.apply(&e).map_err(SettleError::Step)?;
                after(self, &e).map_err(SettleError::Check)?;
                continue;
            }
            match self.state.next_timer_ms(&d) {
                Some(t) if t <= until_ms => {
                    self.apply(&Event::AdvanceTo { at_ms: t })
                        .map_err(SettleError::Step)?;
                }
                _ => {
                    if until_ms > self.state.clock_ms {
                        self.apply(&Event::AdvanceTo { at_ms: until_ms })
                            .map_err(SettleError::Step)?;
                    }
                    return Ok(());
                }
            }
        }
        Err(SettleError::Step(StepError::Precondition(format!(
            "the scheduler did not settle within {SETTLE_STEPS_MAX} steps"
        ))))
    }

    /// `settle_until_with` without a check.
    pub fn settle_until(&mut self, until_ms: u64) -> Result<(), StepError> {
        self.settle_until_with(until_ms, |_, _| Ok::<(), std::convert::Infallible>(()))
            .map_err(|e| match e {
                SettleError::Step(s) => s,
                SettleError::Check(never) => match never {},
            })
    }

    /// Brings every client up and signed in and every EWS up, then runs until
    /// nothing is pending: the fair continuation LIVE-001 and LIVE-002
    /// quantify over.
    pub fn drain(&mut self) -> Result<(), StepError> {
        let d = Arc::clone(&self.deployment);
        for o in d.org_ids() {
            if !self.state.ews_up[o.0 as usize] {
                self.apply(&Event::EwsUp { org: o })?;
            }
        }
        for u in d.user_ids() {
            if !self.state.client(u).running {
                self.apply(&Event::RestartClient { user: u })?;
            }
            if !self.state.client(u).signed_in {
                self.apply(&Event::SignIn {
                    user: u,
                    presence: Presence::Available,
                })?;
            }
        }
        let horizon = self.state.clock_ms
            + d.options.pickup_delay_ms
                * (u64::from(d.options.attempts_max) + 1)
                * (u64::from(self.state.ledger.sent()) + 1);
        self.settle_until(horizon)
    }
}
