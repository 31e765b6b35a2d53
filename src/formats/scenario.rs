//! Scenario files (models/*.toml): a deployment, a `setup` of Management
//! Shell cmdlets per organisation, and a timeline of events at virtual
//! times. This module turns the text into a `Scenario` and runs it with the
//! eager scheduler.
//!
//! Invariants it keeps:
//! - Every rejection is a `ScenarioError` naming the file, the 1-based line
//!   and column, what was found and what was expected; nothing panics on
//!   any input (a proptest feeds it arbitrary text).
//! - Names are resolved once, here; the rule book only sees ids.
//! - A scenario runs deterministically: the same file gives the same
//!   report, byte for byte.
//!
//! What it deliberately does not do: no rule lives here. Running a scenario
//! is `World::apply` and `World::settle_until`, nothing else.

use crate::rules::cmdlets::{self, Parsed};
use crate::rules::domain::{
    Build, Client, Date, Deployment, DeploymentError, Install, MailboxLocation, Options, Org,
    OrgId, Presence, Profile, ServerVersion, User, UserId,
};
use crate::rules::world::{Event, StepError, World};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use toml::Spanned;

/// The embedded default scenario (models/default.toml).
pub const DEFAULT_MODEL: &str = include_str!("../../models/default.toml");
/// The name the embedded default scenario goes by in diagnostics and reports,
/// as if it had been read from that file.
pub const DEFAULT_MODEL_NAME: &str = "models/default.toml";

/// The largest duration a deployment's options may set (`pickup_delay_ms`,
/// `ews_latency_ms`), and the latest time the protocol's `advance` takes:
/// 2^52 − 1 ms, about 142,700 years. A time plus a duration then stays
/// within 2^53 − 1, the largest integer that every JSON reader holds exactly
/// (SPEC.md CONF-013).
pub const MS_MAX: u64 = (1 << 52) - 1;

/// The bounds of the explored world, from a scenario's `[check]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Messages sent in all.
    pub messages_max: u8,
    /// Sign-ins, sign-outs and presence changes in all.
    pub user_events_max: u8,
    /// Client crashes in all (a restart follows a crash and is not counted).
    pub crashes_max: u8,
    /// EWS outages in all (recovery is not counted).
    pub outages_max: u8,
    /// The presences tried at sign-in and on presence changes.
    pub presences: Vec<Presence>,
    /// The users who may send.
    pub senders: Vec<UserId>,
    /// Admin events, each of which may happen once, at any point.
    pub admin: Vec<Event>,
    /// Reachability probes (`REACH` names) the world must never reach.
    pub unreachable: Vec<&'static str>,
    /// The EWS latency the checked world uses (DEC-029): 0 unless the
    /// `[check]` section says otherwise.
    pub ews_latency_ms: u64,
}

impl Bounds {
    /// At most this many admin cmdlets (they are tracked in a bit set).
    pub const ADMIN_MAX: usize = 8;

    /// The bounds of a scenario without a `[check]` section.
    pub fn default_for(d: &Deployment) -> Bounds {
        Bounds {
            messages_max: 2,
            user_events_max: 1,
            crashes_max: 1,
            outages_max: 1,
            presences: vec![Presence::Available, Presence::DoNotDisturb],
            senders: d.user_ids().collect(),
            admin: Vec::new(),
            unreachable: Vec::new(),
            ews_latency_ms: 0,
        }
    }
}

/// A diagnostic that points into a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The name the text was loaded under: a path, a corpus file name, or
    /// `reset` for a deployment received over the protocol.
    pub file: String,
    /// The 1-based line of the offending text.
    pub line: usize,
    /// The 1-based column of the offending text, in characters.
    pub column: usize,
    /// What was found and what was expected.
    pub message: String,
    /// The offending source line, for display.
    pub source_line: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        write!(f, "{:gutter$} | {:>col$}", "", "^", col = self.column)
    }
}

impl std::error::Error for ScenarioError {}

