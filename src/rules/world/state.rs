//! The state of a whole deployment during a run: the clock, each
//! organisation's admin store and EWS availability, each client, History
//! Spooler and mailbox, the EWS calls in flight, the notifications and the
//! ledger; and the questions the drivers ask of it (which internal events
//! are enabled, when the next timer falls due, the same state with users
//! renamed).

use super::event::Event;
use super::ledger::{Ledger, MessageRecord};
use crate::rules::domain::{Deployment, MessageId, Presence, UserId};
use crate::rules::mailbox::{ItemKind, Mailbox};
use crate::rules::policy::{self, OrgConfig, SwitchVerdict};
use crate::rules::spooler::{FailReason, Spooler};
use serde::Serialize;

/// What a client was provisioned with at its last sign-in (DEC-009:
/// "Client policies are applied each time a user accesses the system").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Provisioned {
    /// The effective EnableIMAutoArchiving, the sender gate of OIM-007.
    pub auto_archiving: bool,
    /// The effective EnableOfflineIM server switch (OIM-006).
    pub switch: SwitchVerdict,
}

/// One user's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClientState {
    /// Whether the client process runs; a crash or close stops it (DEC-005).
    pub running: bool,
    /// Whether the user is signed in; the spooler runs only then (DEC-023).
    pub signed_in: bool,
    /// Meaningful only while signed in.
    pub presence: Presence,
    /// What the gate reads at send time, fixed until the next sign-in
    /// (DEC-009).
    pub provisioned: Provisioned,
}

/// An EWS `CreateItem` call in flight from a client to its Exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EwsRequest {
    /// The client that sent it, and whose organisation's EWS carries it.
    pub writer: UserId,
    /// The message it carries.
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
    /// The client that sent the request, and the only one that reads this.
    pub writer: UserId,
    /// The message the request carried.
    pub message: MessageId,
    /// When the client can read it.
    pub ready_ms: u64,
    /// Success, or why the request failed, which decides between removing
    /// the spool entry and retrying or keeping it (DEC-003).
    pub result: Result<(), FailReason>,
}

/// A sign-in notification of one item (OIM-016).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Notification {
    /// The user notified: the owner of the mailbox the item is in.
    pub user: UserId,
    /// The message the item holds.
    pub message: MessageId,
    /// When the notification was shown, at sign-in or at delivery (DEC-021).
    pub at_ms: u64,
}

/// Every organisation's admin store, behind one shared pointer with its
/// fingerprint beside it.
///
/// Why: only admin cmdlets change a store, so almost every state shares its
/// stores with its predecessor. Sharing makes a state's clone copy a
/// pointer instead of three maps keyed by strings per organisation, and the
/// fingerprint makes hashing a state hash one number instead of those maps.
/// Equality compares the pointer first and the stores only when it
/// differs. `update` is the one way to change a store, so the fingerprint
/// cannot go stale.
#[derive(Clone, Debug)]
pub struct AdminStores {
    stores: std::sync::Arc<Vec<OrgConfig>>,
    fingerprint: u64,
}

impl AdminStores {
    /// The stores, indexed by `OrgId`.
    pub fn new(stores: Vec<OrgConfig>) -> AdminStores {
        let fingerprint = Self::fingerprint_of(&stores);
        AdminStores {
            stores: std::sync::Arc::new(stores),
            fingerprint,
        }
    }

    /// Changes organisation `org`'s store (copying the stores first if
    /// another state shares them) and refreshes the fingerprint.
    pub fn update<R>(&mut self, org: usize, f: impl FnOnce(&mut OrgConfig) -> R) -> R {
        let stores = std::sync::Arc::make_mut(&mut self.stores);
        let out = f(&mut stores[org]);
        self.fingerprint = Self::fingerprint_of(stores);
        out
    }

    /// A hash of the stores' contents with fixed keys, the same on every
    /// run.
    fn fingerprint_of(stores: &[OrgConfig]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        stores.hash(&mut h);
        h.finish()
    }
}

impl std::ops::Deref for AdminStores {
    type Target = [OrgConfig];
    fn deref(&self) -> &[OrgConfig] {
        &self.stores
    }
}

impl PartialEq for AdminStores {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.stores, &other.stores)
            || (self.fingerprint == other.fingerprint && self.stores == other.stores)
    }
}

impl Eq for AdminStores {}

impl std::hash::Hash for AdminStores {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.fingerprint);
    }
}

impl Serialize for AdminStores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.stores.serialize(s)
    }
}

