//! The wire protocol `offline-im/1` (SPEC.md §7): requests, answers and
//! their JSON-lines framing, and the Rust trait with the same ops.
//!
//! Invariants it keeps:
//! - Every request the kit writes and every answer `serve` writes is one
//!   line of JSON that validates against `SCHEMA` (a test checks both).
//! - Decoding an implementation's line never panics: anything that is not a
//!   well-formed answer to the request in flight is a `Fault`.
//!
//! What it deliberately does not do: run anything. The reference is in
//! `reference`, the child process in `process`.

use crate::rules::domain::{Presence, join_names};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The protocol name and version that `hello` negotiates.
pub const PROTOCOL: &str = "offline-im/1";

/// The JSON Schema of every request and answer (`offline-im schema`).
pub const SCHEMA: &str = include_str!("schema.json");

/// The longest request line `serve` reads, in bytes, without its LF;
/// longer lines are answered with `bad_request` rather than buffered
/// without limit (CONF-001).
pub const LINE_BYTES_MAX: usize = 1 << 20;

/// The largest request id: 2^53 − 1, the largest integer that every JSON
/// reader holds exactly (JavaScript's `Number.MAX_SAFE_INTEGER`). A larger
/// id is unreadable, and its answer carries `id: null` (CONF-013).
pub const ID_MAX: u64 = (1 << 53) - 1;

/// The latest `to_ms`: the end of time of DEC-050's range table
/// (`rules::domain::TIME_MS_MAX`, 10^15 ms), so that a time plus a duration,
/// which an observation shows as `due_ms`, stays far within `ID_MAX`
/// (CONF-013).
pub const TIME_MS_MAX: u64 = crate::rules::domain::TIME_MS_MAX;

/// One operation: a request without its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Opens the conversation: the protocol the kit speaks.
    Hello {
        /// The protocol the kit speaks, `PROTOCOL`. Any other is answered
        /// `bad_request`.
        protocol: String,
    },
    /// Loads a deployment, in the form of a models/ file's `[deployment]`
    /// table, and starts from its initial state: time 0, every client
    /// running and signed out, every EWS up.
    Reset {
        /// The `[deployment]` table of a models/ file as JSON, without the
        /// users' `signed_in` and `presence` keys: sign-ins are ops
        /// (CONF-003).
        deployment: Value,
    },
    /// A user types an IM. Answers the message id and the route.
    Send {
        /// The sender's display name or SIP address.
        from: String,
        /// The recipient's display name or SIP address.
        to: String,
        /// The message text: any Unicode, possibly empty.
        body: String,
    },
    /// A user signs in on a running client with a presence.
    SignIn {
        /// The user's display name or SIP address.
        user: String,
        /// The presence to publish, by its kebab-case name, e.g.
        /// `do-not-disturb`.
        presence: String,
    },
    /// A user signs out; their spooler pauses until they sign in again
    /// (DEC-023).
    SignOut {
        /// The user's display name or SIP address.
        user: String,
    },
    /// A signed-in user changes presence.
    SetPresence {
        /// The user's display name or SIP address.
        user: String,
        /// The new presence, by its kebab-case name.
        presence: String,
    },
    /// The client crashes or is closed (DEC-005).
    Crash {
        /// The user whose client stops.
        user: String,
    },
    /// A stopped client starts again, signed out. Its entries that were in
    /// flight become due again or are kept as failed (DEC-005).
    Restart {
        /// The user whose client restarts.
        user: String,
    },
    /// An organisation's EWS goes down; its requests in flight fail (DEC-024).
    EwsDown {
        /// The organisation's name.
        org: String,
    },
    /// An organisation's EWS comes back.
    EwsUp {
        /// The organisation's name.
        org: String,
    },
    /// A Management Shell command run in one organisation.
    Admin {
        /// The organisation whose Management Shell runs the command.
        org: String,
        /// The command line, e.g.
        /// `Set-CsImConfiguration -EnableOfflineIM $False`.
        command: String,
    },
    /// Lets virtual time run to `to_ms`, performing everything that falls
    /// due on the way.
    Advance {
        /// The time to run to, in virtual milliseconds since `reset`, at most
        /// `TIME_MS_MAX` (CONF-013). A time before the clock is `rejected`
        /// (CONF-004).
        to_ms: u64,
    },
    /// The canonical observable state.
    Observe,
}

