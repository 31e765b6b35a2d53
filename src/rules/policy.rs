//! Administrative state: IM configurations (`EnableOfflineIM`), client
//! policies (`EnableIMAutoArchiving`) and per-user grants, one set per
//! organisation, and the resolution of the effective value for a user.
//!
//! This module owns:
//! - `Scope`, the XdsIdentity forms of the cmdlet reference (`Global`,
//!   `Site:Redmond`, `Tag:OfflineIM`, or a bare per-user policy name),
//!   compared case-insensitively as PowerShell does;
//! - `OrgConfig`, the Central Management store of one organisation;
//! - the precedence rule per-user > site > global (DEC-010) and the default
//!   `True` for an unset `EnableIMAutoArchiving` (OIM-007, DEC-011).
//!
//! Invariants it keeps:
//! - A Global client policy always exists and can only be reset, never
//!   removed (Remove-CsClientPolicy reference).
//! - On a Server organisation with CU3 or later a Global IM configuration
//!   always exists; Online organisations have none (DEC-014, DEC-016).
//! - Collections are `BTreeMap`s keyed by lower-cased names, so iteration
//!   order (and so `Get-*` output) is deterministic.
//!
//! What it deliberately does not do: it does not parse command lines (that
//! is `cmdlets`) and it does not decide routes (that is `dispatch`).

use crate::rules::domain::{Deployment, Org, Profile, UserId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// An XdsIdentity: the scope and, for sites and tags, the name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The organisation-wide scope, `-Identity Global`: the policy or
    /// configuration that applies when no per-user or site one does (DEC-010).
    Global,
    /// A site scope, `-Identity Site:<name>` (Server profile only), holding
    /// the site's name. It applies to the users of that site unless a per-user
    /// policy is granted (DEC-010); `cmdlets::apply` stores it with the site
    /// spelt as the deployment spells it.
    Site(String),
    /// A per-user policy; `Grant-CsClientPolicy -PolicyName X` names
    /// `Tag:X` ("The PolicyName is simply the policy Identity minus the
    /// policy scope").
    Tag(String),
}

impl Scope {
    /// Parses an Identity. A bare name is a per-user (`Tag:`) policy, as
    /// `New-CsClientPolicy -Identity SalesClientPolicy` shows.
    pub fn parse(text: &str) -> Scope {
        if text.eq_ignore_ascii_case("global") {
            return Scope::Global;
        }
        if let Some((prefix, name)) = text.split_once(':') {
            if prefix.eq_ignore_ascii_case("site") {
                return Scope::Site(name.to_string());
            }
            if prefix.eq_ignore_ascii_case("tag") {
                return Scope::Tag(name.to_string());
            }
        }
        Scope::Tag(text.to_string())
    }

