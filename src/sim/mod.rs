//! The discrete-event simulator: large generated deployments driven through
//! the rule book over a simulated working day, with faults, reproducibly.
//!
//! What it owns:
//! - `SimConfig`: the workload, read from TOML (`models/sim/workday.toml` is
//!   embedded) with every value range-checked;
//! - the generated deployment (users round-robin over organisations, a mix
//!   of installs, builds, release dates and mailbox locations);
//! - the agenda: a priority queue of planned events in virtual time, each
//!   applied with `world::step`, and the wake-ups that let each client's
//!   internal events (spool timer, Exchange, response) happen when due;
//! - the summary, the time series, the day's faults, the decision-log
//!   trace, swarms of seeds and shards of a swarm;
//! - `page`: the HTML report, drawn from the `SimReport` alone.
//!
//! Invariants it keeps:
//! - one seeded ChaCha8 generator drives every choice, and the order of
//!   the agenda is total (time, then insertion sequence), so a seed and a
//!   config give byte-identical summaries and traces;
//! - it never reads the wall clock for anything that reaches the summary or
//!   the trace (the progress bar and the events/s line on stderr only);
//! - the invariants of `invariants::INVARIANTS` are checked every
//!   `invariant_interval_minutes` and at the end; a violation stops the run
//!   with the seed, the time, the last events and the command that replays;
//! - the agenda is bounded: each user has at most a fixed number of planned
//!   events at a time, plus wake-ups that each consume one due item.
//!
//! What it may import: the rule book (`crate::rules`), the formats
//! (`crate::formats`), rand and rand_chacha. Never another driver or the
//! CLI (`tests/layout.rs`); the progress bar and the files it writes are
//! the CLI's (`cli/simulate.rs`).
//!
//! What it deliberately does not do: decide routes or deliveries (the rule
//! book does), or use the eager scheduler, which scans every user per step.

pub mod page;

use crate::rules::dispatch::Route;
use crate::rules::domain::{
    Build, Client, Date, Deployment, Install, MailboxLocation, Options, Org, OrgId, Presence,
    Profile, ServerVersion, User, UserId,
};
use crate::rules::invariants::{self, Invariant};
use crate::rules::mailbox::{Item, ItemKind};
use crate::rules::spooler::{FailReason, SpoolStatus};
use crate::rules::world::{Event, StepError, World};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

/// The embedded default workload.
pub const DEFAULT_CONFIG: &str = include_str!("../../models/sim/workday.toml");
/// The name the embedded default goes by in diagnostics.
pub const DEFAULT_CONFIG_NAME: &str = "models/sim/workday.toml";

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The simulator's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Users in the generated deployment, 2 to `USERS_MAX`, dealt round-robin
    /// over the organisations. `--users` overrides it.
    pub users: u32,
    /// Organisations, 1 to 64, each federated with every other. `--orgs`
    /// overrides it.
    pub orgs: u32,
    /// Simulated hours, 1 to 168 (a week): the run ends at `hours` times
    /// 3,600,000 virtual milliseconds. `--hours` overrides it.
    pub hours: u32,
    /// The seed of every random choice: the deployment is drawn from a ChaCha8
    /// generator seeded with it, and the run from one seeded with `seed + 1`.
    /// `--seed` overrides it.
    pub seed: u64,
    /// The mix of the generated deployment (`[deployment]`).
    pub deployment: DeploymentMix,
    /// The working day and what users do in it (`[workload]`).
    pub workload: Workload,
    /// The outages, crashes and admin changes (`[faults]`).
    pub faults: Faults,
    /// How often the run is checked and sampled (`[check]`).
    pub check: Checking,
}

/// The `[deployment]` table: the mix of the generated deployment. Each share
/// is a probability from 0 to 1, drawn independently per organisation or per
/// user. Like every value of the workload, it is a knob of the test load, not
/// a claim about real deployments (SPEC.md §6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentMix {
    /// The chance that an organisation runs Skype for Business Server 2015 CU3
    /// rather than Online (DEC-014).
    pub server_org_share: f64,
    /// The chance that a user of a Server organisation has an on-premises
    /// mailbox rather than an Online one. Users of Online organisations always
    /// have Online mailboxes.
    pub on_premises_share: f64,
    /// The chance that a user's client is an MSI install, which gets no
    /// offline IM (OIM-004).
    pub msi_share: f64,
    /// The chance that a user's client has build 16.0.6001.1000, below the
    /// minimum of OIM-002; the others have 16.0.7070.2036.
    pub old_build_share: f64,
    /// The chance that a user's client was released on 2016-05-10, before the
    /// Drafts fix of 2016-06-14 (OIM-014); the others were released on
    /// 2016-08-01.
    pub old_client_share: f64,
    /// The deployment's `Options::ews_latency_ms` (DEC-024), in the range of
    /// `domain::EWS_LATENCY_MS`: 0 to 60,000 (DEC-050).
    pub ews_latency_ms: u64,
}

/// The `[workload]` table: the working day, repeated every simulated day, and
/// what signed-in users do in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The hour of the day, 0 to 23, around which every user signs in, as
    /// Available.
    pub workday_start_hour: u32,
    /// The hour, from `workday_start_hour + 1` to 24, around which every user
    /// signs out. A client restarted after a crash signs in again only between
    /// the two hours.
    pub workday_end_hour: u32,
    /// How far, 0 to 240 minutes, a sign-in or sign-out may fall either side
    /// of its hour, uniformly.
    pub sign_in_jitter_minutes: u32,
    /// IMs a signed-in user sends per hour on average, 0 to 120. A user's
    /// activities (IMs and presence changes) come at exponentially distributed
    /// intervals.
    pub ims_per_user_hour: f64,
    /// The chance that an IM goes to a user of another organisation rather
    /// than of the sender's own; with one organisation every IM stays in it.
    pub federated_share: f64,
    /// Presence changes a signed-in user makes per hour on average, 0 to 60.
    pub presence_changes_per_user_hour: f64,
    /// The share of presence changes that set Do Not Disturb (OIM-017).
    pub dnd_share: f64,
    /// The share of presence changes that set Presenting (OIM-017), at most
    /// `1 - dnd_share`. The other changes set Available, Busy or Away, evenly.
    pub presenting_share: f64,
}

