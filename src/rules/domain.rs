//! The vocabulary of offline IM: organisations, users, clients, mailboxes,
//! presence, client builds, dates, message classes and folders.
//!
//! This module owns the *static* deployment (what an administrator installs
//! and never changes during a run) and the small value types every other
//! module speaks in. It holds no rules about routing or delivery; those live
//! in `dispatch`, `spooler` and `mailbox`.
//!
//! Invariants it keeps:
//! - Identifiers are dense indices (`UserId(0..n)`, `OrgId(0..m)`) into the
//!   deployment's vectors, so every lookup is a bounds-checked index and no
//!   collection is ever iterated in hash order.
//! - A `Deployment` is validated once when it is built (`Deployment::new`):
//!   user and organisation names are unique (case-insensitively, as the
//!   Management Shell compares them), every user's organisation and site
//!   exist, and federation is symmetric.
//!
//! What it deliberately does not do: it never reads files, never parses
//! TOML (that is `scenario`), and never changes after construction.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a user in `Deployment::users`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub u32);

/// Index of an organisation in `Deployment::orgs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrgId(pub u8);

/// A message's stable identity, assigned when the sender's client accepts
/// it. The same id travels in every EWS attempt, which is what lets the
/// mailbox deduplicate a resend after a crash (DEC-004, DEC-005).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u32);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// The two product profiles the sources describe (DEC-014).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Skype for Business Server, on premises, with the Management Shell
    /// `*-CsImConfiguration` cmdlets (OIM-006).
    Server,
    /// Skype for Business Online (seed 004): client policy only, and no
    /// archive copy in the sender's mailbox (OIM-015).
    Online,
}

/// Skype for Business Server versions, ordered by release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServerVersion {
    /// Server 2015 before Cumulative Update 3: the `*-CsImConfiguration`
    /// cmdlets do not exist yet (DEC-016).
    #[serde(rename = "2015")]
    Server2015,
    /// Server 2015 with CU3, where `EnableOfflineIM` is `$True` by default.
    #[serde(rename = "2015-cu3")]
    Server2015Cu3,
    /// Server 2019, to which the cmdlet reference also applies.
    #[serde(rename = "2019")]
    Server2019,
}

impl ServerVersion {
    /// Whether this version has the ImConfiguration cmdlets and the
    /// `EnableOfflineIM` switch (OIM-006, DEC-016).
    pub fn has_im_configuration(self) -> bool {
        self >= ServerVersion::Server2015Cu3
    }
}

/// Where a user's Exchange mailbox lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailboxLocation {
    /// Exchange Online.
    Online,
    /// Exchange on premises (OIM-003, OIM-014).
    OnPremises,
    /// No Exchange mailbox at all (DEC-007).
    None,
}

/// How the Skype for Business client was installed (OIM-004).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Install {
    /// Click-to-Run.
    C2r,
    /// A Windows Installer (`*.msi`) package.
    Msi,
}

/// A four-part Office build number such as `16.0.6701.1000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Build(pub [u32; 4]);

impl Build {
    /// The first build with offline IM (OIM-002).
    pub const OFFLINE_IM_MIN: Build = Build([16, 0, 6701, 1000]);
    /// The build required when the user's mailbox is on premises (OIM-003).
    pub const ON_PREMISES_MIN: Build = Build([16, 0, 6920, 1000]);

    /// Parses `a.b.c.d`: four parts separated by dots, each one or more ASCII
    /// digits with a value from 0 to 4294967295 (`u32::MAX`). Returns a
    /// description of what was expected on error.
    pub fn parse(text: &str) -> Result<Build, String> {
        let expected = |why: &str| {
            format!(
                "a build of four numbers from 0 to 4294967295 such as 16.0.6701.1000, found `{text}`{why}"
            )
        };
        let mut parts = [0u32; 4];
        let mut count = 0usize;
        for piece in text.split('.') {
            if count == 4 {
                return Err(expected(" (more than four parts)"));
            }
            // Digits only: `u32::from_str` would also take a leading `+`.
            let digits = !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit());
            parts[count] = piece
                .parse::<u32>()
                .ok()
                .filter(|_| digits)
                .ok_or_else(|| expected(""))?;
            count += 1;
        }
        if count != 4 {
            return Err(expected(""));
        }
        Ok(Build(parts))
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl Serialize for Build {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A calendar date; only ordering matters to the rules (OIM-014).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// The year, written with exactly four digits (`Date::parse` insists on
    /// `YYYY`).
    pub year: u16,
    /// The month, 1 to 12.
    pub month: u8,
    /// The day of the month, 1 to 31. `Date::parse` does not check it against
    /// the length of the month: only the order of dates matters to the rules,
    /// and it is total either way.
    pub day: u8,
}

impl Date {
    /// The date by which the Drafts-folder issue was fixed in all C2R
    /// channels (OIM-014: "fixed in all C2R channels as of 6/14/2016").
    pub const DRAFTS_FIX: Date = Date {
        year: 2016,
        month: 6,
        day: 14,
    };