/// Maps byte offsets of one source text to lines and columns.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error_at(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let offset = offset.min(self.text.len());
        let offset = (0..=offset)
            .rev()
            .find(|o| self.text.is_char_boundary(*o))
            .unwrap_or(0);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
            source_line: self.text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }

    fn error(&self, span: &Range<usize>, message: impl Into<String>) -> ScenarioError {
        self.error_at(span.start, message)
    }

    /// The byte offset in the file of decoded character `column` (1-based)
    /// of the TOML string whose literal occupies `span`.
    fn offset_in_string(&self, span: &Range<usize>, column: usize) -> usize {
        let raw = &self.text[span.start.min(self.text.len())..span.end.min(self.text.len())];
        let (body_start, escapes) = if raw.starts_with("\"\"\"") {
            (3, true)
        } else if raw.starts_with("'''") {
            (3, false)
        } else if raw.starts_with('"') {
            (1, true)
        } else {
            (1, false)
        };
        let body = raw.get(body_start..).unwrap_or("");
        let mut decoded = 1usize;
        let mut it = body.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            if decoded == column {
                return span.start + body_start + i;
            }
            if escapes && c == '\\' {
                let skip = match it.peek().map(|(_, n)| *n) {
                    Some('u') => 5,
                    Some('U') => 9,
                    _ => 1,
                };
                for _ in 0..skip {
                    it.next();
                }
            }
            decoded += 1;
        }
        span.start + body_start + body.len()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    deployment: RawDeployment,
    #[serde(default)]
    setup: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    timeline: Vec<Spanned<RawEntry>>,
    end_ms: Option<Spanned<u64>>,
    #[serde(default)]
    check: RawCheck,
}

/// The `[check]` section: the bounds of the model checker's world.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    messages_max: Option<Spanned<u8>>,
    user_events_max: Option<Spanned<u8>>,
    crashes_max: Option<Spanned<u8>>,
    outages_max: Option<Spanned<u8>>,
    presences: Option<Vec<Spanned<String>>>,
    senders: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    admin: Vec<Spanned<RawAdmin>>,
    #[serde(default)]
    unreachable: Vec<Spanned<String>>,
    ews_latency_ms: Option<u64>,
}

