//! Generated deployments and Management Shell commands for conformance
//! cases: `world_strategy` draws a deployment (one to three organisations,
//! two to four users) with a set-up of shell commands, and `cmdlet_strategy`
//! draws one command that a timeline can run as an `admin` op.
//!
//! Invariants it keeps:
//! - Every draw is meaningful: references between parts (a user's
//!   organisation and site, a command's organisation, user, site and
//!   policy) are drawn as indices and taken modulo what the world has, so no
//!   draw is filtered out and none is rejected by `reset`.
//! - The simplest value of each strategy is the simplest world: one Server
//!   organisation on the default version, two Click-to-Run users on a build
//!   that passes both build gates with Online mailboxes, no options and no
//!   set-up. Every choice lists that case first, so proptest's shrinking
//!   walks a failing world down to it along every dimension the failure
//!   does not need.
//! - A command drawn without a fault is one the shell parses; one drawn with
//!   a fault is rejected by the shell (`cmdlet`) whatever state it meets.
//!
//! What it deliberately does not do: restate a rule. Keywords are written
//! by the rule book's own serde names, thresholds are the rule book's
//! constants, and SIP addresses are read back from the deployment loader
//! rather than derived here. Whether a command is accepted in a given state
//! is the reference's business; the generator only knows which commands no
//! state accepts.

use super::protocol::Op;
use super::reference::load_deployment;
use crate::rules::domain::{
    ATTEMPTS_MAX, Build, Date, EWS_LATENCY_MS, Install, MailboxLocation, PICKUP_DELAY_MS, Profile,
    SPOOL_CAPACITY, ServerVersion,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// Organisation names, by position in the deployment.
const ORG_NAMES: [&str; 3] = ["contoso", "fabrikam", "litware"];
/// User display names, by position; the first names differ, which keeps the
/// explicit SIP addresses (`sip:tony@contoso.example`) unique.
const USER_NAMES: [&str; 4] = ["Tony Smith", "Ken Myer", "Pat Coleman", "Ann Beebe"];
/// Site names: a Server organisation has the first `sites` of them. A
/// static, so that a prefix of it is a `'static` slice.
static SITE_NAMES: [&str; 2] = ["Redmond", "Dublin"];
/// Per-user client policy names that commands create, set, grant and remove.
const POLICY_NAMES: [&str; 2] = ["OfflineIM", "Sales"];
/// The most set-up commands a generated world has.
const SETUP_MAX: usize = 6;
/// The most federation entries a generated world draws; a repeat is
/// harmless (CONF-007).
const FEDERATION_MAX: usize = 3;

/// The build classes around the two build gates, OIM-002's
/// (16.0.6701.1000) and OIM-003's (16.0.6920.1000): at each threshold, one
/// below it and one above it in the last part. The first passes both gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BuildClass {
    OnPremisesMin,
    OnPremisesMinPlusOne,
    OnPremisesMinMinusOne,
    OfflineImMin,
    OfflineImMinPlusOne,
    OfflineImMinMinusOne,
}

impl BuildClass {
    const ALL: [BuildClass; 6] = [
        BuildClass::OnPremisesMin,
        BuildClass::OnPremisesMinPlusOne,
        BuildClass::OnPremisesMinMinusOne,
        BuildClass::OfflineImMin,
        BuildClass::OfflineImMinPlusOne,
        BuildClass::OfflineImMinMinusOne,
    ];

    fn build(self) -> Build {
        let (threshold, step) = match self {
            BuildClass::OnPremisesMin => (Build::ON_PREMISES_MIN, 0),
            BuildClass::OnPremisesMinPlusOne => (Build::ON_PREMISES_MIN, 1),
            BuildClass::OnPremisesMinMinusOne => (Build::ON_PREMISES_MIN, -1),
            BuildClass::OfflineImMin => (Build::OFFLINE_IM_MIN, 0),
            BuildClass::OfflineImMinPlusOne => (Build::OFFLINE_IM_MIN, 1),
            BuildClass::OfflineImMinMinusOne => (Build::OFFLINE_IM_MIN, -1),
        };
        let [a, b, c, d] = threshold.0;
        Build([a, b, c, d.saturating_add_signed(step)])
    }
}

// "One below" and "one above" change the last part of each threshold, which
// must have room for both.
const _: () = assert!(Build::OFFLINE_IM_MIN.0[3] > 0 && Build::OFFLINE_IM_MIN.0[3] < u32::MAX);
const _: () = assert!(Build::ON_PREMISES_MIN.0[3] > 0 && Build::ON_PREMISES_MIN.0[3] < u32::MAX);

/// Release dates relative to the Drafts fix of OIM-014 (DEC-013): the day
/// after it, the day itself and the day before. The first is never affected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReleaseClass {
    After,
    On,
    Before,
}

impl ReleaseClass {
    const ALL: [ReleaseClass; 3] = [ReleaseClass::After, ReleaseClass::On, ReleaseClass::Before];

    fn date(self) -> Date {
        let fix = Date::DRAFTS_FIX;
        let day = match self {
            ReleaseClass::After => fix.day + 1,
            ReleaseClass::On => fix.day,
            ReleaseClass::Before => fix.day - 1,
        };
        Date { day, ..fix }
    }
}

// The neighbouring days stay within the month, so they need no calendar.
const _: () = assert!(Date::DRAFTS_FIX.day > 1 && Date::DRAFTS_FIX.day < 28);

/// One generated organisation; its name is `ORG_NAMES` at its position.
#[derive(Clone, Debug)]
struct GenOrg {
    profile: Profile,
    /// Written only on a Server organisation; absent means `2015-cu3`.
    server_version: Option<ServerVersion>,
    /// How many of `SITE_NAMES` a Server organisation has.
    sites: u8,
    /// `None` leaves `ews_published` out (it is then `true`).
    ews_published: Option<bool>,
}

/// One generated user; the name is `USER_NAMES` at its position.
#[derive(Clone, Debug)]
struct GenUser {
    /// The organisation, modulo the organisations of the world.
    org: u8,
    /// The site, modulo the sites of the user's organisation; ignored when
    /// it has none.
    site: Option<u8>,
    mailbox: MailboxLocation,
    install: Install,
    build: BuildClass,
    released: ReleaseClass,
    /// Whether the deployment writes a `sip` key, or leaves the loader to
    /// derive the address from the name.
    explicit_sip: bool,
}

/// The options of `[deployment.options]`; `None` leaves a key out.
#[derive(Clone, Debug)]
struct GenOptions {
    pickup_delay_ms: Option<u64>,
    attempts_max: Option<u64>,
    dedup: Option<bool>,
    ews_latency_ms: Option<u64>,
    spool_capacity: Option<u64>,
}

/// A generated deployment with its set-up commands, before names are
/// written out. Draw it with `world_strategy`; `deployment` gives the JSON
/// for `reset` and `setup` the commands to run after it.
#[derive(Clone, Debug)]
pub struct GenWorld {
    /// One to three organisations.
    orgs: Vec<GenOrg>,
    /// Federated pairs, each drawn as an organisation and a distance to the
    /// other (`resolve_pair`), so that every entry names two different
    /// organisations and shrinks towards the first two.
    federation: Vec<(u8, u8)>,
    /// Whether a federated pair is written on both organisations (a repeat
    /// is harmless, CONF-007) or only on the first.
    federation_both_sides: bool,
    /// Two to four users.
    users: Vec<GenUser>,
    /// `None` leaves `options` out; `Some` writes the keys it has, possibly
    /// none (an empty table).
    options: Option<GenOptions>,
    /// The set-up commands, run in order after `reset`.
    setup: Vec<GenCmdlet>,
}