/// The `[faults]` table: how often EWS, clients and administrators disturb the
/// day. A swarm draws these, and the EWS latency, from each seed
/// (`SimConfig::with_faults_from_seed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// EWS outages per organisation per simulated day on average, 0 to 24, at
    /// exponentially distributed intervals.
    pub outages_per_org_day: f64,
    /// The mean length of an outage, 1 to 1,440 minutes; lengths are
    /// exponentially distributed.
    pub outage_minutes_mean: f64,
    /// The chance, 0 to 1, that a user's client crashes on a given day, once,
    /// at a uniformly random time. Despite the name it is a probability per
    /// day, not a rate: a client crashes at most once a day.
    pub crashes_per_user_day: f64,
    /// Minutes, 1 to 1,440, from a crash to the client's restart. During
    /// working hours the user signs in again a minute after the restart.
    pub restart_after_minutes: u32,
    /// How many times a day, 0 to 1,000, an administrator of a randomly chosen
    /// Server organisation runs
    /// `Set-CsImConfiguration -EnableOfflineIM $False`; each change is
    /// switched back an hour later. With no Server organisation, none happen.
    pub admin_changes_per_day: u32,
}

/// The `[check]` table: how often the run is checked and sampled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checking {
    /// Virtual minutes, 1 to 1,440, between checks of the invariants. A
    /// violation is caught at the next check, so its reported time is an upper
    /// bound; settled state is retired after every check that holds (SPEC.md
    /// §6).
    pub invariant_interval_minutes: u32,
    /// Virtual minutes, 1 to 1,440, between samples of the time series.
    pub sample_interval_minutes: u32,
}

/// An invalid configuration value: the key, what was found, what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: error: {message}")]
pub struct ConfigError {
    /// The name the config was loaded under: its path, or
    /// `DEFAULT_CONFIG_NAME` for the embedded default.
    pub file: String,
    /// The 1-based line of the TOML error, or of the line where the offending
    /// key begins (1 when no line begins with it).
    pub line: usize,
    /// The 1-based column, counted in bytes.
    pub column: usize,
    /// What was found and what was expected; for a value out of range, the
    /// key, the value and the allowed range.
    pub message: String,
}

impl SimConfig {
    /// The embedded default.
    pub fn default_config() -> SimConfig {
        SimConfig::load(DEFAULT_CONFIG_NAME, DEFAULT_CONFIG)
            .unwrap_or_else(|e| unreachable!("the embedded default is tested to load: {e}"))
    }

    /// Parses and validates a config; `file` names it in diagnostics.
    pub fn load(file: &str, text: &str) -> Result<SimConfig, ConfigError> {
        let at = |offset: usize, message: String| {
            let before = &text[..offset.min(text.len())];
            ConfigError {
                file: file.to_string(),
                line: before.matches('\n').count() + 1,
                column: before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                message,
            }
        };
        let config: SimConfig = toml::from_str(text).map_err(|e| {
            at(
                e.span().map_or(0, |s| s.start),
                e.message().trim_end().replace('\n', "; "),
            )
        })?;
        config.validate().map_err(|(key, message)| {
            // Point at the key's line when the file names it.
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let offset = text
                .match_indices(leaf)
                .find(|(i, _)| text[..*i].ends_with('\n') || *i == 0)
                .map_or(0, |(i, _)| i);
            at(offset, message)
        })?;
        Ok(config)
    }

    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        fn int(key: &'static str, v: u64, lo: u64, hi: u64) -> Result<(), (&'static str, String)> {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((key, format!("found {key} = {v}, expected {lo} to {hi}")))
            }
        }
        fn real(key: &'static str, v: f64, lo: f64, hi: f64) -> Result<(), (&'static str, String)> {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err((key, format!("found {key} = {v}, expected {lo} to {hi}")))
            }
        }
        int(
            "users",
            self.users.into(),
            2,
            crate::rules::domain::USERS_MAX as u64,
        )?;
        int("orgs", self.orgs.into(), 1, 64)?;
        int("hours", self.hours.into(), 1, 24 * 7)?;
        let d = &self.deployment;
        real("deployment.server_org_share", d.server_org_share, 0.0, 1.0)?;
        real(
            "deployment.on_premises_share",
            d.on_premises_share,
            0.0,
            1.0,
        )?;
        real("deployment.msi_share", d.msi_share, 0.0, 1.0)?;
        real("deployment.old_build_share", d.old_build_share, 0.0, 1.0)?;
        real("deployment.old_client_share", d.old_client_share, 0.0, 1.0)?;
        // The deployment option's own range (DEC-050), not a copy of it.
        crate::rules::domain::EWS_LATENCY_MS
            .check_as("deployment.ews_latency_ms", d.ews_latency_ms.into())
            .map_err(|e| ("deployment.ews_latency_ms", e.to_string()))?;
        let w = &self.workload;
        int(
            "workload.workday_start_hour",
            w.workday_start_hour.into(),
            0,
            23,
        )?;
        int(
            "workload.workday_end_hour",
            w.workday_end_hour.into(),
            u64::from(w.workday_start_hour) + 1,
            24,
        )?;
        int(
            "workload.sign_in_jitter_minutes",
            w.sign_in_jitter_minutes.into(),
            0,
            240,
        )?;
        real(
            "workload.ims_per_user_hour",
            w.ims_per_user_hour,
            0.0,
            120.0,
        )?;
        real("workload.federated_share", w.federated_share, 0.0, 1.0)?;
        real(
            "workload.presence_changes_per_user_hour",
            w.presence_changes_per_user_hour,
            0.0,
            60.0,
        )?;
        real("workload.dnd_share", w.dnd_share, 0.0, 1.0)?;
        real(
            "workload.presenting_share",
            w.presenting_share,
            0.0,
            1.0 - w.dnd_share,
        )?;
        let f = &self.faults;
        real(
            "faults.outages_per_org_day",
            f.outages_per_org_day,
            0.0,
            24.0,
        )?;
        real(
            "faults.outage_minutes_mean",
            f.outage_minutes_mean,
            1.0,
            1440.0,
        )?;
        real(
            "faults.crashes_per_user_day",
            f.crashes_per_user_day,
            0.0,
            1.0,
        )?;
        int(
            "faults.restart_after_minutes",
            f.restart_after_minutes.into(),
            1,
            1440,
        )?;
        int(
            "faults.admin_changes_per_day",
            f.admin_changes_per_day.into(),
            0,
            1000,
        )?;
        let c = &self.check;
        int(
            "check.invariant_interval_minutes",
            c.invariant_interval_minutes.into(),
            1,
            1440,
        )?;
        int(
            "check.sample_interval_minutes",
            c.sample_interval_minutes.into(),
            1,
            1440,
        )?;
        Ok(())
    }

    /// For a swarm: the fault parameters drawn from the seed, within their
    /// ranges, so each seed tries a different mix of faults.
    pub fn with_faults_from_seed(&self, seed: u64) -> SimConfig {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4152_4d00_0000);
        let mut c = self.clone();
        c.seed = seed;
        c.faults.outages_per_org_day = rng.random_range(0.0..4.0);
        c.faults.outage_minutes_mean = rng.random_range(1.0..90.0);
        c.faults.crashes_per_user_day = rng.random_range(0.0..0.5);
        c.faults.restart_after_minutes = rng.random_range(1..30);
        c.faults.admin_changes_per_day = rng.random_range(0..6);
        c.deployment.ews_latency_ms = rng.random_range(0..10_000);
        c
    }
}