/// One cmdlet the checker may run once, at any point.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    org: Option<Spanned<String>>,
    cmdlet: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeployment {
    #[serde(default)]
    options: RawOptions,
    orgs: Vec<Spanned<RawOrg>>,
    users: Vec<Spanned<RawUser>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOptions {
    pickup_delay_ms: Option<Spanned<u64>>,
    attempts_max: Option<Spanned<u8>>,
    dedup: Option<bool>,
    ews_latency_ms: Option<Spanned<u64>>,
    spool_capacity: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    name: Spanned<String>,
    profile: Profile,
    server_version: Option<Spanned<ServerVersion>>,
    #[serde(default)]
    sites: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    ews_published: bool,
    #[serde(default)]
    federated_with: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    sip: Option<Spanned<String>>,
    org: Spanned<String>,
    site: Option<Spanned<String>>,
    mailbox: MailboxLocation,
    install: Install,
    build: Spanned<String>,
    released: Spanned<String>,
    #[serde(default)]
    signed_in: bool,
    presence: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSend {
    from: Spanned<String>,
    to: Spanned<String>,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetPresence {
    user: Spanned<String>,
    presence: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    at_ms: Spanned<u64>,
    send: Option<Spanned<RawSend>>,
    sign_in: Option<Spanned<String>>,
    /// Only with `sign_in`: the presence to sign in with.
    presence: Option<Spanned<String>>,
    sign_out: Option<Spanned<String>>,
    set_presence: Option<Spanned<RawSetPresence>>,
    crash: Option<Spanned<String>>,
    restart: Option<Spanned<String>>,
    ews_down: Option<Spanned<String>>,
    ews_up: Option<Spanned<String>>,
    cmdlet: Option<Spanned<String>>,
    /// Only with `cmdlet`: the organisation whose shell runs it.
    org: Option<Spanned<String>>,
}

/// The event keys a timeline entry may carry, exactly one each.
const EVENT_KEYS: &str = "`send`, `sign_in`, `sign_out`, `set_presence`, `crash`, `restart`, `ews_down`, `ews_up` or `cmdlet`";

/// One timeline event with where it came from.
#[derive(Clone, Debug)]
pub struct TimedEvent {
    /// When the event happens, in virtual milliseconds since the start of the
    /// run; 0 for setup cmdlets and initial sign-ins.
    pub at_ms: u64,
    /// The event, with every name resolved to an id.
    pub event: Event,
    /// Byte span of the entry in the file, for runtime diagnostics.
    pub span: Range<usize>,
    /// Where a cmdlet's text starts, to map cmdlet columns.
    cmdlet_span: Option<Range<usize>>,
}

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The name the scenario was loaded under, shown in diagnostics and
    /// reports.
    pub file: String,
    /// The whole text of the file, kept so that an event the rule book rejects
    /// at run time can still be shown at its line.
    pub text: String,
    /// The scenario's `name`: a short title, never empty.
    pub name: String,
    /// The scenario's `description`, empty when the file has none.
    pub description: String,
    /// The deployment of the `[deployment]` tables, shared by every world run
    /// on it.
    pub deployment: Arc<Deployment>,
    /// Setup cmdlets in file order (organisations in name order).
    pub setup: Vec<TimedEvent>,
    /// Users signed in at time 0, after setup.
    pub initial_sign_ins: Vec<TimedEvent>,
    /// The `[[timeline]]` entries in file order; their times never decrease.
    pub timeline: Vec<TimedEvent>,
    /// When the run ends, in virtual milliseconds since the start: the file's
    /// `end_ms`, or the last timeline time when it has none. Never before the
    /// last timeline entry.
    pub end_ms: u64,
    /// The model checker's bounds (`[check]`), defaults when absent.
    pub check: Bounds,
}

/// Loads a scenario from text; `file` names it in diagnostics.
pub fn load(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        src.error_at(at, e.message().trim_end().replace('\n', "; "))
    })?;
    let options = build_options(&src, &raw.deployment.options)?;
    let deployment = build_deployment(&src, &raw.deployment, options)?;
    let deployment = Arc::new(deployment);
    let d = &deployment;

    let mut setup = Vec::new();
    for (org_name, commands) in &raw.setup {
        let Some(org) = d.find_org(org_name) else {
            return Err(src.error(
                &commands.span(),
                format!(
                    "found setup for the unknown organisation `{org_name}`, expected one of {}",
                    d.org_names()
                ),
            ));
        };
        for command in commands.get_ref() {
            setup.push(cmdlet_event(&src, org, command, 0, command.span())?);
        }
    }

    let mut initial_sign_ins = Vec::new();
    for (i, u) in raw.deployment.users.iter().enumerate() {
        let ru = u.get_ref();
        let presence = match &ru.presence {
            Some(p) => parse_presence(&src, p)?,
            None => Presence::Available,
        };
        if ru.presence.is_some() && !ru.signed_in {
            return Err(src.error(
                &ru.presence.as_ref().map(|p| p.span()).unwrap_or(u.span()),
                "found `presence` on a user who is not `signed_in = true`, expected `signed_in = true` alongside it",
            ));
        }
        if ru.signed_in {
            initial_sign_ins.push(TimedEvent {
                at_ms: 0,
                event: Event::SignIn {
                    user: UserId(i as u32),
                    presence,
                },
                span: u.span(),
                cmdlet_span: None,
            });
        }
    }

    let mut timeline = Vec::new();
    let mut last_ms = 0u64;
    for entry in &raw.timeline {
        let e = entry.get_ref();
        let at = *e.at_ms.get_ref();
        if at < last_ms {
            return Err(src.error(
                &e.at_ms.span(),
                format!("found at_ms = {at}, expected a time at or after the previous entry's {last_ms} ms (the timeline is in order)"),
            ));
        }
        last_ms = at;
        timeline.push(build_entry(&src, d, entry)?);
    }
    let end_ms = match &raw.end_ms {
        Some(end) if *end.get_ref() < last_ms => {
            return Err(src.error(
                &end.span(),
                format!(
                    "found end_ms = {}, expected at least the last timeline time {last_ms}",
                    end.get_ref()
                ),
            ));
        }
        Some(end) => *end.get_ref(),
        None => last_ms,
    };
    if raw.name.get_ref().trim().is_empty() {
        return Err(src.error(
            &raw.name.span(),
            "found an empty `name`, expected a short title",
        ));
    }
    let check = build_check(&src, d, &raw.check)?;
    Ok(Scenario {
        file: file.to_string(),
        text: text.to_string(),
        name: raw.name.into_inner(),
        description: raw.description,
        deployment,
        setup,
        initial_sign_ins,
        timeline,
        end_ms,
        check,
    })
}