/// How a name or keyword is capitalised: the shell and the protocol match
/// both in any ASCII case (DEC-019, CONF-003).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    AsDocumented,
    Lower,
    Upper,
    Alternating,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::AsDocumented,
        Case::Lower,
        Case::Upper,
        Case::Alternating,
    ];

    fn apply(self, text: &str) -> String {
        match self {
            Case::AsDocumented => text.to_string(),
            Case::Lower => text.to_ascii_lowercase(),
            Case::Upper => text.to_ascii_uppercase(),
            Case::Alternating => text
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect(),
        }
    }
}

/// How a value is bound to its parameter (DEC-019).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binding {
    /// `-Name value`.
    Named,
    /// `value` alone, where the parameter has a position; `Named` elsewhere.
    Positional,
    /// `-Name:value`.
    Colon,
    /// `-Name: value`.
    ColonSpace,
    /// Left out where the parameter is optional; `Named` where it is not.
    Omitted,
}

impl Binding {
    const ALL: [Binding; 5] = [
        Binding::Named,
        Binding::Positional,
        Binding::Colon,
        Binding::ColonSpace,
        Binding::Omitted,
    ];
}

/// How a name is quoted. A display name, which has a space, is never bare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quoting {
    Bare,
    Double,
    Single,
}

impl Quoting {
    const ALL: [Quoting; 3] = [Quoting::Bare, Quoting::Double, Quoting::Single];

    fn apply(self, text: &str) -> String {
        match self {
            Quoting::Bare if !text.contains(char::is_whitespace) => text.to_string(),
            Quoting::Bare | Quoting::Double => format!("\"{text}\""),
            Quoting::Single => format!("'{text}'"),
        }
    }
}

/// A way of writing a command that the shell rejects in every state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// A cmdlet the shell does not have, from `UNKNOWN_CMDLETS`.
    UnknownCmdlet(u8),
    /// The cmdlet's name with one character dropped (even) or doubled (odd).
    MisspeltCmdlet(u8),
    /// The verb split from the noun by a space, as seed 004 prints
    /// `Grant -CsClientPolicy` (DEC-027).
    SplitCmdlet,
    /// A parameter the cmdlet does not have (`UNKNOWN_PARAMETERS`).
    UnknownParameter(u8),
    /// One of the cmdlet's parameters (first index) with a character dropped
    /// or doubled, or abbreviated (second index), which DEC-019 rejects.
    MisspeltParameter(u8, u8),
    /// A value the parameter does not take.
    BadValue(u8),
    /// An identity form the parser rejects (DEC-019).
    BadIdentity(u8),
    /// A well-formed identity that names nothing the deployment has or any
    /// command creates.
    UnknownIdentity(u8),
    /// Shell syntax outside the model: pipelines, script blocks, an
    /// unterminated quote, a repeated or dangling parameter, extra words.
    Syntax(u8),
}

/// Cmdlets the shell does not have.
const UNKNOWN_CMDLETS: [&str; 4] = [
    "Get-CsUser",
    "Set-CsOfflineIm",
    "Enable-CsOfflineIM",
    "Set-CsClientPolicies",
];
/// How many ways `Fault::UnknownParameter` has (see `unknown_parameter`).
const UNKNOWN_PARAMETERS: u8 = 5;
/// Values no Boolean setting takes; `$Null` is only bad where the setting
/// cannot be unset.
const BAD_BOOLEANS: [&str; 6] = ["$Ture", "\"True\"", "'$False'", "Yes", "1", "$Null"];
/// Values `-Force` does not take.
const BAD_FORCES: [&str; 3] = ["$Ture", "Yes", "$Null"];
/// `-PolicyName` values Grant-CsClientPolicy rejects (OIM-019, DEC-019).
const BAD_POLICY_NAMES: [&str; 5] = [
    "Tag:OfflineIM",
    "\"$Null\"",
    "Global",
    "Site:Redmond",
    "'Tag:Sales'",
];
/// Policy and configuration identities the parser rejects (DEC-019).
const BAD_SCOPES: [&str; 12] = [
    "Global:x",
    "a:b",
    "contoso\\ken",
    "Site:",
    "Tag:",
    "Tag:Off*",
    "Site:Red?mond",
    "Site:a:b",
    "\"\"",
    "$x",
    "Sales$x",
    "Tag:[x]",
];
/// Per-user identities, which IM configurations do not have (DEC-010): the
/// parser rejects them for Set-, New- and Remove-CsImConfiguration, and
/// Get-CsImConfiguration finds nothing by them.
const PER_USER_IM_SCOPES: [&str; 2] = ["Tag:OfflineIM", "OfflineIM"];
/// User identities the parser rejects (DEC-019).
const BAD_USERS: [&str; 6] = [
    "contoso\\ken",
    "\"CN=Tony Smith,OU=Users,DC=contoso\"",
    "\"\"",
    "Tony*",
    "$x",
    "\"  \"",
];
/// Scopes no deployment has: the sites are `SITE_NAMES` and the policies
/// `POLICY_NAMES`.
const UNKNOWN_SITES: [&str; 2] = ["Site:Nowhere", "Site:Redmnd"];
const UNKNOWN_POLICIES: [&str; 2] = ["Tag:NoSuchPolicy", "NoSuchPolicy"];
/// How many ways `Fault::Syntax` has (see `syntax_fault`).
const SYNTAX_FAULTS: u8 = 8;

/// What a cmdlet's `-Identity` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    ImConfiguration,
    ClientPolicy,
    User,
}

/// The shape of one of the nine cmdlets (src/rules/cmdlets.rs), written out
/// here independently so that a change to the parser's table shows up as a
/// failing grammar test rather than silently changing the cases.
struct Shape {
    name: &'static str,
    target: Target,
    identity_required: bool,
    /// The Boolean setting and whether `$Null` unsets it (DEC-011, DEC-019).
    setting: Option<(&'static str, bool)>,
    /// Whether `-Force` is listed (DEC-019).
    force: bool,
}

const SHAPES: [Shape; 9] = [
    Shape {
        name: "Get-CsImConfiguration",
        target: Target::ImConfiguration,
        identity_required: false,
        setting: None,
        force: false,
    },
    Shape {
        name: "Set-CsImConfiguration",
        target: Target::ImConfiguration,
        identity_required: false,
        setting: Some(("EnableOfflineIm", false)),
        force: true,
    },
    Shape {
        name: "New-CsImConfiguration",
        target: Target::ImConfiguration,
        identity_required: true,
        setting: Some(("EnableOfflineIm", false)),
        force: true,
    },
    Shape {
        name: "Remove-CsImConfiguration",
        target: Target::ImConfiguration,
        identity_required: true,
        setting: None,
        force: true,
    },
    Shape {
        name: "Get-CsClientPolicy",
        target: Target::ClientPolicy,
        identity_required: false,
        setting: None,
        force: false,
    },
    Shape {
        name: "Set-CsClientPolicy",
        target: Target::ClientPolicy,
        identity_required: false,
        setting: Some(("EnableIMAutoArchiving", true)),
        force: true,
    },
    Shape {
        name: "New-CsClientPolicy",
        target: Target::ClientPolicy,
        identity_required: true,
        setting: Some(("EnableIMAutoArchiving", true)),
        force: true,
    },
    Shape {
        name: "Grant-CsClientPolicy",
        target: Target::User,
        identity_required: true,
        setting: None,
        force: false,
    },
    Shape {
        name: "Remove-CsClientPolicy",
        target: Target::ClientPolicy,
        identity_required: true,
        setting: None,
        force: true,
    },
];

impl Shape {
    fn is_grant(&self) -> bool {
        self.target == Target::User
    }