/// Builds the deployment of a config: organisations `org1`…, federated
/// with one another; users `u1`…, round-robin over organisations.
pub fn deployment(c: &SimConfig) -> Deployment {
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let mix = &c.deployment;
    let orgs: Vec<Org> = (0..c.orgs)
        .map(|i| {
            let server = rng.random_bool(mix.server_org_share);
            Org {
                name: format!("org{}", i + 1),
                profile: if server {
                    Profile::Server
                } else {
                    Profile::Online
                },
                server_version: server.then_some(ServerVersion::Server2015Cu3),
                sites: Vec::new(),
                ews_published: true,
            }
        })
        .collect();
    let mut federation = Vec::new();
    for a in 0..c.orgs {
        for b in a + 1..c.orgs {
            federation.push((OrgId(a as u8), OrgId(b as u8)));
        }
    }
    let users = (0..c.users)
        .map(|i| {
            let org = OrgId((i % c.orgs) as u8);
            let server = orgs[org.0 as usize].profile == Profile::Server;
            let mailbox = if server && rng.random_bool(mix.on_premises_share) {
                MailboxLocation::OnPremises
            } else {
                MailboxLocation::Online
            };
            let install = if rng.random_bool(mix.msi_share) {
                Install::Msi
            } else {
                Install::C2r
            };
            let build = if rng.random_bool(mix.old_build_share) {
                Build([16, 0, 6001, 1000])
            } else {
                Build([16, 0, 7070, 2036])
            };
            let released = if rng.random_bool(mix.old_client_share) {
                Date {
                    year: 2016,
                    month: 5,
                    day: 10,
                }
            } else {
                Date {
                    year: 2016,
                    month: 8,
                    day: 1,
                }
            };
            User {
                name: format!("u{}", i + 1),
                sip: format!("sip:u{}@org{}.example", i + 1, org.0 + 1),
                org,
                site: None,
                mailbox,
                client: Client {
                    install,
                    build,
                    released,
                },
            }
        })
        .collect();
    let options = Options {
        ews_latency_ms: mix.ews_latency_ms,
        ..Options::default()
    };
    Deployment::new(orgs, federation, users, options)
        .unwrap_or_else(|e| unreachable!("generated names are unique and orgs within bounds: {e}"))
}

/// A planned event on the agenda.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Planned {
    SignIn(UserId),
    SignOut(UserId),
    Activity(UserId),
    Crash(UserId),
    Restart(UserId),
    OutageStart(OrgId),
    OutageEnd(OrgId),
    Admin(OrgId, bool),
    /// Apply the user's due internal events (Exchange, response, timer).
    Wake(UserId),
    Sample,
    Check,
    /// Plan the day with this index (from 0).
    Day(u64),
}

/// One point of the time series, per sample interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// When the sample was taken, in virtual milliseconds since the start of
    /// the run.
    pub at_ms: u64,
    /// Entries in all History Spoolers at that time: waiting, in flight and
    /// failed alike.
    pub spool_depth: u64,
    /// Records the ledger holds: what retirement leaves, plus the IMs sent
    /// since the last check.
    pub ledger_records: u64,
    /// IMs routed `live` since the previous sample.
    pub live: u64,
    /// IMs routed `offline` since the previous sample.
    pub offline: u64,
    /// IMs routed `missed-message` since the previous sample.
    pub missed_message: u64,
    /// IMs routed `unavailable` since the previous sample.
    pub unavailable: u64,
}

/// IMs by route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Routes {
    /// IMs delivered live to the recipient's running client (DEC-001,
    /// DEC-025).
    pub live: u64,
    /// IMs accepted into the sender's History Spooler (DEC-001).
    pub offline: u64,
    /// IMs spooled as missed messages by a Do Not Disturb or Presenting
    /// recipient's own client (OIM-017).
    pub missed_message: u64,
    /// IMs not sent at all, whatever the reason.
    pub unavailable: u64,
}

/// Delivery latency from send to mailbox, over delivered offline messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// The median latency, in virtual milliseconds: the value at rank
    /// `n * 50 / 100` of the `n` sorted latencies. 0 when nothing was
    /// delivered, as are the others.
    pub p50_ms: u64,
    /// The 90th percentile, at rank `n * 90 / 100`.
    pub p90_ms: u64,
    /// The 99th percentile, at rank `n * 99 / 100`.
    pub p99_ms: u64,
    /// The longest latency.
    pub max_ms: u64,
}

/// What happened to spooled messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spooled {
    /// Sends accepted into a History Spooler: the `offline` and
    /// `missed-message` routes together.
    pub accepted: u64,
    /// Items delivered into recipients' mailboxes, over both spooled routes.
    pub delivered: u64,
    /// Entries still waiting or in flight in a spooler at the end of the run.
    pub retained: u64,
    /// Entries kept as failed at the end of the run (OIM-012).
    pub failed: u64,
}