    /// Parses an ISO date `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, String> {
        let expected = || format!("a date YYYY-MM-DD such as 2016-06-14, found `{text}`");
        let mut it = text.split('-');
        let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(expected());
        };
        // Digits only: `from_str` would also take a leading `+`.
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if y.len() != 4 || m.len() != 2 || d.len() != 2 || ![y, m, d].into_iter().all(digits) {
            return Err(expected());
        }
        let year: u16 = y.parse().map_err(|_| expected())?;
        let month: u8 = m.parse().map_err(|_| expected())?;
        let day: u8 = d.parse().map_err(|_| expected())?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(expected());
        }
        Ok(Date { year, month, day })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A user's installed Skype for Business client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Client {
    /// How the client was installed. An MSI install never writes offline
    /// messages (OIM-004).
    pub install: Install,
    /// The client's Office build. The gate compares it with
    /// `Build::OFFLINE_IM_MIN` (OIM-002) and, when the user's own mailbox is
    /// on premises, with `Build::ON_PREMISES_MIN` (OIM-003).
    pub build: Build,
    /// When this build was released; decides the Drafts-folder fault
    /// (OIM-014, DEC-013). Builds and dates are independent inputs: the
    /// sources give a build threshold and a date, never a mapping.
    pub released: Date,
}

/// The published presence states a signed-in user can set (DEC-001).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// Available. A send to this user goes live (DEC-001).
    Available,
    /// Busy. The user is signed in and reachable, so a send goes live
    /// (DEC-001).
    Busy,
    /// Away. The user is still signed in, so a send goes live, not offline:
    /// ONL frames offline IM as reaching contacts who are not signed in
    /// (DEC-001).
    Away,
    /// Be Right Back. Signed in, so a send goes live, as for Away (DEC-001).
    BeRightBack,
    /// Off Work. Signed in, so a send goes live, as for Away (DEC-001).
    OffWork,
    /// Appear Offline. The sender's client sees only the published presence,
    /// which is offline, so a send takes the offline route through the
    /// sender's History Spooler (DEC-001).
    AppearOffline,
    /// Do Not Disturb. A send becomes a missed message that the recipient's
    /// own client files into its own mailbox (OIM-017), or goes live when that
    /// client fails the gate (DEC-015).
    DoNotDisturb,
    /// Presenting. Routed as Do Not Disturb: a missed message from the
    /// recipient's own client (OIM-017), or live when that client fails the
    /// gate (DEC-015).
    Presenting,
}

impl Presence {
    /// Every presence state, in declaration order.
    pub const ALL: [Presence; 8] = [
        Presence::Available,
        Presence::Busy,
        Presence::Away,
        Presence::BeRightBack,
        Presence::OffWork,
        Presence::AppearOffline,
        Presence::DoNotDisturb,
        Presence::Presenting,
    ];

    /// The name used in scenario files and output.
    pub fn name(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::Busy => "busy",
            Presence::Away => "away",
            Presence::BeRightBack => "be-right-back",
            Presence::OffWork => "off-work",
            Presence::AppearOffline => "appear-offline",
            Presence::DoNotDisturb => "do-not-disturb",
            Presence::Presenting => "presenting",
        }
    }

    /// Parses a scenario name, case-insensitively.
    pub fn parse(text: &str) -> Option<Presence> {
        Presence::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text))
    }
}

/// Exchange message classes used by offline IM (OIM-009, OIM-010, DEC-012).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum MessageClass {
    /// `IM.Note.MissedConversation`: same organisation.
    #[serde(rename = "IM.Note.MissedConversation")]
    MissedConversation,
    /// `IPM.Note`: a plain email, for a federated organisation.
    #[serde(rename = "IPM.Note")]
    Note,
}

