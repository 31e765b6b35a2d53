//! Running a scenario and presenting what happened: the canonical
//! observation of a world, the per-step report, and its text and JSON
//! renderings.
//!
//! The observation is canonical: users in deployment order, folders in the
//! fixed `Folder::ALL` order, items in arrival order, so two equal states
//! serialise to byte-equal JSON. The conformance kit compares these.
//!
//! Invariants it keeps: every step of a run is followed by a check of every
//! invariant in `invariants::INVARIANTS`, including the internal steps the
//! scheduler takes between timeline entries.
//!
//! What it deliberately does not do: decide anything. It reads the state
//! and the trace that `world::step` produced.

use crate::formats::scenario::{Scenario, ScenarioError, TimedEvent};
use crate::rules::domain::{Deployment, Folder};
use crate::rules::invariants;
use crate::rules::mailbox::ItemKind;
use crate::rules::spooler::SpoolStatus;
use crate::rules::world::{Event, Outcome, SettleError, State, World};
use serde::Serialize;
use std::fmt::Write as _;

/// One mailbox item as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemView {
    /// The message id: `m1`, `m2`, … in send order (DEC-026).
    pub id: String,
    /// Whether the item is the delivered message, the sender's copy or a
    /// draft.
    pub kind: ItemKind,
    /// The `ItemClass` string: `IM.Note.MissedConversation` or `IPM.Note`
    /// (OIM-009, OIM-010).
    pub class: &'static str,
    /// The sender's display name.
    pub from: String,
    /// The recipient's display name.
    pub to: String,
    /// The message text as the sender typed it.
    pub body: String,
}

/// One folder and its items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FolderView {
    /// The folder's name as Outlook shows it, e.g. `Missed Conversations`.
    pub folder: &'static str,
    /// The items listed in the folder, in arrival order. Never empty: empty
    /// folders are left out.
    pub items: Vec<ItemView>,
}

/// One History Spooler entry as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpoolView {
    /// The message id.
    pub id: String,
    /// The display name of the user whose mailbox the entry is for.
    pub to: String,
    /// When the entry's timer fires, in virtual milliseconds since the start
    /// of the run.
    pub due_ms: u64,
    /// EWS attempts started so far, at most `attempts_max` (DEC-003).
    pub attempts: u8,
    /// `waiting`, `in-flight`, or `failed` with its reason, written into the
    /// entry as its `status` and `reason` keys.
    #[serde(flatten)]
    pub status: SpoolStatus,
}

/// One user as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserView {
    /// The user's display name.
    pub name: String,
    /// Whether the client is running: false from a crash or close until the
    /// restart (DEC-005).
    pub client_running: bool,
    /// Whether the user is signed in.
    pub signed_in: bool,
    /// The published presence while signed in; left out when signed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<&'static str>,
    /// The History Spooler's entries in spool order, failed ones included
    /// (OIM-012); left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spooler: Vec<SpoolView>,
    /// The folders that list at least one item, in the order of `Folder::ALL`;
    /// left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<FolderView>,
    /// The ids of the messages the user has been notified of (OIM-016), in the
    /// order given; left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<String>,
}

/// The canonical observable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The virtual clock, in milliseconds since the start of the run.
    pub clock_ms: u64,
    /// Every user, in deployment order.
    pub users: Vec<UserView>,
}

/// Observes a state. Empty folders and spoolers are left out.
pub fn observe(d: &Deployment, s: &State) -> Observation {
    let users = d
        .user_ids()
        .map(|u| {
            let c = s.client(u);
            let folders = Folder::ALL
                .iter()
                .filter_map(|f| {
                    let items: Vec<ItemView> = s
                        .mailbox(u)
                        .in_folder(*f)
                        .map(|i| ItemView {
                            id: i.message.to_string(),
                            kind: i.kind,
                            class: i.class.as_str(),
                            from: d.user(i.from).name.clone(),
                            to: d.user(i.to).name.clone(),
                            body: s.record(i.message).body.clone(),
                        })
                        .collect();
                    (!items.is_empty()).then_some(FolderView {
                        folder: f.display_name(),
                        items,
                    })
                })
                .collect();
            UserView {
                name: d.user(u).name.clone(),
                client_running: c.running,
                signed_in: c.signed_in,
                presence: c.signed_in.then(|| c.presence.name()),
                spooler: s
                    .spooler(u)
                    .entries
                    .iter()
                    .map(|e| SpoolView {
                        id: e.message.to_string(),
                        to: d.user(e.target).name.clone(),
                        due_ms: e.due_ms,
                        attempts: e.attempts,
                        status: e.status,
                    })
                    .collect(),
                folders,
                notifications: s
                    .notifications
                    .iter()
                    .filter(|n| n.user == u)
                    .map(|n| n.message.to_string())
                    .collect(),
            }
        })
        .collect();
    Observation {
        clock_ms: s.clock_ms,
        users,
    }
}