/// A count from `[check]` within `0..=max`, or its default.
fn bounded_count(
    src: &Source<'_>,
    key: &str,
    value: &Option<Spanned<u8>>,
    default: u8,
    max: u8,
) -> Result<u8, ScenarioError> {
    match value {
        None => Ok(default),
        Some(v) if *v.get_ref() <= max => Ok(*v.get_ref()),
        Some(v) => Err(src.error(
            &v.span(),
            format!(
                "found check.{key} = {}, expected 0 to {max} (the checker explores every interleaving, so its world must stay small)",
                v.get_ref()
            ),
        )),
    }
}

fn build_check(src: &Source<'_>, d: &Deployment, raw: &RawCheck) -> Result<Bounds, ScenarioError> {
    let defaults = Bounds::default_for(d);
    let presences = match &raw.presences {
        None => defaults.presences,
        Some(list) => list
            .iter()
            .map(|p| parse_presence(src, p))
            .collect::<Result<_, _>>()?,
    };
    let senders = match &raw.senders {
        None => defaults.senders,
        Some(list) => list
            .iter()
            .map(|u| find_user(src, d, u))
            .collect::<Result<_, _>>()?,
    };
    if raw.admin.len() > Bounds::ADMIN_MAX {
        return Err(src.error(
            &raw.admin[Bounds::ADMIN_MAX].span(),
            format!(
                "found {} check.admin entries, expected at most {}",
                raw.admin.len(),
                Bounds::ADMIN_MAX
            ),
        ));
    }
    let mut admin = Vec::new();
    for entry in &raw.admin {
        let a = entry.get_ref();
        let org = match &a.org {
            Some(o) => find_org(src, d, o)?,
            None if d.orgs.len() == 1 => OrgId(0),
            None => {
                return Err(src.error(
                    &a.cmdlet.span(),
                    format!("found a check.admin cmdlet without `org` in a deployment of {} organisations, expected `org = ` one of {}", d.orgs.len(), d.org_names()),
                ));
            }
        };
        admin.push(cmdlet_event(src, org, &a.cmdlet, 0, entry.span())?.event);
    }
    let mut unreachable = Vec::new();
    for name in &raw.unreachable {
        let Some(probe) = crate::rules::invariants::REACH
            .iter()
            .find(|r| r.name == name.get_ref())
        else {
            return Err(src.error(
                &name.span(),
                format!(
                    "found check.unreachable = `{}`, expected one of {}",
                    name.get_ref(),
                    crate::rules::domain::join_names(
                        crate::rules::invariants::REACH.iter().map(|r| r.name)
                    )
                ),
            ));
        };
        unreachable.push(probe.name);
    }
    Ok(Bounds {
        messages_max: bounded_count(
            src,
            "messages_max",
            &raw.messages_max,
            defaults.messages_max,
            4,
        )?,
        user_events_max: bounded_count(
            src,
            "user_events_max",
            &raw.user_events_max,
            defaults.user_events_max,
            6,
        )?,
        crashes_max: bounded_count(
            src,
            "crashes_max",
            &raw.crashes_max,
            defaults.crashes_max,
            3,
        )?,
        outages_max: bounded_count(
            src,
            "outages_max",
            &raw.outages_max,
            defaults.outages_max,
            3,
        )?,
        presences,
        senders,
        admin,
        unreachable,
        ews_latency_ms: raw.ews_latency_ms.unwrap_or(defaults.ews_latency_ms),
    })
}

fn build_options(src: &Source<'_>, raw: &RawOptions) -> Result<Options, ScenarioError> {
    let mut o = Options::default();
    let duration = |key: &str, v: &Spanned<u64>| {
        if *v.get_ref() > MS_MAX {
            return Err(src.error(
                &v.span(),
                format!("found {key} = {}, expected 0 to {MS_MAX}", v.get_ref()),
            ));
        }
        Ok(*v.get_ref())
    };
    if let Some(v) = &raw.pickup_delay_ms {
        o.pickup_delay_ms = duration("pickup_delay_ms", v)?;
    }
    if let Some(v) = &raw.attempts_max {
        if !(1..=16).contains(v.get_ref()) {
            return Err(src.error(
                &v.span(),
                format!("found attempts_max = {}, expected 1 to 16", v.get_ref()),
            ));
        }
        o.attempts_max = *v.get_ref();
    }
    if let Some(v) = raw.dedup {
        o.dedup = v;
    }
    if let Some(v) = &raw.ews_latency_ms {
        o.ews_latency_ms = duration("ews_latency_ms", v)?;
    }
    if let Some(v) = &raw.spool_capacity {
        if *v.get_ref() == 0 {
            return Err(src.error(&v.span(), "found spool_capacity = 0, expected 1 to 65535"));
        }
        o.spool_capacity = *v.get_ref();
    }
    Ok(o)
}