impl Op {
    /// The op's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "hello",
            Op::Reset { .. } => "reset",
            Op::Send { .. } => "send",
            Op::SignIn { .. } => "sign_in",
            Op::SignOut { .. } => "sign_out",
            Op::SetPresence { .. } => "set_presence",
            Op::Crash { .. } => "crash",
            Op::Restart { .. } => "restart",
            Op::EwsDown { .. } => "ews_down",
            Op::EwsUp { .. } => "ews_up",
            Op::Admin { .. } => "admin",
            Op::Advance { .. } => "advance",
            Op::Observe => "observe",
        }
    }

    /// The checks of the schema that serde's field types do not make: the
    /// protocol `hello` names, the presence names, and the range of `to_ms`.
    /// `decode_request` and `call` both make them, so a request the schema
    /// rejects is `bad_request` whatever the state and whichever way it
    /// arrives (CONF-001, CONF-003, CONF-013).
    pub fn check(&self) -> Result<(), Rejection> {
        let bad = |m: String| Err(Rejection::new(ErrorCode::BadRequest, m));
        match self {
            Op::Hello { protocol } if protocol != PROTOCOL => bad(format!(
                "found protocol `{protocol}`, expected `{PROTOCOL}`"
            )),
            Op::SignIn { presence, .. } | Op::SetPresence { presence, .. } => {
                parse_presence(presence).map(drop)
            }
            Op::Advance { to_ms } if *to_ms > TIME_MS_MAX => {
                bad(out_of_range("to_ms", &Value::from(*to_ms), TIME_MS_MAX))
            }
            _ => Ok(()),
        }
    }
}

/// Writes every whole-valued number in `v` as an integer: `1.0`, `1e0`
/// and `-0.0` become `1`, `1` and `0`. CONF-013 reads a JSON number by its
/// value, as a reader that holds numbers as IEEE 754 doubles does, so the
/// way an integer is written never matters; the kit applies this to every
/// request line `serve` reads, to every deployment `reset` loads, and to
/// every answer line it reads.
pub fn whole_numbers_as_integers(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_u64() && !n.is_i64() => {
            let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            // 2^64 and -2^63 are exact doubles; every whole double between
            // them converts to an integer exactly.
            if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                *v = Value::from(f as u64);
            } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The presence a request names: one of the eight kebab-case names of the
/// schema, its ASCII letters in any case and nothing else folded (CONF-003).
/// Any other name is `bad_request`: presence names are the protocol's, not
/// the deployment's.
pub fn parse_presence(name: &str) -> Result<Presence, Rejection> {
    Presence::parse(name).ok_or_else(|| {
        Rejection::new(
            ErrorCode::BadRequest,
            format!(
                "found the presence `{name}`, expected one of {} (ASCII letters in any case)",
                join_names(Presence::ALL.iter().map(|p| p.name()))
            ),
        )
    })
}

fn out_of_range(field: &str, found: &Value, max: u64) -> String {
    format!("found `\"{field}\": {found}`, expected a whole number from 0 to {max}")
}

impl fmt::Display for Op {
    /// A person-readable one-line description.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Hello { protocol } => write!(f, "hello {protocol}"),
            Op::Reset { .. } => write!(f, "reset"),
            Op::Send { from, to, body } => write!(f, "send {from} -> {to}: {body:?}"),
            Op::SignIn { user, presence } => write!(f, "sign in {user} as {presence}"),
            Op::SignOut { user } => write!(f, "sign out {user}"),
            Op::SetPresence { user, presence } => write!(f, "set presence {user} to {presence}"),
            Op::Crash { user } => write!(f, "crash {user}'s client"),
            Op::Restart { user } => write!(f, "restart {user}'s client"),
            Op::EwsDown { org } => write!(f, "EWS down in {org}"),
            Op::EwsUp { org } => write!(f, "EWS up in {org}"),
            Op::Admin { org, command } => write!(f, "{org}> {command}"),
            Op::Advance { to_ms } => write!(f, "advance to {to_ms} ms"),
            Op::Observe => write!(f, "observe"),
        }
    }
}