/// The run's summary, for people and (with `--json`) machines. It holds
/// no wall-clock figure, so equal inputs give byte-equal JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The seed of the run (`SimConfig::seed`).
    pub seed: u64,
    /// Users in the generated deployment.
    pub users: u32,
    /// Organisations in the generated deployment.
    pub orgs: u32,
    /// Simulated hours.
    pub hours: u32,
    /// Events the rule book accepted, clock advances excluded.
    pub events: u64,
    /// IMs sent, by route.
    pub routes: Routes,
    /// What became of the spooled IMs.
    pub spooled: Spooled,
    /// Delivery latency from send to mailbox.
    pub latency: Latency,
    /// The largest total of spool entries at any sample.
    pub spool_depth_max: u64,
    /// Items the Drafts fault left in Drafts folders (OIM-014, DEC-013).
    pub drafts_items: u64,
    /// Sign-in notifications given (OIM-016, DEC-021).
    pub notifications: u64,
    /// EWS outages that began.
    pub outages: u64,
    /// Client crashes.
    pub crashes: u64,
    /// Admin changes of `EnableOfflineIM` applied: each switch-off, and each
    /// switch-on an hour later.
    pub admin_changes: u64,
    /// Checks of the invariant table, the final one included.
    pub invariant_checks: u64,
}

/// What kind of fault a `FaultWindow` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// An organisation's EWS was down (`EwsDown` to `EwsUp`).
    Outage,
    /// An administrator had switched offline IM off in the organisation's
    /// configuration (`Set-CsImConfiguration -EnableOfflineIM $False` to
    /// `$True`). Clients pick the change up at their next sign-in (DEC-009),
    /// so this is the configured window, not every client's.
    AdminOff,
}

impl FaultKind {
    /// The kind's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Outage => "EWS outage",
            FaultKind::AdminOff => "offline IM switched off",
        }
    }
}

/// One outage or switch-off of the run, from the event that began it to
/// the one that ended it. Crashes are counted, not listed
/// (`SimReport::crashes_per_sample`), so that a long run of many users
/// keeps no record per crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// What the fault was.
    pub kind: FaultKind,
    /// The organisation it struck.
    pub org: String,
    /// When it began, in virtual milliseconds since the start of the run.
    pub from_ms: u64,
    /// When it ended; `None` if it lasted to the end of the run.
    pub to_ms: Option<u64>,
}

/// The History Spooler entries one organisation's clients held at the end
/// of the run, by status and failure reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SpoolAtEnd {
    /// The organisation's name.
    pub org: String,
    /// Its profile: `server` or `online`.
    pub profile: &'static str,
    /// Entries waiting for their timer.
    pub waiting: u64,
    /// Entries with a request in flight.
    pub in_flight: u64,
    /// Entries kept as failed (OIM-012), by reason in the order of
    /// `FAIL_REASONS`.
    pub failed: [u64; 4],
}

/// Every failure reason, in the order of `SpoolAtEnd::failed`.
pub const FAIL_REASONS: [FailReason; 4] = [
    FailReason::EwsUnavailable,
    FailReason::RecipientHasNoMailbox,
    FailReason::DraftsFault,
    FailReason::Unconfirmed,
];

/// The place of `why` in `FAIL_REASONS`.
pub fn fail_reason_index(why: FailReason) -> usize {
    match why {
        FailReason::EwsUnavailable => 0,
        FailReason::RecipientHasNoMailbox => 1,
        FailReason::DraftsFault => 2,
        FailReason::Unconfirmed => 3,
    }
}

/// An invariant violation that stopped the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The id of the first invariant in the table that the check found
    /// violated, e.g. `INV-001`.
    pub id: &'static str,
    /// The invariant's own explanation.
    pub why: String,
    /// The virtual time of the check that found it, in milliseconds since the
    /// start of the run: an upper bound on when the violation happened.
    pub at_ms: u64,
    /// Events the rule book had accepted by then.
    pub events: u64,
    /// The last events before the check, oldest first.
    pub last_events: Vec<String>,
    /// The command line that replays the run (`replay_command`).
    pub replay: String,
}

/// The outcome of one simulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimReport {
    /// The run's summary.
    pub summary: Summary,
    /// The time series: a sample at time 0, one every
    /// `sample_interval_minutes`, and one where the run stopped.
    pub samples: Vec<Sample>,
    /// Delivered latencies and how many messages took each, for the
    /// percentiles and the histogram: as many entries as distinct values.
    #[serde(skip)]
    pub latencies_ms: BTreeMap<u64, u64>,
    /// The violation that stopped the run; `None` when every check held.
    pub violation: Option<Violation>,
    /// Every outage and admin switch-off, in the order they began.
    #[serde(skip)]
    pub faults: Vec<FaultWindow>,
    /// The sample interval, in virtual milliseconds
    /// (`sample_interval_minutes`).
    #[serde(skip)]
    pub sample_interval_ms: u64,
    /// Client crashes in each sample interval from the start: at most
    /// `hours * 60` entries.
    #[serde(skip)]
    pub crashes_per_sample: Vec<u64>,
    /// Client crashes in each hour from the start: `hours` entries.
    #[serde(skip)]
    pub crashes_per_hour: Vec<u64>,
    /// What each organisation's spoolers held at the end.
    #[serde(skip)]
    pub spool_at_end: Vec<SpoolAtEnd>,
}

/// How many recent events a violation report shows.
pub const LAST_EVENTS_MAX: usize = 20;

/// Observers of a run: progress in virtual minutes, and trace lines.
pub trait Observer {
    /// Called as the run advances, at most once per 10 virtual minutes, with
    /// the virtual time reached and the time the run ends at, both in
    /// milliseconds. Does nothing by default.
    fn progress(&mut self, _now_ms: u64, _end_ms: u64) {}
    /// Called with each line of the decision log, in order, when `wants_trace`
    /// is true. Drops the line by default.
    fn trace(&mut self, _line: &crate::rules::world::TraceRecord) {}
    /// Whether the run keeps the decision log and hands its lines to `trace`.
    /// False by default, which spares formatting every line.
    fn wants_trace(&self) -> bool {
        false
    }
}

/// An observer that observes nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The command line that replays a run.
pub fn replay_command(c: &SimConfig, config_file: Option<&str>) -> String {
    let mut cmd = String::from("offline-im simulate");
    if let Some(f) = config_file {
        let _ = write!(cmd, " --config {f}");
    }
    let _ = write!(
        cmd,
        " --users {} --orgs {} --hours {} --seed {}",
        c.users, c.orgs, c.hours, c.seed
    );
    cmd
}