    /// The case-folded key the stores are ordered by.
    pub fn key(&self) -> (u8, String) {
        match self {
            Scope::Global => (0, String::new()),
            Scope::Site(s) => (1, s.to_ascii_lowercase()),
            Scope::Tag(s) => (2, s.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => write!(f, "Global"),
            Scope::Site(s) => write!(f, "Site:{s}"),
            Scope::Tag(s) => write!(f, "Tag:{s}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One IM configuration (`New-/Set-CsImConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ImConfiguration {
    /// The scope the configuration applies to: `Global` or a `Site:` scope. IM
    /// configurations have no per-user scope (DEC-010).
    pub identity: Scope,
    /// `$True` unless set otherwise: "In Skype for Business Server 2015 CU3,
    /// the EnableOfflineIM option is set to $True by default" (OIM-006).
    pub enable_offline_im: bool,
}

/// One client policy, reduced to the one setting offline IM reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClientPolicy {
    /// The scope the policy applies to: `Global`, a `Site:` scope, or a `Tag:`
    /// per-user policy, which applies only to the users it is granted to
    /// (OIM-019).
    pub identity: Scope,
    /// `None` when never set: "most of the policy settings do not have
    /// default values" (New-CsClientPolicy). Resolution reads `None` as
    /// `True`, per seed 004 (DEC-011).
    pub enable_im_auto_archiving: Option<bool>,
}

impl ClientPolicy {
    /// A policy at `identity` with every setting unset. It is the Global
    /// policy of a freshly installed organisation, and what
    /// Remove-CsClientPolicy resets Global to, since Global cannot be removed
    /// (OIM-020).
    pub fn unset(identity: Scope) -> ClientPolicy {
        ClientPolicy {
            identity,
            enable_im_auto_archiving: None,
        }
    }
}

/// The Central Management store of one organisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct OrgConfig {
    /// The IM configurations, keyed by `Scope::key`: Global, which exists on
    /// Server 2015 CU3 and later and never on Online (DEC-014, DEC-016), and
    /// any site configurations made with New-CsImConfiguration.
    pub im_configurations: BTreeMap<(u8, String), ImConfiguration>,
    /// The client policies, keyed by `Scope::key`: Global, which always
    /// exists, and any site and per-user (`Tag:`) policies made with
    /// New-CsClientPolicy.
    pub client_policies: BTreeMap<(u8, String), ClientPolicy>,
    /// Per-user grants: user → the `Tag:` key of the granted policy.
    pub grants: BTreeMap<UserId, (u8, String)>,
}

impl OrgConfig {
    /// The store of a freshly installed organisation.
    pub fn initial(org: &Org) -> OrgConfig {
        let mut im_configurations = BTreeMap::new();
        if im_configuration_exists(org) {
            im_configurations.insert(Scope::Global.key(), ImConfiguration::default_global());
        }
        let mut client_policies = BTreeMap::new();
        client_policies.insert(Scope::Global.key(), ClientPolicy::unset(Scope::Global));
        OrgConfig {
            im_configurations,
            client_policies,
            grants: BTreeMap::new(),
        }
    }
}

impl ImConfiguration {
    /// The Global IM configuration of a freshly installed Server 2015 CU3 or
    /// later, with `EnableOfflineIM` `$True` (OIM-006).
    /// Remove-CsImConfiguration resets Global to it (DEC-019).
    pub fn default_global() -> ImConfiguration {
        ImConfiguration {
            identity: Scope::Global,
            enable_offline_im: true,
        }
    }
}

/// Whether the organisation has the ImConfiguration cmdlets at all.
pub fn im_configuration_exists(org: &Org) -> bool {
    match org.profile {
        Profile::Online => false,
        Profile::Server => org.server_version.is_some_and(|v| v.has_im_configuration()),
    }
}

/// Where an effective value came from, for the trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Resolved {
    /// The effective `EnableIMAutoArchiving`, as the gate reads it: an unset
    /// value is already read as `True` here (DEC-011).
    pub value: bool,
    /// The scope whose setting won, e.g. `Tag:OfflineIM`.
    pub from: Scope,
    /// True when the winning policy left the value unset and the default
    /// applied.
    pub defaulted: bool,
}

/// The user's site scope key, if the user has a site.
fn site_key(deployment: &Deployment, user: UserId) -> Option<(u8, String)> {
    let u = deployment.user(user);
    let org = deployment.org(u.org);
    u.site
        .map(|s| Scope::Site(org.sites[s as usize].clone()).key())
}

/// The effective `EnableIMAutoArchiving` for a user: the granted per-user
/// policy if any, else the user's site policy, else Global (DEC-010). The
/// winning policy applies whole; an unset value means `True` (DEC-011).
pub fn effective_auto_archiving(
    deployment: &Deployment,
    config: &OrgConfig,
    user: UserId,
) -> Resolved {
    let granted = config
        .grants
        .get(&user)
        .and_then(|k| config.client_policies.get(k));
    let site = site_key(deployment, user).and_then(|k| config.client_policies.get(&k));
    let policy = granted
        .or(site)
        .or_else(|| config.client_policies.get(&Scope::Global.key()));
    match policy {
        Some(p) => Resolved {
            value: p.enable_im_auto_archiving.unwrap_or(true),
            from: p.identity.clone(),
            defaulted: p.enable_im_auto_archiving.is_none(),
        },
        None => Resolved {
            value: true,
            from: Scope::Global,
            defaulted: true,
        },
    }
}

/// Why the server switch does not allow offline IM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchVerdict {
    /// The switch allows offline IM (or, for Online, there is no switch).
    On,
    /// `EnableOfflineIM` is `$False` at the winning scope.
    Off,
    /// The server predates CU3 and has no offline IM (DEC-016).
    ServerTooOld,
}

impl SwitchVerdict {
    /// The verdict's name in people's output, the same kebab-case name the
    /// JSON carries (`server-too-old`).
    pub fn name(self) -> &'static str {
        match self {
            SwitchVerdict::On => "on",
            SwitchVerdict::Off => "off",
            SwitchVerdict::ServerTooOld => "server-too-old",
        }
    }
}

/// The effective server switch for a user: the user's site IM configuration
/// if one exists, else Global (DEC-010). Online organisations have no
/// switch; the client policy alone gates them (DEC-014).
pub fn effective_offline_im_switch(
    deployment: &Deployment,
    config: &OrgConfig,
    user: UserId,
) -> (SwitchVerdict, Scope) {
    let org = deployment.org_of(user);
    if org.profile == Profile::Online {
        return (SwitchVerdict::On, Scope::Global);
    }
    if !im_configuration_exists(org) {
        return (SwitchVerdict::ServerTooOld, Scope::Global);
    }
    let site = site_key(deployment, user).and_then(|k| config.im_configurations.get(&k));
    let winner = site.or_else(|| config.im_configurations.get(&Scope::Global.key()));
    match winner {
        Some(c) if c.enable_offline_im => (SwitchVerdict::On, c.identity.clone()),
        Some(c) => (SwitchVerdict::Off, c.identity.clone()),
        // The Global configuration cannot be removed, only reset, so this
        // arm is the documented default rather than an error.
        None => (SwitchVerdict::On, Scope::Global),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict's name in people's output is its JSON name.
    #[test]
    fn switch_verdicts_are_named_as_in_json() {
        for v in [
            SwitchVerdict::On,
            SwitchVerdict::Off,
            SwitchVerdict::ServerTooOld,
        ] {
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::from(v.name())
            );
        }
    }

    #[test]
    fn scope_parse_is_case_insensitive_and_bare_names_are_tags() {
        assert_eq!(Scope::parse("GLOBAL"), Scope::Global);
        assert_eq!(Scope::parse("site:Redmond"), Scope::Site("Redmond".into()));
        assert_eq!(
            Scope::parse("Tag:OfflineIM"),
            Scope::Tag("OfflineIM".into())
        );
        assert_eq!(Scope::parse("OfflineIM"), Scope::Tag("OfflineIM".into()));
        assert_eq!(
            Scope::parse("tag:offlineim").key(),
            Scope::parse("OfflineIM").key()
        );
        assert_ne!(Scope::parse("Site:A").key(), Scope::parse("Tag:A").key());
    }
}