/// Why an implementation declined an op. Only the code is compared; the
/// message is for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The code, which is the contract: the kit compares codes, never messages
    /// (CONF-007).
    pub code: ErrorCode,
    /// An explanation for people; it may differ between implementations.
    pub message: String,
}

impl Rejection {
    /// A rejection with `code` and a person-readable `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// The error codes of `offline-im/1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not a request: anything the schema rejects outside `deployment` (not
    /// JSON, no readable `id`, an unknown op, a missing, extra or mistyped
    /// field, an unknown presence, an integer out of range) (CONF-001).
    BadRequest,
    /// An event before any `reset`.
    NoDeployment,
    /// `reset` with a deployment the models/ form rejects, including one that
    /// breaks the schema's `deployment`.
    BadDeployment,
    /// A user or organisation that the deployment does not have.
    UnknownName,
    /// The event cannot happen in this state (a precondition of the rule
    /// book), or `advance` into the past.
    Rejected,
    /// The Management Shell rejected the command.
    Cmdlet,
}

/// What an implementation answers to one op.
pub type Answer = Result<Value, Rejection>;

/// The empty result of an event op.
pub fn done() -> Answer {
    Ok(Value::Object(Map::new()))
}

/// Whether two answers agree: equal results, or rejections with equal
/// codes.
pub fn agree(expected: &Answer, actual: &Answer) -> bool {
    match (expected, actual) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.code == b.code,
        _ => false,
    }
}

/// An answer as it appears in reports and snapshots, without the id.
pub fn answer_json(a: &Answer) -> Value {
    match a {
        Ok(result) => serde_json::json!({ "ok": true, "result": result }),
        Err(r) => serde_json::json!({ "ok": false, "code": r.code, "message": r.message }),
    }
}

/// A request line, without the newline.
pub fn encode_request(id: u64, op: &Op) -> String {
    let mut v = serde_json::to_value(op).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), Value::from(id));
    }
    v.to_string()
}

/// An answer line, without the newline. `id` is `None` when the request
/// had no readable id.
pub fn encode_answer(id: Option<u64>, a: &Answer) -> String {
    let mut m = Map::new();
    m.insert("id".into(), id.map_or(Value::Null, Value::from));
    match a {
        Ok(result) => {
            m.insert("ok".into(), Value::Bool(true));
            m.insert("result".into(), result.clone());
        }
        Err(r) => {
            m.insert("ok".into(), Value::Bool(false));
            m.insert(
                "code".into(),
                serde_json::to_value(r.code).unwrap_or(Value::Null),
            );
            m.insert("message".into(), Value::String(r.message.clone()));
        }
    }
    Value::Object(m).to_string()
}

/// Reads a request line (its content, without the LF): its id (if
/// readable) and the op, or the rejection to answer with. The line must be
/// exactly one JSON object (RFC 8259: JSON whitespace may surround it, and
/// nothing else may); an empty or blank line is not JSON (CONF-001).
pub fn decode_request(line: &str) -> (Option<u64>, Result<Op, Rejection>) {
    let bad = |m: String| Err(Rejection::new(ErrorCode::BadRequest, m));
    let mut v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            let found = if line.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
                "an empty or blank line".to_string()
            } else {
                format!("a line that is not JSON ({e})")
            };
            return (
                None,
                bad(format!("found {found}, expected one request object")),
            );
        }
    };
    whole_numbers_as_integers(&mut v);
    let Some(obj) = v.as_object_mut() else {
        return (
            None,
            bad("found JSON that is not an object, expected one request object".into()),
        );
    };
    let id = match obj.remove("id") {
        Some(found) => match found.as_u64().filter(|id| *id <= ID_MAX) {
            Some(id) => id,
            None => return (None, bad(out_of_range("id", &found, ID_MAX))),
        },
        None => {
            return (
                None,
                bad(format!(
                    "found a request without `id`, expected a whole number from 0 to {ID_MAX}"
                )),
            );
        }
    };
    let fields: Vec<String> = obj.keys().cloned().collect();
    let op = match serde_json::from_value::<Op>(v) {
        Ok(op) => op,
        Err(e) => return (Some(id), bad(format!("{e}; see `offline-im schema`"))),
    };
    // serde ignores unknown fields on a variant without fields (`observe`),
    // even with `deny_unknown_fields`: compare with the fields the op has.
    let known = serde_json::to_value(&op).unwrap_or(Value::Null);
    if let Some(extra) = fields.iter().find(|f| known.get(f.as_str()).is_none()) {
        let expected = std::iter::once("id")
            .chain(
                known
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str()),
            )
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return (
            Some(id),
            bad(format!(
                "found the field `{extra}` in a `{}` request, expected only {expected}",
                op.name()
            )),
        );
    }
    (Some(id), op.check().map(|()| op))
}