struct Sim<'a, O: Observer> {
    c: &'a SimConfig,
    world: World,
    rng: ChaCha8Rng,
    agenda: BinaryHeap<Reverse<(u64, u64, Planned)>>,
    seq: u64,
    end_ms: u64,
    summary: Summary,
    samples: Vec<Sample>,
    window: Routes,
    recent: VecDeque<String>,
    /// Delivered latencies (ms → messages) of retired and held items.
    latencies_ms: BTreeMap<u64, u64>,
    notifications_retired: u64,
    /// Every outage and switch-off so far, in the order they began.
    faults: Vec<FaultWindow>,
    /// The index in `faults` of each one still going on, by kind and
    /// organisation.
    open_faults: BTreeMap<(FaultKind, OrgId), usize>,
    /// Crashes per sample interval and per hour, as in `SimReport`.
    crashes_per_sample: Vec<u64>,
    crashes_per_hour: Vec<u64>,
    checks: &'a [Invariant],
    observer: &'a mut O,
    config_file: Option<&'a str>,
}

impl<O: Observer> Sim<'_, O> {
    fn plan(&mut self, at_ms: u64, p: Planned) {
        if at_ms <= self.end_ms {
            self.seq += 1;
            self.agenda.push(Reverse((at_ms, self.seq, p)));
        }
    }

    /// Exponentially distributed delay with the given rate per hour.
    fn after(&mut self, per_hour: f64) -> Option<u64> {
        if per_hour <= 0.0 {
            return None;
        }
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        Some((-u.ln() / per_hour * HOUR_MS as f64) as u64 + 1)
    }

    fn users_in(&self, org: OrgId) -> u32 {
        let n = self.c.users;
        let o = self.c.orgs;
        n / o + u32::from(org.0 as u32 % o < n % o)
    }

    /// Applies an event; returns its outcome or the rule book's refusal.
    fn apply(&mut self, e: &Event) -> Result<crate::rules::world::Outcome, StepError> {
        let out = self.world.apply(e);
        if out.is_ok() {
            self.summary.events += 1;
            if self.recent.len() == LAST_EVENTS_MAX {
                self.recent.pop_front();
            }
            let d = Arc::clone(&self.world.deployment);
            self.recent.push_back(format!(
                "[{} ms] {}",
                self.world.state.clock_ms,
                crate::formats::report::describe(&d, e)
            ));
        }
        if self.observer.wants_trace() {
            for r in self.world.trace.drain(..) {
                self.observer.trace(&r);
            }
        }
        out
    }

    /// Plans a wake-up for each time something of `u`'s becomes due.
    fn plan_wakes(&mut self, u: UserId) {
        let s = &self.world.state;
        let now = s.clock_ms;
        let c = s.client(u);
        let mut times: Vec<u64> = Vec::new();
        if c.running && c.signed_in {
            times.extend(s.spooler(u).next_due_ms());
        }
        times.extend(
            s.requests
                .iter()
                .filter(|r| r.writer == u)
                .map(|r| r.ready_ms),
        );
        times.extend(
            s.responses
                .iter()
                .filter(|r| r.writer == u)
                .map(|r| r.ready_ms),
        );
        times.sort_unstable();
        times.dedup();
        for t in times {
            self.plan(t.max(now), Planned::Wake(u));
        }
    }

    fn wake(&mut self, u: UserId) {
        // Each applied event consumes a request, a response or a due entry,
        // so a handful of rounds always suffices; the bound guards bugs.
        for _ in 0..16 {
            let applied = [
                Event::ExchangeProcess { writer: u },
                Event::ClientReceive { user: u },
                Event::Pickup { user: u },
            ]
            .iter()
            .any(|e| self.apply(e).is_ok());
            if !applied {
                break;
            }
        }
        self.plan_wakes(u);
    }

    fn pick_presence(&mut self) -> Presence {
        let w = &self.c.workload;
        let x: f64 = self.rng.random_range(0.0..1.0);
        if x < w.dnd_share {
            Presence::DoNotDisturb
        } else if x < w.dnd_share + w.presenting_share {
            Presence::Presenting
        } else {
            [Presence::Available, Presence::Busy, Presence::Away][self.rng.random_range(0..3)]
        }
    }

    fn pick_recipient(&mut self, from: UserId) -> UserId {
        let c = self.c;
        let own = OrgId((from.0 % c.orgs) as u8);
        let org = if c.orgs > 1 && self.rng.random_bool(c.workload.federated_share) {
            let other = self.rng.random_range(0..c.orgs - 1) as u8;
            OrgId(if other >= own.0 { other + 1 } else { other })
        } else {
            own
        };
        for _ in 0..8 {
            let k = self.rng.random_range(0..self.users_in(org));
            let to = UserId(k * c.orgs + u32::from(org.0));
            if to != from {
                return to;
            }
        }
        UserId((from.0 + 1) % c.users)
    }

    fn sample(&mut self) {
        let depth: u64 = self
            .world
            .state
            .spoolers
            .iter()
            .map(|s| s.entries.len() as u64)
            .sum();
        self.summary.spool_depth_max = self.summary.spool_depth_max.max(depth);
        let w = std::mem::take(&mut self.window);
        self.samples.push(Sample {
            at_ms: self.world.state.clock_ms,
            spool_depth: depth,
            ledger_records: self.world.state.ledger.len() as u64,
            live: w.live,
            offline: w.offline,
            missed_message: w.missed_message,
            unavailable: w.unavailable,
        });
    }

    fn check(&mut self) -> Option<Violation> {
        self.summary.invariant_checks += 1;
        let d = &self.world.deployment;
        for inv in self.checks {
            if let Err(why) = (inv.check)(d, &self.world.state) {
                return Some(Violation {
                    id: inv.id,
                    why,
                    at_ms: self.world.state.clock_ms,
                    events: self.summary.events,
                    last_events: self.recent.iter().cloned().collect(),
                    replay: replay_command(self.c, self.config_file),
                });
            }
        }
        None
    }

    fn handle(&mut self, p: Planned) {
        let now = self.world.state.clock_ms;
        match p {
            Planned::SignIn(u) => {
                let presence = Presence::Available;
                if self.apply(&Event::SignIn { user: u, presence }).is_ok() {
                    self.plan_wakes(u);
                    let rate = self.c.workload.ims_per_user_hour
                        + self.c.workload.presence_changes_per_user_hour;
                    if let Some(dt) = self.after(rate) {
                        self.plan(now + dt, Planned::Activity(u));
                    }
                }
            }
            Planned::SignOut(u) => {
                let _ = self.apply(&Event::SignOut { user: u });
            }
            Planned::Activity(u) => {
                if !self.world.state.client(u).signed_in {
                    return;
                }
                let w = &self.c.workload;
                let rate = w.ims_per_user_hour + w.presence_changes_per_user_hour;
                let send_share = w.ims_per_user_hour / rate;
                if self.rng.random_bool(send_share) {
                    let to = self.pick_recipient(u);
                    let e = Event::Send {
                        from: u,
                        to,
                        body: String::new(),
                    };
                    if let Ok(out) = self.apply(&e)
                        && let Some((_, route)) = out.route
                    {
                        for counts in [&mut self.summary.routes, &mut self.window] {
                            match route {
                                Route::Live => counts.live += 1,
                                Route::Offline => counts.offline += 1,
                                Route::MissedMessage => counts.missed_message += 1,
                                Route::Unavailable(_) => counts.unavailable += 1,
                            }
                        }
                        match route {
                            Route::Offline => self.plan_wakes(u),
                            Route::MissedMessage => self.plan_wakes(to),
                            _ => {}
                        }
                    }
                } else {
                    let presence = self.pick_presence();
                    let _ = self.apply(&Event::SetPresence { user: u, presence });
                }
                if let Some(dt) = self.after(rate) {
                    self.plan(now + dt, Planned::Activity(u));
                }
            }
            Planned::Crash(u) => {
                if self.apply(&Event::CrashClient { user: u }).is_ok() {
                    self.summary.crashes += 1;
                    self.count_crash(now);
                    let back = u64::from(self.c.faults.restart_after_minutes) * MINUTE_MS;
                    self.plan(now + back, Planned::Restart(u));
                }
            }
            Planned::Restart(u) => {
                if self.apply(&Event::RestartClient { user: u }).is_ok() {
                    let hour = (now % DAY_MS) / HOUR_MS;
                    let w = &self.c.workload;
                    if (u64::from(w.workday_start_hour)..u64::from(w.workday_end_hour))
                        .contains(&hour)
                    {
                        self.plan(now + MINUTE_MS, Planned::SignIn(u));
                    }
                }
            }
            Planned::OutageStart(o) => {
                let d = Arc::clone(&self.world.deployment);
                let writers: Vec<UserId> = self
                    .world
                    .state
                    .requests
                    .iter()
                    .filter(|r| d.user(r.writer).org == o)
                    .map(|r| r.writer)
                    .collect();
                if self.apply(&Event::EwsDown { org: o }).is_ok() {
                    self.summary.outages += 1;
                    self.fault_begins(FaultKind::Outage, o);
                    for w in writers {
                        self.plan_wakes(w);
                    }
                    let mean = self.c.faults.outage_minutes_mean;
                    let dt = self.after(60.0 / mean).unwrap_or(MINUTE_MS);
                    self.plan(now + dt, Planned::OutageEnd(o));
                }
            }
            Planned::OutageEnd(o) => {
                if self.apply(&Event::EwsUp { org: o }).is_ok() {
                    self.fault_ends(FaultKind::Outage, o);
                }
            }
            Planned::Admin(o, on) => {
                if self.apply(&switch_offline_im(o, on)).is_ok() {
                    self.summary.admin_changes += 1;
                    if on {
                        self.fault_ends(FaultKind::AdminOff, o);
                    } else {
                        self.fault_begins(FaultKind::AdminOff, o);
                    }
                    if !on {
                        self.plan(now + HOUR_MS, Planned::Admin(o, true));
                    }
                }
            }
            Planned::Wake(u) => self.wake(u),
            Planned::Day(day) => self.plan_day(day),
            Planned::Sample => {
                self.sample();
                let dt = u64::from(self.c.check.sample_interval_minutes) * MINUTE_MS;
                self.plan(now + dt, Planned::Sample);
            }
            Planned::Check => {
                let dt = u64::from(self.c.check.invariant_interval_minutes) * MINUTE_MS;
                self.plan(now + dt, Planned::Check);
            }
        }
    }

    /// Plans one day at its start: sign-ins and sign-outs, crashes,
    /// outages, admin changes, and the next day. Planning a day at a time
    /// keeps the agenda as large as one day's plan, however long the run.
    fn plan_day(&mut self, day: u64) {
        let c = self.c;
        let w = &c.workload;
        let jitter = u64::from(w.sign_in_jitter_minutes) * MINUTE_MS;
        let base = day * DAY_MS;
        for i in 0..c.users {
            let u = UserId(i);
            let start = base + u64::from(w.workday_start_hour) * HOUR_MS;
            let end = base + u64::from(w.workday_end_hour) * HOUR_MS;
            let j1 = self.rng.random_range(0..=2 * jitter);
            let j2 = self.rng.random_range(0..=2 * jitter);
            self.plan((start + j1).saturating_sub(jitter), Planned::SignIn(u));
            self.plan((end + j2).saturating_sub(jitter), Planned::SignOut(u));
            if self.rng.random_bool(c.faults.crashes_per_user_day) {
                let at = base + self.rng.random_range(0..DAY_MS);
                self.plan(at, Planned::Crash(u));
            }
        }
        for o in 0..c.orgs {
            let mut t = base;
            while let Some(dt) = self.after(c.faults.outages_per_org_day / 24.0) {
                t += dt;
                if t >= base + DAY_MS {
                    break;
                }
                self.plan(t, Planned::OutageStart(OrgId(o as u8)));
            }
        }
        let server: Vec<OrgId> = self
            .world
            .deployment
            .org_ids()
            .filter(|o| self.world.deployment.org(*o).profile == Profile::Server)
            .collect();
        if !server.is_empty() {
            for _ in 0..c.faults.admin_changes_per_day {
                let o = server[self.rng.random_range(0..server.len())];
                let at = base + self.rng.random_range(0..DAY_MS);
                self.plan(at, Planned::Admin(o, false));
            }
        }
        if day + 1 < u64::from(c.hours).div_ceil(24) {
            self.plan(base + DAY_MS, Planned::Day(day + 1));
        }
    }

    /// Counts a crash at `now_ms` in its sample interval and its hour.
    fn count_crash(&mut self, now_ms: u64) {
        let interval_ms = u64::from(self.c.check.sample_interval_minutes) * MINUTE_MS;
        if let Some(n) = self
            .crashes_per_sample
            .get_mut((now_ms / interval_ms) as usize)
        {
            *n += 1;
        }
        if let Some(n) = self.crashes_per_hour.get_mut((now_ms / HOUR_MS) as usize) {
            *n += 1;
        }
    }

    /// Records that a fault began now in `org`. A second switch-off before
    /// the first one's switch-on stays one window, from its first beginning.
    fn fault_begins(&mut self, kind: FaultKind, org: OrgId) {
        if self.open_faults.contains_key(&(kind, org)) {
            return;
        }
        self.open_faults.insert((kind, org), self.faults.len());
        self.faults.push(FaultWindow {
            kind,
            org: self.world.deployment.org(org).name.clone(),
            from_ms: self.world.state.clock_ms,
            to_ms: None,
        });
    }

    /// Records that the fault of `kind` in `org` ended now.
    fn fault_ends(&mut self, kind: FaultKind, org: OrgId) {
        if let Some(i) = self.open_faults.remove(&(kind, org)) {
            self.faults[i].to_ms = Some(self.world.state.clock_ms);
        }
    }

    /// What each organisation's spoolers hold now, by status and reason.
    fn spool_at_end(&self) -> Vec<SpoolAtEnd> {
        let d = &self.world.deployment;
        let mut out: Vec<SpoolAtEnd> = d
            .org_ids()
            .map(|o| SpoolAtEnd {
                org: d.org(o).name.clone(),
                profile: match d.org(o).profile {
                    Profile::Server => "server",
                    Profile::Online => "online",
                },
                ..SpoolAtEnd::default()
            })
            .collect();
        for (i, sp) in self.world.state.spoolers.iter().enumerate() {
            let tally = &mut out[d.user(UserId(i as u32)).org.0 as usize];
            for e in &sp.entries {
                match e.status {
                    SpoolStatus::Waiting => tally.waiting += 1,
                    SpoolStatus::InFlight => tally.in_flight += 1,
                    SpoolStatus::Failed(why) => tally.failed[fail_reason_index(why)] += 1,
                }
            }
        }
        out
    }

    /// Counts one item the run no longer holds, or still holds at the end.
    fn tally(&mut self, item: &Item, sent_at_ms: u64) {
        match item.kind {
            ItemKind::Delivered => {
                *self
                    .latencies_ms
                    .entry(item.at_ms - sent_at_ms)
                    .or_default() += 1;
            }
            ItemKind::Draft => self.summary.drafts_items += 1,
            ItemKind::SenderCopy => {}
        }
    }

    /// After a check held: drops what is settled (`State::retire_settled`)
    /// and keeps only its counts, so memory follows what is in flight.
    fn retire(&mut self) {
        let retired = self.world.state.retire_settled();
        for (item, sent_at_ms) in &retired.items {
            self.tally(item, *sent_at_ms);
        }
        self.notifications_retired += retired.notifications as u64;
    }

    fn finish(mut self, violation: Option<Violation>) -> (SimReport, World) {
        self.sample();
        let held: Vec<(Item, u64)> = {
            let s = &self.world.state;
            s.mailboxes
                .iter()
                .flat_map(|mb| mb.items.iter())
                // An item without a record is a violation the last check
                // reported; the summary leaves it out rather than panic.
                .filter_map(|i| Some((*i, s.ledger.get(i.message)?.sent_at_ms)))
                .collect()
        };
        for (item, sent_at_ms) in &held {
            self.tally(item, *sent_at_ms);
        }
        let latencies = &self.latencies_ms;
        let delivered: u64 = latencies.values().sum();
        // The value at rank `delivered * p / 100` of the sorted latencies.
        let pct = |p: u64| {
            let rank = (delivered * p / 100).min(delivered.saturating_sub(1));
            let mut below = 0;
            for (l, n) in latencies {
                below += n;
                if below > rank {
                    return *l;
                }
            }
            0
        };
        self.summary.latency = Latency {
            p50_ms: pct(50),
            p90_ms: pct(90),
            p99_ms: pct(99),
            max_ms: latencies.keys().next_back().copied().unwrap_or(0),
        };
        let s = &self.world.state;
        let mut spooled = Spooled {
            accepted: self.summary.routes.offline + self.summary.routes.missed_message,
            delivered,
            ..Spooled::default()
        };
        for sp in &s.spoolers {
            for e in &sp.entries {
                match e.status {
                    SpoolStatus::Failed(_) => spooled.failed += 1,
                    _ => spooled.retained += 1,
                }
            }
        }
        self.summary.spooled = spooled;
        self.summary.notifications = self.notifications_retired + s.notifications.len() as u64;
        let spool_at_end = self.spool_at_end();
        let report = SimReport {
            summary: self.summary,
            samples: self.samples,
            latencies_ms: self.latencies_ms,
            violation,
            faults: self.faults,
            sample_interval_ms: u64::from(self.c.check.sample_interval_minutes) * MINUTE_MS,
            crashes_per_sample: self.crashes_per_sample,
            crashes_per_hour: self.crashes_per_hour,
            spool_at_end,
        };
        (report, self.world)
    }
}