    fn creates(&self) -> bool {
        self.name.starts_with("New-")
    }

    /// The parameters the cmdlet accepts, in their documented spelling.
    fn parameters(&self) -> Vec<&'static str> {
        let mut p = vec!["Identity"];
        p.extend(self.setting.map(|(name, _)| name));
        if self.force {
            p.push("Force");
        }
        if self.is_grant() {
            p.push("PolicyName");
        }
        p
    }
}

/// The spelling of a command: the case of its cmdlet name, its parameter
/// names, its values (Booleans, scopes and names) and the organisation name
/// of the `admin` op.
#[derive(Clone, Copy, Debug)]
struct Spelling {
    cmdlet: Case,
    parameters: Case,
    values: Case,
    org: Case,
}

/// One generated Management Shell command, before names are resolved.
/// Draw it with `cmdlet_strategy` and turn it into an `admin` op with
/// `GenCmdlet::resolve`.
#[derive(Clone, Debug)]
pub struct GenCmdlet {
    /// The organisation whose shell runs it, modulo the world's.
    org: u8,
    /// The cmdlet, an index into `SHAPES`.
    cmdlet: u8,
    /// The identity's form, an index into the forms of the cmdlet's target.
    identity_form: u8,
    /// The site, policy or user the identity names, modulo what there is.
    identity_name: u8,
    identity_quoting: Quoting,
    identity_binding: Binding,
    /// Whether the identity comes after the other parameters.
    identity_last: bool,
    /// The Boolean setting: absent, `$True`, `$False` or, where it can be
    /// unset, `$Null`, modulo the choices.
    setting: u8,
    /// `-Force`: absent, `-Force`, `-Force:$True` or `-Force:$False`.
    force: u8,
    /// Grant-CsClientPolicy's `-PolicyName`: one of `POLICY_NAMES`, or
    /// `$Null` past them.
    policy: u8,
    /// How the setting and `-PolicyName` are bound.
    value_binding: Binding,
    spelling: Spelling,
    fault: Option<Fault>,
}

fn keyword(v: impl serde::Serialize) -> Value {
    // The rule book's serde names are the deployment's keywords; they are
    // plain strings, so serialising them cannot fail.
    serde_json::to_value(v).unwrap_or_default()
}

impl GenWorld {
    /// The simplest world, where every strategy's shrinking ends: one Server
    /// organisation on the default version (`2015-cu3`), two Click-to-Run
    /// users at OIM-003's build, released after the Drafts fix, with Online
    /// mailboxes, no options and no set-up.
    pub fn minimal() -> GenWorld {
        let user = GenUser {
            org: 0,
            site: None,
            mailbox: MailboxLocation::Online,
            install: Install::C2r,
            build: BuildClass::OnPremisesMin,
            released: ReleaseClass::After,
            explicit_sip: false,
        };
        GenWorld {
            orgs: vec![GenOrg {
                profile: Profile::Server,
                server_version: None,
                sites: 0,
                ews_published: None,
            }],
            federation: Vec::new(),
            federation_both_sides: false,
            users: vec![user.clone(), user],
            options: None,
            setup: Vec::new(),
        }
    }

    /// The organisations that are written out: at most one per name.
    fn org_count(&self) -> usize {
        self.orgs.len().min(ORG_NAMES.len())
    }

    /// The organisation of user `u`, as an index into `orgs`.
    fn org_of(&self, u: &GenUser) -> usize {
        usize::from(u.org) % self.org_count().max(1)
    }