/// How an implementation failed to speak the protocol (exit code 3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The command could not be started.
    #[error("could not start `{command}`: {error}")]
    Spawn {
        /// The command line that was to run.
        command: String,
        /// The operating system's error.
        error: String,
    },
    /// The implementation exited, or closed its stdout, before answering
    /// the request in flight (CONF-008).
    #[error("the implementation exited ({status}) while request {id} (`{op}`) was in flight")]
    Exited {
        /// The id of the request in flight.
        id: u64,
        /// The request's op, described for a person.
        op: String,
        /// The exit status, or a note that the process still runs with its
        /// stdout closed.
        status: String,
    },
    /// Requests could not be written to the implementation's stdin, though
    /// it had not exited.
    #[error(
        "the implementation could not be written to while sending request {id} (`{op}`): {error}"
    )]
    Write {
        /// The id of the first request of the batch that could not be
        /// written.
        id: u64,
        /// That request's op, described for a person.
        op: String,
        /// The write error.
        error: String,
    },
    /// An answer line that is not JSON.
    #[error(
        "the implementation answered request {id} (`{op}`) with a line that is not JSON ({error}): {line}"
    )]
    NotJson {
        /// The id of the request in flight.
        id: u64,
        /// The request's op, described for a person.
        op: String,
        /// The JSON parser's error.
        error: String,
        /// The line, cut to 300 characters.
        line: String,
    },
    /// An answer whose `id` is not that of the request in flight: answers must
    /// come in request order, one each (CONF-002).
    #[error(
        "the implementation answered with id {found} while request {expected} (`{op}`) was in flight: {line}"
    )]
    WrongId {
        /// The id of the request in flight.
        expected: u64,
        /// The request's op, described for a person.
        op: String,
        /// The `id` the answer carried, as JSON.
        found: String,
        /// The line, cut to 300 characters.
        line: String,
    },
    /// An answer that lacks `id`, `ok`, `result`, `code` or `message`, or
    /// gives one of them the wrong type, or is not a JSON object at all
    /// (CONF-008).
    #[error(
        "the implementation's answer to request {id} (`{op}`) lacks or mistypes `{field}` (expected {expected}): {line}"
    )]
    BadField {
        /// The id of the request in flight.
        id: u64,
        /// The request's op, described for a person.
        op: String,
        /// The field at fault: `id`, `ok`, `result`, `code` or `message`.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
        /// The line, cut to 300 characters.
        line: String,
    },
    /// No answer came within the timeout (`--timeout-ms`, CONF-008).
    #[error("the implementation did not answer request {id} (`{op}`) within {timeout_ms} ms")]
    Timeout {
        /// The id of the request in flight.
        id: u64,
        /// The request's op, described for a person.
        op: String,
        /// The timeout, in wall-clock milliseconds.
        timeout_ms: u64,
    },
    /// The answer to `hello` does not name `PROTOCOL` (CONF-008).
    #[error("the implementation speaks {found}, expected {PROTOCOL}")]
    Protocol {
        /// What came back instead: the protocol named, `no protocol`, a
        /// rejection of `hello`, or no answer.
        found: String,
    },
    /// A driver returned another number of answers than requests sent
    /// (CONF-002: one answer each); a `Driver` of one's own can, a process
    /// cannot, since each missing answer is a timeout.
    #[error("the driver returned {found} answers to {expected} requests, expected one each")]
    AnswerCount {
        /// The requests sent.
        expected: usize,
        /// The answers returned.
        found: usize,
    },
}