/// `Set-CsImConfiguration -EnableOfflineIM $True|$False` in `org`.
fn switch_offline_im(org: OrgId, on: bool) -> Event {
    let text = format!(
        "Set-CsImConfiguration -EnableOfflineIM ${}",
        if on { "True" } else { "False" }
    );
    let parsed = crate::rules::cmdlets::parse(&text)
        .unwrap_or_else(|e| unreachable!("a fixed, tested command line parses: {e}"));
    Event::Admin {
        org,
        text,
        parsed: Box::new(parsed),
    }
}

/// Runs one simulation with the given invariant table (the CLI passes
/// `invariants::INVARIANTS`; tests may pass their own to exercise the
/// violation path).
pub fn run_with(
    c: &SimConfig,
    config_file: Option<&str>,
    checks: &[Invariant],
    observer: &mut impl Observer,
) -> SimReport {
    run_day(c, config_file, checks, observer, Retirement::On).0
}

/// Whether a run retires settled messages (`State::retire_settled`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retirement {
    /// Retire them, so that memory follows what is held: every run that
    /// reports.
    On,
    /// Keep every item, so that the final world holds the whole day's
    /// mailboxes: the run whose world the EWS endpoint serves.
    Off,
}

/// Runs one simulation with the reference invariants and keeps every
/// item, and returns the report with the world at the end of the day:
/// the mailboxes that `offline-im ews --simulate` serves. Retirement
/// changes no step (a proptest pins it), so the day is the one `run`
/// simulates; only its memory grows with the items.
pub fn run_keeping_world(
    c: &SimConfig,
    config_file: Option<&str>,
    observer: &mut impl Observer,
) -> (SimReport, World) {
    run_day(
        c,
        config_file,
        invariants::INVARIANTS,
        observer,
        Retirement::Off,
    )
}

