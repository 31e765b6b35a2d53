//! The route decision for one IM: live, offline through the sender's
//! History Spooler, a missed message filed by the recipient's own client, or
//! unavailable with a reason.
//!
//! This module owns two rules, each written exactly once:
//! - `gate`: whether a given client may write offline messages through EWS
//!   (install, build, on-premises build, own mailbox, EWS published, client
//!   policy, server switch). It is applied to whichever client writes: the
//!   sender's for the offline route, the recipient's for the missed-message
//!   route (DEC-001, DEC-015).
//! - `decide`: the route, from presence, sign-in and federation.
//!
//! Invariants it keeps:
//! - `decide` is a pure function of a `Copy` fact struct; it allocates
//!   nothing and reads nothing else, so it can be benchmarked and called from
//!   every driver.
//! - Every non-delivering outcome carries a `Unavailable` reason, and every
//!   reason names the requirement or decision it comes from (`source`).
//!
//! What it deliberately does not do: it does not touch the spooler or the
//! mailbox; `world` applies the decision.

use crate::rules::domain::{Build, Install, MailboxLocation, Presence};
use crate::rules::policy::SwitchVerdict;
use serde::Serialize;

/// Why an IM could not be sent, or why a client may not write offline
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unavailable {
    /// The sender and the recipient are the same user.
    SelfAddressed,
    /// The sender is not signed in, so there is no client to send from.
    SenderSignedOut,
    /// The two organisations are different and not federated (DEC-002).
    NotFederated,
    /// The client was installed from an MSI package (OIM-004).
    MsiInstall,
    /// A C2R build below 16.0.6701.1000 (OIM-002, OIM-004).
    BuildTooOld,
    /// An on-premises mailbox with a build below 16.0.6920.1000 (OIM-003).
    OnPremisesBuildTooOld,
    /// The writing user has no mailbox to send through (DEC-017).
    NoOwnMailbox,
    /// The organisation publishes no EWS to its clients (OIM-005).
    EwsNotPublished,
    /// `EnableIMAutoArchiving` is `$False` for the writer (OIM-007).
    AutoArchivingDisabled,
    /// `EnableOfflineIM` is `$False` for the writer (OIM-006).
    OfflineImDisabled,
    /// The server predates CU3 (DEC-016).
    ServerTooOld,
    /// The writer's History Spooler is at capacity (DEC-018).
    SpoolerFull,
}

impl Unavailable {
    /// The requirement or decision behind the reason.
    pub fn source(self) -> &'static str {
        match self {
            Unavailable::SelfAddressed => "DEC-002",
            Unavailable::SenderSignedOut => "DEC-001",
            Unavailable::NotFederated => "DEC-002",
            Unavailable::MsiInstall => "OIM-004",
            Unavailable::BuildTooOld => "OIM-002",
            Unavailable::OnPremisesBuildTooOld => "OIM-003",
            Unavailable::NoOwnMailbox => "DEC-017",
            Unavailable::EwsNotPublished => "OIM-005",
            Unavailable::AutoArchivingDisabled => "OIM-007",
            Unavailable::OfflineImDisabled => "OIM-006",
            Unavailable::ServerTooOld => "DEC-016",
            Unavailable::SpoolerFull => "DEC-018",
        }
    }

    /// For a refusal that compares a build with a threshold, what was found
    /// and what is required, in a sentence for people (OIM-002, OIM-003):
    /// `build` is the writing client's. `None` for every other reason.
    pub fn detail(self, build: Build) -> Option<String> {
        match self {
            Unavailable::BuildTooOld => Some(format!(
                "the client is build {build}, and offline IM needs {} or later",
                Build::OFFLINE_IM_MIN
            )),
            Unavailable::OnPremisesBuildTooOld => Some(format!(
                "the client is build {build}, and with an on-premises mailbox offline IM needs {} or later",
                Build::ON_PREMISES_MIN
            )),
            _ => None,
        }
    }

    /// The kebab-case name used in output.
    pub fn name(self) -> &'static str {
        match self {
            Unavailable::SelfAddressed => "self-addressed",
            Unavailable::SenderSignedOut => "sender-signed-out",
            Unavailable::NotFederated => "not-federated",
            Unavailable::MsiInstall => "msi-install",
            Unavailable::BuildTooOld => "build-too-old",
            Unavailable::OnPremisesBuildTooOld => "on-premises-build-too-old",
            Unavailable::NoOwnMailbox => "no-own-mailbox",
            Unavailable::EwsNotPublished => "ews-not-published",
            Unavailable::AutoArchivingDisabled => "auto-archiving-disabled",
            Unavailable::OfflineImDisabled => "offline-im-disabled",
            Unavailable::ServerTooOld => "server-too-old",
            Unavailable::SpoolerFull => "spooler-full",
        }
    }
}