/// The answers of one exchange, checked to be one per request (CONF-002).
pub fn one_answer_each<T>(answers: Vec<T>, expected: usize) -> Result<Vec<T>, Fault> {
    if answers.len() == expected {
        Ok(answers)
    } else {
        Err(Fault::AnswerCount {
            expected,
            found: answers.len(),
        })
    }
}

/// Reads an answer line to request `id` (`op` names it in faults).
pub fn decode_answer(line: &str, id: u64, op: &Op) -> Result<Answer, Fault> {
    read_answer_line(line, id, &op.to_string(), Some(id)).map(|(_, answer)| answer)
}

/// An answer to a raw request line (`Driver::exchange_lines`), reduced to
/// what the kit compares (CONF-007): the echoed `id`, `ok`, and the `code`
/// of a rejection. The message is kept for people and never compared.
#[derive(Clone, Debug, PartialEq)]
pub struct RawAnswer {
    /// The `id` the answer carried, read by value (CONF-013): a whole
    /// number, or `null` for a request without a readable id. Any other
    /// JSON value is kept as written, so that it shows as a difference.
    pub id: Value,
    /// Whether the request was carried out.
    pub ok: bool,
    /// The code, when `ok` is false.
    pub code: Option<ErrorCode>,
    /// The explanation beside the code, for people; empty when `ok` is true.
    pub message: String,
}

impl RawAnswer {
    /// Whether two answers agree by `id`, `ok` and `code`, the message aside.
    pub fn agrees(&self, other: &RawAnswer) -> bool {
        self.id == other.id && self.ok == other.ok && self.code == other.code
    }
}

impl fmt::Display for RawAnswer {
    /// `id 3: ok` or `id null: bad_request`, the message left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ok, self.code) {
            (true, _) => write!(f, "id {}: ok", self.id),
            (false, Some(code)) => {
                let name = serde_json::to_value(code).unwrap_or(Value::Null);
                write!(f, "id {}: {}", self.id, name.as_str().unwrap_or("?"))
            }
            (false, None) => write!(f, "id {}: not ok, without a code", self.id),
        }
    }
}

/// Reads the answer line to a raw request line: any `id` is accepted and
/// kept, since which id a raw line carries is what the kit compares. The
/// line must otherwise be a well-formed answer, as for `decode_answer`;
/// `index` and `shown` name the line in faults.
pub fn decode_raw_answer(line: &str, index: u64, shown: &str) -> Result<RawAnswer, Fault> {
    let (id, answer) = read_answer_line(line, index, shown, None)?;
    Ok(match answer {
        Ok(_) => RawAnswer {
            id,
            ok: true,
            code: None,
            message: String::new(),
        },
        Err(r) => RawAnswer {
            id,
            ok: false,
            code: Some(r.code),
            message: r.message,
        },
    })
}

/// How a raw request line is named in a fault: its index in the exchange
/// and its bytes as `shown_bytes` writes them.
pub fn raw_line_name(index: usize, line: &[u8]) -> String {
    format!("raw line {index}: {}", shown_bytes(line, 120))
}