fn run_day(
    c: &SimConfig,
    config_file: Option<&str>,
    checks: &[Invariant],
    observer: &mut impl Observer,
    retirement: Retirement,
) -> (SimReport, World) {
    let d = Arc::new(deployment(c));
    let mut world = World::new(d);
    world.keep_trace = observer.wants_trace();
    let end_ms = u64::from(c.hours) * HOUR_MS;
    let mut sim = Sim {
        c,
        world,
        rng: ChaCha8Rng::seed_from_u64(c.seed.wrapping_add(1)),
        agenda: BinaryHeap::new(),
        seq: 0,
        end_ms,
        summary: Summary {
            seed: c.seed,
            users: c.users,
            orgs: c.orgs,
            hours: c.hours,
            events: 0,
            routes: Routes::default(),
            spooled: Spooled::default(),
            latency: Latency::default(),
            spool_depth_max: 0,
            drafts_items: 0,
            notifications: 0,
            outages: 0,
            crashes: 0,
            admin_changes: 0,
            invariant_checks: 0,
        },
        samples: Vec::new(),
        window: Routes::default(),
        recent: VecDeque::new(),
        latencies_ms: BTreeMap::new(),
        notifications_retired: 0,
        faults: Vec::new(),
        open_faults: BTreeMap::new(),
        crashes_per_sample: vec![
            0;
            (end_ms.div_ceil(u64::from(c.check.sample_interval_minutes) * MINUTE_MS))
                as usize
        ],
        crashes_per_hour: vec![0; c.hours as usize],
        checks,
        observer,
        config_file,
    };
    // Every server organisation starts with offline IM switched on, as an
    // administrator following the documentation would (OIM-006).
    let d = Arc::clone(&sim.world.deployment);
    for o in d.org_ids().filter(|o| d.org(*o).profile == Profile::Server) {
        let _ = sim.apply(&switch_offline_im(o, true));
    }
    sim.plan_day(0);
    sim.plan(0, Planned::Sample);
    let dt = u64::from(c.check.invariant_interval_minutes) * MINUTE_MS;
    sim.plan(dt, Planned::Check);
    let mut last_progress = 0;
    while let Some(Reverse((at_ms, _, p))) = sim.agenda.pop() {
        if at_ms > sim.world.state.clock_ms {
            let _ = sim.world.apply(&Event::AdvanceTo { at_ms });
        }
        if p == Planned::Check {
            if let Some(v) = sim.check() {
                return sim.finish(Some(v));
            }
            if retirement == Retirement::On {
                sim.retire();
            }
        }
        sim.handle(p);
        if at_ms >= last_progress + 10 * MINUTE_MS {
            last_progress = at_ms;
            sim.observer.progress(at_ms, end_ms);
        }
    }
    if sim.world.state.clock_ms < end_ms {
        let _ = sim.world.apply(&Event::AdvanceTo { at_ms: end_ms });
    }
    let v = sim.check();
    sim.finish(v)
}

