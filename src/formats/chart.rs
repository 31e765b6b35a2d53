//! Sequence charts: a run of the rule book drawn as the story of its
//! parties. Each user's client (with its History Spooler) has a lane, each
//! organisation's Exchange has one, and each mailbox has one. Every event
//! is one mark at its virtual time, an arrow when something passes between
//! parties and a dot when it happens to one; what the event filed or
//! notified is drawn as further arrows in the same row.
//!
//! `offline-im run --html` draws a scenario, `check --html` its
//! counterexamples, and the Explorer the path to the state it shows.
//!
//! Invariants it keeps:
//! - one mark per event recorded, in the order recorded, and one lane per
//!   party: every client, every organisation's Exchange, every mailbox
//!   (a user without a mailbox, DEC-007, has none);
//! - one shaded band per EWS outage on its Exchange lane and one per crash
//!   on its client lane, from the event that starts it to the one that
//!   ends it, or to the end of the chart;
//! - each mark carries its decision-log lines and the SPEC ids they cite,
//!   as its SVG `<title>` (shown on hover) and in the list under the chart;
//! - the page links to nothing (`html::page`).
//!
//! What it deliberately does not do: decide anything. What an event did
//! is read from the rule book's answer: the route `step` returned, and the
//! difference between the state before and after (requests, responses,
//! items and notifications that appeared or went). It never asks why; the
//! trace lines say that.

use crate::formats::html::{self, clock, escape};
use crate::formats::report::{Observation, observe, route_view};
use crate::rules::dispatch::Route;
use crate::rules::domain::{Deployment, MailboxLocation, OrgId, UserId};
use crate::rules::mailbox::ItemKind;
use crate::rules::world::{Event, Outcome, State, TraceRecord};
use std::fmt::Write as _;
use std::sync::Arc;

/// What a lane stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// A user's client and its History Spooler.
    Client,
    /// An organisation's Exchange, which carries its EWS.
    Exchange,
    /// A user's Exchange mailbox.
    Mailbox,
}

impl LaneKind {
    /// The kind's name in the page's `data-kind` attributes.
    pub fn name(self) -> &'static str {
        match self {
            LaneKind::Client => "client",
            LaneKind::Exchange => "exchange",
            LaneKind::Mailbox => "mailbox",
        }
    }
}

/// One party's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    /// What the lane stands for.
    pub kind: LaneKind,
    /// Its heading, e.g. `Tony Smith` or `Exchange, contoso`.
    pub label: String,
}

/// How a mark is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Something passes from one lane to another.
    Arrow {
        /// The lane it leaves.
        from: usize,
        /// The lane it reaches.
        to: usize,
    },
    /// Something happens to one party.
    Dot {
        /// The party's lane.
        lane: usize,
    },
    /// The clock moves on (`advance-to`); drawn across every lane.
    Clock,
}

/// A further arrow of an event: an item filed, a notification shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// The lane it leaves.
    pub from: usize,
    /// The lane it reaches.
    pub to: usize,
    /// What it carries, e.g. `m1 IM.Note.MissedConversation → Missed Conversations`.
    pub label: String,
}

/// One event of the chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The event's number in the chart, from 1.
    pub step: usize,
    /// The virtual time after the event, in milliseconds since the start.
    pub at_ms: u64,
    /// The event's kind, as `Event::name` gives it (`send`, `pickup`, …).
    pub kind: &'static str,
    /// The event as `report::describe` names it.
    pub event: String,
    /// How it is drawn.
    pub shape: Shape,
    /// The words beside the mark: what the event did.
    pub label: String,
    /// The items it filed and the notifications it showed.
    pub effects: Vec<Effect>,
    /// Its decision-log lines.
    pub trace: Vec<String>,
    /// The SPEC ids those lines cite, each once.
    pub spec: Vec<String>,
}

/// A shaded stretch of a lane: an EWS outage or a crashed client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    /// The lane it shades.
    pub lane: usize,
    /// `outage` or `crash`.
    pub kind: &'static str,
    /// The index of the mark that starts it.
    pub from_mark: usize,
    /// The index of the mark that ends it, or `None` if it lasts to the end.
    pub to_mark: Option<usize>,
}