/// A line's bytes for a person, at most `n` characters: printable ASCII as
/// it is, other characters as `\u{a0}`, bytes that are not UTF-8 as
/// `\xff`, so that a BOM, a no-break space or a CR is visible.
pub fn shown_bytes(line: &[u8], n: usize) -> String {
    let mut out = String::new();
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == ' ' || c.is_ascii_graphic() {
                out.push(c);
            } else {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    truncate(&out, n)
}

/// Reads an answer line: its `id` (by value) and its answer. With
/// `expected_id`, an id other than it is a `WrongId` fault (CONF-002);
/// without, any id is returned. `id` and `op` name the request in flight
/// in faults.
fn read_answer_line(
    line: &str,
    id: u64,
    op: &str,
    expected_id: Option<u64>,
) -> Result<(Value, Answer), Fault> {
    let opname = op.to_string();
    let shown = || truncate(line, 300);
    let mut v: Value = serde_json::from_str(line).map_err(|e| Fault::NotJson {
        id,
        op: opname.clone(),
        error: e.to_string(),
        line: shown(),
    })?;
    whole_numbers_as_integers(&mut v);
    let field = |name: &'static str, expected: &'static str| Fault::BadField {
        id,
        op: opname.clone(),
        field: name,
        expected,
        line: shown(),
    };
    let obj = v
        .as_object()
        .ok_or_else(|| field("id", "an answer object"))?;
    let echoed = match (obj.get("id"), expected_id) {
        (Some(Value::Number(n)), Some(expected)) if n.as_u64() == Some(expected) => {
            Value::from(expected)
        }
        (Some(other), Some(expected)) => {
            return Err(Fault::WrongId {
                expected,
                op: opname,
                found: other.to_string(),
                line: shown(),
            });
        }
        (Some(other), None) => other.clone(),
        (None, _) => return Err(field("id", "the request's id")),
    };
    let answer = match obj.get("ok") {
        Some(Value::Bool(true)) => obj
            .get("result")
            .cloned()
            .map(Ok)
            .ok_or_else(|| field("result", "a result beside `\"ok\": true`"))?,
        Some(Value::Bool(false)) => {
            let code = obj
                .get("code")
                .and_then(|c| serde_json::from_value::<ErrorCode>(c.clone()).ok())
                .ok_or_else(|| field("code", "one of the error codes in `offline-im schema`"))?;
            let message = obj
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| field("message", "a string beside `\"ok\": false`"))?;
            Err(Rejection::new(code, message))
        }
        _ => return Err(field("ok", "true or false")),
    };
    Ok((echoed, answer))
}

/// At most `n` characters of `s`, marked when cut.
pub fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The ops of `offline-im/1` as a Rust trait, for implementations that run
/// in-process (from their own `cargo test`). `conformance::assert_conforms`
/// runs the corpus and generated cases against one. Each method returns the
/// `result` object or a `Rejection`, exactly as the wire answer carries it.
pub trait Implementation {
    /// The implementation's name, answered to `hello`.
    fn name(&self) -> String;
    /// Loads `deployment`, a models/ `[deployment]` table as JSON, and starts
    /// from time 0 with every client running and signed out and every EWS up
    /// (CONF-003). Answers `{}`, or `bad_deployment` for a table the models/
    /// loader rejects.
    fn reset(&mut self, deployment: &Value) -> Answer;
    /// `from` sends an IM to `to`. Answers `{id, route}`, with `reason` when
    /// there is one (CONF-003, CONF-005). Like every event op, it happens at
    /// the current clock, and whatever then falls due happens too (CONF-004).
    fn send(&mut self, from: &str, to: &str, body: &str) -> Answer;
    /// Signs `user` in with `presence`. Answers `{}`; `rejected` when the
    /// client is not running or is already signed in.
    fn sign_in(&mut self, user: &str, presence: &str) -> Answer;
    /// Signs `user` out. Answers `{}`; `rejected` when they are not signed in.
    fn sign_out(&mut self, user: &str) -> Answer;
    /// Sets a signed-in `user`'s presence. Answers `{}`; `rejected` when they
    /// are not signed in.
    fn set_presence(&mut self, user: &str, presence: &str) -> Answer;
    /// Crashes or closes `user`'s client (DEC-005). Answers `{}`; `rejected`
    /// when it is not running.
    fn crash(&mut self, user: &str) -> Answer;
    /// Restarts `user`'s stopped client, signed out (DEC-005). Answers `{}`;
    /// `rejected` when it is running.
    fn restart(&mut self, user: &str) -> Answer;
    /// Takes `org`'s EWS down (DEC-024). Answers `{}`; `rejected` when it is
    /// down already.
    fn ews_down(&mut self, org: &str) -> Answer;
    /// Brings `org`'s EWS back. Answers `{}`; `rejected` when it is up
    /// already.
    fn ews_up(&mut self, org: &str) -> Answer;
    /// Runs `command` in `org`'s Management Shell. Answers `{output}`, the
    /// lines the shell printed, or `cmdlet` when the shell rejects the
    /// command.
    fn admin(&mut self, org: &str, command: &str) -> Answer;
    /// Lets time run to `to_ms`, performing everything that falls due on the
    /// way (CONF-004). Answers `{}`; `rejected` when `to_ms` is before the
    /// clock.
    fn advance(&mut self, to_ms: u64) -> Answer;
    /// Answers the canonical observation of the current state (CONF-006).
    fn observe(&mut self) -> Answer;
}