/// Runs one simulation with the reference invariants.
pub fn run(c: &SimConfig, config_file: Option<&str>, observer: &mut impl Observer) -> SimReport {
    run_with(c, config_file, invariants::INVARIANTS, observer)
}

/// Renders the summary for a person.
pub fn render_text(r: &SimReport) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simulated {} users in {} organisations for {} h, seed {}: {} events",
        s.users, s.orgs, s.hours, s.seed, s.events
    );
    let _ = writeln!(
        out,
        "IMs by route: live {}, offline {}, missed-message {}, unavailable {}",
        s.routes.live, s.routes.offline, s.routes.missed_message, s.routes.unavailable
    );
    let _ = writeln!(
        out,
        "offline messages: accepted {}, delivered {}, retained {}, failed {}",
        s.spooled.accepted, s.spooled.delivered, s.spooled.retained, s.spooled.failed
    );
    let _ = writeln!(
        out,
        "delivery latency: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        s.latency.p50_ms, s.latency.p90_ms, s.latency.p99_ms, s.latency.max_ms
    );
    let _ = writeln!(
        out,
        "max spool depth {}, Drafts items {}, notifications {}",
        s.spool_depth_max, s.drafts_items, s.notifications
    );
    let _ = writeln!(
        out,
        "faults: {} EWS outages, {} client crashes, {} admin changes; {} invariant checks",
        s.outages, s.crashes, s.admin_changes, s.invariant_checks
    );
    if let Some(v) = &r.violation {
        let _ = writeln!(
            out,
            "\nVIOLATION of {} at {} ms after {} events: {}\nlast events:",
            v.id, v.at_ms, v.events, v.why
        );
        for e in &v.last_events {
            let _ = writeln!(out, "  {e}");
        }
        let _ = writeln!(out, "replay with: {}", v.replay);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::sim::{FAIL_REASONS, fail_reason_index};

    #[test]
    fn fail_reason_index_is_the_place_in_fail_reasons() {
        for (i, why) in FAIL_REASONS.iter().enumerate() {
            assert_eq!(fail_reason_index(*why), i, "{}", why.name());
        }
    }
}