/// A drawn run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chart {
    /// The chart's heading.
    pub title: String,
    /// Every party, grouped by organisation: its clients, its Exchange,
    /// then its mailboxes.
    pub lanes: Vec<Lane>,
    /// Every event, in order.
    pub marks: Vec<Mark>,
    /// Every outage and crash.
    pub bands: Vec<Band>,
    /// The state at the end, for the tables under the chart.
    pub final_state: Observation,
}

/// Builds a chart event by event, from the states the rule book leaves.
#[derive(Clone, Debug)]
pub struct ChartBuilder {
    deployment: Arc<Deployment>,
    /// The state after the last event recorded.
    last: State,
    title: String,
    lanes: Vec<Lane>,
    client_lane: Vec<usize>,
    exchange_lane: Vec<usize>,
    mailbox_lane: Vec<Option<usize>>,
    marks: Vec<Mark>,
    bands: Vec<Band>,
}

impl ChartBuilder {
    /// A builder for a run that starts in state `start`.
    pub fn new(title: &str, deployment: Arc<Deployment>, start: &State) -> ChartBuilder {
        let d = &*deployment;
        let mut lanes = Vec::new();
        let mut client_lane = vec![0; d.users.len()];
        let mut exchange_lane = vec![0; d.orgs.len()];
        let mut mailbox_lane = vec![None; d.users.len()];
        for o in d.org_ids() {
            let members: Vec<UserId> = d.user_ids().filter(|u| d.user(*u).org == o).collect();
            for u in &members {
                client_lane[u.0 as usize] = lanes.len();
                lanes.push(Lane {
                    kind: LaneKind::Client,
                    label: d.user(*u).name.clone(),
                });
            }
            exchange_lane[o.0 as usize] = lanes.len();
            lanes.push(Lane {
                kind: LaneKind::Exchange,
                label: format!("Exchange, {}", d.org(o).name),
            });
            for u in members
                .iter()
                .filter(|u| d.user(**u).mailbox != MailboxLocation::None)
            {
                mailbox_lane[u.0 as usize] = Some(lanes.len());
                lanes.push(Lane {
                    kind: LaneKind::Mailbox,
                    label: format!("{}'s mailbox", d.user(*u).name),
                });
            }
        }
        ChartBuilder {
            deployment,
            last: start.clone(),
            title: title.to_string(),
            lanes,
            client_lane,
            exchange_lane,
            mailbox_lane,
            marks: Vec::new(),
            bands: Vec::new(),
        }
    }

    fn client(&self, u: UserId) -> usize {
        self.client_lane[u.0 as usize]
    }

    fn exchange_of(&self, u: UserId) -> usize {
        self.exchange_lane[self.deployment.user(u).org.0 as usize]
    }

    fn exchange(&self, o: OrgId) -> usize {
        self.exchange_lane[o.0 as usize]
    }

    fn dot_on_client(&self, u: UserId) -> Shape {
        Shape::Dot {
            lane: self.client(u),
        }
    }

    fn dot_on_exchange(&self, o: OrgId) -> Shape {
        Shape::Dot {
            lane: self.exchange(o),
        }
    }