impl MessageClass {
    /// The exact `ItemClass` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageClass::MissedConversation => "IM.Note.MissedConversation",
            MessageClass::Note => "IPM.Note",
        }
    }
}

/// Mailbox folders the model tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Folder {
    /// The Inbox, where a federated item lands as a plain `IPM.Note` email
    /// (OIM-010, DEC-012).
    Inbox,
    /// Drafts, where the known issue of clients released before 2016-06-14
    /// with on-premises mailboxes leaves an unsent draft per attempt (OIM-014,
    /// DEC-013).
    Drafts,
    /// Sent Items. Offline IM never writes here (DEC-008, INV-009); the folder
    /// is modelled so that INV-009 and the `folder Sent Items` probe can see a
    /// write that must not happen.
    SentItems,
    /// Conversation History: a same-organisation item is listed here as well
    /// as in Missed Conversations (OIM-009), and a Server-profile sender's
    /// copy is saved here (DEC-008).
    ConversationHistory,
    /// Missed Conversations, where a same-organisation item is listed
    /// (OIM-009). Only delivered items listed here trigger the sign-in
    /// notification (DEC-021).
    MissedConversations,
}

impl Folder {
    /// Every folder, in the fixed order used for output.
    pub const ALL: [Folder; 5] = [
        Folder::Inbox,
        Folder::Drafts,
        Folder::SentItems,
        Folder::ConversationHistory,
        Folder::MissedConversations,
    ];

    /// The bit of this folder in a `FolderSet`.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The folder's name as Outlook shows it.
    pub fn display_name(self) -> &'static str {
        match self {
            Folder::Inbox => "Inbox",
            Folder::Drafts => "Drafts",
            Folder::SentItems => "Sent Items",
            Folder::ConversationHistory => "Conversation History",
            Folder::MissedConversations => "Missed Conversations",
        }
    }
}

/// The folders one item is listed in. An IM.Note.MissedConversation item is
/// one item shown in two folders (OIM-009), so membership is a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FolderSet(pub u8);

impl FolderSet {
    /// The set holding exactly `folders`. It is a `const fn` so that the fixed
    /// sets of `mailbox` (the sender's copy, the Drafts fault) can be
    /// constants.
    pub const fn of(folders: &[Folder]) -> FolderSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < folders.len() {
            bits |= folders[i].bit();
            i += 1;
        }
        FolderSet(bits)
    }

    /// Whether an item with this set is listed in `folder`.
    pub fn contains(self, folder: Folder) -> bool {
        self.0 & folder.bit() != 0
    }

    /// The folders of the set in the fixed output order of `Folder::ALL`,
    /// which is also the order they serialise in.
    pub fn iter(self) -> impl Iterator<Item = Folder> {
        Folder::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl Serialize for FolderSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// One organisation (tenant or on-premises deployment).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Org {
    /// The organisation's name, as scenario files, `org` keys and diagnostics
    /// spell it. Unique within the deployment, compared case-insensitively.
    pub name: String,
    /// Whether the organisation runs Skype for Business Server or Online
    /// (DEC-014). The profile decides whether the ImConfiguration cmdlets and
    /// sites exist and whether a sender keeps a copy (DEC-008).
    pub profile: Profile,
    /// `Some` for the Server profile only.
    pub server_version: Option<ServerVersion>,
    /// Site names, for `Site:` scopes (Server profile).
    pub sites: Vec<String>,
    /// Whether the organisation publishes EWS to its clients at all
    /// (OIM-005, DEC-017). Outages are dynamic and live in the world.
    pub ews_published: bool,
}

/// One user and their single client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct User {
    /// Active Directory display name, e.g. "Tony Smith".
    pub name: String,
    /// SIP address, e.g. "sip:tony@contoso.com".
    pub sip: String,
    /// The organisation the user belongs to: its admin store, its EWS and its
    /// profile apply to the user's client.
    pub org: OrgId,
    /// Index into the organisation's `sites`.
    pub site: Option<u8>,
    /// Where the user's own Exchange mailbox lives. As a writer, the user
    /// needs one (DEC-017), and an on-premises one raises the build threshold
    /// (OIM-003) and exposes old clients to the Drafts fault (OIM-014). As a
    /// recipient without one, messages to the user fail permanently at
    /// pickup (DEC-007).
    pub mailbox: MailboxLocation,
    /// The user's one installed client, whose install, build and release date
    /// the gate and the Drafts fault read.
    pub client: Client,
}