/// The route of a send, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteView {
    /// The message id, which every send gets whatever its route (DEC-026).
    pub id: String,
    /// The route's name: `live`, `offline`, `missed-message` or `unavailable`.
    pub route: &'static str,
    /// The reason's kebab-case name: why nothing was sent, or, for a live IM
    /// to a Do Not Disturb or Presenting recipient, why their client could not
    /// file a missed message (DEC-015). Left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The SPEC id behind `reason`, e.g. `OIM-007`; left out with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// For a build refusal, the build found and the build required
    /// (OIM-002, OIM-003); left out for every other reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a send was routed, with the reason for an unavailable route or for
/// a fallback (a DND or Presenting recipient whose client cannot file it).
pub fn route_view(
    d: &Deployment,
    s: &State,
    id: crate::rules::domain::MessageId,
    r: crate::rules::dispatch::Route,
) -> RouteView {
    // The rule book says which gate refused and whose it was (DEC-015).
    let refusal = s.record(id).refusal();
    let reason = refusal.map(|(why, _)| why);
    RouteView {
        id: id.to_string(),
        route: r.name(),
        reason: reason.map(|w| w.name()),
        source: reason.map(|w| w.source()),
        detail: refusal.and_then(|(why, writer)| why.detail(d.user(writer).client.build)),
    }
}

/// One step of a run: a setup cmdlet, an initial sign-in, a timeline entry,
/// or the final settling up to `end_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// The step's number, from 1.
    pub step: usize,
    /// When the step happens, in virtual milliseconds since the start of the
    /// run: the entry's time, or `end_ms` for the final step.
    pub at_ms: u64,
    /// The event, described for a person, or `run until <end_ms> ms` for the
    /// final step.
    pub event: String,
    /// For a send, how it was routed; left out for every other event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteView>,
    /// For a cmdlet, what the shell printed; left out when it printed nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shell_output: Vec<String>,
    /// The decision log of the step (OIM-013): the lines of the internal
    /// events performed while the clock ran up to the step's time, then those
    /// of the event itself.
    pub trace: Vec<String>,
    /// The observation after the step.
    pub state: Observation,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The scenario's `name`.
    pub scenario: String,
    /// The name the scenario was loaded under.
    pub file: String,
    /// Every step in order: the setup cmdlets, the initial sign-ins, the
    /// timeline entries, and the final settling up to `end_ms`.
    pub steps: Vec<StepReport>,
}

/// How a run can fail.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario asked for something the model rejects (exit 2).
    #[error("{0}")]
    Input(ScenarioError),
    /// The reference model broke one of its own invariants (exit 1).
    #[error("invariant {id} violated after step {step} ({event}): {why}")]
    Invariant {
        /// The id of the first violated invariant in `INVARIANTS` order, e.g.
        /// `INV-001`.
        id: &'static str,
        /// The number of the step during or after which it broke, as in
        /// `StepReport::step`.
        step: usize,
        /// The step's event as described, followed by `, during` and the
        /// internal event when the invariant broke while the clock ran up to
        /// the step's time.
        event: String,
        /// The invariant's own explanation.
        why: String,
    },
}

/// A person-readable one-line description of an event.
pub fn describe(d: &Deployment, e: &Event) -> String {
    let n = |u: &crate::rules::domain::UserId| d.user(*u).name.clone();
    match e {
        Event::Send { from, to, body } => format!("send {} -> {}: {body:?}", n(from), n(to)),
        Event::SignIn { user, presence } => format!("sign in {} as {}", n(user), presence.name()),
        Event::SignOut { user } => format!("sign out {}", n(user)),
        Event::SetPresence { user, presence } => {
            format!("set presence {} to {}", n(user), presence.name())
        }
        Event::CrashClient { user } => format!("crash {}'s client", n(user)),
        Event::RestartClient { user } => format!("restart {}'s client", n(user)),
        Event::EwsDown { org } => format!("EWS down in {}", d.org(*org).name),
        Event::EwsUp { org } => format!("EWS up in {}", d.org(*org).name),
        Event::Admin { org, text, .. } => format!("{}> {text}", d.org(*org).name),
        Event::AdvanceTo { at_ms } => format!("advance to {at_ms} ms"),
        Event::Pickup { user } => format!("{}'s spool timer fires", n(user)),
        Event::ExchangeProcess { writer } => format!("Exchange processes {}'s request", n(writer)),
        Event::ClientReceive { user } => format!("{}'s client reads a response", n(user)),
        Event::CreateItemArrives {
            writer, from, to, ..
        } => format!(
            "Exchange receives a CreateItem from {}'s client: {} -> {}",
            n(writer),
            n(from),
            n(to)
        ),
    }
}