    /// Records one event the rule book accepted: `outcome` is what `step`
    /// returned (`None` for an internal event the scheduler took, which is
    /// never a send), `after` the state it left, `trace` its log lines.
    pub fn record(
        &mut self,
        event: &Event,
        outcome: Option<&Outcome>,
        after: &State,
        trace: &[TraceRecord],
    ) {
        let d = Arc::clone(&self.deployment);
        let before = &self.last;
        let index = self.marks.len();
        let (shape, label) = match event {
            Event::Send { from, to, .. } => match outcome.and_then(|o| o.route) {
                Some((id, route)) => {
                    let view = route_view(&d, after, id, route);
                    let mut label = format!("{} {}", view.id, view.route);
                    if let (Some(reason), Some(source)) = (view.reason, view.source) {
                        let _ = write!(label, " ({reason}, {source})");
                    }
                    match route {
                        Route::Live | Route::MissedMessage => (
                            Shape::Arrow {
                                from: self.client(*from),
                                to: self.client(*to),
                            },
                            label,
                        ),
                        Route::Offline => {
                            let due = after
                                .spooler(*from)
                                .entries
                                .iter()
                                .find(|e| e.message == id)
                                .map(|e| format!(": spooled, due {}", clock(e.due_ms)))
                                .unwrap_or_default();
                            (self.dot_on_client(*from), format!("{label}{due}"))
                        }
                        Route::Unavailable(_) => (self.dot_on_client(*from), label),
                    }
                }
                None => (self.dot_on_client(*from), "send".to_string()),
            },
            Event::SignIn { user, presence } => (
                self.dot_on_client(*user),
                format!("signs in, {}", presence.name()),
            ),
            Event::SignOut { user } => (self.dot_on_client(*user), "signs out".to_string()),
            Event::SetPresence { user, presence } => (
                self.dot_on_client(*user),
                format!("presence {}", presence.name()),
            ),
            Event::CrashClient { user } => {
                (self.dot_on_client(*user), "client crashes".to_string())
            }
            Event::RestartClient { user } => {
                (self.dot_on_client(*user), "client restarts".to_string())
            }
            Event::EwsDown { org } => (self.dot_on_exchange(*org), "EWS down".to_string()),
            Event::EwsUp { org } => (self.dot_on_exchange(*org), "EWS up".to_string()),
            Event::Admin { org, text, .. } => (self.dot_on_exchange(*org), text.clone()),
            Event::AdvanceTo { at_ms } => (Shape::Clock, format!("clock to {}", clock(*at_ms))),
            Event::Pickup { user } => {
                let sent: Vec<String> = after
                    .requests
                    .iter()
                    .filter(|r| r.writer == *user && !before.requests.contains(r))
                    .map(|r| format!("CreateItem {}", r.message))
                    .collect();
                if sent.is_empty() {
                    (self.dot_on_client(*user), "spool timer fires".to_string())
                } else {
                    (
                        Shape::Arrow {
                            from: self.client(*user),
                            to: self.exchange_of(*user),
                        },
                        sent.join(", "),
                    )
                }
            }
            Event::ExchangeProcess { writer } => {
                let answered: Vec<String> = after
                    .responses
                    .iter()
                    .filter(|r| r.writer == *writer && !before.responses.contains(r))
                    .map(|r| match r.result {
                        Ok(()) => format!("{} stored", r.message),
                        Err(why) => format!("{} failed: {}", r.message, why.name()),
                    })
                    .collect();
                let unanswered: Vec<String> = before
                    .requests
                    .iter()
                    .filter(|r| r.writer == *writer && r.orphaned && !after.requests.contains(r))
                    .map(|r| {
                        format!(
                            "{} processed; its client stopped, so nobody reads the answer",
                            r.message
                        )
                    })
                    .collect();
                (
                    Shape::Dot {
                        lane: self.exchange_of(*writer),
                    },
                    answered
                        .into_iter()
                        .chain(unanswered)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }
            Event::ClientReceive { user } => {
                let read: Vec<String> = before
                    .responses
                    .iter()
                    .filter(|r| r.writer == *user && !after.responses.contains(r))
                    .map(|r| match r.result {
                        Ok(()) => format!("response {}: ok", r.message),
                        Err(why) => format!("response {}: {}", r.message, why.name()),
                    })
                    .collect();
                (
                    Shape::Arrow {
                        from: self.exchange_of(*user),
                        to: self.client(*user),
                    },
                    if read.is_empty() {
                        "response".to_string()
                    } else {
                        read.join(", ")
                    },
                )
            }
            Event::CreateItemArrives { writer, .. } => (
                Shape::Arrow {
                    from: self.client(*writer),
                    to: self.exchange_of(*writer),
                },
                match outcome.and_then(|o| o.created) {
                    Some((id, Ok(()))) => format!("CreateItem {id} from outside: stored"),
                    Some((id, Err(why))) => {
                        format!("CreateItem {id} from outside: {}", why.name())
                    }
                    None => "CreateItem from outside".to_string(),
                },
            ),
        };
        let actor = match shape {
            Shape::Arrow { to, .. } => Some(to),
            Shape::Dot { lane } => Some(lane),
            Shape::Clock => None,
        };
        let mut effects = Vec::new();
        for u in d.user_ids() {
            let Some(mailbox) = self.mailbox_lane[u.0 as usize] else {
                continue;
            };
            let old = before.mailbox(u).items.len();
            for item in after.mailbox(u).items.iter().skip(old) {
                let folders: Vec<&str> = item.folders.iter().map(|f| f.display_name()).collect();
                let what = match item.kind {
                    ItemKind::Delivered => "",
                    ItemKind::SenderCopy => " (sender's copy)",
                    ItemKind::Draft => " (unsent draft)",
                };
                effects.push(Effect {
                    from: actor.unwrap_or_else(|| self.exchange_of(u)),
                    to: mailbox,
                    label: format!(
                        "{} {}{what} → {}",
                        item.message,
                        item.class.as_str(),
                        folders.join(", ")
                    ),
                });
            }
        }
        for n in after
            .notifications
            .iter()
            .filter(|n| !before.notifications.contains(n))
        {
            if let Some(mailbox) = self.mailbox_lane[n.user.0 as usize] {
                effects.push(Effect {
                    from: mailbox,
                    to: self.client(n.user),
                    label: format!("sign-in notification of {}", n.message),
                });
            }
        }
        let trace: Vec<String> = trace.iter().map(ToString::to_string).collect();
        let mut spec: Vec<String> = Vec::new();
        for line in &trace {
            for id in html::spec_ids(line) {
                if !spec.contains(&id) {
                    spec.push(id);
                }
            }
        }
        match event {
            Event::EwsDown { org } => self.open_band(self.exchange(*org), "outage", index),
            Event::EwsUp { org } => self.close_band(self.exchange(*org), "outage", index),
            Event::CrashClient { user } => self.open_band(self.client(*user), "crash", index),
            Event::RestartClient { user } => self.close_band(self.client(*user), "crash", index),
            _ => {}
        }
        self.marks.push(Mark {
            step: index + 1,
            at_ms: after.clock_ms,
            kind: event.name(),
            event: crate::formats::report::describe(&d, event),
            shape,
            label,
            effects,
            trace,
            spec,
        });
        self.last = after.clone();
    }

    /// Records an event the rule book rejected (a replayed path whose step
    /// no longer applies), so that the marks stay numbered as the steps
    /// are: a dot on the lane of the party it names, with the reason.
    pub fn record_rejected(&mut self, event: &Event, why: &str) {
        let d = Arc::clone(&self.deployment);
        let shape = match event {
            Event::Send { from: u, .. }
            | Event::SignIn { user: u, .. }
            | Event::SignOut { user: u }
            | Event::SetPresence { user: u, .. }
            | Event::CrashClient { user: u }
            | Event::RestartClient { user: u }
            | Event::Pickup { user: u }
            | Event::ClientReceive { user: u } => self.dot_on_client(*u),
            Event::ExchangeProcess { writer } | Event::CreateItemArrives { writer, .. } => {
                Shape::Dot {
                    lane: self.exchange_of(*writer),
                }
            }
            Event::EwsDown { org } | Event::EwsUp { org } | Event::Admin { org, .. } => {
                self.dot_on_exchange(*org)
            }
            Event::AdvanceTo { .. } => Shape::Clock,
        };
        let index = self.marks.len();
        self.marks.push(Mark {
            step: index + 1,
            at_ms: self.last.clock_ms,
            kind: event.name(),
            event: crate::formats::report::describe(&d, event),
            shape,
            label: format!("rejected: {why}"),
            effects: Vec::new(),
            trace: vec![format!("rejected: {why}")],
            spec: html::spec_ids(why),
        });
    }

    fn open_band(&mut self, lane: usize, kind: &'static str, from_mark: usize) {
        self.bands.push(Band {
            lane,
            kind,
            from_mark,
            to_mark: None,
        });
    }

    fn close_band(&mut self, lane: usize, kind: &'static str, to_mark: usize) {
        if let Some(b) = self
            .bands
            .iter_mut()
            .rev()
            .find(|b| b.lane == lane && b.kind == kind && b.to_mark.is_none())
        {
            b.to_mark = Some(to_mark);
        }
    }

    /// The chart, ending in the state after the last event recorded.
    pub fn finish(self) -> Chart {
        Chart {
            title: self.title,
            final_state: observe(&self.deployment, &self.last),
            lanes: self.lanes,
            marks: self.marks,
            bands: self.bands,
        }
    }
}

/// The chart's geometry, in pixels.
const TIME_COLUMN_PX: f64 = 84.0;
const LANE_PX: f64 = 190.0;
const HEADER_PX: f64 = 52.0;
const ROW_PX: f64 = 30.0;
/// The extra height of a row for each item filed or notification shown.
const EFFECT_PX: f64 = 16.0;
/// The bound on the characters of a label drawn in the chart; the whole
/// label is in the mark's title and in the list under the chart.
const LABEL_CHARS_MAX: usize = 60;

fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS_MAX {
        label.to_string()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS_MAX - 1).collect();
        format!("{cut}…")
    }
}