/// Tunables of the model that the sources leave open (see SPEC.md). Each
/// numeric one has its range and default in `RANGES` (DEC-050), which every
/// loader checks against; `dedup` is the one boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Options {
    /// The delay from acceptance to pickup (OIM-011), and between retries
    /// (DEC-003). Range: `PICKUP_DELAY_MS`.
    pub pickup_delay_ms: u64,
    /// How many EWS attempts a spool entry gets before it is kept as failed
    /// (DEC-003). Bounded, as every loop must be. Range: `ATTEMPTS_MAX`.
    pub attempts_max: u8,
    /// Whether the mailbox deduplicates by message id (DEC-004). Turning it
    /// off exposes the duplicate after a crash. Default `true`.
    pub dedup: bool,
    /// How long an EWS call takes each way: Exchange processes a request
    /// this long after it is sent, and the client reads the response this
    /// long after that. Zero in the model checker; scenarios set it to place
    /// a crash during the call (DEC-005). Range: `EWS_LATENCY_MS`.
    pub ews_latency_ms: u64,
    /// The most entries one History Spooler holds; sends beyond it are
    /// refused with a reason rather than silently dropped (DEC-018). Range:
    /// `SPOOL_CAPACITY`.
    pub spool_capacity: u16,
}

impl Default for Options {
    fn default() -> Self {
        DEFAULT_OPTIONS
    }
}

/// The defaults of `RANGES`, evaluated at compile time (a row without a
/// default fails the build here, not at run time).
const DEFAULT_OPTIONS: Options = Options {
    pickup_delay_ms: PICKUP_DELAY_MS.default_value(),
    attempts_max: ATTEMPTS_MAX.default_value() as u8,
    dedup: true,
    ews_latency_ms: EWS_LATENCY_MS.default_value(),
    spool_capacity: SPOOL_CAPACITY.default_value() as u16,
};

// The narrow fields hold every value their range allows, so the loaders'
// `as` conversions after a range check never truncate.
const _: () = assert!(ATTEMPTS_MAX.max <= u8::MAX as u64);
const _: () = assert!(SPOOL_CAPACITY.max <= u16::MAX as u64);

/// The allowed values of one integer key (DEC-050): an option of
/// `[deployment.options]`, a scenario time, or the protocol's `to_ms`.
/// `RANGES` is the one table of them; every loader checks against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRange {
    /// The key as files and requests spell it.
    pub key: &'static str,
    /// Where the key is written: `deployment.options`, `timeline` (each
    /// entry), `scenario` (the top level of a scenario file) or `advance`
    /// (the protocol op).
    pub place: &'static str,
    /// The least allowed value.
    pub min: u64,
    /// The greatest allowed value.
    pub max: u64,
    /// The value when the key is absent; `None` when the key is required or
    /// its default is not a constant (`end_ms` defaults to the last timeline
    /// time).
    pub default: Option<u64>,
    /// The unit, for messages: `ms`, `attempts` or `entries`.
    pub unit: &'static str,
}

/// The latest virtual time any loader accepts, in ms: 10^15 ms, about
/// 31,700 years (DEC-050). With every delay at most an hour, each time the
/// rule book computes stays below 2^53 - 1, so it cannot overflow a `u64`
/// and every JSON reader holds it exactly.
pub const TIME_MS_MAX: u64 = 1_000_000_000_000_000;

