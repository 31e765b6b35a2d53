//! The Management Shell subset offline IM needs: parsing a command line as
//! the seeds print it, and applying it to an organisation's `OrgConfig`.
//!
//! Supported cmdlets (shared/reference/cmdlets): `Get-`, `Set-`, `New-`,
//! `Remove-CsImConfiguration`; `Get-`, `Set-`, `New-`, `Grant-`,
//! `Remove-CsClientPolicy`. Cmdlet and parameter names and `$True`/`$False`
//! are case-insensitive, as in PowerShell; `-Name:value` and `-Name: value`
//! are accepted. Parameter names are written in full (DEC-019); a mistyped
//! cmdlet or parameter name gets the closest known names.
//!
//! Invariants it keeps:
//! - Parsing never panics; every rejection is a `CmdletError` carrying the
//!   1-based column of the offending token, what was found and what was
//!   expected. The scenario loader maps that column into the file.
//! - A failed cmdlet changes nothing: `apply` validates first and mutates
//!   only at the end.
//! - Output of `Get-*` is deterministic (stores are ordered maps).
//!
//! What it deliberately does not do: pipelines, variables other than
//! `$True`/`$False`/`$Null` (and those unquoted), wildcards, `-Filter`,
//! `-Instance`, user identities other than display names and SIP addresses,
//! or any client-policy setting other than `EnableIMAutoArchiving`. Those
//! are rejected with a clear error rather than silently ignored (DEC-019).

use crate::rules::domain::{Deployment, OrgId, Profile, UserId};
use crate::rules::policy::{
    ClientPolicy, ImConfiguration, OrgConfig, Scope, im_configuration_exists,
};
use std::fmt;

/// A rejected command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdletError {
    /// 1-based column (in characters) within the command line.
    pub column: usize,
    /// What was found at `column`, worded to follow "found" in the message,
    /// with tokens in backticks.
    pub found: String,
    /// What would have been accepted there, worded to follow "expected".
    pub expected: String,
    /// An optional corrected command line.
    pub suggestion: Option<String>,
}

impl fmt::Display for CmdletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "found {}, expected {}", self.found, self.expected)?;
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for CmdletError {}

fn err(column: usize, found: impl Into<String>, expected: impl Into<String>) -> CmdletError {
    CmdletError {
        column,
        found: found.into(),
        expected: expected.into(),
        suggestion: None,
    }
}

/// One lexical token of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    text: String,
    /// 1-based character column where the token starts.
    column: usize,
    quoted: bool,
}

/// The most tokens one command line may have; a bound on the lexer.
const TOKENS_MAX: usize = 64;

fn tokenize(line: &str) -> Result<Vec<Token>, CmdletError> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if tokens.len() == TOKENS_MAX {
            return Err(err(
                i + 1,
                format!("more than {TOKENS_MAX} words"),
                "a single cmdlet invocation",
            ));
        }
        let start = i;
        if c == '"' || c == '\'' {
            // PowerShell's smart quotes are not accepted: they are a common
            // copy-paste accident and deserve an error, not a guess.
            let close = chars[i + 1..].iter().position(|&d| d == c);
            let Some(len) = close else {
                return Err(err(
                    start + 1,
                    format!("an unterminated {c}-quoted string"),
                    format!("a closing {c}"),
                ));
            };
            let text: String = chars[i + 1..i + 1 + len].iter().collect();
            // A quoted value is a string. `$` in it would be expanded by
            // PowerShell between double quotes and kept between single
            // ones; neither is modelled, so both are rejected (DEC-019).
            if let Some(at) = text.chars().position(|d| d == '$') {
                return Err(err(
                    start + 2 + at,
                    format!("`$` inside the quoted string `{c}{text}{c}`"),
                    "`$True`, `$False` or `$Null` without quotes, or a string without `$` (variables are not modelled)",
                ));
            }
            tokens.push(Token {
                text,
                column: start + 1,
                quoted: true,
            });
            i += len + 2;
            continue;
        }
        if matches!(c, '|' | ';' | '{' | '}' | '(' | ')' | '`') {
            return Err(err(
                start + 1,
                format!("`{c}`"),
                "one cmdlet with parameters (pipelines, script blocks and escapes are not modelled)",
            ));
        }
        while i < chars.len() && !chars[i].is_whitespace() {
            // `-Name:"a b"`: the quoted string after the colon is the value,
            // a token of its own.
            if matches!(chars[i], '"' | '\'') && c == '-' && chars[i - 1] == ':' {
                break;
            }
            i += 1;
        }
        tokens.push(Token {
            text: chars[start..i].iter().collect(),
            column: start + 1,
            quoted: false,
        });
    }
    Ok(tokens)
}

/// The noun a cmdlet acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Noun {
    ImConfiguration,
    ClientPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    Set,
    New,
    Remove,
    Grant,
}

/// The cmdlets this model knows, with their exact names.
const CMDLETS: [(&str, Verb, Noun); 9] = [
    ("Get-CsImConfiguration", Verb::Get, Noun::ImConfiguration),
    ("Set-CsImConfiguration", Verb::Set, Noun::ImConfiguration),
    ("New-CsImConfiguration", Verb::New, Noun::ImConfiguration),
    (
        "Remove-CsImConfiguration",
        Verb::Remove,
        Noun::ImConfiguration,
    ),
    ("Get-CsClientPolicy", Verb::Get, Noun::ClientPolicy),
    ("Set-CsClientPolicy", Verb::Set, Noun::ClientPolicy),
    ("New-CsClientPolicy", Verb::New, Noun::ClientPolicy),
    ("Grant-CsClientPolicy", Verb::Grant, Noun::ClientPolicy),
    ("Remove-CsClientPolicy", Verb::Remove, Noun::ClientPolicy),
];