    /// The sites of organisation `o`: none on Online.
    fn sites_of(&self, o: usize) -> &'static [&'static str] {
        match self.orgs.get(o) {
            Some(org) if org.profile == Profile::Server => {
                &SITE_NAMES[..usize::from(org.sites).min(SITE_NAMES.len())]
            }
            _ => &[],
        }
    }

    /// The organisations (indices) of a federation entry: `first` modulo
    /// the organisations, and the one `1 + gap` after it, modulo again, so
    /// the two differ. `None` with a single organisation.
    fn resolve_pair(&self, (first, gap): (u8, u8)) -> Option<(usize, usize)> {
        let n = self.org_count();
        if n < 2 {
            return None;
        }
        let a = usize::from(first) % n;
        let b = (a + 1 + usize::from(gap) % (n - 1)) % n;
        Some((a, b))
    }

    /// Whether organisations `a` and `b` (indices) are federated.
    fn federated(&self, a: usize, b: usize) -> bool {
        self.federation
            .iter()
            .filter_map(|&p| self.resolve_pair(p))
            .any(|(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
    }

    /// The deployment as `reset` takes it: the `[deployment]` table of a
    /// models/ file as JSON (CONF-007).
    pub fn deployment(&self) -> Value {
        let n = self.org_count();
        let orgs: Vec<Value> = (0..n)
            .zip(&self.orgs)
            .map(|(i, o)| {
                let mut org = Map::new();
                org.insert("name".into(), ORG_NAMES[i].into());
                org.insert("profile".into(), keyword(o.profile));
                if o.profile == Profile::Server {
                    if let Some(v) = o.server_version {
                        org.insert("server_version".into(), keyword(v));
                    }
                    let sites = self.sites_of(i);
                    if !sites.is_empty() {
                        org.insert("sites".into(), json!(sites));
                    }
                }
                // A pair is written on its first organisation, and on the
                // second too when both sides are drawn.
                let partners: Vec<&str> = (0..n)
                    .filter(|&j| self.federated(i, j) && (i < j || self.federation_both_sides))
                    .map(|j| ORG_NAMES[j])
                    .collect();
                if !partners.is_empty() {
                    org.insert("federated_with".into(), json!(partners));
                }
                if let Some(p) = o.ews_published {
                    org.insert("ews_published".into(), p.into());
                }
                Value::Object(org)
            })
            .collect();
        let users: Vec<Value> = self
            .users
            .iter()
            .zip(USER_NAMES)
            .map(|(u, name)| {
                let o = self.org_of(u);
                let mut user = Map::new();
                user.insert("name".into(), name.into());
                if u.explicit_sip {
                    let first = name.split(' ').next().unwrap_or(name);
                    let sip = format!(
                        "sip:{}@{}.example",
                        first.to_ascii_lowercase(),
                        ORG_NAMES[o]
                    );
                    user.insert("sip".into(), sip.into());
                }
                user.insert("org".into(), ORG_NAMES[o].into());
                let sites = self.sites_of(o);
                if let (Some(s), false) = (u.site, sites.is_empty()) {
                    user.insert("site".into(), sites[usize::from(s) % sites.len()].into());
                }
                user.insert("mailbox".into(), keyword(u.mailbox));
                user.insert("install".into(), keyword(u.install));
                user.insert("build".into(), u.build.build().to_string().into());
                user.insert("released".into(), u.released.date().to_string().into());
                Value::Object(user)
            })
            .collect();
        let mut deployment = json!({ "orgs": orgs, "users": users });
        if let Some(o) = &self.options {
            let mut options = Map::new();
            let keys = [
                (PICKUP_DELAY_MS.key, o.pickup_delay_ms.map(Value::from)),
                (ATTEMPTS_MAX.key, o.attempts_max.map(Value::from)),
                ("dedup", o.dedup.map(Value::from)),
                (EWS_LATENCY_MS.key, o.ews_latency_ms.map(Value::from)),
                (SPOOL_CAPACITY.key, o.spool_capacity.map(Value::from)),
            ];
            for (key, value) in keys {
                if let Some(v) = value {
                    options.insert(key.into(), v);
                }
            }
            deployment["options"] = Value::Object(options);
        }
        deployment
    }

    /// The set-up: an `admin` op per generated command, in order. Sign-ins
    /// are the caller's.
    pub fn setup(&self) -> Vec<Op> {
        let sips = self.sips();
        self.setup
            .iter()
            .map(|c| c.resolve_with(self, &sips))
            .collect()
    }

    /// The users' display names, in deployment order.
    pub fn user_names(&self) -> Vec<String> {
        USER_NAMES
            .iter()
            .take(self.users.len())
            .map(|n| n.to_string())
            .collect()
    }

    /// The organisations' names, in deployment order.
    pub fn org_names(&self) -> Vec<String> {
        ORG_NAMES
            .iter()
            .take(self.org_count())
            .map(|n| n.to_string())
            .collect()
    }

    /// Each user's SIP address as the deployment loader has it, so that the
    /// default address is derived by the loader alone. Should the deployment
    /// not load (a bug the tests catch), the display names stand in.
    fn sips(&self) -> Vec<String> {
        match load_deployment(&self.deployment()) {
            Ok(s) => s.deployment.users.iter().map(|u| u.sip.clone()).collect(),
            Err(_) => self.user_names(),
        }
    }
}

impl GenCmdlet {
    /// The `admin` op that runs this command in one of `world`'s
    /// organisations, naming its sites, policies and users.
    pub fn resolve(&self, world: &GenWorld) -> Op {
        self.resolve_with(world, &world.sips())
    }

    /// Whether the shell rejects this command in every state: it was drawn
    /// with a fault (an unknown or misspelt cmdlet or parameter, a bad
    /// value or identity form, an identity that names nothing, or syntax
    /// outside the model). Otherwise it parses, and whether it is accepted
    /// depends on the organisation and on what ran before.
    pub fn always_rejected(&self) -> bool {
        self.fault.is_some()
    }

    fn shape(&self) -> &'static Shape {
        &SHAPES[usize::from(self.cmdlet) % SHAPES.len()]
    }

    fn resolve_with(&self, world: &GenWorld, sips: &[String]) -> Op {
        let n = world.org_count().max(1);
        let org = usize::from(self.org) % n;
        Op::Admin {
            org: self.spelling.org.apply(ORG_NAMES[org]),
            command: self.command(world, org, sips),
        }
    }

    /// The identity's text, quoted as drawn, naming something of `world`
    /// as seen from organisation `org`.
    fn identity_text(&self, world: &GenWorld, org: usize, sips: &[String]) -> String {
        let values = self.spelling.values;
        let name = usize::from(self.identity_name);
        let site = || {
            let sites = world.sites_of(org);
            // An organisation without sites names one anyway, which the
            // shell rejects as unknown (a meaningful draw, not a fault).
            let all: &[&str] = if sites.is_empty() { &SITE_NAMES } else { sites };
            all[name % all.len()]
        };
        let policy = POLICY_NAMES[name % POLICY_NAMES.len()];
        let form = usize::from(self.identity_form);
        let text = match self.shape().target {
            Target::ImConfiguration => match form % 2 {
                0 => "Global".to_string(),
                _ => format!("Site:{}", site()),
            },
            Target::ClientPolicy => match form % 4 {
                0 => "Global".to_string(),
                1 => format!("Site:{}", site()),
                2 => format!("Tag:{policy}"),
                _ => policy.to_string(),
            },
            Target::User => {
                let users = world.user_names();
                let u = name % users.len().max(1);
                let sip = sips.get(u).cloned().unwrap_or_default();
                match form % 3 {
                    0 => users.get(u).cloned().unwrap_or_default(),
                    1 => sip,
                    // The UPN form: the address without its `sip:` scheme
                    // (DEC-019).
                    _ => match sip.get(..4) {
                        Some(s) if s.eq_ignore_ascii_case("sip:") => sip[4..].to_string(),
                        _ => sip,
                    },
                }
            }
        };
        self.identity_quoting.apply(&values.apply(&text))
    }

    /// The command line.
    fn command(&self, world: &GenWorld, org: usize, sips: &[String]) -> String {
        let shape = self.shape();
        let sp = self.spelling;
        let param = |name: &str| format!("-{}", sp.parameters.apply(name));
        let value = |text: &str| sp.values.apply(text);
        let bind = |binding: Binding, name: &str, v: String, positional_ok: bool| match binding {
            Binding::Positional if positional_ok => vec![v],
            Binding::Colon => vec![format!("{}:{v}", param(name))],
            Binding::ColonSpace => vec![format!("{}:", param(name)), v],
            _ => vec![param(name), v],
        };

        // The identity, possibly replaced by a fault's.
        let identity_value = match self.fault {
            Some(Fault::BadIdentity(i)) => Some(bad_identity(shape, i)),
            Some(Fault::BadValue(i)) if shape.setting.is_none() && !force_checked(shape) => {
                // Get-* and Remove-CsImConfiguration have no value the
                // parser checks but their identity.
                (!shape.is_grant()).then(|| bad_identity(shape, i))
            }
            Some(Fault::UnknownIdentity(i)) => Some(unknown_identity(shape, i, world)),
            _ => None,
        };
        let omitted = self.identity_binding == Binding::Omitted
            && !shape.identity_required
            && identity_value.is_none();
        let identity_positional = self.identity_binding == Binding::Positional;
        let identity: Vec<String> = if omitted {
            Vec::new()
        } else {
            let v = identity_value.unwrap_or_else(|| self.identity_text(world, org, sips));
            bind(self.identity_binding, "Identity", v, true)
        };

        let mut others: Vec<String> = Vec::new();
        if let Some((setting, nullable)) = shape.setting {
            let choices: &[&str] = if nullable {
                &["", "$True", "$False", "$Null"]
            } else {
                &["", "$True", "$False"]
            };
            let v = match self.fault {
                Some(Fault::BadValue(i)) => {
                    let bad: Vec<&str> = BAD_BOOLEANS
                        .iter()
                        .copied()
                        .filter(|b| !(nullable && *b == "$Null"))
                        .collect();
                    bad[usize::from(i) % bad.len()].to_string()
                }
                _ => value(choices[usize::from(self.setting) % choices.len()]),
            };
            if !v.is_empty() {
                others.extend(bind(self.value_binding, setting, v, false));
            }
        }
        if shape.is_grant() {
            // `-PolicyName` is second in position, so it is positional only
            // after a positional identity.
            let positional_ok = identity_positional && !self.identity_last;
            let v = match self.fault {
                Some(Fault::BadValue(i)) => {
                    BAD_POLICY_NAMES[usize::from(i) % BAD_POLICY_NAMES.len()].to_string()
                }
                _ => match POLICY_NAMES.get(usize::from(self.policy) % (POLICY_NAMES.len() + 1)) {
                    Some(p) => self.identity_quoting.apply(&value(p)),
                    None => value("$Null"),
                },
            };
            others.extend(bind(self.value_binding, "PolicyName", v, positional_ok));
        }
        if shape.force {
            let bad_force = match self.fault {
                Some(Fault::BadValue(i)) if force_checked(shape) => {
                    Some(BAD_FORCES[usize::from(i) % BAD_FORCES.len()])
                }
                _ => None,
            };
            match (bad_force, self.force % 4) {
                (Some(bad), _) => others.push(format!("{}:{bad}", param("Force"))),
                (None, 0) => {}
                (None, 1) => others.push(param("Force")),
                (None, 2) => others.push(format!("{}:{}", param("Force"), value("$True"))),
                (None, _) => others.push(format!("{}:{}", param("Force"), value("$False"))),
            }
        }

        let mut words = vec![sp.cmdlet.apply(shape.name)];
        if self.identity_last {
            words.extend(others);
            words.extend(identity);
        } else {
            words.extend(identity);
            words.extend(others);
        }
        match self.fault {
            Some(Fault::UnknownCmdlet(i)) => {
                words[0] = sp
                    .cmdlet
                    .apply(UNKNOWN_CMDLETS[usize::from(i) % UNKNOWN_CMDLETS.len()]);
            }
            Some(Fault::MisspeltCmdlet(i)) => {
                words[0] = sp.cmdlet.apply(&misspell(shape.name, i));
            }
            Some(Fault::SplitCmdlet) => {
                let split = shape.name.replacen('-', " -", 1);
                words[0] = sp.cmdlet.apply(&split);
            }
            Some(Fault::UnknownParameter(i)) => words.extend(unknown_parameter(shape, i)),
            Some(Fault::MisspeltParameter(p, m)) => {
                let parameters = shape.parameters();
                let name = parameters[usize::from(p) % parameters.len()];
                words.push(param(&misspell_parameter(name, m)));
                if name != "Force" {
                    words.push(if name == "Identity" || name == "PolicyName" {
                        "Global".into()
                    } else {
                        value("$True")
                    });
                }
            }
            Some(Fault::Syntax(i)) => words.push(syntax_fault(i)),
            _ => {}
        }
        words.join(" ")
    }
}