/// Everything that changes during a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    /// The virtual clock; it only moves forward, through `advance-to`
    /// (DEC-026).
    pub clock_ms: u64,
    /// Each organisation's admin store, indexed by `OrgId`; shared between
    /// the states that did not change it.
    pub config: AdminStores,
    /// Whether each organisation's EWS is up, indexed by `OrgId`; an outage
    /// is transient (OIM-005).
    pub ews_up: Vec<bool>,
    /// Each user's client, indexed by `UserId`.
    pub clients: Vec<ClientState>,
    /// Each user's History Spooler, indexed by `UserId`; it survives a
    /// crash because it is on disk (OIM-012, DEC-005).
    pub spoolers: Vec<Spooler>,
    /// Each user's mailbox, indexed by `UserId`.
    pub mailboxes: Vec<Mailbox>,
    /// The EWS requests on their way to Exchange, oldest first.
    pub requests: Vec<EwsRequest>,
    /// Exchange's answers on their way back to the clients, oldest first.
    pub responses: Vec<EwsResponse>,
    /// Every sign-in notification shown, in the order shown.
    pub notifications: Vec<Notification>,
    /// The ghost record of every IM sent, for the invariants.
    pub ledger: Ledger,
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
            config: AdminStores::new(config),
            clients,
            spoolers: vec![Spooler::default(); d.users.len()],
            mailboxes: vec![Mailbox::default(); d.users.len()],
            requests: Vec::new(),
            responses: Vec::new(),
            notifications: Vec::new(),
            ledger: Ledger::default(),
        }
    }

    /// The client of `u`.
    pub fn client(&self, u: UserId) -> &ClientState {
        &self.clients[u.0 as usize]
    }

    /// The History Spooler of `u`'s client.
    pub fn spooler(&self, u: UserId) -> &Spooler {
        &self.spoolers[u.0 as usize]
    }

    /// The mailbox of `u`, which stays empty for a user who has none
    /// (DEC-007).
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
        for org in 0..out.config.len() {
            out.config.update(org, |c| {
                c.grants = c.grants.iter().map(|(u, k)| (r(*u), k.clone())).collect();
            });
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
                && self.writer_ews_up(d, r.writer)
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

    /// Whether `u`'s spool timer has fired: the client runs, is signed in
    /// (DEC-023) and has an entry due now. This is the precondition of
    /// `Event::Pickup`, and the scheduler's test for offering one.
    pub(super) fn pickup_due(&self, u: UserId) -> bool {
        self.spool_timer_runs(u)
            && self
                .spooler(u)
                .next_due_ms()
                .is_some_and(|due| due <= self.clock_ms)
    }

    /// DEC-023: a client's spool timer runs only while the client runs and
    /// is signed in. The one place this rule is written; the precondition
    /// of a pickup and the scheduler's next timer both ask it.
    fn spool_timer_runs(&self, u: UserId) -> bool {
        let c = self.client(u);
        c.running && c.signed_in
    }

    /// DEC-024, DEC-017: Exchange processes a request only while the
    /// writer's organisation's EWS is up. Asked by the processing rule, by
    /// the scheduler's enabled events and by its next timer.
    pub(super) fn writer_ews_up(&self, d: &Deployment, writer: UserId) -> bool {
        self.ews_up[d.user(writer).org.0 as usize]
    }

    /// The earliest future time at which something becomes due: a spool
    /// timer, a request Exchange can process, or a response to read.
    pub fn next_timer_ms(&self, d: &Deployment) -> Option<u64> {
        let timers = d
            .user_ids()
            .filter(|u| self.spool_timer_runs(*u))
            .filter_map(|u| self.spooler(u).next_due_ms());
        let requests = self
            .requests
            .iter()
            .filter(|r| self.writer_ews_up(d, r.writer))
            .map(|r| r.ready_ms);
        let responses = self.responses.iter().map(|r| r.ready_ms);
        timers
            .chain(requests)
            .chain(responses)
            .filter(|t| *t > self.clock_ms)
            .min()
    }
}

/// The provisioning a client receives at sign-in (DEC-009): the effective
/// EnableIMAutoArchiving (DEC-010, DEC-011) and EnableOfflineIM. The initial
/// state provisions every client this way too, as if it had signed in once.
pub(super) fn provision(d: &Deployment, config: &[OrgConfig], u: UserId) -> Provisioned {
    let org = d.user(u).org.0 as usize;
    Provisioned {
        auto_archiving: policy::effective_auto_archiving(d, &config[org], u).value,
        switch: policy::effective_offline_im_switch(d, &config[org], u).0,
    }
}