/// A parsed, validated command.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cmdlet {
    /// `Get-CsImConfiguration`: prints the IM configurations in PowerShell's
    /// list view (OIM-006, DEC-019).
    GetImConfiguration {
        /// The one configuration to show; `None` shows them all. An identity
        /// that matches none is an error.
        identity: Option<Scope>,
    },
    /// `Set-CsImConfiguration`: changes an existing IM configuration
    /// (OIM-006).
    SetImConfiguration {
        /// The configuration to change: `Global` when `-Identity` is left out
        /// (DEC-019), or a `Site:` scope. Per-user identities are rejected
        /// when the line is parsed.
        identity: Scope,
        /// The new `EnableOfflineIM`. `None` when the parameter is absent,
        /// which leaves the value as it is.
        enable_offline_im: Option<bool>,
    },
    /// `New-CsImConfiguration`: creates the IM configuration of a site
    /// (OIM-006). It fails where one exists already, as it always does at
    /// Global.
    NewImConfiguration {
        /// The scope to create. Required; per-user identities are rejected
        /// when the line is parsed.
        identity: Scope,
        /// The initial `EnableOfflineIM`. `None` means `$True`, the CU3
        /// default (OIM-006).
        enable_offline_im: Option<bool>,
    },
    /// `Remove-CsImConfiguration`: removes a site's IM configuration, or
    /// resets Global to its defaults (DEC-019).
    RemoveImConfiguration {
        /// The configuration to remove or, for Global, to reset.
        identity: Scope,
    },
    /// `Get-CsClientPolicy`: prints the client policies in PowerShell's list
    /// view, with `EnableIMAutoArchiving` blank where it is unset (DEC-011,
    /// DEC-019).
    GetClientPolicy {
        /// The one policy to show; `None` shows them all. An identity that
        /// matches none is an error.
        identity: Option<Scope>,
    },
    /// `Set-CsClientPolicy`: changes an existing client policy (OIM-007).
    SetClientPolicy {
        /// The policy to change: `Global` when `-Identity` is left out
        /// (DEC-019), a `Site:` scope or a per-user policy.
        identity: Scope,
        /// The new `EnableIMAutoArchiving`. `None` when the parameter is
        /// absent, which leaves the value as it is; `Some(None)` for
        /// `$Null`, which unsets it, so that the gate reads the default
        /// (DEC-011, DEC-019).
        enable_im_auto_archiving: Option<Option<bool>>,
    },
    /// `New-CsClientPolicy`: creates a site or per-user policy. It fails for
    /// Global and for a scope that has a policy already (OIM-020).
    NewClientPolicy {
        /// The scope to create. Required; a bare name is a per-user (`Tag:`)
        /// policy (OIM-023).
        identity: Scope,
        /// The initial `EnableIMAutoArchiving`. `None`, when the parameter is
        /// absent or `$Null`, leaves it unset, which the gate reads as `True`
        /// (DEC-011).
        enable_im_auto_archiving: Option<bool>,
    },
    /// `Grant-CsClientPolicy`: assigns a per-user policy to one user of the
    /// organisation, or unassigns it (OIM-019).
    GrantClientPolicy {
        /// A user's display name or SIP address, resolved when applied.
        user: String,
        /// `None` for `-PolicyName $Null`, which unassigns.
        policy_name: Option<String>,
    },
    /// `Remove-CsClientPolicy`: removes a site or per-user policy, and a
    /// per-user policy's grants with it, or resets Global to its defaults
    /// (OIM-020, DEC-019).
    RemoveClientPolicy {
        /// The policy to remove or, for Global, to reset.
        identity: Scope,
        /// Whether `-Force` was given. It is needed to remove a per-user
        /// policy still granted to some user, where the real shell would ask
        /// for confirmation (OIM-020, DEC-019).
        force: bool,
    },
}

/// A parsed command with the columns of its arguments, so that errors
/// found when applying it still point at the right place.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Parsed {
    /// The validated command, which `apply` carries out.
    pub cmdlet: Cmdlet,
    /// The canonical command name, e.g. `Grant-CsClientPolicy`.
    pub name: &'static str,
    identity_column: usize,
    policy_column: usize,
}

impl Parsed {
    /// Whether the command changes the store (everything but `Get-*`).
    pub fn mutates(&self) -> bool {
        !matches!(
            self.cmdlet,
            Cmdlet::GetImConfiguration { .. } | Cmdlet::GetClientPolicy { .. }
        )
    }