/// `pickup_delay_ms`: 1 ms to one hour, default two minutes (OIM-011).
pub const PICKUP_DELAY_MS: ValueRange = ValueRange {
    key: "pickup_delay_ms",
    place: "deployment.options",
    min: 1,
    max: 3_600_000,
    default: Some(120_000),
    unit: "ms",
};
/// `attempts_max`: 1 to 16, default 3 (DEC-003).
pub const ATTEMPTS_MAX: ValueRange = ValueRange {
    key: "attempts_max",
    place: "deployment.options",
    min: 1,
    max: 16,
    default: Some(3),
    unit: "attempts",
};
/// `ews_latency_ms`: 0 to one minute, default 0 (DEC-024, DEC-029). The
/// `[check]` section's and the simulator's `ews_latency_ms` use it too.
pub const EWS_LATENCY_MS: ValueRange = ValueRange {
    key: "ews_latency_ms",
    place: "deployment.options",
    min: 0,
    max: 60_000,
    default: Some(0),
    unit: "ms",
};
/// `spool_capacity`: 1 to 65,535, default 64 (DEC-018).
pub const SPOOL_CAPACITY: ValueRange = ValueRange {
    key: "spool_capacity",
    place: "deployment.options",
    min: 1,
    max: 65_535,
    default: Some(64),
    unit: "entries",
};
/// A timeline entry's `at_ms`: 0 to `TIME_MS_MAX`, required.
pub const AT_MS: ValueRange = ValueRange {
    key: "at_ms",
    place: "timeline",
    min: 0,
    max: TIME_MS_MAX,
    default: None,
    unit: "ms",
};
/// A scenario's `end_ms`: 0 to `TIME_MS_MAX`; absent, the last timeline
/// time.
pub const END_MS: ValueRange = ValueRange {
    key: "end_ms",
    place: "scenario",
    min: 0,
    max: TIME_MS_MAX,
    default: None,
    unit: "ms",
};
/// The protocol's `advance {to_ms}`: 0 to `TIME_MS_MAX`, required (CONF-004).
pub const TO_MS: ValueRange = ValueRange {
    key: "to_ms",
    place: "advance",
    min: 0,
    max: TIME_MS_MAX,
    default: None,
    unit: "ms",
};

/// Every integer key with its range (DEC-050), the one table that the
/// scenario loader, the conformance reference (`reset` and `advance`) and
/// the simulator's config check against. SPEC.md prints the same table.
pub const RANGES: [ValueRange; 7] = [
    PICKUP_DELAY_MS,
    ATTEMPTS_MAX,
    EWS_LATENCY_MS,
    SPOOL_CAPACITY,
    AT_MS,
    END_MS,
    TO_MS,
];

impl ValueRange {
    /// Checks `value` against the range, naming the key as `self.key`.
    pub fn check(&self, value: i128) -> Result<u64, RangeError> {
        self.check_as(self.key, value)
    }

    /// Checks `value` against the range, naming the key as `key` (for a
    /// loader that spells it with a prefix, such as the simulator's
    /// `deployment.ews_latency_ms`).
    pub fn check_as(&self, key: &str, value: i128) -> Result<u64, RangeError> {
        match u64::try_from(value) {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => Err(RangeError {
                key: key.to_string(),
                found: value,
                min: self.min,
                max: self.max,
                unit: self.unit,
            }),
        }
    }

    /// The default, at compile time; a row without one fails the build.
    const fn default_value(&self) -> u64 {
        match self.default {
            Some(v) => v,
            None => panic!("this range has no default"),
        }
    }
}

/// A value outside its `ValueRange`: the key, the value found and the range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("found {key} = {found}, expected {min} to {max} {unit}")]
pub struct RangeError {
    /// The key as the loader spells it.
    pub key: String,
    /// The value found, as written (it may be negative, or beyond `u64`).
    pub found: i128,
    /// The least allowed value.
    pub min: u64,
    /// The greatest allowed value.
    pub max: u64,
    /// The unit of the range.
    pub unit: &'static str,
}

/// Errors found while assembling a deployment. Each names the index of the
/// offending entry, so that the scenario loader can point at its place in
/// the file; this is the one place these rules are checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    /// Two organisations have the same name, compared case-insensitively.
    #[error("found the duplicate organisation name `{name}`, expected unique names")]
    DuplicateOrg {
        /// The index in the organisation list of the later of the two.
        index: usize,
        /// The name as the later organisation spells it.
        name: String,
    },
    /// One organisation lists the same site twice, compared
    /// case-insensitively.
    #[error("found the duplicate site `{name}`, expected unique site names")]
    DuplicateSite {
        /// The index of the organisation in the organisation list.
        org: usize,
        /// The index of the second occurrence in that organisation's `sites`.
        index: usize,
        /// The site name as its second occurrence spells it.
        name: String,
    },
    /// Two users have the same display name or the same SIP address, compared
    /// case-insensitively.
    #[error(
        "found the duplicate user `{name}` (clashes with `{clashes_with}`), expected unique display names and SIP addresses"
    )]
    DuplicateUser {
        /// The index in the user list of the later of the two users.
        index: usize,
        /// The display name of the later user.
        name: String,
        /// The display name of the earlier user it clashes with.
        clashes_with: String,
    },
    /// A federation entry pairs an organisation with itself.
    #[error("found an organisation federated with itself, expected another organisation")]
    SelfFederation {
        /// The index of the entry in the federation list given to
        /// `Deployment::new` (the scenario loader maps it back to the
        /// `federated_with` entry in the file).
        index: usize,
    },
    /// The deployment has more organisations (`ORGS_MAX`) or users
    /// (`USERS_MAX`) than the model allows.
    #[error("found {found} {what}, expected at most {max}")]
    TooMany {
        /// What there are too many of: `organisations` or `users`.
        what: &'static str,
        /// How many the deployment has.
        found: usize,
        /// The most it may have.
        max: usize,
    },
}