impl Chart {
    fn lane_x(&self, lane: usize) -> f64 {
        TIME_COLUMN_PX + LANE_PX * (lane as f64 + 0.5)
    }

    /// The top of each mark's row, and below them the bottom of the last:
    /// a row is one line high plus a line for each effect.
    fn row_tops(&self) -> Vec<f64> {
        let mut tops = Vec::with_capacity(self.marks.len() + 1);
        let mut y = HEADER_PX;
        for m in &self.marks {
            tops.push(y);
            y += ROW_PX + EFFECT_PX * m.effects.len() as f64;
        }
        tops.push(y);
        tops
    }

    /// The chart as one inline SVG element.
    pub fn svg(&self) -> String {
        self.svg_numbered(0)
    }

    /// The chart as one inline SVG element whose ids end in `n`, so that
    /// several charts can share a page.
    fn svg_numbered(&self, n: usize) -> String {
        let width = TIME_COLUMN_PX + LANE_PX * self.lanes.len() as f64 + 10.0;
        let tops = self.row_tops();
        let bottom = tops[self.marks.len()] + 6.0;
        let height = bottom + 10.0;
        let mut out = format!(
            "<svg class=\"sequence\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"system-ui,sans-serif\" role=\"img\" aria-label=\"{}\">",
            escape(&self.title)
        );
        let _ = write!(
            out,
            "<defs><marker id=\"head{n}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker><marker id=\"head-effect{n}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1e8449\"/></marker></defs>"
        );
        for b in &self.bands {
            let x = self.lane_x(b.lane) - LANE_PX * 0.45;
            let Some(top) = tops.get(b.from_mark) else {
                continue;
            };
            let y = top + 4.0;
            let end = b
                .to_mark
                .and_then(|m| tops.get(m + 1))
                .map_or(bottom, |t| t - 4.0);
            let colour = if b.kind == "outage" {
                "#f5b7b1"
            } else {
                "#d5d8dc"
            };
            let _ = write!(
                out,
                "<rect class=\"band\" data-kind=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" opacity=\"0.6\"><title>{}</title></rect>",
                b.kind,
                LANE_PX * 0.9,
                (end - y).max(1.0),
                if b.kind == "outage" {
                    "EWS outage"
                } else {
                    "client not running"
                }
            );
        }
        for (i, lane) in self.lanes.iter().enumerate() {
            let x = self.lane_x(i);
            let colour = match lane.kind {
                LaneKind::Client => "#2e86c1",
                LaneKind::Exchange => "#b9770e",
                LaneKind::Mailbox => "#1e8449",
            };
            let _ = write!(
                out,
                "<g class=\"lane\" data-kind=\"{}\"><text x=\"{x:.1}\" y=\"20\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\" fill=\"{colour}\">{}</text><text x=\"{x:.1}\" y=\"36\" text-anchor=\"middle\" font-size=\"10\" fill=\"#666\">{}</text><line x1=\"{x:.1}\" y1=\"{HEADER_PX}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\" stroke-dasharray=\"4 3\"/></g>",
                lane.kind.name(),
                escape(&lane.label),
                match lane.kind {
                    LaneKind::Client => "client and History Spooler",
                    LaneKind::Exchange => "EWS",
                    LaneKind::Mailbox => "mailbox",
                }
            );
        }
        for (i, m) in self.marks.iter().enumerate() {
            let y = tops[i] + ROW_PX * 0.6;
            let mut title = format!("{}. {} at {}", m.step, m.event, clock(m.at_ms));
            for t in &m.trace {
                title.push('\n');
                title.push_str(t);
            }
            if !m.spec.is_empty() {
                let _ = write!(title, "\nSPEC: {}", m.spec.join(", "));
            }
            let _ = write!(
                out,
                "<g class=\"mark\" data-kind=\"{}\" data-step=\"{}\" data-spec=\"{}\"><title>{}</title><text x=\"4\" y=\"{:.1}\" font-size=\"10\" fill=\"#555\">{} {}</text>",
                m.kind,
                m.step,
                m.spec.join(" "),
                escape(&title),
                y + 3.0,
                m.step,
                clock(m.at_ms)
            );
            match m.shape {
                Shape::Arrow { from, to } => {
                    let (x1, x2) = (self.lane_x(from), self.lane_x(to));
                    let _ = write!(
                        out,
                        "<line x1=\"{x1:.1}\" y1=\"{y:.1}\" x2=\"{x2:.1}\" y2=\"{y:.1}\" stroke=\"#333\" stroke-width=\"1.5\" marker-end=\"url(#head{n})\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                        (x1 + x2) / 2.0,
                        y - 4.0,
                        escape(&short(&m.label))
                    );
                }
                Shape::Dot { lane } => {
                    let x = self.lane_x(lane);
                    let _ = write!(
                        out,
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"#333\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
                        x + 8.0,
                        y + 4.0,
                        escape(&short(&m.label))
                    );
                }
                Shape::Clock => {
                    let _ = write!(
                        out,
                        "<line x1=\"{TIME_COLUMN_PX}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#aaa\" stroke-dasharray=\"1 3\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#777\">{}</text>",
                        width - 10.0,
                        TIME_COLUMN_PX + 4.0,
                        y - 3.0,
                        escape(&m.label)
                    );
                }
            }
            out.push_str("</g>");
            for (k, e) in m.effects.iter().enumerate() {
                let (x1, x2) = (self.lane_x(e.from), self.lane_x(e.to));
                let y = y + EFFECT_PX * k as f64;
                let _ = write!(
                    out,
                    "<g class=\"effect\" data-step=\"{}\"><title>{}</title><line x1=\"{x1:.1}\" y1=\"{:.1}\" x2=\"{x2:.1}\" y2=\"{:.1}\" stroke=\"#1e8449\" stroke-width=\"1.2\" marker-end=\"url(#head-effect{n})\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#1e8449\">{}</text></g>",
                    m.step,
                    escape(&e.label),
                    y + 8.0,
                    y + 8.0,
                    (x1 + x2) / 2.0,
                    y + 18.0,
                    escape(&short(&e.label))
                );
            }
        }
        out.push_str("</svg>");
        out
    }

