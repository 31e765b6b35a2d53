//! Twenty-two deliberately wrong implementations of `offline-im/1`, each a
//! small variation of the reference with one plausible bug, to show that
//! `offline-im conform` catches each with a short counterexample
//! (tests/conformance.rs runs them). The first seven are CONF-012's; the
//! other fifteen were written from SPEC.md alone, one misreading each, to
//! measure the kit on bugs it was not built around.
//!
//! Run one as an implementation under test:
//!
//! ```text
//! cargo build --examples
//! offline-im conform --impl "target/debug/examples/wrong_implementations dnd-ignored"
//! ```
//!
//! It is also the template for an in-process implementation: implement
//! `conformance::Implementation`, then either call
//! `conformance::assert_conforms` from a test or `conformance::serve` from
//! `main` to speak the protocol on stdin and stdout.
//!
//! The framing faults (`FRAMING_FAULTS`) live in the line loop, which an
//! in-process run does not have: `wrong` returns them as the unchanged
//! reference, and only the program shows the bug.

use offline_im::conformance::{
    self, Answer, ErrorCode, Implementation, LINE_BYTES_MAX, Reference, Rejection,
};
use offline_im::rules::spooler::SpoolStatus;
use serde_json::Value;
use std::io::{self, BufRead, Read};
use std::process::ExitCode;

/// The faults, by the name given on the command line.
pub const FAULTS: [&str; 22] = [
    "federated-as-missed-conversation",
    "early-pickup",
    "per-user-grant-ignored",
    "crash-drops-spool",
    "duplicate-after-crash",
    "out-of-order",
    "dnd-ignored",
    "msi-as-c2r",
    "on-premises-build-gate-skipped",
    "ews-before-own-mailbox",
    "appear-offline-live",
    "off-work-offline",
    "ews-latency-ignored",
    "one-attempt-too-many",
    "restart-retimes-waiting",
    "dedup-by-body",
    "notified-at-every-sign-in",
    "sender-copy-in-sent-items",
    "spool-in-due-order",
    "identity-prefix-case-sensitive",
    "id-as-fraction-unreadable",
    "trims-unicode-space",
];

/// The faults of the line loop (CONF-001, CONF-013), which only the program
/// has: in-process, `wrong` gives them the reference's behaviour.
const FRAMING_FAULTS: [&str; 2] = ["id-as-fraction-unreadable", "trims-unicode-space"];

/// The most `advance` steps `spool-in-due-order` takes between two due
/// times before it lets the rest of the interval run in one go.
const ADVANCE_STEPS_MAX: usize = 100_000;

pub struct Wrong {
    fault: &'static str,
    inner: Reference,
}

/// The wrong implementation named `fault`, if there is one. tests/
/// conformance.rs also runs them in-process through this.
pub fn wrong(fault: &str) -> Option<Wrong> {
    let fault = FAULTS.iter().find(|f| **f == fault)?;
    Some(Wrong {
        fault,
        inner: Reference::new(),
    })
}

/// The four parts of a build written as the loader accepts it (ASCII
/// digits, each part at most 2^32 − 1), or `None` for anything else, which
/// is left for the loader to reject.
fn build_parts(text: &str) -> Option<[u64; 4]> {
    let parts: Vec<u64> = text
        .split('.')
        .map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<u64>().ok().filter(|n| *n <= u64::from(u32::MAX))
        })
        .collect::<Option<Vec<u64>>>()?;
    parts.try_into().ok()
}