/// `name` with one character dropped (`i` even) or doubled (`i` odd), at a
/// position drawn from `i`. Neither gives another cmdlet's name.
fn misspell(name: &str, i: u8) -> String {
    let chars: Vec<char> = name.chars().collect();
    let Some(at) = usize::from(i / 2).checked_rem(chars.len()) else {
        return String::new();
    };
    let mut out: String = chars[..at].iter().collect();
    if i % 2 == 1 {
        out.push(chars[at]);
        out.push(chars[at]);
    }
    out.extend(&chars[at + 1..]);
    out
}

/// A parameter name misspelt: a character dropped or doubled, or the name
/// abbreviated to a strict prefix, which DEC-019 rejects too.
fn misspell_parameter(name: &str, m: u8) -> String {
    let len = name.chars().count();
    match m % 3 {
        2 => name
            .chars()
            .take(1 + usize::from(m / 3) % len.saturating_sub(1).max(1))
            .collect(),
        k => misspell(name, (m / 3).wrapping_mul(2).wrapping_add(k)),
    }
}

/// Whether the parser checks the value of `-Force`: only on
/// Remove-CsClientPolicy, where it changes something (DEC-019). Elsewhere
/// `-Force:Yes` parses today, so a bad `-Force` is not a fault there.
fn force_checked(shape: &Shape) -> bool {
    shape.name == "Remove-CsClientPolicy"
}

/// An identity the parser rejects for this cmdlet.
fn bad_identity(shape: &Shape, i: u8) -> String {
    let i = usize::from(i);
    match shape.target {
        Target::User => BAD_USERS[i % BAD_USERS.len()].to_string(),
        Target::ImConfiguration | Target::ClientPolicy => {
            BAD_SCOPES[i % BAD_SCOPES.len()].to_string()
        }
    }
}

/// A well-formed identity that names nothing: a site no deployment has, a
/// policy no command creates, a per-user scope for an IM configuration
/// (which has none, DEC-010), or a user the world lacks. New-CsClientPolicy
/// gets sites only, since a new per-user policy of any name is created.
fn unknown_identity(shape: &Shape, i: u8, world: &GenWorld) -> String {
    let i = usize::from(i);
    match shape.target {
        Target::User => {
            let names = world.user_names();
            let name = names
                .get(i % names.len().max(1))
                .cloned()
                .unwrap_or_default();
            // A display name with a letter dropped: never another user's
            // name, and never a SIP address (it has no `@`).
            let position = (i / 3 % 128) as u8;
            let misspelt = misspell(&name, position * 2);
            let forms = [
                "\"Nobody Here\"".to_string(),
                "sip:nobody@nowhere.example".to_string(),
                format!("\"{misspelt}\""),
            ];
            forms[i % forms.len()].clone()
        }
        Target::ImConfiguration => nth_form(&[&UNKNOWN_SITES, &PER_USER_IM_SCOPES], i),
        Target::ClientPolicy if !shape.creates() => {
            nth_form(&[&UNKNOWN_SITES, &UNKNOWN_POLICIES], i)
        }
        Target::ClientPolicy => nth_form(&[&UNKNOWN_SITES], i),
    }
}

/// The `i`th of the forms of `lists` taken one after another, modulo how
/// many there are.
fn nth_form(lists: &[&[&str]], i: usize) -> String {
    let forms: Vec<&str> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    forms
        .get(i % forms.len().max(1))
        .map_or_else(String::new, |f| f.to_string())
}

/// A parameter (with its value) that the cmdlet does not have.
fn unknown_parameter(shape: &Shape, i: u8) -> Vec<String> {
    let other_setting = match shape.setting {
        Some(("EnableOfflineIm", _)) => "-EnableIMAutoArchiving",
        _ => "-EnableOfflineIm",
    };
    let words: &[&str] = match i % UNKNOWN_PARAMETERS {
        0 => &["-DisableSavingIM", "$True"],
        1 => &["-Filter", "\"tag:*\""],
        2 => &["-Instance", "Global"],
        3 if shape.setting.is_some() => &[other_setting, "$False"],
        // Get-* and Grant-CsClientPolicy do not list `-Force` (DEC-019).
        4 if !shape.force => &["-Force"],
        _ => &["-DisableSavingIM", "$False"],
    };
    words.iter().map(|w| w.to_string()).collect()
}