    /// The chart's section of a page: heading, chart, the events with their
    /// trace lines and SPEC ids, and the final spoolers and mailboxes.
    pub fn section(&self, intro: &str, n: usize) -> String {
        let mut out = format!("<section><h2>{}</h2>", escape(&self.title));
        if !intro.is_empty() {
            let _ = write!(out, "<p>{}</p>", escape(intro));
        }
        let _ = write!(
            out,
            "<p class=\"legend\"><span>→ black: a message or request between parties</span><span style=\"color:#1e8449\">→ green: an item filed or a notification shown</span><span><i class=\"swatch\" style=\"background:#f5b7b1\"></i>EWS outage</span><span><i class=\"swatch\" style=\"background:#d5d8dc\"></i>client not running</span></p><div class=\"chart\">{}</div>",
            self.svg_numbered(n)
        );
        out.push_str("<h3>Events</h3><ol class=\"events\">");
        for m in &self.marks {
            let _ = write!(
                out,
                "<li id=\"{}\"><b>{}</b> {}: {}",
                format_args!("event-{n}-{}", m.step),
                clock(m.at_ms),
                escape(&m.event),
                escape(&m.label)
            );
            if !m.spec.is_empty() {
                let _ = write!(out, " <small>({})</small>", escape(&m.spec.join(", ")));
            }
            for e in &m.effects {
                let _ = write!(out, "<br>→ {}", escape(&e.label));
            }
            if !m.trace.is_empty() {
                let _ = write!(out, "<code>{}</code>", escape(&m.trace.join("\n")));
            }
            out.push_str("</li>");
        }
        out.push_str("</ol>");
        out.push_str(&final_tables(&self.final_state));
        out.push_str("</section>\n");
        out
    }
}