/// The users of a deployment, for rewriting in `reset`; none when the
/// deployment has no user list (the loader then rejects it).
fn users_mut(d: &mut Value) -> impl Iterator<Item = &mut Value> {
    d.get_mut("users")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// The options object of a deployment, created when absent; `None` when
/// the deployment or its options are not objects (the loader rejects them).
fn options_mut(d: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let map = d.as_object_mut()?;
    map.entry("options")
        .or_insert_with(|| Value::Object(serde_json::Map::new()))
        .as_object_mut()
}

/// The value of `-Identity` in a cmdlet line, written `-Identity x` or
/// `-Identity:x`, without surrounding quotes.
fn identity_value(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let unquote = |w: &str| w.trim_matches(['"', '\'']).to_string();
    for (i, w) in words.iter().enumerate() {
        let lower = w.to_ascii_lowercase();
        if lower == "-identity" || lower == "-identity:" {
            return words.get(i + 1).map(|v| unquote(v));
        }
        if let Some(rest) = lower.strip_prefix("-identity:") {
            return Some(unquote(&w[w.len() - rest.len()..]));
        }
    }
    None
}

impl Wrong {
    /// Applies `f` to every folder's item list of an observation.
    fn each_folder(mut observation: Value, f: impl Fn(&mut Vec<Value>)) -> Value {
        // `get_mut`, not indexing: indexing a missing key would add it.
        let users = observation.get_mut("users").and_then(Value::as_array_mut);
        for user in users.into_iter().flatten() {
            let folders = user.get_mut("folders").and_then(Value::as_array_mut);
            for folder in folders.into_iter().flatten() {
                if let Some(items) = folder.get_mut("items").and_then(Value::as_array_mut) {
                    f(items);
                }
            }
        }
        observation
    }

    /// Applies `f` to every user of an observation.
    fn each_user(mut observation: Value, mut f: impl FnMut(&mut Value)) -> Value {
        let users = observation.get_mut("users").and_then(Value::as_array_mut);
        for user in users.into_iter().flatten() {
            f(user);
        }
        observation
    }

    /// The recipient's presence in the inner world, by name.
    fn presence_of(&mut self, user: &str) -> Option<String> {
        let observation = self.inner.observe().ok()?;
        observation["users"]
            .as_array()?
            .iter()
            .find(|u| u["name"] == user)?
            .get("presence")?
            .as_str()
            .map(str::to_string)
    }

    /// Sends as if a recipient in one of `presences` were in `instead`, and
    /// puts their presence back afterwards.
    fn send_as_if(
        &mut self,
        (from, to, body): (&str, &str, &str),
        presences: &[&str],
        instead: &str,
    ) -> Answer {
        if let Some(p) = self.presence_of(to)
            && presences.contains(&p.as_str())
        {
            self.inner.set_presence(to, instead)?;
            let answer = self.inner.send(from, to, body);
            self.inner.set_presence(to, &p)?;
            return answer;
        }
        self.inner.send(from, to, body)
    }

    /// `spool-in-due-order`: every History Spooler listed and served as a
    /// priority queue by due time, so that acceptance order is lost.
    fn sort_spoolers(&mut self) {
        if self.fault != "spool-in-due-order" {
            return;
        }
        if let Some(world) = self.inner.world_mut() {
            for spooler in &mut world.state.spoolers {
                spooler.entries.sort_by_key(|e| e.due_ms);
            }
        }
    }
}

/// Sets one option of a deployment, adding `options` when it is absent.
/// A malformed deployment (not an object, or `options` not one) is left
/// as it is, so that the loader rejects it as it would the reference's:
/// indexing would panic there.
fn set_option(d: &mut Value, key: &str, value: Value) {
    let Some(d) = d.as_object_mut() else { return };
    let options = d
        .entry("options")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(options) = options.as_object_mut() {
        options.insert(key.to_string(), value);
    }
}

impl Implementation for Wrong {
    fn name(&self) -> String {
        format!("wrong implementation: {}", self.fault)
    }

    fn reset(&mut self, deployment: &Value) -> Answer {
        // A deployment the loader rejects is rejected as the reference
        // rejects it: each fault below is a misreading of a rule, not of
        // the deployment rules, so it rewrites only deployments that load.
        if conformance::load_deployment(deployment).is_err() {
            return self.inner.reset(deployment);
        }
        let mut d = deployment.clone();
        match self.fault {
            // Picks the spool up after one minute instead of two (OIM-011).
            "early-pickup" => set_option(&mut d, "pickup_delay_ms", Value::from(60_000)),
            // Files a resent message again (DEC-004).
            "duplicate-after-crash" => set_option(&mut d, "dedup", Value::from(false)),
            // OIM-004, DEC-033: an MSI client is let through whenever its
            // build passes, as if "only available in the latest version of
            // the Click-to-Run client" were a build threshold alone and the
            // install type did not matter.
            "msi-as-c2r" => {
                for u in users_mut(&mut d) {
                    if u.get("install") == Some(&Value::from("msi")) {
                        u["install"] = Value::from("c2r");
                    }
                }
            }
            // OIM-003: the NOTE about on-premises mailboxes read as advice
            // rather than a second gate, so an on-premises writer on a build
            // from 16.0.6701.1000 up to 16.0.6920.1000 is let through.
            "on-premises-build-gate-skipped" => {
                for u in users_mut(&mut d) {
                    let build = u.get("build").and_then(Value::as_str).and_then(build_parts);
                    if u.get("mailbox") == Some(&Value::from("on-premises"))
                        && build.is_some_and(|b| {
                            ([16, 0, 6701, 1000]..[16, 0, 6920, 1000]).contains(&b)
                        })
                    {
                        u["build"] = Value::from("16.0.6920.1000");
                    }
                }
            }
            // DEC-024: the EWS call treated as synchronous, so Exchange
            // processes it and the client reads the answer at the pickup
            // instant, whatever `ews_latency_ms` says.
            "ews-latency-ignored" => {
                if let Some(options) = options_mut(&mut d)
                    && options
                        .get("ews_latency_ms")
                        .and_then(Value::as_u64)
                        .is_some_and(|ms| ms <= 60_000)
                {
                    options.insert("ews_latency_ms".into(), Value::from(0));
                }
            }
            // DEC-003: "after attempts_max attempts" read as attempts_max
            // retries after the first attempt, so one attempt too many. At
            // 16 the count is already the most the loader takes, and the bug
            // does not show.
            "one-attempt-too-many" => {
                if let Some(options) = options_mut(&mut d) {
                    match options.get("attempts_max").map(Value::as_u64) {
                        None => {
                            options.insert("attempts_max".into(), Value::from(4));
                        }
                        Some(Some(n @ 1..=15)) => {
                            options.insert("attempts_max".into(), Value::from(n + 1));
                        }
                        Some(_) => {}
                    }
                }
            }
            _ => {}
        }
        self.inner.reset(&d)
    }

    fn send(&mut self, from: &str, to: &str, body: &str) -> Answer {
        let answer = match self.fault {
            // Routes as if the recipient were Available (OIM-017).
            "dnd-ignored" => self.send_as_if(
                (from, to, body),
                &["do-not-disturb", "presenting"],
                "available",
            ),
            // DEC-001: Appear Offline treated like the other signed-in
            // presences, because the recipient is in fact signed in, so the
            // IM goes live instead of offline.
            "appear-offline-live" => {
                self.send_as_if((from, to, body), &["appear-offline"], "available")
            }
            // DEC-001: Off Work read as "not at work, so offline" (option
            // (c) for Off Work alone), so the IM is spooled instead of going
            // live.
            "off-work-offline" => {
                self.send_as_if((from, to, body), &["off-work"], "appear-offline")
            }
            _ => self.inner.send(from, to, body),
        };
        let mut answer = answer?;
        if self.fault == "ews-before-own-mailbox" && answer["reason"] == "no-own-mailbox" {
            // DEC-033: the gate checked in the plain order of the
            // requirements, OIM-005 (EWS) before DEC-017 (the writer's own
            // mailbox), so an unpublished EWS is the reason reported. The
            // writer is the sender, or for a live fallback the recipient
            // (DEC-015).
            let writer = if answer["route"] == "live" { to } else { from };
            if let Some(world) = self.inner.world_mut()
                && let Some(u) = world.deployment.find_user(writer)
                && !world.deployment.org_of(u).ews_published
            {
                answer["reason"] = Value::from("ews-not-published");
            }
        }
        self.sort_spoolers();
        Ok(answer)
    }

    fn sign_in(&mut self, user: &str, presence: &str) -> Answer {
        if self.fault == "notified-at-every-sign-in" {
            // OIM-016: "notified when they log in" read as at every log-in,
            // so every missed conversation is notified again at each
            // sign-in, not exactly once (DEC-021, INV-007).
            if let Some(world) = self.inner.world_mut()
                && let Some(u) = world.deployment.find_user(user)
                && world.state.clients[u.0 as usize].running
                && !world.state.clients[u.0 as usize].signed_in
            {
                for item in &mut world.state.mailboxes[u.0 as usize].items {
                    item.notified = false;
                }
            }
        }
        let answer = self.inner.sign_in(user, presence);
        self.sort_spoolers();
        answer
    }

    fn sign_out(&mut self, user: &str) -> Answer {
        let answer = self.inner.sign_out(user);
        self.sort_spoolers();
        answer
    }

    fn set_presence(&mut self, user: &str, presence: &str) -> Answer {
        let answer = self.inner.set_presence(user, presence);
        self.sort_spoolers();
        answer
    }

    fn crash(&mut self, user: &str) -> Answer {
        let answer = self.inner.crash(user)?;
        if self.fault == "crash-drops-spool" {
            // Keeps the History Spooler in memory only (DEC-005).
            if let Some(world) = self.inner.world_mut()
                && let Some(u) = world.deployment.find_user(user)
            {
                world.state.spoolers[u.0 as usize]
                    .entries
                    .retain(|e| e.status != SpoolStatus::Waiting);
            }
        }
        self.sort_spoolers();
        Ok(answer)
    }

    fn restart(&mut self, user: &str) -> Answer {
        let waiting: Vec<_> = match self.inner.world_mut() {
            Some(world) if self.fault == "restart-retimes-waiting" => world
                .deployment
                .find_user(user)
                .map(|u| {
                    world.state.spoolers[u.0 as usize]
                        .entries
                        .iter()
                        .filter(|e| e.status == SpoolStatus::Waiting)
                        .map(|e| e.message)
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let answer = self.inner.restart(user)?;
        if let Some(world) = self.inner.world_mut()
            && let Some(u) = world.deployment.find_user(user)
            && !waiting.is_empty()
        {
            // DEC-005, before pickup: a waiting entry re-timed to two
            // minutes after the restart (what the text said until issue 15)
            // instead of keeping its due time from acceptance.
            let due_ms = world.state.clock_ms + world.deployment.options.pickup_delay_ms;
            for e in &mut world.state.spoolers[u.0 as usize].entries {
                if waiting.contains(&e.message) && e.status == SpoolStatus::Waiting {
                    e.due_ms = due_ms;
                }
            }
        }
        self.sort_spoolers();
        Ok(answer)
    }

    fn ews_down(&mut self, org: &str) -> Answer {
        let answer = self.inner.ews_down(org);
        self.sort_spoolers();
        answer
    }

    fn ews_up(&mut self, org: &str) -> Answer {
        let answer = self.inner.ews_up(org);
        self.sort_spoolers();
        answer
    }

    fn admin(&mut self, org: &str, command: &str) -> Answer {
        if self.fault == "identity-prefix-case-sensitive"
            && let Some(world) = self.inner.world_mut()
            && world.deployment.find_org(org).is_some()
            && !command
                .split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("Grant-CsClientPolicy"))
            && let Some(identity) = identity_value(command)
        {
            // OIM-023, DEC-019: the scope prefixes matched as the cmdlet
            // reference spells them (`Global`, `Site:`, `Tag:`), so
            // `-Identity global` or `site:Redmond` is rejected although
            // identities are case-insensitive.
            let lower = identity.to_ascii_lowercase();
            let miscased = (lower == "global" && identity != "Global")
                || (lower.starts_with("site:") && !identity.starts_with("Site:"))
                || (lower.starts_with("tag:") && !identity.starts_with("Tag:"));
            if miscased {
                return Err(Rejection::new(
                    ErrorCode::Cmdlet,
                    format!(
                        "found the identity `{identity}`, expected Global, Site:<name> or Tag:<name>"
                    ),
                ));
            }
        }
        let answer = self.inner.admin(org, command)?;
        if self.fault == "per-user-grant-ignored" {
            // Validates and accepts a grant, then forgets it by unassigning
            // the policy again (OIM-019, DEC-010).
            let words: Vec<&str> = command.split_whitespace().collect();
            let is_grant = words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("Grant-CsClientPolicy"));
            if let Some(i) = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("-PolicyName"))
                && is_grant
                && i + 1 < words.len()
            {
                let mut undo = words.clone();
                undo[i + 1] = "$Null";
                self.inner.admin(org, &undo.join(" "))?;
            }
        }
        self.sort_spoolers();
        Ok(answer)
    }

    fn advance(&mut self, to_ms: u64) -> Answer {
        if self.fault == "spool-in-due-order" {
            // Stops at each due time on the way, so that the spoolers are
            // re-sorted between pickups as a priority queue would be.
            for _ in 0..ADVANCE_STEPS_MAX {
                let Some(world) = self.inner.world_mut() else {
                    break;
                };
                let now = world.state.clock_ms;
                let next = world
                    .state
                    .spoolers
                    .iter()
                    .flat_map(|s| &s.entries)
                    .filter(|e| e.status == SpoolStatus::Waiting && e.due_ms > now)
                    .map(|e| e.due_ms)
                    .min();
                match next {
                    Some(t) if t <= to_ms && to_ms <= conformance::TIME_MS_MAX => {
                        self.inner.advance(t)?;
                        self.sort_spoolers();
                    }
                    _ => break,
                }
            }
        }
        let answer = self.inner.advance(to_ms);
        self.sort_spoolers();
        answer
    }

    fn observe(&mut self) -> Answer {
        let observation = self.inner.observe()?;
        Ok(match self.fault {
            // Classes every item as a missed conversation (OIM-010).
            "federated-as-missed-conversation" => Wrong::each_folder(observation, |items| {
                for item in items {
                    item["class"] = Value::from("IM.Note.MissedConversation");
                }
            }),
            // Files a folder's items newest first (INV-008, DEC-006).
            "out-of-order" => Wrong::each_folder(observation, |items| items.reverse()),
            "dedup-by-body" => Wrong::each_user(observation, dedup_by_body),
            "sender-copy-in-sent-items" => Wrong::each_user(observation, copies_to_sent_items),
            _ => observation,
        })
    }
}

/// DEC-004: the mailbox recognises a resend by what it says (sender,
/// recipient, kind and body) rather than by the message id, so a second,
/// different message with the same text is dropped as a duplicate, and its
/// notification with it.
fn dedup_by_body(user: &mut Value) {
    let mut dropped: Vec<Value> = Vec::new();
    if let Some(folders) = user.get_mut("folders").and_then(Value::as_array_mut) {
        for folder in folders.iter_mut() {
            let Some(items) = folder.get_mut("items").and_then(Value::as_array_mut) else {
                continue;
            };
            let mut kept: Vec<Value> = Vec::new();
            for item in items.drain(..) {
                let same = |k: &Value| {
                    ["kind", "from", "to", "body"]
                        .iter()
                        .all(|f| k.get(f) == item.get(f))
                        && k.get("id") != item.get("id")
                };
                if kept.iter().any(same) {
                    dropped.extend(item.get("id").cloned());
                } else {
                    kept.push(item);
                }
            }
            *items = kept;
        }
        folders.retain(|f| f["items"].as_array().is_some_and(|i| !i.is_empty()));
        if folders.is_empty()
            && let Some(map) = user.as_object_mut()
        {
            map.remove("folders");
        }
    }
    if let Some(notes) = user.get_mut("notifications").and_then(Value::as_array_mut) {
        notes.retain(|n| !dropped.contains(n));
        if notes.is_empty()
            && let Some(map) = user.as_object_mut()
        {
            map.remove("notifications");
        }
    }
}

/// DEC-008, INV-009: the Server sender's copy saved where mail clients keep
/// what a user sent, Sent Items, instead of Conversation History, since the
/// copy is of a message the user sent.
fn copies_to_sent_items(user: &mut Value) {
    let Some(folders) = user.get_mut("folders").and_then(Value::as_array_mut) else {
        return;
    };
    let mut copies: Vec<Value> = Vec::new();
    for folder in folders.iter_mut() {
        if folder["folder"] != "Conversation History" {
            continue;
        }
        if let Some(items) = folder.get_mut("items").and_then(Value::as_array_mut) {
            let (moved, kept): (Vec<Value>, Vec<Value>) =
                items.drain(..).partition(|i| i["kind"] == "sender-copy");
            copies = moved;
            *items = kept;
        }
    }
    folders.retain(|f| f["items"].as_array().is_some_and(|i| !i.is_empty()));
    if copies.is_empty() {
        return;
    }
    // Sent Items comes after the Inbox and Drafts and before the rest
    // (CONF-006).
    let at = folders
        .iter()
        .position(|f| f["folder"] != "Inbox" && f["folder"] != "Drafts")
        .unwrap_or(folders.len());
    folders.insert(
        at,
        serde_json::json!({ "folder": "Sent Items", "items": copies }),
    );
}

/// Whether a request line writes its `id` as a number with a fraction or an
/// exponent (`1.0`, `1e0`), which `id-as-fraction-unreadable` cannot read.
fn id_written_as_fraction(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .is_some_and(|id| matches!(id, Value::Number(n) if n.is_f64()))
}

/// The line reader of the framing faults, put in front of
/// `conformance::serve`: it hands each line to `serve` as a faulty reader
/// would have read it. `id-as-fraction-unreadable` reads an id only when it
/// is written as an integer, the way a reader with separate integer and
/// float types does, though CONF-013 reads `1.0` as 1: such a line reaches
/// `serve` without its id. `trims-unicode-space` trims each line with
/// `str::trim` before parsing, which also strips U+00A0 and U+0085 although
/// CONF-001 allows only JSON whitespace around the object.
struct FaultyLines<R> {
    fault: &'static str,
    input: R,
    /// The current line as the faulty reader sees it, and how much of it
    /// `serve` has read.
    line: Vec<u8>,
    read: usize,
}

impl<R: BufRead> FaultyLines<R> {
    /// Reads the next line, at most one byte over `LINE_BYTES_MAX` at a
    /// time; an overlong line is passed on as it is, for `serve` to reject.
    fn next_line(&mut self) -> io::Result<()> {
        self.line.clear();
        self.read = 0;
        (&mut self.input)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut self.line)?;
        let lf = self.line.last() == Some(&b'\n');
        let content = &self.line[..self.line.len() - usize::from(lf)];
        let Ok(text) = std::str::from_utf8(content) else {
            return Ok(());
        };
        let seen = match self.fault {
            "trims-unicode-space" => text.trim(),
            "id-as-fraction-unreadable" if id_written_as_fraction(text) => r#"{"op":"observe"}"#,
            _ => text,
        };
        let changed =
            (seen != text).then(|| [seen.as_bytes(), if lf { b"\n" } else { b"" }].concat());
        if let Some(line) = changed {
            self.line = line;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for FaultyLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read == self.line.len() {
            self.next_line()?;
        }
        let n = buf.len().min(self.line.len() - self.read);
        buf[..n].copy_from_slice(&self.line[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let Some(mut imp) = wrong(&arg) else {
        eprintln!(
            "found fault `{arg}`, expected one of: {}",
            FAULTS.join(", ")
        );
        return ExitCode::from(2);
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let served = if FRAMING_FAULTS.contains(&imp.fault) {
        let lines = FaultyLines {
            fault: imp.fault,
            input: stdin.lock(),
            line: Vec::new(),
            read: 0,
        };
        conformance::serve(&mut imp, lines, stdout.lock())
    } else {
        conformance::serve(&mut imp, stdin.lock(), stdout.lock())
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::from(2)
        }
    }
}