/// The route an IM takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "route", content = "reason")]
pub enum Route {
    /// Delivered to the recipient's running client as an ordinary IM.
    Live,
    /// Accepted into the sender's History Spooler for EWS delivery.
    Offline,
    /// Delivered to a Do Not Disturb or Presenting recipient's client, which
    /// files a missed message into its own mailbox (OIM-017).
    MissedMessage,
    /// Not sent.
    Unavailable(Unavailable),
}

impl Route {
    /// The kebab-case name used in traces, reports and the protocol's `route`
    /// field. Every unavailable route is `unavailable`; its reason is reported
    /// beside it.
    pub fn name(self) -> &'static str {
        match self {
            Route::Live => "live",
            Route::Offline => "offline",
            Route::MissedMessage => "missed-message",
            Route::Unavailable(_) => "unavailable",
        }
    }

    /// Whether this route puts an entry into a History Spooler.
    pub fn spools(self) -> bool {
        matches!(self, Route::Offline | Route::MissedMessage)
    }
}

/// Everything the gate reads about one writing client. All fields are
/// plain values so the gate is a pure function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WriterFacts {
    /// How the writing client was installed; an MSI install is refused
    /// (OIM-004).
    pub install: Install,
    /// The writing client's build, compared with the thresholds of OIM-002 and
    /// OIM-003.
    pub build: Build,
    /// Where the writer's own mailbox lives: with none there is nothing to
    /// send through (DEC-017), and on premises the build threshold is higher
    /// (OIM-003).
    pub mailbox: MailboxLocation,
    /// Whether the writer's organisation publishes EWS to its clients at all
    /// (OIM-005, DEC-017). An outage does not clear it: outages are retried,
    /// not refused (DEC-003).
    pub ews_published: bool,
    /// The client's provisioned `EnableIMAutoArchiving` (DEC-009).
    pub auto_archiving: bool,
    /// The client's provisioned server switch (DEC-009).
    pub switch: SwitchVerdict,
    /// Whether the writer's History Spooler already holds
    /// `Options::spool_capacity` entries of any status, failed ones included,
    /// so that a new one is refused (DEC-018).
    pub spool_full: bool,
}

/// Whether a client may write offline messages. The conditions are checked
/// in the fixed order of DEC-033, and the first failing one is reported.
pub fn gate(w: &WriterFacts) -> Result<(), Unavailable> {
    if w.install == Install::Msi {
        return Err(Unavailable::MsiInstall);
    }
    if w.build < Build::OFFLINE_IM_MIN {
        return Err(Unavailable::BuildTooOld);
    }
    if w.mailbox == MailboxLocation::OnPremises && w.build < Build::ON_PREMISES_MIN {
        return Err(Unavailable::OnPremisesBuildTooOld);
    }
    if w.mailbox == MailboxLocation::None {
        return Err(Unavailable::NoOwnMailbox);
    }
    if !w.ews_published {
        return Err(Unavailable::EwsNotPublished);
    }
    match w.switch {
        SwitchVerdict::On => {}
        SwitchVerdict::Off => return Err(Unavailable::OfflineImDisabled),
        SwitchVerdict::ServerTooOld => return Err(Unavailable::ServerTooOld),
    }
    if !w.auto_archiving {
        return Err(Unavailable::AutoArchivingDisabled);
    }
    if w.spool_full {
        return Err(Unavailable::SpoolerFull);
    }
    Ok(())
}

/// What the recipient's side looks like to the sender's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientState {
    /// Signed out, or the client is not running.
    SignedOut,
    /// Signed in on a running client, with this published presence.
    SignedIn(Presence),
}