/// The spoolers and mailboxes of the final state as small tables.
fn final_tables(o: &Observation) -> String {
    let mut out = format!("<h3>At the end ({})</h3>", clock(o.clock_ms));
    let spooled: Vec<_> = o.users.iter().filter(|u| !u.spooler.is_empty()).collect();
    if spooled.is_empty() {
        out.push_str("<p>Every History Spooler is empty.</p>");
    } else {
        out.push_str("<table class=\"spoolers\"><tr><th>History Spooler of</th><th>message</th><th>to</th><th>due</th><th>attempts</th><th>status</th></tr>");
        for u in spooled {
            for e in &u.spooler {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    escape(&u.name),
                    e.id,
                    escape(&e.to),
                    clock(e.due_ms),
                    e.attempts,
                    escape(&e.status.to_string())
                );
            }
        }
        out.push_str("</table>");
    }
    let filed: Vec<_> = o.users.iter().filter(|u| !u.folders.is_empty()).collect();
    if filed.is_empty() {
        out.push_str("<p>Every mailbox is empty.</p>");
    } else {
        out.push_str("<table class=\"mailboxes\"><tr><th>mailbox of</th><th>folder</th><th>message</th><th>class</th><th>from</th><th>to</th><th>body</th></tr>");
        for u in filed {
            for f in &u.folders {
                for i in &f.items {
                    let kind = match i.kind {
                        ItemKind::Delivered => "",
                        ItemKind::SenderCopy => " (sender's copy)",
                        ItemKind::Draft => " (unsent draft)",
                    };
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&u.name),
                        f.folder,
                        i.id,
                        i.class,
                        escape(&i.from),
                        escape(&i.to),
                        escape(&i.body)
                    );
                }
            }
        }
        out.push_str("</table>");
    }
    out
}