    /// The column of the `-Identity` value (or of the cmdlet name).
    pub fn identity_column(&self) -> usize {
        self.identity_column
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identity,
    Bool,
    Name,
    Switch,
}

/// Parameters each cmdlet accepts, in their documented spelling, and the
/// positional order of those that have a `Position` in the reference.
fn parameters(
    verb: Verb,
    noun: Noun,
) -> (&'static [(&'static str, Kind)], &'static [&'static str]) {
    use Kind::*;
    match (verb, noun) {
        (Verb::Get, _) => (&[("Identity", Identity)], &["Identity"]),
        (Verb::Set | Verb::New, Noun::ImConfiguration) => (
            &[
                ("Identity", Identity),
                ("EnableOfflineIm", Bool),
                ("Force", Switch),
            ],
            &["Identity"],
        ),
        (Verb::Set | Verb::New, Noun::ClientPolicy) => (
            &[
                ("Identity", Identity),
                ("EnableIMAutoArchiving", Bool),
                ("Force", Switch),
            ],
            &["Identity"],
        ),
        (Verb::Remove, _) => (&[("Identity", Identity), ("Force", Switch)], &["Identity"]),
        (Verb::Grant, _) => (
            &[("Identity", Name), ("PolicyName", Name)],
            &["Identity", "PolicyName"],
        ),
    }
}

/// A parameter value with its column.
#[derive(Clone, Debug)]
struct Value {
    text: String,
    column: usize,
    quoted: bool,
}

/// The column of the character `offset` characters into a value's text.
fn column_in(v: &Value, offset: usize) -> usize {
    v.column + usize::from(v.quoted) + offset
}

/// A Boolean parameter's value: `$True` or `$False`, unquoted. `$Null` is
/// `None` where the setting can be unset (`nullable`, EnableIMAutoArchiving,
/// DEC-011) and rejected elsewhere (DEC-019).
fn parse_bool(v: &Value, parameter: &str, nullable: bool) -> Result<Option<bool>, CmdletError> {
    if v.quoted {
        return Err(err(
            v.column,
            format!("the quoted string `{}`", v.text),
            "`$True` or `$False` without quotes (a quoted value is a string, not a Boolean)",
        ));
    }
    let t = v.text.to_ascii_lowercase();
    match t.as_str() {
        "$true" => Ok(Some(true)),
        "$false" => Ok(Some(false)),
        "$null" if nullable => Ok(None),
        "$null" => Err(err(
            v.column,
            format!("`{}`", v.text),
            format!("`$True` or `$False` (`-{parameter}` cannot be unset)"),
        )),
        _ => {
            let guess = if t.starts_with("$t") || t == "true" {
                Some("$True")
            } else if t.starts_with("$f") || t == "false" {
                Some("$False")
            } else {
                None
            };
            let mut e = err(v.column, format!("`{}`", v.text), "`$True` or `$False`");
            if let Some(g) = guess {
                e.expected = format!("`$True` or `$False` (did you mean `{g}`?)");
            }
            Err(e)
        }
    }
}

/// Rejects a `$` in an unquoted identity or name: PowerShell would read a
/// variable there, and variables are not modelled (DEC-019). Quoted strings
/// with `$` never get this far (`tokenize`).
fn no_variable(v: &Value, expected: &str) -> Result<(), CmdletError> {
    if v.quoted {
        return Ok(());
    }
    let Some(at) = v.text.find('$') else {
        return Ok(());
    };
    let found = if at == 0 {
        format!("the variable `{}`", v.text)
    } else {
        format!("the variable in `{}`", v.text)
    };
    Err(err(
        column_in(v, v.text[..at].chars().count()),
        found,
        format!("{expected} (variables are not modelled)"),
    ))
}

/// What an `-Identity` of an IM configuration or client policy may be.
const XDS_FORMS: &str = "`Global`, `Site:<name>`, `Tag:<name>` or a per-user policy name";

/// Checks the name part of an identity or policy name, `offset` characters
/// into the value: not empty, and none of the scope separator `:`, the
/// domain\logon separator `\` or PowerShell's wildcards `*?[]` (DEC-019).
fn check_name(v: &Value, offset: usize, name: &str, expected: &str) -> Result<(), CmdletError> {
    if name.trim().is_empty() {
        let found = if offset == 0 {
            "an empty identity".to_string()
        } else {
            format!("`{}` with no name after it", v.text)
        };
        return Err(err(v.column, found, expected));
    }
    let Some((at, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| matches!(c, ':' | '\\' | '*' | '?' | '[' | ']'))
    else {
        return Ok(());
    };
    let (found, why) = match c {
        ':' => (
            format!("a second `:` in `{}`", v.text),
            "a name has no `:` of its own",
        ),
        '\\' => (
            format!("`{}`, a domain\\logon name", v.text),
            "users are named only by Grant-CsClientPolicy -Identity, by display name or SIP address",
        ),
        _ => (
            format!("the wildcard `{c}` in `{}`", v.text),
            "an identity accepts no wildcard characters; `-Filter` is not modelled",
        ),
    };
    Err(err(
        column_in(v, offset + at),
        found,
        format!("{expected} ({why})"),
    ))
}

/// An `-Identity` of an IM configuration or client policy (XdsIdentity):
/// `Global`, `Site:<name>`, `Tag:<name>` or a bare per-user name, any case.
/// Everything else is rejected rather than read as a per-user name
/// (OIM-023, DEC-019).
fn xds_identity(v: &Value, expected: &str) -> Result<Scope, CmdletError> {
    no_variable(v, expected)?;
    let text = v.text.as_str();
    if text.eq_ignore_ascii_case("global") {
        return Ok(Scope::Global);
    }
    let offset = match text.split_once(':') {
        None => 0,
        Some((prefix, _)) if prefix.eq_ignore_ascii_case("global") => {
            return Err(err(
                v.column,
                format!("the identity `{text}`"),
                format!("{expected} (`Global` stands alone: the global scope has no name)"),
            ));
        }
        Some((prefix, _))
            if prefix.eq_ignore_ascii_case("site") || prefix.eq_ignore_ascii_case("tag") =>
        {
            prefix.chars().count() + 1
        }
        Some((prefix, _)) => {
            return Err(err(
                v.column,
                format!("the scope `{prefix}:` in `{text}`"),
                format!("{expected} (the scopes are `Global`, `Site:` and `Tag:`)"),
            ));
        }
    };
    // The prefixes are ASCII, so `offset` counts bytes as well as characters.
    check_name(v, offset, &text[offset..], expected)?;
    Ok(Scope::parse(text))
}

/// What a Grant-CsClientPolicy `-Identity` may be.
const USER_FORMS: &str = "one user's display name, such as \"Tony Smith\", or SIP address";

/// A Grant-CsClientPolicy `-Identity`: a display name or SIP address,
/// resolved when applied. The reference's other forms (domain\logon,
/// distinguished name) and display-name wildcards are rejected (DEC-019).
fn user_identity(v: &Value) -> Result<(), CmdletError> {
    no_variable(v, USER_FORMS)?;
    let text = v.text.as_str();
    if text.trim().is_empty() {
        return Err(err(v.column, "an empty user identity", USER_FORMS));
    }
    if let Some(at) = text.find('*') {
        return Err(err(
            column_in(v, text[..at].chars().count()),
            format!("the wildcard `*` in `{text}`"),
            format!("{USER_FORMS} (wildcards are not modelled)"),
        ));
    }
    if let Some(at) = text.find('\\') {
        return Err(err(
            column_in(v, text[..at].chars().count()),
            format!("`{text}`, a domain\\logon name"),
            format!("{USER_FORMS} (domain\\logon is not modelled)"),
        ));
    }
    if text.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("cn=")) {
        return Err(err(
            v.column,
            format!("`{text}`, a distinguished name"),
            format!("{USER_FORMS} (distinguished names are not modelled)"),
        ));
    }
    Ok(())
}