fn build_deployment(
    src: &Source<'_>,
    raw: &RawDeployment,
    options: Options,
) -> Result<Deployment, ScenarioError> {
    let mut orgs = Vec::new();
    for o in &raw.orgs {
        let ro = o.get_ref();
        let server_version = match (ro.profile, &ro.server_version) {
            (Profile::Server, Some(v)) => Some(*v.get_ref()),
            (Profile::Server, None) => Some(ServerVersion::Server2015Cu3),
            (Profile::Online, Some(v)) => {
                return Err(src.error(&v.span(), "found `server_version` on an Online organisation, expected it only with profile = \"server\""));
            }
            (Profile::Online, None) => None,
        };
        if ro.profile == Profile::Online && !ro.sites.is_empty() {
            return Err(src.error(&ro.sites[0].span(), "found `sites` on an Online organisation, expected them only with profile = \"server\""));
        }
        orgs.push(Org {
            name: ro.name.get_ref().clone(),
            profile: ro.profile,
            server_version,
            sites: ro.sites.iter().map(|s| s.get_ref().clone()).collect(),
            ews_published: ro.ews_published,
        });
    }
    crate::rules::domain::validate_orgs(&orgs).map_err(|e| place(src, raw, &[], e))?;
    if orgs.is_empty() {
        return Err(src.error_at(
            0,
            "found no `[[deployment.orgs]]`, expected at least one organisation",
        ));
    }
    let find_org = |name: &Spanned<String>| -> Result<OrgId, ScenarioError> {
        orgs.iter()
            .position(|o| o.name.eq_ignore_ascii_case(name.get_ref()))
            .map(|i| OrgId(i as u8))
            .ok_or_else(|| {
                src.error(
                    &name.span(),
                    format!(
                        "found the unknown organisation `{}`, expected one of {}",
                        name.get_ref(),
                        crate::rules::domain::join_names(orgs.iter().map(|o| o.name.as_str()))
                    ),
                )
            })
    };
    let mut federation = Vec::new();
    let mut federation_spans = Vec::new();
    for (i, o) in raw.orgs.iter().enumerate() {
        for f in &o.get_ref().federated_with {
            federation.push((OrgId(i as u8), find_org(f)?));
            federation_spans.push(f.span());
        }
    }
    let mut users: Vec<User> = Vec::new();
    for u in &raw.users {
        let ru = u.get_ref();
        let org = find_org(&ru.org)?;
        let o = &orgs[org.0 as usize];
        let site = match &ru.site {
            None => None,
            Some(s) => Some(
                o.sites
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(s.get_ref()))
                    .map(|i| i as u8)
                    .ok_or_else(|| {
                        src.error(
                            &s.span(),
                            format!(
                                "found the unknown site `{}`, expected one of the sites of `{}`: {}",
                                s.get_ref(),
                                o.name,
                                crate::rules::domain::join_names(o.sites.iter().map(String::as_str))
                            ),
                        )
                    })?,
            ),
        };
        let build = Build::parse(ru.build.get_ref())
            .map_err(|e| src.error(&ru.build.span(), format!("expected {e}")))?;
        let released = Date::parse(ru.released.get_ref())
            .map_err(|e| src.error(&ru.released.span(), format!("expected {e}")))?;
        let name = ru.name.get_ref().clone();
        if name.trim().is_empty() {
            return Err(src.error(
                &ru.name.span(),
                "found an empty user name, expected a display name such as \"Tony Smith\"",
            ));
        }
        let sip = match &ru.sip {
            Some(s) => s.get_ref().clone(),
            None => format!(
                "sip:{}@{}",
                name.to_ascii_lowercase()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join("."),
                o.name.to_ascii_lowercase()
            ),
        };
        users.push(User {
            name,
            sip,
            org,
            site,
            mailbox: ru.mailbox,
            client: Client {
                install: ru.install,
                build,
                released,
            },
        });
    }
    if users.is_empty() {
        return Err(src.error_at(
            0,
            "found no `[[deployment.users]]`, expected at least one user",
        ));
    }
    // Deployment::new is the one place the uniqueness rules live; here its
    // error is only placed at the entry it names.
    Deployment::new(orgs, federation, users, options)
        .map_err(|e| place(src, raw, &federation_spans, e))
}