/// A page of charts under a heading and an introduction (HTML, already
/// escaped), each chart with its own introduction (text).
pub fn page(title: &str, intro_html: &str, charts: &[(Chart, String)]) -> String {
    let mut body = format!("<h1>{}</h1>{intro_html}", escape(title));
    for (n, (chart, intro)) in charts.iter().enumerate() {
        body.push_str(&chart.section(intro, n));
    }
    html::page(title, &body)
}

/// The page of a scenario run (`run --html`): its chart, introduced.
pub fn run_page(scenario: &crate::formats::scenario::Scenario, chart: Chart) -> String {
    let title = format!("offline-im run: {}", scenario.name);
    let intro = format!(
        "Every setup cmdlet, sign-in and timeline entry of {}, and every internal event the scheduler took between them, in order. Hover over a mark for its decision log.",
        scenario.file
    );
    page(&title, "", &[(chart, intro)])
}

/// Runs a scenario as `report::run` does, drawing every event it takes
/// (`run --html`): the setup cmdlets, sign-ins and timeline entries, and
/// each internal event the scheduler performed between them.
pub fn run_chart(
    scenario: &crate::formats::scenario::Scenario,
) -> Result<(crate::formats::report::RunReport, Chart), crate::formats::report::RunError> {
    let start = scenario.world();
    let mut chart = ChartBuilder::new(
        &format!("{} ({})", scenario.name, scenario.file),
        Arc::clone(&scenario.deployment),
        &start.state,
    );
    let (report, _) =
        crate::formats::report::run_observed(scenario, &mut |e, outcome, s, trace| {
            chart.record(e, outcome, s, trace);
        })?;
    Ok((report, chart.finish()))
}