/// Grant-CsClientPolicy's `-PolicyName`: `$Null` (`None`, unassign) or a
/// per-user policy's name, "the policy Identity minus the policy scope
/// ("tag:")", so `Tag:` itself is rejected (OIM-019, DEC-019).
fn policy_name(v: &Value) -> Result<Option<String>, CmdletError> {
    const POLICY: &str = "a per-user policy's name or `$Null`";
    if !v.quoted && v.text.eq_ignore_ascii_case("$null") {
        return Ok(None);
    }
    if let Some((prefix, rest)) = v.text.split_once(':')
        && prefix.eq_ignore_ascii_case("tag")
    {
        let guess = if rest.is_empty() || rest.contains(['$', ':', '\\', '*', '?', '[', ']']) {
            String::new()
        } else {
            format!(" (did you mean `{rest}`?)")
        };
        return Err(err(
            v.column,
            format!("the policy name `{}` with its `Tag:` scope", v.text),
            format!("the name alone: the PolicyName is the policy Identity minus the scope{guess}"),
        ));
    }
    match xds_identity(v, POLICY)? {
        Scope::Tag(name) => Ok(Some(name)),
        other => Err(err(
            v.column,
            format!("the policy name `{other}`"),
            "the name of a per-user policy (global and site policies are not granted)",
        )),
    }
}