/// The static deployment: organisations, federation and users.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Deployment {
    /// The organisations, in the order given to `Deployment::new`:
    /// `OrgId(i)` is `orgs[i]`.
    pub orgs: Vec<Org>,
    /// Unordered pairs `(a, b)` with `a < b`, sorted.
    pub federation: Vec<(OrgId, OrgId)>,
    /// The users, in the order given to `Deployment::new`: `UserId(i)` is
    /// `users[i]`.
    pub users: Vec<User>,
    /// The tunables the sources leave open, shared by every user and
    /// organisation.
    pub options: Options,
}

/// The largest deployment: organisation ids are `u8`; users are bounded
/// well below `u32` so that a deployment file cannot exhaust memory.
pub const ORGS_MAX: usize = u8::MAX as usize;
/// The most users a deployment may have (`SimConfig::validate` uses the same
/// bound for `--users`). It is far below `u32::MAX` so that a deployment file
/// cannot exhaust memory.
pub const USERS_MAX: usize = 1_000_000;

impl Deployment {
    /// Builds and validates a deployment.
    pub fn new(
        orgs: Vec<Org>,
        federation: Vec<(OrgId, OrgId)>,
        users: Vec<User>,
        options: Options,
    ) -> Result<Deployment, DeploymentError> {
        if orgs.len() > ORGS_MAX {
            return Err(DeploymentError::TooMany {
                what: "organisations",
                found: orgs.len(),
                max: ORGS_MAX,
            });
        }
        if users.len() > USERS_MAX {
            return Err(DeploymentError::TooMany {
                what: "users",
                found: users.len(),
                max: USERS_MAX,
            });
        }
        validate_orgs(&orgs)?;
        // Names and SIP addresses are unique case-insensitively; an ordered
        // map of lower-cased keys finds the first clash in O(n log n), which
        // matters for the simulator's hundred thousand users.
        let mut seen: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for (i, user) in users.iter().enumerate() {
            for key in [
                format!("n:{}", user.name.to_ascii_lowercase()),
                format!("s:{}", user.sip.to_ascii_lowercase()),
            ] {
                if let Some(prev) = seen.insert(key, i).filter(|prev| *prev != i) {
                    return Err(DeploymentError::DuplicateUser {
                        index: i,
                        name: user.name.clone(),
                        clashes_with: users[prev].name.clone(),
                    });
                }
            }
        }
        let mut pairs: Vec<(OrgId, OrgId)> = Vec::with_capacity(federation.len());
        for (i, (a, b)) in federation.into_iter().enumerate() {
            if a == b {
                return Err(DeploymentError::SelfFederation { index: i });
            }
            pairs.push((a.min(b), a.max(b)));
        }
        pairs.sort();
        pairs.dedup();
        Ok(Deployment {
            orgs,
            federation: pairs,
            users,
            options,
        })
    }

    /// The user with id `id`. Ids are dense indices made by this deployment,
    /// so an id from another one panics or names the wrong user.
    pub fn user(&self, id: UserId) -> &User {
        &self.users[id.0 as usize]
    }

    /// The organisation with id `id`. Panics on an id that is not from this
    /// deployment.
    pub fn org(&self, id: OrgId) -> &Org {
        &self.orgs[id.0 as usize]
    }

    /// The organisation that `user` belongs to.
    pub fn org_of(&self, user: UserId) -> &Org {
        self.org(self.user(user).org)
    }