/// Places a deployment error at the entry it names. `Deployment::new` is
/// the one place the uniqueness rules live.
fn place(
    src: &Source<'_>,
    raw: &RawDeployment,
    federation_spans: &[Range<usize>],
    e: DeploymentError,
) -> ScenarioError {
    let span = match &e {
        DeploymentError::DuplicateOrg { index, .. } => raw.orgs[*index].get_ref().name.span(),
        DeploymentError::DuplicateSite { org, index, .. } => {
            raw.orgs[*org].get_ref().sites[*index].span()
        }
        DeploymentError::DuplicateUser { index, .. } => raw.users[*index].get_ref().name.span(),
        DeploymentError::SelfFederation { index } => federation_spans[*index].clone(),
        DeploymentError::TooMany { .. } => 0..0,
    };
    src.error(&span, e.to_string())
}

fn parse_presence(src: &Source<'_>, p: &Spanned<String>) -> Result<Presence, ScenarioError> {
    Presence::parse(p.get_ref()).ok_or_else(|| {
        src.error(
            &p.span(),
            format!(
                "found the presence `{}`, expected one of {}",
                p.get_ref(),
                crate::rules::domain::join_names(Presence::ALL.iter().map(|p| p.name()))
            ),
        )
    })
}

fn find_user(
    src: &Source<'_>,
    d: &Deployment,
    name: &Spanned<String>,
) -> Result<UserId, ScenarioError> {
    d.find_user(name.get_ref()).ok_or_else(|| {
        src.error(
            &name.span(),
            format!(
                "found the unknown user `{}`, expected one of {}",
                name.get_ref(),
                d.user_names()
            ),
        )
    })
}

fn find_org(
    src: &Source<'_>,
    d: &Deployment,
    name: &Spanned<String>,
) -> Result<OrgId, ScenarioError> {
    d.find_org(name.get_ref()).ok_or_else(|| {
        src.error(
            &name.span(),
            format!(
                "found the unknown organisation `{}`, expected one of {}",
                name.get_ref(),
                d.org_names()
            ),
        )
    })
}

fn cmdlet_event(
    src: &Source<'_>,
    org: OrgId,
    command: &Spanned<String>,
    at_ms: u64,
    span: Range<usize>,
) -> Result<TimedEvent, ScenarioError> {
    let parsed: Parsed = cmdlets::parse(command.get_ref()).map_err(|e| {
        src.error_at(
            src.offset_in_string(&command.span(), e.column),
            e.to_string(),
        )
    })?;
    Ok(TimedEvent {
        at_ms,
        event: Event::Admin {
            org,
            text: command.get_ref().clone(),
            parsed: Box::new(parsed),
        },
        span,
        cmdlet_span: Some(command.span()),
    })
}