/// Checks every invariant, naming the step on violation.
fn check(world: &World, step: usize, event: &str) -> Result<(), RunError> {
    match invariants::violations(&world.deployment, &world.state)
        .into_iter()
        .next()
    {
        None => Ok(()),
        Some((id, why)) => Err(RunError::Invariant {
            id,
            step,
            event: event.to_string(),
            why,
        }),
    }
}

/// Runs a scenario: setup, initial sign-ins, then each timeline entry after
/// settling internal events up to its time, then settling to `end_ms`.
pub fn run(scenario: &Scenario) -> Result<RunReport, RunError> {
    run_world(scenario).map(|(report, _)| report)
}

/// `run`, also returning the final world (for drivers that read the state,
/// such as the EWS corpus check).
pub fn run_world(scenario: &Scenario) -> Result<(RunReport, World), RunError> {
    run_drawn(scenario, None)
}

/// What `run_observed` tells its observer after each event: the event,
/// what `step` returned (`None` for an internal event the scheduler took),
/// the state it left and its decision-log lines.
pub type EventObserver<'a> =
    dyn FnMut(&Event, Option<&Outcome>, &State, &[crate::rules::world::TraceRecord]) + 'a;

/// `run`, also telling `observer` of every event it takes: the setup
/// cmdlets, sign-ins and timeline entries, and each internal event the
/// scheduler performed between them (`chart::run_chart` draws them).
pub fn run_observed(
    scenario: &Scenario,
    observer: &mut EventObserver<'_>,
) -> Result<(RunReport, World), RunError> {
    run_drawn(scenario, Some(observer))
}

fn run_drawn(
    scenario: &Scenario,
    mut chart: Option<&mut EventObserver<'_>>,
) -> Result<(RunReport, World), RunError> {
    let mut world = scenario.world();
    let d = std::sync::Arc::clone(&scenario.deployment);
    let mut steps = Vec::new();
    let entries: Vec<&TimedEvent> = scenario
        .setup
        .iter()
        .chain(&scenario.initial_sign_ins)
        .chain(&scenario.timeline)
        .collect();
    for (i, te) in entries.iter().enumerate() {
        let step = i + 1;
        let desc = describe(&d, &te.event);
        let trace_from = world.trace.len();
        settle_checked(&mut world, te.at_ms, step, &desc, chart.as_deref_mut()).map_err(
            |e| match e {
                SettleError::Check(r) => r,
                SettleError::Step(s) => RunError::Input(scenario.runtime_error(te, &s)),
            },
        )?;
        let event_from = world.trace.len();
        let outcome = world
            .apply(&te.event)
            .map_err(|e| RunError::Input(scenario.runtime_error(te, &e)))?;
        if let Some(c) = chart.as_deref_mut() {
            c(
                &te.event,
                Some(&outcome),
                &world.state,
                &world.trace[event_from..],
            );
        }
        check(&world, step, &desc)?;
        let route = outcome
            .route
            .map(|(id, r)| route_view(&world.deployment, &world.state, id, r));
        steps.push(StepReport {
            step,
            at_ms: te.at_ms,
            event: desc,
            route,
            shell_output: outcome.shell_output,
            trace: world.trace[trace_from..]
                .iter()
                .map(ToString::to_string)
                .collect(),
            state: observe(&d, &world.state),
        });
    }
    let step = entries.len() + 1;
    let trace_from = world.trace.len();
    let desc = format!("run until {} ms", scenario.end_ms);
    settle_checked(&mut world, scenario.end_ms, step, &desc, chart).map_err(|e| match e {
        SettleError::Check(r) => r,
        SettleError::Step(s) => RunError::Input(ScenarioError {
            file: scenario.file.clone(),
            line: 1,
            column: 1,
            message: s.to_string(),
            source_line: String::new(),
        }),
    })?;
    steps.push(StepReport {
        step,
        at_ms: scenario.end_ms,
        event: desc,
        route: None,
        shell_output: Vec::new(),
        trace: world.trace[trace_from..]
            .iter()
            .map(ToString::to_string)
            .collect(),
        state: observe(&d, &world.state),
    });
    let report = RunReport {
        scenario: scenario.name.clone(),
        file: scenario.file.clone(),
        steps,
    };
    Ok((report, world))
}