    /// Every user id, in index order.
    pub fn user_ids(&self) -> impl Iterator<Item = UserId> + '_ {
        (0..self.users.len()).map(|i| UserId(i as u32))
    }

    /// Every organisation id, in index order.
    pub fn org_ids(&self) -> impl Iterator<Item = OrgId> + '_ {
        (0..self.orgs.len()).map(|i| OrgId(i as u8))
    }

    /// Whether organisations `a` and `b` are federated, in either order. An
    /// organisation is never federated with itself: a send within one
    /// organisation needs no federation (DEC-002).
    pub fn federated(&self, a: OrgId, b: OrgId) -> bool {
        self.federation.contains(&(a.min(b), a.max(b)))
    }

    /// Finds a user by display name or SIP address (with or without the
    /// `sip:` prefix, itself in any case), ASCII case-insensitively, as
    /// `Grant-CsClientPolicy -Identity` accepts them.
    pub fn find_user(&self, identity: &str) -> Option<UserId> {
        // The `sip:` scheme is matched like every other name (DEC-035):
        // case-insensitively in ASCII, so `Sip:` is a prefix too.
        let bare = |s: &str| match s.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("sip:") => s[4..].to_string(),
            _ => s.to_string(),
        };
        let wanted = bare(identity);
        self.users
            .iter()
            .position(|u| {
                u.name.eq_ignore_ascii_case(identity) || bare(&u.sip).eq_ignore_ascii_case(&wanted)
            })
            .map(|i| UserId(i as u32))
    }

    /// Finds an organisation by name, case-insensitively, as scenario `org`
    /// keys and the protocol's `org` fields name it.
    pub fn find_org(&self, name: &str) -> Option<OrgId> {
        self.orgs
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(name))
            .map(|i| OrgId(i as u8))
    }

    /// Comma-separated user names, for "expected one of" messages.
    pub fn user_names(&self) -> String {
        join_names(self.users.iter().map(|u| u.name.as_str()))
    }

    /// Comma-separated organisation names, for "expected one of" messages.
    pub fn org_names(&self) -> String {
        join_names(self.orgs.iter().map(|o| o.name.as_str()))
    }
}

/// Checks organisation names and each organisation's site names for
/// uniqueness (case-insensitively). `Deployment::new` calls it; the scenario
/// loader calls it before resolving names, so a duplicate is reported as
/// such rather than as a failed lookup.
pub fn validate_orgs(orgs: &[Org]) -> Result<(), DeploymentError> {
    for (i, org) in orgs.iter().enumerate() {
        if orgs[..i]
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&org.name))
        {
            return Err(DeploymentError::DuplicateOrg {
                index: i,
                name: org.name.clone(),
            });
        }
        for (j, site) in org.sites.iter().enumerate() {
            if org.sites[..j].iter().any(|x| x.eq_ignore_ascii_case(site)) {
                return Err(DeploymentError::DuplicateSite {
                    org: i,
                    index: j,
                    name: site.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Joins names as `a`, `b`, `c` for diagnostics.
pub fn join_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if quoted.is_empty() {
        "(none)".to_string()
    } else {
        quoted.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_orders_numerically_and_rejects_garbage() {
        let a = Build::parse("16.0.6701.1000").unwrap();
        let b = Build::parse("16.0.10000.1").unwrap();
        assert!(b > a, "numeric, not lexical, order");
        assert!(Build::parse("16.0.6701").is_err());
        assert!(Build::parse("16.0.6701.1000.1").is_err());
        assert!(Build::parse("16.x.6701.1000").is_err());
        assert_eq!(a.to_string(), "16.0.6701.1000");
    }

    #[test]
    fn date_parse_and_order() {
        let fix = Date::parse("2016-06-14").unwrap();
        assert_eq!(fix, Date::DRAFTS_FIX);
        assert!(Date::parse("2016-06-13").unwrap() < fix);
        assert!(Date::parse("2016-6-14").is_err());
        assert!(Date::parse("2016-13-01").is_err());
    }

    #[test]
    fn folder_set_membership() {
        let s = FolderSet::of(&[Folder::MissedConversations, Folder::ConversationHistory]);
        assert!(s.contains(Folder::MissedConversations));
        assert!(!s.contains(Folder::Inbox));
        assert_eq!(s.iter().count(), 2);
    }
}