fn build_entry(
    src: &Source<'_>,
    d: &Deployment,
    entry: &Spanned<RawEntry>,
) -> Result<TimedEvent, ScenarioError> {
    let e = entry.get_ref();
    let at_ms = *e.at_ms.get_ref();
    let keys = [
        e.send.as_ref().map(|s| s.span()),
        e.sign_in.as_ref().map(|s| s.span()),
        e.sign_out.as_ref().map(|s| s.span()),
        e.set_presence.as_ref().map(|s| s.span()),
        e.crash.as_ref().map(|s| s.span()),
        e.restart.as_ref().map(|s| s.span()),
        e.ews_down.as_ref().map(|s| s.span()),
        e.ews_up.as_ref().map(|s| s.span()),
        e.cmdlet.as_ref().map(|s| s.span()),
    ];
    let present: Vec<&Range<usize>> = keys.iter().flatten().collect();
    match present.len() {
        0 => {
            return Err(src.error(
                &entry.span(),
                format!("found a timeline entry with no event, expected one of {EVENT_KEYS}"),
            ));
        }
        1 => {}
        _ => return Err(src.error(
            present[1],
            format!(
                "found a second event in one timeline entry, expected exactly one of {EVENT_KEYS}"
            ),
        )),
    }
    if let (Some(p), None) = (&e.presence, &e.sign_in) {
        return Err(src.error(&p.span(), "found `presence` without `sign_in`, expected it only beside `sign_in` (use `set_presence` to change presence)"));
    }
    if let (Some(o), None) = (&e.org, &e.cmdlet) {
        return Err(src.error(
            &o.span(),
            "found `org` without `cmdlet`, expected it only beside `cmdlet`",
        ));
    }
    let mk = |event| TimedEvent {
        at_ms,
        event,
        span: entry.span(),
        cmdlet_span: None,
    };
    if let Some(s) = &e.send {
        let s = s.get_ref();
        return Ok(mk(Event::Send {
            from: find_user(src, d, &s.from)?,
            to: find_user(src, d, &s.to)?,
            body: s.body.clone(),
        }));
    }
    if let Some(u) = &e.sign_in {
        let presence = match &e.presence {
            Some(p) => parse_presence(src, p)?,
            None => Presence::Available,
        };
        return Ok(mk(Event::SignIn {
            user: find_user(src, d, u)?,
            presence,
        }));
    }
    if let Some(u) = &e.sign_out {
        return Ok(mk(Event::SignOut {
            user: find_user(src, d, u)?,
        }));
    }
    if let Some(sp) = &e.set_presence {
        let sp = sp.get_ref();
        return Ok(mk(Event::SetPresence {
            user: find_user(src, d, &sp.user)?,
            presence: parse_presence(src, &sp.presence)?,
        }));
    }
    if let Some(u) = &e.crash {
        return Ok(mk(Event::CrashClient {
            user: find_user(src, d, u)?,
        }));
    }
    if let Some(u) = &e.restart {
        return Ok(mk(Event::RestartClient {
            user: find_user(src, d, u)?,
        }));
    }
    if let Some(o) = &e.ews_down {
        return Ok(mk(Event::EwsDown {
            org: find_org(src, d, o)?,
        }));
    }
    if let Some(o) = &e.ews_up {
        return Ok(mk(Event::EwsUp {
            org: find_org(src, d, o)?,
        }));
    }
    let Some(command) = &e.cmdlet else {
        return Err(src.error(&entry.span(), format!("expected one of {EVENT_KEYS}")));
    };
    let org = match &e.org {
        Some(o) => find_org(src, d, o)?,
        None if d.orgs.len() == 1 => OrgId(0),
        None => {
            return Err(src.error(
                &command.span(),
                format!("found a cmdlet without `org` in a deployment of {} organisations, expected `org = ` one of {}", d.orgs.len(), d.org_names()),
            ));
        }
    };
    cmdlet_event(src, org, command, at_ms, entry.span())
}

impl Scenario {
    /// Turns a runtime rejection of `event` into a diagnostic at its entry.
    pub fn runtime_error(&self, event: &TimedEvent, err: &StepError) -> ScenarioError {
        let src = Source {
            file: &self.file,
            text: &self.text,
        };
        match (err, &event.cmdlet_span) {
            (StepError::Cmdlet(c), Some(span)) => {
                src.error_at(src.offset_in_string(span, c.column), c.to_string())
            }
            _ => src.error(&event.span, format!("cannot apply this event: {err}")),
        }
    }

    /// A fresh world for this scenario.
    pub fn world(&self) -> World {
        World::new(Arc::clone(&self.deployment))
    }

    /// A world over `deployment` (this scenario's, or a variant of it with
    /// other options) after the setup cmdlets and the initial sign-ins:
    /// where the model checker starts, and where the tests start.
    pub fn initial_world(&self, deployment: Arc<Deployment>) -> Result<World, ScenarioError> {
        let mut world = World::new(deployment);
        for te in self.setup.iter().chain(&self.initial_sign_ins) {
            world
                .apply(&te.event)
                .map_err(|e| self.runtime_error(te, &e))?;
        }
        Ok(world)
    }
}

/// Reads and loads a scenario file, or the embedded default when `path` is
/// `None`.
pub fn load_path(path: Option<&std::path::Path>) -> Result<Scenario, ScenarioError> {
    match path {
        None => load(DEFAULT_MODEL_NAME, DEFAULT_MODEL),
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| ScenarioError {
                file: name.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "cannot read the file: {e}; expected a readable UTF-8 TOML scenario"
                ),
                source_line: String::new(),
            })?;
            load(&name, &text)
        }
    }
}