/// Words appended to a command that put it outside the modelled syntax:
/// each is rejected whatever came before it.
fn syntax_fault(i: u8) -> String {
    match i % SYNTAX_FAULTS {
        0 => "| Format-List",
        1 => "\"unterminated",
        // The second `-Identity` repeats the first, or the given one.
        2 => "-Identity Global -Identity Global",
        // A colon with nothing after it at the end, or a repeat.
        3 => "-Identity:",
        // More positional words than the cmdlet has positions.
        4 => "extra1 extra2 extra3",
        5 => "; Get-CsClientPolicy",
        6 => "{ Get-CsClientPolicy }",
        // A dash parted from its parameter name (DEC-027).
        _ => "- PolicyName OfflineIM",
    }
    .to_string()
}

fn fault_strategy() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (0..UNKNOWN_CMDLETS.len() as u8).prop_map(Fault::UnknownCmdlet),
        any::<u8>().prop_map(Fault::MisspeltCmdlet),
        Just(Fault::SplitCmdlet),
        (0..UNKNOWN_PARAMETERS).prop_map(Fault::UnknownParameter),
        (any::<u8>(), any::<u8>()).prop_map(|(p, m)| Fault::MisspeltParameter(p, m)),
        any::<u8>().prop_map(Fault::BadValue),
        any::<u8>().prop_map(Fault::BadIdentity),
        any::<u8>().prop_map(Fault::UnknownIdentity),
        (0..SYNTAX_FAULTS).prop_map(Fault::Syntax),
    ]
}

/// One Management Shell command of the nine cmdlets, in every Identity form
/// the shell accepts (Global, `Site:`, `Tag:` and bare names; display names,
/// SIP addresses with and without `sip:`), in any case, with `$True`,
/// `$False`, `$Null` and `-Force` where the cmdlet takes them, bound by
/// name, position or colon; and, about one time in four, written in a way
/// the shell rejects. The simplest is `Get-CsImConfiguration -Identity
/// Global` in the first organisation.
pub fn cmdlet_strategy() -> impl Strategy<Value = GenCmdlet> {
    let spelling = (
        select(Case::ALL.to_vec()),
        select(Case::ALL.to_vec()),
        select(Case::ALL.to_vec()),
        select(Case::ALL.to_vec()),
    )
        .prop_map(|(cmdlet, parameters, values, org)| Spelling {
            cmdlet,
            parameters,
            values,
            org,
        });
    let identity = (
        any::<u8>(),
        any::<u8>(),
        select(Quoting::ALL.to_vec()),
        select(Binding::ALL.to_vec()),
        any::<bool>(),
    );
    let values = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        select(Binding::ALL.to_vec()),
    );
    (
        any::<u8>(),
        0..SHAPES.len() as u8,
        identity,
        values,
        spelling,
        proptest::option::weighted(0.25, fault_strategy()),
    )
        .prop_map(
            |(org, cmdlet, identity, values, spelling, fault)| GenCmdlet {
                org,
                cmdlet,
                identity_form: identity.0,
                identity_name: identity.1,
                identity_quoting: identity.2,
                identity_binding: identity.3,
                identity_last: identity.4,
                setting: values.0,
                force: values.1,
                policy: values.2,
                value_binding: values.3,
                spelling,
                fault,
            },
        )
}

fn org_strategy() -> impl Strategy<Value = GenOrg> {
    (
        select(vec![Profile::Server, Profile::Online]),
        select(vec![
            None,
            Some(ServerVersion::Server2015Cu3),
            Some(ServerVersion::Server2015),
            Some(ServerVersion::Server2019),
        ]),
        0..=SITE_NAMES.len() as u8,
        select(vec![None, Some(true), Some(false)]),
    )
        .prop_map(|(profile, server_version, sites, ews_published)| GenOrg {
            profile,
            server_version,
            sites,
            ews_published,
        })
}