/// The facts one route decision reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Facts {
    /// Whether the sender and the recipient are the same user; such a send is
    /// unavailable (DEC-002).
    pub self_addressed: bool,
    /// Whether the sender's client is running and signed in. Without that
    /// there is no client to send from (DEC-001).
    pub sender_signed_in: bool,
    /// Whether the sender and the recipient belong to the same organisation.
    /// A send within one organisation needs no federation (DEC-002).
    pub same_org: bool,
    /// Whether the two organisations are federated. Read only when they
    /// differ: a send between organisations that are not federated is
    /// unavailable (DEC-002).
    pub federated: bool,
    /// The recipient as the sender's client sees it: signed out, or signed in
    /// with a published presence (DEC-001).
    pub recipient: RecipientState,
    /// The sender's client as a writer (for the offline route).
    pub sender: WriterFacts,
    /// The recipient's client as a writer (for the missed-message route).
    pub recipient_writer: WriterFacts,
}

/// The decision and, when the preferred route was not taken, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// The route the IM takes. For `Route::Unavailable` it carries the reason
    /// nothing was sent.
    pub route: Route,
    /// For `Live` after a failed missed-message gate: why the recipient's
    /// client could not file the missed message (DEC-015).
    pub fallback: Option<Unavailable>,
}

/// Decides the route of one IM (DEC-001, DEC-002, OIM-017).
#[inline]
pub fn decide(f: &Facts) -> Decision {
    let plain = |route| Decision {
        route,
        fallback: None,
    };
    if f.self_addressed {
        return plain(Route::Unavailable(Unavailable::SelfAddressed));
    }
    if !f.sender_signed_in {
        return plain(Route::Unavailable(Unavailable::SenderSignedOut));
    }
    if !f.same_org && !f.federated {
        return plain(Route::Unavailable(Unavailable::NotFederated));
    }
    match f.recipient {
        RecipientState::SignedIn(
            Presence::Available
            | Presence::Busy
            | Presence::Away
            | Presence::BeRightBack
            | Presence::OffWork,
        ) => plain(Route::Live),
        RecipientState::SignedIn(Presence::DoNotDisturb | Presence::Presenting) => {
            match gate(&f.recipient_writer) {
                Ok(()) => plain(Route::MissedMessage),
                Err(why) => Decision {
                    route: Route::Live,
                    fallback: Some(why),
                },
            }
        }
        RecipientState::SignedIn(Presence::AppearOffline) | RecipientState::SignedOut => {
            match gate(&f.sender) {
                Ok(()) => plain(Route::Offline),
                Err(why) => plain(Route::Unavailable(why)),
            }
        }
    }
}

/// A deterministic mixed batch: each presence and signed out, crossed with
/// a passing and four failing writer gates. The benchmarks and the
/// allocation test share it.
pub fn mixed_batch() -> Vec<Facts> {
    let good = WriterFacts {
        install: crate::rules::domain::Install::C2r,
        build: crate::rules::domain::Build::ON_PREMISES_MIN,
        mailbox: crate::rules::domain::MailboxLocation::OnPremises,
        ews_published: true,
        auto_archiving: true,
        switch: crate::rules::policy::SwitchVerdict::On,
        spool_full: false,
    };
    let writers = [
        good,
        WriterFacts {
            install: crate::rules::domain::Install::Msi,
            ..good
        },
        WriterFacts {
            build: crate::rules::domain::Build::OFFLINE_IM_MIN,
            ..good
        },
        WriterFacts {
            auto_archiving: false,
            ..good
        },
        WriterFacts {
            switch: crate::rules::policy::SwitchVerdict::Off,
            ..good
        },
    ];
    let mut recipients: Vec<RecipientState> = crate::rules::domain::Presence::ALL
        .iter()
        .map(|p| RecipientState::SignedIn(*p))
        .collect();
    recipients.push(RecipientState::SignedOut);
    let mut out = Vec::new();
    for (i, w) in writers.iter().enumerate() {
        for (j, r) in recipients.iter().enumerate() {
            out.push(Facts {
                self_addressed: false,
                sender_signed_in: true,
                same_org: (i + j) % 2 == 0,
                federated: (i + j) % 3 != 0,
                recipient: *r,
                sender: *w,
                recipient_writer: writers[(i + j) % writers.len()],
            });
        }
    }
    out
}