/// Dispatches one op to the trait method of the same name, after the
/// checks of `Op::check`: an op the schema rejects is `bad_request` and
/// reaches no method.
pub fn call(imp: &mut (impl Implementation + ?Sized), op: &Op) -> Answer {
    op.check()?;
    match op {
        Op::Hello { .. } => Ok(serde_json::json!({
            "protocol": PROTOCOL,
            "implementation": imp.name(),
        })),
        Op::Reset { deployment } => imp.reset(deployment),
        Op::Send { from, to, body } => imp.send(from, to, body),
        Op::SignIn { user, presence } => imp.sign_in(user, presence),
        Op::SignOut { user } => imp.sign_out(user),
        Op::SetPresence { user, presence } => imp.set_presence(user, presence),
        Op::Crash { user } => imp.crash(user),
        Op::Restart { user } => imp.restart(user),
        Op::EwsDown { org } => imp.ews_down(org),
        Op::EwsUp { org } => imp.ews_up(org),
        Op::Admin { org, command } => imp.admin(org, command),
        Op::Advance { to_ms } => imp.advance(*to_ms),
        Op::Observe => imp.observe(),
    }
}

/// Answers one request line (its content, without the LF) exactly as
/// `serve` does, and returns the answer line, without its LF: a line over
/// `LINE_BYTES_MAX` bytes or not in UTF-8 is `bad_request` with `id: null`,
/// and any other is decoded and, if it is a request, dispatched to `imp`
/// (CONF-001). `serve` and the in-process `Driver::exchange_lines` both run
/// every line through it.
pub fn answer_line(imp: &mut (impl Implementation + ?Sized), line: &[u8]) -> String {
    let bad = |m: String| encode_answer(None, &Err(Rejection::new(ErrorCode::BadRequest, m)));
    if line.len() > LINE_BYTES_MAX {
        return bad(format!(
            "found a line over {LINE_BYTES_MAX} bytes, expected a shorter request"
        ));
    }
    match std::str::from_utf8(line) {
        Ok(text) => {
            let (id, op) = decode_request(text);
            encode_answer(id, &op.and_then(|op| call(imp, &op)))
        }
        Err(e) => bad(format!(
            "found a line that is not UTF-8 ({e}), expected JSON"
        )),
    }
}

/// Anything the runner can exchange ops with: an in-process
/// `Implementation`, or a child process speaking the protocol.
pub trait Driver {
    /// Answers `ops` in order. A fault ends the conversation.
    fn exchange(&mut self, ops: &[Op]) -> Result<Vec<Answer>, Fault>;

    /// Sends `lines` as they are, each one request line's content without
    /// its LF (possibly not UTF-8, not JSON or blank), and reads one answer
    /// per line, in order. The ids are the lines' own, so an answer's `id` is
    /// returned rather than checked; a line that is not a well-formed answer
    /// is still a fault, which names the line by its index in `lines` (as
    /// its `id`) and by its text (as its `op`). A line must not contain an
    /// LF: the kit would be sending two.
    fn exchange_lines(&mut self, lines: &[Vec<u8>]) -> Result<Vec<RawAnswer>, Fault>;
}

impl<T: Implementation> Driver for T {
    fn exchange(&mut self, ops: &[Op]) -> Result<Vec<Answer>, Fault> {
        Ok(ops.iter().map(|op| call(self, op)).collect())
    }

    fn exchange_lines(&mut self, lines: &[Vec<u8>]) -> Result<Vec<RawAnswer>, Fault> {
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let answer = answer_line(self, line);
                decode_raw_answer(&answer, i as u64, &raw_line_name(i, line))
            })
            .collect()
    }
}