fn user_strategy() -> impl Strategy<Value = GenUser> {
    (
        any::<u8>(),
        proptest::option::of(any::<u8>()),
        select(vec![
            MailboxLocation::Online,
            MailboxLocation::OnPremises,
            MailboxLocation::None,
        ]),
        select(vec![Install::C2r, Install::Msi]),
        select(BuildClass::ALL.to_vec()),
        select(ReleaseClass::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(
            |(org, site, mailbox, install, build, released, explicit_sip)| GenUser {
                org,
                site,
                mailbox,
                install,
                build,
                released,
                explicit_sip,
            },
        )
}

/// Options within DEC-050's ranges (`RANGES`): each bound, and a few values
/// between that the cases care about (a small spool, a retry or two).
fn options_strategy() -> impl Strategy<Value = GenOptions> {
    use proptest::option::of;
    (
        of(select(vec![
            PICKUP_DELAY_MS.min,
            60_000,
            120_000,
            PICKUP_DELAY_MS.max,
        ])),
        of(ATTEMPTS_MAX.min..=ATTEMPTS_MAX.max),
        of(any::<bool>()),
        of(select(vec![
            EWS_LATENCY_MS.min,
            1,
            5_000,
            EWS_LATENCY_MS.max,
        ])),
        of(SPOOL_CAPACITY.min..=SPOOL_CAPACITY.min + 3),
    )
        .prop_map(
            |(pickup_delay_ms, attempts_max, dedup, ews_latency_ms, spool_capacity)| GenOptions {
                pickup_delay_ms,
                attempts_max,
                dedup,
                ews_latency_ms,
                spool_capacity,
            },
        )
}

/// Generated worlds: one to three Server or Online organisations, every
/// server version (`2015`, `2015-cu3`, `2019` and absent), sites or none,
/// `ews_published` true, false or absent, federation present or absent for
/// each pair; two to four users on either install, at, one below and one
/// above each build gate, released before, on or after the Drafts fix, with
/// every mailbox kind, on a site or not; options now and then (mostly the
/// defaults); and up to six set-up commands from `cmdlet_strategy`.
/// Every deployment is one `reset` accepts.
pub fn world_strategy() -> impl Strategy<Value = GenWorld> {
    (
        proptest::collection::vec(org_strategy(), 1..=ORG_NAMES.len()),
        proptest::collection::vec((any::<u8>(), any::<u8>()), 0..=FEDERATION_MAX),
        any::<bool>(),
        proptest::collection::vec(user_strategy(), 2..=USER_NAMES.len()),
        proptest::option::weighted(0.3, options_strategy()),
        proptest::collection::vec(cmdlet_strategy(), 0..=SETUP_MAX),
    )
        .prop_map(
            |(orgs, federation, federation_both_sides, users, options, setup)| GenWorld {
                orgs,
                federation,
                federation_both_sides,
                users,
                options,
                setup,
            },
        )
}

#[cfg(test)]
mod tests {
    // The module itself by its full path: tests/layout.rs reads a `super::`
    // in this file as naming `conformance`, which imports this module back.
    use crate::conformance::generate::*;
    use crate::conformance::protocol::{Answer, ErrorCode, call};
    use crate::conformance::reference::Reference;
    use crate::rules::cmdlets;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
    use std::cell::Cell;
    use std::collections::BTreeMap;

    /// Draws per statistical test.
    const DRAWS: u32 = 512;
    /// The bound on shrinking steps, as proptest's runner has one.
    const SHRINK_STEPS_MAX: usize = 100_000;

    fn runner(cases: u32) -> TestRunner {
        let config = Config {
            failure_persistence: None,
            ..Config::with_cases(cases)
        };
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    }

    fn draws<S: Strategy>(strategy: &S, n: u32) -> Vec<S::Value> {
        let mut r = runner(n);
        (0..n)
            .map(|_| match strategy.new_tree(&mut r) {
                Ok(tree) => tree.current(),
                Err(why) => panic!("the strategy rejected a draw: {why}"),
            })
            .collect()
    }

    fn is_cmdlet_rejection(answer: &Answer) -> bool {
        matches!(answer, Err(r) if r.code == ErrorCode::Cmdlet)
    }

    /// Whether the fault is caught when the line is parsed, rather than when
    /// the command is applied to the organisation's store.
    fn caught_by_parser(fault: Fault) -> bool {
        !matches!(fault, Fault::UnknownIdentity(_))
    }

    /// Every generated deployment is accepted by `reset`, and every set-up
    /// command is answered: well-formed ones `ok` or `cmdlet` (by the state
    /// they meet), faulty ones `cmdlet`, never `bad_request` or
    /// `unknown_name`. Both answers must occur, and often, so a grammar that
    /// only produced rejections (or only acceptances) fails here.
    #[test]
    fn every_world_loads_and_its_setup_is_answered_ok_or_cmdlet() {
        let accepted = Cell::new(0usize);
        let refused_by_state = Cell::new(0usize);
        let refused_faults = Cell::new(0usize);
        let result = runner(DRAWS).run(&world_strategy(), |world| {
            let mut reference = Reference::new();
            let deployment = world.deployment();
            let reset = call(
                &mut reference,
                &Op::Reset {
                    deployment: deployment.clone(),
                },
            );
            prop_assert!(reset.is_ok(), "reset answered {reset:?} for {deployment}");
            for (generated, op) in world.setup.iter().zip(world.setup()) {
                let answer = call(&mut reference, &op);
                match (generated.always_rejected(), &answer) {
                    (false, Ok(_)) => accepted.set(accepted.get() + 1),
                    (false, a) if is_cmdlet_rejection(a) => {
                        refused_by_state.set(refused_by_state.get() + 1)
                    }
                    (true, a) if is_cmdlet_rejection(a) => {
                        refused_faults.set(refused_faults.get() + 1)
                    }
                    _ => {
                        return Err(TestCaseError::fail(format!(
                            "{op:?} (drawn as {generated:?}) was answered {answer:?} in {deployment}"
                        )));
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        let (ok, state, faults) = (accepted.get(), refused_by_state.get(), refused_faults.get());
        eprintln!(
            "set-up commands over {DRAWS} worlds: {ok} accepted, {state} well-formed but refused by the state, {faults} faulty and refused"
        );
        let total = ok + state + faults;
        assert!(
            ok * 10 >= total,
            "fewer than a tenth of the set-up commands were accepted: {ok} of {total}"
        );
        assert!(state > 0, "no well-formed command was refused by its state");
        assert!(
            faults * 10 >= total,
            "fewer than a tenth of the set-up commands were faulty: {faults} of {total}"
        );
    }

    /// A command drawn without a fault parses; one with a fault the parser
    /// catches does not; and every faulty command is `cmdlet` from the
    /// reference. Every cmdlet and every kind of fault occurs.
    #[test]
    fn the_grammar_parses_exactly_its_well_formed_commands() {
        let worlds = draws(&world_strategy(), 4 * DRAWS);
        let commands = draws(&cmdlet_strategy(), 4 * DRAWS);
        let mut cmdlets_seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut faults_seen: BTreeMap<String, usize> = BTreeMap::new();
        for (world, generated) in worlds.iter().zip(&commands) {
            let op = generated.resolve(world);
            let Op::Admin { command, .. } = &op else {
                panic!("resolve gave {op:?}, expected an admin op");
            };
            *cmdlets_seen.entry(generated.shape().name).or_default() += 1;
            let parsed = cmdlets::parse(command);
            match generated.fault {
                None => {
                    if let Err(e) = &parsed {
                        panic!("the well-formed `{command}` ({generated:?}) does not parse: {e}");
                    }
                }
                Some(fault) => {
                    let kind = format!("{fault:?}");
                    let kind = kind.split('(').next().unwrap_or_default().to_string();
                    *faults_seen.entry(kind).or_default() += 1;
                    assert!(
                        !(caught_by_parser(fault) && parsed.is_ok()),
                        "the faulty `{command}` ({fault:?}) parses"
                    );
                    let mut reference = Reference::new();
                    let reset = call(
                        &mut reference,
                        &Op::Reset {
                            deployment: world.deployment(),
                        },
                    );
                    assert!(reset.is_ok(), "reset answered {reset:?}");
                    let answer = call(&mut reference, &op);
                    assert!(
                        is_cmdlet_rejection(&answer),
                        "the faulty `{command}` ({fault:?}) was answered {answer:?}"
                    );
                }
            }
        }
        eprintln!("cmdlets drawn: {cmdlets_seen:?}");
        eprintln!("faults drawn: {faults_seen:?}");
        assert_eq!(cmdlets_seen.len(), SHAPES.len(), "{cmdlets_seen:?}");
        assert_eq!(faults_seen.len(), 9, "{faults_seen:?}");
    }

    /// Over many draws, every value of every dimension the brief lists
    /// occurs in the deployments themselves (read back from the JSON).
    #[test]
    fn generated_worlds_cover_every_dimension() {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut count = |key: String| *seen.entry(key).or_default() += 1;
        for world in draws(&world_strategy(), DRAWS) {
            let d = world.deployment();
            let orgs = d["orgs"].as_array().cloned().unwrap_or_default();
            let users = d["users"].as_array().cloned().unwrap_or_default();
            count(format!("orgs={}", orgs.len()));
            count(format!("users={}", users.len()));
            for o in &orgs {
                let profile = o["profile"].as_str().unwrap_or("?");
                count(format!("profile={profile}"));
                if profile == "server" {
                    count(format!(
                        "server_version={}",
                        o.get("server_version")
                            .and_then(Value::as_str)
                            .unwrap_or("absent")
                    ));
                    count(format!(
                        "sites={}",
                        o.get("sites").and_then(Value::as_array).map_or(0, Vec::len)
                    ));
                }
                count(format!(
                    "ews_published={}",
                    o.get("ews_published")
                        .map_or("absent".into(), Value::to_string)
                ));
            }
            if orgs.len() >= 2 {
                let names: Vec<&str> = orgs.iter().filter_map(|o| o["name"].as_str()).collect();
                let loaded = load_deployment(&d).map(|s| s.deployment);
                let Ok(loaded) = loaded else {
                    panic!("the deployment {d} does not load");
                };
                let pairs = names.len() * (names.len() - 1) / 2;
                let federated = loaded.federation.len();
                count(format!("federated_pairs={}", federated.min(1)));
                count(format!("unfederated_pairs={}", (pairs - federated).min(1)));
            }
            for u in &users {
                count(format!("mailbox={}", u["mailbox"].as_str().unwrap_or("?")));
                count(format!("install={}", u["install"].as_str().unwrap_or("?")));
                count(format!("build={}", u["build"].as_str().unwrap_or("?")));
                count(format!(
                    "released={}",
                    u["released"].as_str().unwrap_or("?")
                ));
                count(format!("on_site={}", u.get("site").is_some()));
                count(format!("explicit_sip={}", u.get("sip").is_some()));
            }
            count(format!("options={}", d.get("options").is_some()));
            if let Some(options) = d.get("options").and_then(Value::as_object) {
                for (k, v) in options {
                    if k == "dedup" {
                        count(format!("dedup={v}"));
                    } else {
                        count(format!("option:{k}"));
                    }
                }
            }
            count(format!("setup={}", world.setup.len()));
        }
        eprintln!("dimensions over {DRAWS} worlds: {seen:#?}");
        let mut missing = Vec::new();
        let mut want = |key: &str| {
            if !seen.contains_key(key) {
                missing.push(key.to_string());
            }
        };
        for key in [
            "orgs=1",
            "orgs=2",
            "orgs=3",
            "users=2",
            "users=3",
            "users=4",
            "profile=server",
            "profile=online",
            "server_version=absent",
            "server_version=2015",
            "server_version=2015-cu3",
            "server_version=2019",
            "sites=0",
            "sites=1",
            "sites=2",
            "ews_published=absent",
            "ews_published=true",
            "ews_published=false",
            "federated_pairs=1",
            "unfederated_pairs=1",
            "mailbox=online",
            "mailbox=on-premises",
            "mailbox=none",
            "install=c2r",
            "install=msi",
            "build=16.0.6920.1000",
            "build=16.0.6920.999",
            "build=16.0.6920.1001",
            "build=16.0.6701.1000",
            "build=16.0.6701.999",
            "build=16.0.6701.1001",
            "released=2016-06-13",
            "released=2016-06-14",
            "released=2016-06-15",
            "on_site=true",
            "on_site=false",
            "explicit_sip=true",
            "explicit_sip=false",
            "options=true",
            "options=false",
            "dedup=false",
            "option:spool_capacity",
            "option:attempts_max",
            "option:pickup_delay_ms",
            "option:ews_latency_ms",
            "setup=0",
            "setup=6",
        ] {
            want(key);
        }
        assert!(missing.is_empty(), "never drawn: {missing:?}");
    }

    /// Draws until `fails` holds, then shrinks as proptest's runner does
    /// (simplify while it still fails, complicate when it passes) and
    /// returns the last failing value.
    fn shrink<S: Strategy>(strategy: &S, fails: impl Fn(&S::Value) -> bool) -> S::Value {
        let mut r = runner(1);
        let Some(mut tree) = (0..1000)
            .filter_map(|_| strategy.new_tree(&mut r).ok())
            .find(|t| fails(&t.current()))
        else {
            panic!("no draw in 1000 fails the predicate");
        };
        let mut last = tree.current();
        if tree.simplify() {
            for _ in 0..SHRINK_STEPS_MAX {
                let v = tree.current();
                if fails(&v) {
                    last = v;
                    if !tree.simplify() {
                        break;
                    }
                } else if !tree.complicate() {
                    break;
                }
            }
        }
        last
    }

    /// The simplest value of `world_strategy` is the minimal world, and a
    /// failure that needs one feature shrinks to the minimal world with just
    /// that feature.
    #[test]
    fn shrinking_ends_at_the_minimal_world() {
        let minimal = GenWorld::minimal().deployment();
        let user = |name: &str| {
            json!({ "name": name, "org": "contoso", "mailbox": "online", "install": "c2r",
                    "build": "16.0.6920.1000", "released": "2016-06-15" })
        };
        assert_eq!(
            minimal,
            json!({ "orgs": [{ "name": "contoso", "profile": "server" }],
                    "users": [user("Tony Smith"), user("Ken Myer")] })
        );

        // Everything fails: shrinking goes all the way down.
        let everything = shrink(&world_strategy(), |_| true);
        assert_eq!(everything.deployment(), minimal);
        assert!(everything.setup.is_empty(), "{everything:?}");

        // A federated pair: two organisations, else minimal.
        let federated = shrink(&world_strategy(), |w| {
            load_deployment(&w.deployment()).is_ok_and(|s| !s.deployment.federation.is_empty())
        });
        assert_eq!(
            federated.deployment(),
            json!({ "orgs": [{ "name": "contoso", "profile": "server", "federated_with": ["fabrikam"] },
                             { "name": "fabrikam", "profile": "server" }],
                    "users": [user("Tony Smith"), user("Ken Myer")] })
        );
        assert!(federated.setup.is_empty(), "{federated:?}");

        // An MSI install: one user on msi, else minimal.
        let msi = shrink(&world_strategy(), |w| {
            w.deployment()["users"]
                .as_array()
                .is_some_and(|us| us.iter().any(|u| u["install"] == "msi"))
        });
        let mut d = msi.deployment();
        let mut installs_msi = 0;
        for u in d["users"].as_array_mut().into_iter().flatten() {
            if u["install"] == "msi" {
                installs_msi += 1;
                u["install"] = "c2r".into();
            }
        }
        assert_eq!(installs_msi, 1, "{msi:?}");
        assert_eq!(d, minimal, "the msi world is not minimal otherwise");
        assert!(msi.setup.is_empty(), "{msi:?}");

        // A set-up that the shell rejects: one command, in the minimal world.
        let rejected = shrink(&world_strategy(), |w| {
            let mut reference = Reference::new();
            let reset = call(
                &mut reference,
                &Op::Reset {
                    deployment: w.deployment(),
                },
            );
            reset.is_ok()
                && w.setup()
                    .iter()
                    .any(|op| is_cmdlet_rejection(&call(&mut reference, op)))
        });
        assert_eq!(rejected.deployment(), minimal);
        assert_eq!(rejected.setup.len(), 1, "{rejected:?}");
    }

    /// The simplest command is `Get-CsImConfiguration -Identity Global` in
    /// the first organisation.
    #[test]
    fn the_simplest_command_gets_the_global_im_configuration() {
        let simplest = shrink(&cmdlet_strategy(), |_| true);
        assert_eq!(
            simplest.resolve(&GenWorld::minimal()),
            Op::Admin {
                org: "contoso".into(),
                command: "Get-CsImConfiguration -Identity Global".into()
            }
        );
    }

    /// Some drawn commands, as a reader checks the grammar by eye.
    #[test]
    fn misspellings_drop_or_double_one_character() {
        assert_eq!(misspell("Get-CsUser", 0), "et-CsUser");
        assert_eq!(misspell("Get-CsUser", 1), "GGet-CsUser");
        assert_eq!(misspell("Get-CsUser", 7), "Get--CsUser");
        assert_eq!(misspell("", 3), "");
        assert_eq!(misspell_parameter("Identity", 2), "I");
        assert_eq!(misspell_parameter("Identity", 3), "Ientity");
        assert_eq!(misspell_parameter("Identity", 4), "Iddentity");
    }
}