/// The Levenshtein distance between two names, in characters: the fewest
/// insertions, deletions and substitutions that turn one into the other.
///
/// Written here rather than taken from `strsim`, which would be the 36th
/// crate of the conformance-only build that the layout caps at 35
/// (README.md, "Cargo features"); the names it compares are a few dozen
/// characters, so the two-row table is all it needs.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// ` (did you mean `a`?)` naming the known names closest to `typed` by
/// Levenshtein distance, compared case-insensitively, when that distance is
/// at most a third of the name's length; ties are all named, in table order.
/// Empty when no name is that close (DEC-019).
fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>, dash: &str) -> String {
    let typed = typed.to_ascii_lowercase();
    let close: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| (edit_distance(&typed, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| 3 * d <= k.chars().count())
        .collect();
    let Some(best) = close.iter().map(|(d, _)| *d).min() else {
        return String::new();
    };
    let names: Vec<String> = close
        .iter()
        .filter(|(d, _)| *d == best)
        .map(|(_, k)| format!("`{dash}{k}`"))
        .collect();
    format!(" (did you mean {}?)", names.join(" or "))
}

/// Suggests a repaired command line for the split forms seed 004 prints:
/// `Grant -CsClientPolicy` and `- PolicyName`.
fn repair(tokens: &[Token]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0usize;
    while i < tokens.len() {
        let t = &tokens[i];
        let next = tokens.get(i + 1);
        if i == 0 && next.is_some_and(|n| n.text.starts_with("-Cs") || n.text.starts_with("-cs")) {
            out.push(format!(
                "{}{}",
                t.text,
                next.map(|n| n.text.as_str()).unwrap_or("")
            ));
            i += 2;
            continue;
        }
        if t.text == "-" && !t.quoted && next.is_some() {
            out.push(format!("-{}", next.map(|n| n.text.as_str()).unwrap_or("")));
            i += 2;
            continue;
        }
        if t.quoted {
            out.push(format!("\"{}\"", t.text));
        } else {
            out.push(t.text.clone());
        }
        i += 1;
    }
    out.join(" ")
}

/// The accepted parameters, for "expected one of" messages.
fn parameter_list(accepted: &[(&'static str, Kind)]) -> String {
    accepted
        .iter()
        .map(|(p, _)| format!("`-{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error for a parameter name the cmdlet does not have. A unique prefix
/// of one it has is an abbreviation, which PowerShell would accept but this
/// model rejects, naming the full name (DEC-019); anything else gets the
/// closest names, if any are close.
fn unknown_parameter(
    column: usize,
    typed: &str,
    cmdlet: &str,
    accepted: &[(&'static str, Kind)],
) -> CmdletError {
    let list = parameter_list(accepted);
    let lower = typed.to_ascii_lowercase();
    let extending: Vec<&str> = accepted
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !typed.is_empty() && p.to_ascii_lowercase().starts_with(&lower))
        .collect();
    if let [full] = extending[..] {
        return err(
            column,
            format!("the abbreviated parameter `-{typed}` for {cmdlet}"),
            format!("one of {list}, in full (did you mean `-{full}`?)"),
        );
    }
    err(
        column,
        format!("parameter `-{typed}` for {cmdlet}"),
        format!(
            "one of {list}{}",
            did_you_mean(typed, accepted.iter().map(|(p, _)| *p), "-")
        ),
    )
}

fn known_cmdlet_names() -> String {
    CMDLETS
        .iter()
        .map(|(n, _, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses one Management Shell command line.
pub fn parse(line: &str) -> Result<Parsed, CmdletError> {
    let tokens = tokenize(line)?;
    let Some(first) = tokens.first() else {
        return Err(err(
            1,
            "an empty command",
            "a cmdlet such as `Get-CsImConfiguration`",
        ));
    };
    let Some(&(name, verb, noun)) = CMDLETS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(&first.text))
    else {
        let split = tokens
            .get(1)
            .is_some_and(|n| n.text.to_ascii_lowercase().starts_with("-cs"));
        let mut e = err(
            first.column,
            format!("`{}`", first.text),
            format!(
                "one of {}{}",
                known_cmdlet_names(),
                did_you_mean(&first.text, CMDLETS.iter().map(|(n, _, _)| *n), "")
            ),
        );
        if split {
            let joined = format!("{}{}", first.text, tokens[1].text);
            e.found = format!(
                "`{} {}` (a space splits the cmdlet name)",
                first.text, tokens[1].text
            );
            e.expected = format!("`{joined}` written as one word");
            e.suggestion = Some(repair(&tokens));
        }
        return Err(e);
    };
    let (accepted, positional) = parameters(verb, noun);
    let accepted_list = parameter_list(accepted);
    let mut values: Vec<(&'static str, Value)> = Vec::new();
    let mut position = 0usize;
    let mut i = 1usize;
    while i < tokens.len() {
        let t = &tokens[i];
        if !t.quoted && t.text == "-" {
            let mut e = err(
                t.column,
                "`-` followed by a space",
                "a parameter name joined to its dash, such as `-PolicyName`",
            );
            e.suggestion = Some(repair(&tokens));
            return Err(e);
        }
        if !t.quoted && t.text.starts_with('-') && t.text.len() > 1 {
            let (pname, inline) = match t.text[1..].split_once(':') {
                Some((p, v)) => (p, Some(v)),
                None => (&t.text[1..], None),
            };
            let Some(&(canonical, kind)) =
                accepted.iter().find(|(p, _)| p.eq_ignore_ascii_case(pname))
            else {
                return Err(unknown_parameter(t.column, pname, name, accepted));
            };
            if values.iter().any(|(p, _)| *p == canonical) {
                return Err(err(
                    t.column,
                    format!("`-{canonical}` given twice"),
                    "each parameter at most once",
                ));
            }
            // `-Name:value`; `-Name: value` and `-Name:` before a quoted
            // string take the next word, as `-Name value` does (DEC-019).
            let value = match inline.filter(|v| !v.is_empty()) {
                Some(v) => Value {
                    text: v.to_string(),
                    column: t.column + 2 + pname.chars().count(),
                    quoted: false,
                },
                None if kind == Kind::Switch && inline.is_none() => Value {
                    text: "$True".into(),
                    column: t.column,
                    quoted: false,
                },
                None => {
                    let Some(v) = tokens.get(i + 1) else {
                        return Err(err(
                            t.column + t.text.chars().count(),
                            "the end of the command",
                            format!("a value for `-{canonical}`"),
                        ));
                    };
                    if !v.quoted && v.text.starts_with('-') && v.text.len() > 1 {
                        return Err(err(
                            v.column,
                            format!("`{}`", v.text),
                            format!("a value for `-{canonical}`"),
                        ));
                    }
                    i += 1;
                    Value {
                        text: v.text.clone(),
                        column: v.column,
                        quoted: v.quoted,
                    }
                }
            };
            values.push((canonical, value));
            i += 1;
            continue;
        }
        // A positional argument.
        let Some(&p) = positional
            .get(position)
            .filter(|p| !values.iter().any(|(q, _)| q == *p))
        else {
            return Err(err(
                t.column,
                format!("the extra argument `{}`", t.text),
                format!("named parameters {accepted_list}"),
            ));
        };
        position += 1;
        values.push((
            p,
            Value {
                text: t.text.clone(),
                column: t.column,
                quoted: t.quoted,
            },
        ));
        i += 1;
    }
    let get = |p: &str| values.iter().find(|(q, _)| *q == p).map(|(_, v)| v.clone());
    let identity_value = get("Identity");
    let identity_column = identity_value.as_ref().map_or(first.column, |v| v.column);
    let identity = match verb {
        // Grant-CsClientPolicy's -Identity is a user, checked below.
        Verb::Grant => None,
        _ => identity_value
            .as_ref()
            .map(|v| xds_identity(v, XDS_FORMS))
            .transpose()?,
    };
    // A Boolean parameter: absent (`None`), or its value, where `$Null`
    // is `Some(None)` when `nullable`.
    let flag =
        |p: &'static str, nullable: bool| get(p).map(|v| parse_bool(&v, p, nullable)).transpose();
    let require_identity = || {
        identity.clone().ok_or_else(|| {
            err(
                first.column + first.text.chars().count(),
                format!("{name} without `-Identity`"),
                "`-Identity`, which this cmdlet requires",
            )
        })
    };
    let im_scope_ok = |s: &Scope| -> Result<(), CmdletError> {
        match s {
            Scope::Tag(t) => Err(err(
                identity_column,
                format!("the identity `{t}`"),
                "`Global` or `Site:<name>` (IM configurations have global and site scopes)",
            )),
            _ => Ok(()),
        }
    };
    let mut policy_column = first.column;
    let cmdlet = match (verb, noun) {
        (Verb::Get, Noun::ImConfiguration) => Cmdlet::GetImConfiguration { identity },
        (Verb::Get, Noun::ClientPolicy) => Cmdlet::GetClientPolicy { identity },
        (Verb::Set, Noun::ImConfiguration) => {
            let identity = identity.clone().unwrap_or(Scope::Global);
            im_scope_ok(&identity)?;
            Cmdlet::SetImConfiguration {
                identity,
                enable_offline_im: flag("EnableOfflineIm", false)?.flatten(),
            }
        }
        (Verb::New, Noun::ImConfiguration) => {
            let identity = require_identity()?;
            im_scope_ok(&identity)?;
            Cmdlet::NewImConfiguration {
                identity,
                enable_offline_im: flag("EnableOfflineIm", false)?.flatten(),
            }
        }
        (Verb::Remove, Noun::ImConfiguration) => {
            let identity = require_identity()?;
            im_scope_ok(&identity)?;
            Cmdlet::RemoveImConfiguration { identity }
        }
        (Verb::Set, Noun::ClientPolicy) => Cmdlet::SetClientPolicy {
            identity: identity.clone().unwrap_or(Scope::Global),
            enable_im_auto_archiving: flag("EnableIMAutoArchiving", true)?,
        },
        (Verb::New, Noun::ClientPolicy) => Cmdlet::NewClientPolicy {
            identity: require_identity()?,
            enable_im_auto_archiving: flag("EnableIMAutoArchiving", true)?.flatten(),
        },
        (Verb::Remove, Noun::ClientPolicy) => Cmdlet::RemoveClientPolicy {
            identity: require_identity()?,
            force: flag("Force", false)?.flatten().unwrap_or(false),
        },
        (Verb::Grant, _) => {
            let Some(user) = identity_value else {
                return Err(err(
                    first.column + first.text.chars().count(),
                    "Grant-CsClientPolicy without `-Identity`",
                    "`-Identity <user>` (a display name such as \"Tony Smith\" or a SIP address)",
                ));
            };
            user_identity(&user)?;
            let Some(policy) = get("PolicyName") else {
                return Err(err(
                    first.column + first.text.chars().count(),
                    "Grant-CsClientPolicy without `-PolicyName`",
                    "`-PolicyName <name>` or `-PolicyName $Null`",
                ));
            };
            policy_column = policy.column;
            let policy_name = policy_name(&policy)?;
            Cmdlet::GrantClientPolicy {
                user: user.text,
                policy_name,
            }
        }
    };
    Ok(Parsed {
        cmdlet,
        name,
        identity_column,
        policy_column,
    })
}

fn bool_text(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Formats objects as PowerShell's list view: `Name : Value`, the names
/// padded to one width, a blank line between objects (DEC-019).
fn list_view(objects: &[Vec<(&str, String)>]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, props) in objects.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let width = props.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in props {
            lines.push(format!("{k:<width$} : {v}"));
        }
    }
    lines
}

/// The list view of the objects a `Get-*` cmdlet returns: all of them, or
/// the one whose identity matches. `None` when an identity matched nothing.
fn get<'a, T: 'a>(
    objects: impl Iterator<Item = &'a T>,
    identity: Option<&Scope>,
    identity_of: impl Fn(&T) -> &Scope,
    properties: impl Fn(&T) -> Vec<(&'static str, String)>,
) -> Option<Vec<String>> {
    let views: Vec<Vec<(&str, String)>> = objects
        .filter(|o| identity.is_none_or(|i| i.key() == identity_of(o).key()))
        .map(|o| {
            let mut props = vec![("Identity", identity_of(o).to_string())];
            props.extend(properties(o));
            props
        })
        .collect();
    (identity.is_none() || !views.is_empty()).then(|| list_view(&views))
}

/// Applies a parsed command to one organisation's store and returns what
/// the shell prints. On error nothing is changed.
pub fn apply(
    parsed: &Parsed,
    org_id: OrgId,
    deployment: &Deployment,
    config: &mut OrgConfig,
) -> Result<Vec<String>, CmdletError> {
    let org = deployment.org(org_id);
    let at = parsed.identity_column;
    let not_found = |s: &Scope, what: &str| {
        err(
            at,
            format!("`{s}`, which does not exist"),
            format!("the identity of an existing {what}"),
        )
    };
    // Validates a site scope and returns it with the site spelt as the
    // deployment spells it, so `Get-*` shows `Site:Redmond` whatever the
    // case it was typed in.
    let check_site = |s: &Scope| -> Result<Scope, CmdletError> {
        let Scope::Site(name) = s else {
            return Ok(s.clone());
        };
        if org.profile == Profile::Online {
            return Err(err(
                at,
                format!(
                    "the site scope `{s}` in the Online organisation `{}`",
                    org.name
                ),
                "`Global` or a per-user policy (Online has no sites)",
            ));
        }
        match org.sites.iter().find(|x| x.eq_ignore_ascii_case(name)) {
            Some(canonical) => Ok(Scope::Site(canonical.clone())),
            None => Err(err(
                at,
                format!("the unknown site `{name}`"),
                format!(
                    "one of the sites of `{}`: {}",
                    org.name,
                    crate::rules::domain::join_names(org.sites.iter().map(String::as_str))
                ),
            )),
        }
    };
    if matches!(
        parsed.cmdlet,
        Cmdlet::GetImConfiguration { .. }
            | Cmdlet::SetImConfiguration { .. }
            | Cmdlet::NewImConfiguration { .. }
            | Cmdlet::RemoveImConfiguration { .. }
    ) && !im_configuration_exists(org)
    {
        let why = match org.profile {
            Profile::Online => "Skype for Business Online (the cmdlet applies to Skype for Business Server 2015 and 2019)".to_string(),
            Profile::Server => "a server before Skype for Business Server 2015 CU3 (the cmdlet was introduced in the June 2016 Cumulative Update)".to_string(),
        };
        return Err(err(
            1,
            format!("{} in `{}`, which runs {why}", parsed.name, org.name),
            "an organisation on Skype for Business Server 2015 CU3 or later",
        ));
    }
    match &parsed.cmdlet {
        Cmdlet::GetImConfiguration { identity } => get(
            config.im_configurations.values(),
            identity.as_ref(),
            |c| &c.identity,
            |c| {
                vec![(
                    "EnableOfflineIm",
                    bool_text(c.enable_offline_im).to_string(),
                )]
            },
        )
        .ok_or_else(|| {
            not_found(
                identity.as_ref().unwrap_or(&Scope::Global),
                "IM configuration",
            )
        }),
        Cmdlet::GetClientPolicy { identity } => get(
            config.client_policies.values(),
            identity.as_ref(),
            |c| &c.identity,
            |c| {
                let v = c.enable_im_auto_archiving.map(|b| bool_text(b).to_string());
                vec![("EnableIMAutoArchiving", v.unwrap_or_default())]
            },
        )
        .ok_or_else(|| not_found(identity.as_ref().unwrap_or(&Scope::Global), "client policy")),
        Cmdlet::SetImConfiguration {
            identity,
            enable_offline_im,
        } => {
            let identity = &check_site(identity)?;
            let Some(c) = config.im_configurations.get_mut(&identity.key()) else {
                return Err(not_found(
                    identity,
                    "IM configuration (create it with New-CsImConfiguration)",
                ));
            };
            if let Some(v) = enable_offline_im {
                c.enable_offline_im = *v;
            }
            Ok(Vec::new())
        }
        Cmdlet::NewImConfiguration {
            identity,
            enable_offline_im,
        } => {
            let identity = &check_site(identity)?;
            if config.im_configurations.contains_key(&identity.key()) {
                return Err(err(
                    at,
                    format!("`{identity}`, which already exists"),
                    "a scope with no IM configuration yet (use Set-CsImConfiguration to change one)",
                ));
            }
            config.im_configurations.insert(
                identity.key(),
                ImConfiguration {
                    identity: identity.clone(),
                    enable_offline_im: enable_offline_im.unwrap_or(true),
                },
            );
            Ok(Vec::new())
        }
        Cmdlet::RemoveImConfiguration { identity } => {
            if *identity == Scope::Global {
                // Mirrors the documented behaviour of Remove-CsClientPolicy
                // on the global policy: reset, not removed (DEC-019).
                config
                    .im_configurations
                    .insert(identity.key(), ImConfiguration::default_global());
                return Ok(Vec::new());
            }
            if config.im_configurations.remove(&identity.key()).is_none() {
                return Err(not_found(identity, "IM configuration"));
            }
            Ok(Vec::new())
        }
        Cmdlet::SetClientPolicy {
            identity,
            enable_im_auto_archiving,
        } => {
            let identity = &check_site(identity)?;
            let Some(p) = config.client_policies.get_mut(&identity.key()) else {
                return Err(not_found(
                    identity,
                    "client policy (create it with New-CsClientPolicy)",
                ));
            };
            if let Some(v) = enable_im_auto_archiving {
                p.enable_im_auto_archiving = *v;
            }
            Ok(Vec::new())
        }
        Cmdlet::NewClientPolicy {
            identity,
            enable_im_auto_archiving,
        } => {
            if *identity == Scope::Global {
                return Err(err(
                    at,
                    "`Global`, which always exists",
                    "a site or per-user identity (use Set-CsClientPolicy -Identity Global to change the global policy)",
                ));
            }
            let identity = &check_site(identity)?;
            if config.client_policies.contains_key(&identity.key()) {
                return Err(err(
                    at,
                    format!("`{identity}`, which already exists"),
                    "a new identity (use Set-CsClientPolicy to change an existing policy)",
                ));
            }
            config.client_policies.insert(
                identity.key(),
                ClientPolicy {
                    identity: identity.clone(),
                    enable_im_auto_archiving: *enable_im_auto_archiving,
                },
            );
            Ok(Vec::new())
        }
        Cmdlet::GrantClientPolicy { user, policy_name } => {
            let Some(uid) = deployment.find_user(user) else {
                return Err(err(
                    at,
                    format!("the unknown user `{user}`"),
                    format!(
                        "a user of `{}`: {}",
                        org.name,
                        org_user_names(deployment, org_id)
                    ),
                ));
            };
            if deployment.user(uid).org != org_id {
                return Err(err(
                    at,
                    format!("`{user}`, who belongs to `{}`", deployment.org_of(uid).name),
                    format!(
                        "a user of `{}`: {}",
                        org.name,
                        org_user_names(deployment, org_id)
                    ),
                ));
            }
            match policy_name {
                None => {
                    config.grants.remove(&uid);
                }
                Some(name) => {
                    let key = Scope::Tag(name.clone()).key();
                    if !config.client_policies.contains_key(&key) {
                        return Err(err(
                            parsed.policy_column,
                            format!("the unknown policy `{name}`"),
                            format!(
                                "an existing per-user policy: {} (create it with New-CsClientPolicy -Identity {name})",
                                crate::rules::domain::join_names(
                                    config.client_policies.values().filter_map(|p| {
                                        match &p.identity {
                                            Scope::Tag(t) => Some(t.as_str()),
                                            _ => None,
                                        }
                                    })
                                )
                            ),
                        ));
                    }
                    config.grants.insert(uid, key);
                }
            }
            Ok(Vec::new())
        }
        Cmdlet::RemoveClientPolicy { identity, force } => {
            if *identity == Scope::Global {
                // "the global policy will not be removed ... all the
                // properties in the global policy will be reset".
                config
                    .client_policies
                    .insert(identity.key(), ClientPolicy::unset(Scope::Global));
                return Ok(Vec::new());
            }
            let key = identity.key();
            if !config.client_policies.contains_key(&key) {
                return Err(not_found(identity, "client policy"));
            }
            let assigned: Vec<UserId> = config
                .grants
                .iter()
                .filter(|(_, k)| **k == key)
                .map(|(u, _)| *u)
                .collect();
            if !assigned.is_empty() && !force {
                return Err(err(
                    at,
                    format!("`{identity}`, assigned to {} user(s)", assigned.len()),
                    "`-Force` to remove a policy that is assigned (the shell would ask for confirmation)",
                ));
            }
            config.client_policies.remove(&key);
            for u in assigned {
                config.grants.remove(&u);
            }
            Ok(Vec::new())
        }
    }
}

fn org_user_names(deployment: &Deployment, org: OrgId) -> String {
    crate::rules::domain::join_names(
        deployment
            .users
            .iter()
            .filter(|u| u.org == org)
            .map(|u| u.name.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edit distance behind "did you mean" (DEC-019), on known pairs.
    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("set-csimconfig", "set-csimconfiguration"), 7);
        assert_eq!(edit_distance("é", "e"), 1, "characters, not bytes");
    }

    #[test]
    fn parses_the_seed_commands_exactly_as_printed() {
        for line in [
            "Set-CsImConfiguration -EnableOfflineIM $True",
            "Get-CsImConfiguration",
            "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $False",
            "New-CsClientPolicy -Identity OfflineIM",
            "Set-CsClientPolicy -Identity OfflineIM -EnableIMAutoArchiving $False",
            "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName OfflineIM",
        ] {
            parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn the_malformed_seed_line_is_rejected_with_a_repair() {
        let e = parse("Grant -CsClientPolicy -Identity \"Tony Smith\" - PolicyName OfflineIM")
            .unwrap_err();
        assert_eq!(e.column, 1);
        assert_eq!(
            e.suggestion.as_deref(),
            Some("Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName OfflineIM")
        );
        let e = parse("Grant-CsClientPolicy -Identity \"Tony Smith\" - PolicyName OfflineIM")
            .unwrap_err();
        assert_eq!(e.column, 45);
        assert!(e.expected.contains("-PolicyName"));
    }

    #[test]
    fn misspelt_boolean_names_the_value_and_suggests() {
        let e = parse("Set-CsImConfiguration -EnableOfflineIM $Ture").unwrap_err();
        assert_eq!(e.column, 40);
        assert!(e.found.contains("$Ture"));
        assert!(e.expected.contains("did you mean `$True`"));
    }

    #[test]
    fn positional_identity_and_colon_syntax() {
        let p = parse("set-csclientpolicy site:Redmond -enableimautoarchiving:$false").unwrap();
        assert_eq!(
            p.cmdlet,
            Cmdlet::SetClientPolicy {
                identity: Scope::Site("Redmond".into()),
                enable_im_auto_archiving: Some(Some(false))
            }
        );
    }

    #[test]
    fn unknown_parameter_lists_the_accepted_ones() {
        let e = parse("Set-CsClientPolicy -Identity Global -DisableSavingIM $True").unwrap_err();
        assert!(e.found.contains("-DisableSavingIM"));
        assert!(e.expected.contains("-EnableIMAutoArchiving"));
    }
}