/// The eager scheduler with an invariant check after every internal step,
/// and each internal step told to the observer when there is one.
fn settle_checked(
    world: &mut World,
    until_ms: u64,
    step: usize,
    desc: &str,
    mut chart: Option<&mut EventObserver<'_>>,
) -> Result<(), SettleError<RunError>> {
    let mut trace_from = world.trace.len();
    world.settle_until_with(until_ms, |w, e| {
        if let Some(c) = chart.as_deref_mut() {
            c(e, None, &w.state, &w.trace[trace_from..]);
            trace_from = w.trace.len();
        }
        check(
            w,
            step,
            &format!("{desc}, during {}", describe(&w.deployment, e)),
        )
    })
}

/// Renders a report for a person.
pub fn render_text(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {} ({})", r.scenario, r.file);
    for s in &r.steps {
        let _ = writeln!(out, "\nstep {} @ {} ms: {}", s.step, s.at_ms, s.event);
        if let Some(route) = &s.route {
            let _ = write!(out, "  route: {} -> {}", route.id, route.route);
            if let (Some(reason), Some(src)) = (route.reason, route.source) {
                match &route.detail {
                    Some(detail) => {
                        let _ = write!(out, " ({reason}, {src}: {detail})");
                    }
                    None => {
                        let _ = write!(out, " ({reason}, {src})");
                    }
                }
            }
            out.push('\n');
        }
        for line in &s.shell_output {
            let _ = writeln!(out, "  | {line}");
        }
        for t in &s.trace {
            let _ = writeln!(out, "  trace {t}");
        }
        render_users(&mut out, &s.state, false);
    }
    out
}

/// Writes the users of an observation as `render_text` shows them: each
/// user's sign-in state, spooler entries, folders and notifications. With
/// `every_user` false (a run's steps), users with nothing spooled, filed or
/// notified are left out; with it true (a whole state), every user is
/// shown, with presence.
fn render_users(out: &mut String, o: &Observation, every_user: bool) {
    for u in &o.users {
        if !every_user && u.spooler.is_empty() && u.folders.is_empty() && u.notifications.is_empty()
        {
            continue;
        }
        let presence = match (u.signed_in, u.presence) {
            (true, Some(p)) if every_user => format!("signed in, {p}"),
            (true, _) => "signed in".to_string(),
            (false, _) => "signed out".to_string(),
        };
        let _ = writeln!(
            out,
            "  {}: {presence}{}",
            u.name,
            if u.client_running {
                ""
            } else {
                ", client not running"
            }
        );
        for e in &u.spooler {
            let _ = writeln!(
                out,
                "    spooler  {} to {} due {} ms, attempts {}, {}",
                e.id, e.to, e.due_ms, e.attempts, e.status
            );
        }
        for f in &u.folders {
            for i in &f.items {
                let _ = writeln!(
                    out,
                    "    {:<21}{} {} from {} to {}: {:?}{}",
                    f.folder,
                    i.id,
                    i.class,
                    i.from,
                    i.to,
                    i.body,
                    match i.kind {
                        ItemKind::Delivered => "",
                        ItemKind::SenderCopy => " (sender's copy)",
                        ItemKind::Draft => " (unsent draft)",
                    }
                );
            }
        }
        if !u.notifications.is_empty() {
            let _ = writeln!(out, "    notified of {}", u.notifications.join(", "));
        }
    }
}

/// A whole state for a person, as `run` shows a step and more: the clock,
/// each organisation's EWS, every user with presence, spooler, folders and
/// notifications, and the requests and responses in flight. The Explorer
/// shows states this way.
pub fn render_state(d: &Deployment, s: &State) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "clock {} ({} ms)",
        crate::formats::html::clock(s.clock_ms),
        s.clock_ms
    );
    let ews: Vec<String> = d
        .org_ids()
        .map(|o| {
            format!(
                "{} {}",
                d.org(o).name,
                if s.ews_up[o.0 as usize] { "up" } else { "down" }
            )
        })
        .collect();
    let _ = writeln!(out, "EWS: {}", ews.join(", "));
    render_users(&mut out, &observe(d, s), true);
    if s.requests.is_empty() && s.responses.is_empty() {
        out.push_str("  nothing in flight\n");
    }
    for r in &s.requests {
        let _ = writeln!(
            out,
            "  request in flight: CreateItem {} from {}'s client, ready at {} ms{}",
            r.message,
            d.user(r.writer).name,
            r.ready_ms,
            if r.orphaned {
                ", orphaned (its client stopped)"
            } else {
                ""
            }
        );
    }
    for r in &s.responses {
        let _ = writeln!(
            out,
            "  response in flight: {} to {}'s client, ready at {} ms: {}",
            r.message,
            d.user(r.writer).name,
            r.ready_ms,
            match r.result {
                Ok(()) => "ok",
                Err(why) => why.name(),
            }
        );
    }
    out
}
