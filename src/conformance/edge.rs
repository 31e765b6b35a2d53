//! Protocol edge cases: raw request lines that the runner's well-formed
//! `Op`s never produce (SPEC.md §7: CONF-001's framing, CONF-003's names,
//! CONF-004's clock, CONF-007's order of codes, CONF-013's integers and
//! DEC-050's ranges), sent to the implementation and to the reference
//! alike and compared by `id`, `ok` and `code`.
//!
//! Invariants it keeps:
//! - The expected answers are the reference's, run through the same
//!   per-line handling as `serve` (`protocol::answer_line`); no answer is
//!   written down here.
//! - `before-reset` comes first and must meet an implementation that has
//!   answered `hello` and nothing else; every later case starts with its
//!   own `reset`, so each depends on no case before it but the first.
//! - The corpus is fixed and small (`EDGE_LINES_MAX` lines in all), so a
//!   check is one bounded exchange per case.
//!
//! What it deliberately does not do: compare results or messages (the
//! runner compares results; messages are for people, CONF-007), or depend
//! on what SPEC.md leaves open, such as what a failed `reset` leaves
//! behind.

use super::protocol::{
    Driver, Fault, ID_MAX, LINE_BYTES_MAX, RawAnswer, TIME_MS_MAX, one_answer_each, shown_bytes,
};
use super::reference::Reference;
use std::fmt::Write as _;

/// The most lines the whole corpus may hold, a bound on one check.
pub const EDGE_LINES_MAX: usize = 1_000;

/// How many characters of a line a difference shows.
const SHOWN_CHARS: usize = 120;

/// One named sequence of raw request lines and the SPEC ids it exercises.
#[derive(Clone, Debug)]
pub struct EdgeCase {
    /// The case's name, e.g. `before-reset`.
    pub name: &'static str,
    /// The SPEC.md ids the case exercises, e.g. `CONF-001, CONF-013`.
    pub spec: &'static str,
    /// What the case is about, for people.
    pub about: &'static str,
    /// The lines, each exactly the bytes to write before its LF. Some are
    /// not UTF-8 on purpose.
    pub lines: Vec<Vec<u8>>,
}

/// Where an implementation's answer to an edge-case line differs from the
/// reference's.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeDifference {
    /// The case's name.
    pub case: &'static str,
    /// The SPEC ids the case exercises.
    pub spec: &'static str,
    /// The line's index in the case, from 0.
    pub index: usize,
    /// The line as `protocol::shown_bytes` writes it, cut to 120 characters.
    pub line: String,
    /// The reference's answer.
    pub expected: RawAnswer,
    /// The implementation's answer.
    pub actual: RawAnswer,
}

/// The deployment every case but `before-reset` starts from: one Online
/// organisation with two users, the smallest that every op can name.
const DEPLOYMENT: &str = r#"{"orgs":[{"name":"contoso","profile":"online"}],"users":[{"name":"Tony Smith","org":"contoso","mailbox":"online","install":"c2r","build":"16.0.7070.2036","released":"2016-08-01"},{"name":"Ken Myer","org":"contoso","mailbox":"online","install":"c2r","build":"16.0.7070.2036","released":"2016-08-01"}]}"#;

/// A deployment with `options` set to the JSON object text `options`.
fn deployment_with_options(options: &str) -> String {
    format!(r#"{{"options":{options},{}"#, &DEPLOYMENT[1..])
}

/// The request line `{"id":ID,"op":"reset","deployment":DEPLOYMENT}`.
fn reset(id: &str, deployment: &str) -> String {
    format!(r#"{{"id":{id},"op":"reset","deployment":{deployment}}}"#)
}

/// One well-formed request for every op but `hello` and `reset`, with ids
/// from `first_id`: before `reset` each is `no_deployment` (CONF-007).
fn every_event_op(first_id: u64) -> Vec<String> {
    [
        r#""op":"send","from":"Tony Smith","to":"Ken Myer","body":"hi""#,
        r#""op":"sign_in","user":"Tony Smith","presence":"available""#,
        r#""op":"sign_out","user":"Tony Smith""#,
        r#""op":"set_presence","user":"Tony Smith","presence":"busy""#,
        r#""op":"crash","user":"Ken Myer""#,
        r#""op":"restart","user":"Ken Myer""#,
        r#""op":"ews_down","org":"contoso""#,
        r#""op":"ews_up","org":"contoso""#,
        r#""op":"admin","org":"contoso","command":"Get-CsImConfiguration""#,
        r#""op":"advance","to_ms":1000"#,
        r#""op":"observe""#,
    ]
    .iter()
    .zip(first_id..)
    .map(|(fields, id)| format!(r#"{{"id":{id},{fields}}}"#))
    .collect()
}

fn lines(texts: impl IntoIterator<Item = String>) -> Vec<Vec<u8>> {
    texts.into_iter().map(String::into_bytes).collect()
}

/// CONF-007's order before any `reset`: `bad_request` first, whatever the
/// state, then `no_deployment` before `unknown_name` and the op's own code.
fn before_reset() -> EdgeCase {
    let mut texts = vec![
        // `hello` needs no deployment.
        r#"{"id":1,"op":"hello","protocol":"offline-im/1"}"#.to_string(),
        r#"{"id":2,"op":"hello","protocol":"offline-im/2"}"#.into(),
    ];
    texts.extend(every_event_op(3));
    texts.extend([
        // A request the schema rejects is `bad_request` even before reset.
        "observe".to_string(),
        String::new(),
        r#"{"id":20,"op":"observe""#.into(),
        "[]".into(),
        r#"{"id":21,"op":"observe","verbose":true}"#.into(),
        r#"{"id":22,"op":"nap"}"#.into(),
        r#"{"id":23,"op":"sign_in","user":"Tony Smith","presence":"asleep"}"#.into(),
        r#"{"id":24,"op":"sign_in","user":"Tony Smith"}"#.into(),
        format!(r#"{{"id":25,"op":"advance","to_ms":{}}}"#, TIME_MS_MAX + 1),
        r#"{"id":26,"op":"advance","to_ms":-1}"#.into(),
        format!(r#"{{"id":{},"op":"observe"}}"#, ID_MAX + 1),
        // `no_deployment` comes before `unknown_name` and `cmdlet`.
        r#"{"id":27,"op":"sign_out","user":"Nobody"}"#.into(),
        r#"{"id":28,"op":"ews_down","org":"nowhere"}"#.into(),
        r#"{"id":29,"op":"admin","org":"contoso","command":"Frobnicate-Everything"}"#.into(),
        r#"{"id":30,"op":"advance","to_ms":0}"#.into(),
        // Last, since what a failed `reset` leaves is not specified.
        reset("31", r#"{"orgs":[],"users":[]}"#),
    ]);
    EdgeCase {
        name: "before-reset",
        spec: "CONF-007, CONF-001",
        about: "every op before any reset, well-formed (no_deployment) and malformed (bad_request)",
        lines: lines(texts),
    }
}

/// CONF-001's framing: what a line is, and what JSON it must hold.
fn framing() -> EdgeCase {
    let observe = |id: u64| format!(r#"{{"id":{id},"op":"observe"}}"#);
    // The request object is the first level; SPEC.md allows 127 levels.
    let nested = |id: u64, levels: usize| {
        let depth = levels - 1;
        format!(
            r#"{{"id":{id},"op":"observe","x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    // A `send` whose line content is exactly `len` bytes.
    let padded = |id: u64, len: usize| {
        let head =
            format!(r#"{{"id":{id},"op":"send","from":"Tony Smith","to":"Ken Myer","body":""#);
        let body = "x".repeat(len.saturating_sub(head.len() + 2));
        format!("{head}{body}\"}}")
    };
    let mut texts: Vec<Vec<u8>> = lines([
        reset("1", DEPLOYMENT),
        // Blank lines are answered, not skipped.
        String::new(),
        " ".into(),
        "\t".into(),
        "\r".into(),
        " \t \r".into(),
        // JSON whitespace around the object is fine, a CR before the LF too.
        format!("{}\r", observe(2)),
        format!(" \t{} \t", observe(3)),
        format!("{}\r\r", observe(4)),
        // Nothing else may surround it.
        format!("\u{feff}{}", observe(5)),
        format!("{}\u{a0}", observe(6)),
        format!("\u{a0}{}", observe(7)),
        format!("{}\u{85}", observe(8)),
        format!("{}\u{2028}", observe(9)),
        format!("{}\u{c}", observe(10)),
        format!("{}\u{0}", observe(11)),
        // Not JSON, truncated, or more than one JSON text.
        "observe".into(),
        r#"{"id":12,"op":"obs"#.into(),
        r#"{"id":13,"op":"observe""#.into(),
        r#"{"id":14,"op":"observe",}"#.into(),
        r#"{'id':15,'op':'observe'}"#.into(),
        format!("{}{}", observe(16), observe(17)),
        format!("{} x", observe(18)),
        // JSON that is not an object.
        "[]".into(),
        format!("[{}]", observe(19)),
        r#""observe""#.into(),
        "20".into(),
        "null".into(),
        "true".into(),
        // Not JSON by SPEC.md's note: an escaped lone surrogate, a number
        // beyond the double range, nesting past 127 levels.
        r#"{"id":21,"op":"send","from":"Tony Smith","to":"Ken Myer","body":"\ud800"}"#.into(),
        r#"{"id":22,"op":"send","from":"Tony Smith","to":"Ken Myer","body":"\ud83d\ude00"}"#.into(),
        r#"{"id":1e400,"op":"observe"}"#.into(),
        nested(23, 127),
        nested(24, 128),
        // Duplicate keys keep their last value.
        r#"{"id":25,"op":"observe","id":26}"#.into(),
        r#"{"id":27,"op":"sign_out","op":"observe"}"#.into(),
        r#"{"id":28,"op":"observe","id":"x"}"#.into(),
        r#"{"id":"x","op":"observe","id":29}"#.into(),
        // The line limit: exactly LINE_BYTES_MAX bytes of content, then one
        // more.
        padded(30, LINE_BYTES_MAX),
        padded(31, LINE_BYTES_MAX + 1),
        observe(32),
    ]);
    // Bytes that are not UTF-8: a lone continuation byte, an overlong
    // encoding of `/`, a UTF-8-encoded surrogate, and a cut sequence.
    for (id, bad) in [
        (33, &b"\xff"[..]),
        (34, b"\xc0\xaf"),
        (35, b"\xed\xa0\x80"),
        (36, b"\xe2\x82"),
    ] {
        let mut line =
            format!(r#"{{"id":{id},"op":"send","from":"Tony Smith","to":"Ken Myer","body":""#)
                .into_bytes();
        line.extend_from_slice(bad);
        line.extend_from_slice(b"\"}");
        texts.push(line);
    }
    texts.push(observe(37).into_bytes());
    EdgeCase {
        name: "framing",
        spec: "CONF-001",
        about: "blank lines, white space, BOM, not JSON, not an object, not UTF-8, duplicate keys, the line limit",
        lines: texts,
    }
}

/// CONF-001's fields: on every op a missing, an extra and a mistyped one.
fn fields() -> EdgeCase {
    let mut texts = vec![
        reset("1", DEPLOYMENT),
        // No op, or an op that is not a string.
        r#"{"id":2}"#.to_string(),
        r#"{"id":3,"op":null}"#.into(),
        r#"{"id":4,"op":7}"#.into(),
        r#"{"id":5,"op":["observe"]}"#.into(),
        r#"{"id":6,"op":{"observe":true}}"#.into(),
        r#"{"op":"observe"}"#.into(),
    ];
    // Each op with its fields, then one field at a time left out, set to
    // a number, set to null, and an extra field.
    let ops: [(&str, &[(&str, &str)]); 13] = [
        ("hello", &[("protocol", r#""offline-im/1""#)]),
        ("reset", &[("deployment", DEPLOYMENT)]),
        (
            "send",
            &[
                ("from", r#""Tony Smith""#),
                ("to", r#""Ken Myer""#),
                ("body", r#""hi""#),
            ],
        ),
        (
            "sign_in",
            &[("user", r#""Tony Smith""#), ("presence", r#""available""#)],
        ),
        ("sign_out", &[("user", r#""Tony Smith""#)]),
        (
            "set_presence",
            &[("user", r#""Tony Smith""#), ("presence", r#""busy""#)],
        ),
        ("crash", &[("user", r#""Ken Myer""#)]),
        ("restart", &[("user", r#""Ken Myer""#)]),
        ("ews_down", &[("org", r#""contoso""#)]),
        ("ews_up", &[("org", r#""contoso""#)]),
        (
            "admin",
            &[
                ("org", r#""contoso""#),
                ("command", r#""Get-CsImConfiguration""#),
            ],
        ),
        ("advance", &[("to_ms", "1000")]),
        ("observe", &[]),
    ];
    let mut id = 10u64;
    let mut next_id = || {
        id += 1;
        id
    };
    let request = |id: u64, op: &str, fields: &[(&str, &str)]| {
        let mut text = format!(r#"{{"id":{id},"op":"{op}""#);
        for (name, value) in fields {
            let _ = write!(text, r#","{name}":{value}"#);
        }
        text.push('}');
        text
    };
    for (op, op_fields) in ops {
        texts.push(request(next_id(), op, op_fields));
        for leave_out in 0..op_fields.len() {
            let kept: Vec<_> = op_fields
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != leave_out)
                .map(|(_, f)| *f)
                .collect();
            texts.push(request(next_id(), op, &kept));
            for wrong in ["7", "null", "[]", "true"] {
                let changed: Vec<_> = op_fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| if i == leave_out { (f.0, wrong) } else { *f })
                    .collect();
                texts.push(request(next_id(), op, &changed));
            }
        }
        let mut extra = op_fields.to_vec();
        extra.push(("extra", "1"));
        texts.push(request(next_id(), op, &extra));
        // An extra field that is null is still there.
        let mut null_extra = op_fields.to_vec();
        null_extra.push(("extra", "null"));
        texts.push(request(next_id(), op, &null_extra));
    }
    // Names are case-sensitive: op and field names are the schema's.
    texts.extend([
        r#"{"id":200,"op":"Observe"}"#.to_string(),
        r#"{"id":201,"op":"OBSERVE"}"#.into(),
        r#"{"id":202,"op":"sign-in","user":"Tony Smith","presence":"available"}"#.into(),
        r#"{"id":203,"op":"signIn","user":"Tony Smith","presence":"available"}"#.into(),
        r#"{"id":204,"op":"sign_out","User":"Tony Smith"}"#.into(),
        r#"{"id":205,"op":"observe ","x":1}"#.into(),
        r#"{"id":206,"op":""}"#.into(),
        r#"{"ID":207,"op":"observe"}"#.into(),
        r#"{"id":208,"op":"observe"}"#.into(),
    ]);
    EdgeCase {
        name: "fields",
        spec: "CONF-001, CONF-003",
        about: "every op with a field missing, mistyped, null or extra, and op names in other spellings",
        lines: lines(texts),
    }
}

/// CONF-013's integers: ids and `to_ms` by value, at and past each bound.
fn integers() -> EdgeCase {
    let observe = |id: &str| format!(r#"{{"id":{id},"op":"observe"}}"#);
    let advance = |id: u64, to_ms: &str| format!(r#"{{"id":{id},"op":"advance","to_ms":{to_ms}}}"#);
    let texts = vec![
        reset("0", DEPLOYMENT),
        observe("0"),
        observe(&ID_MAX.to_string()),
        observe(&(ID_MAX + 1).to_string()),
        observe(&(ID_MAX + 2).to_string()),
        observe("18446744073709551615"),
        observe("18446744073709551616"),
        observe("-1"),
        observe("-0"),
        observe("0.5"),
        observe("1.0"),
        observe("1e0"),
        observe("10E-1"),
        observe("1.0000000000000001"),
        observe("1.5e1"),
        observe("9007199254740991.0"),
        observe("1e-400"),
        observe(r#""1""#),
        observe("null"),
        observe("true"),
        observe("[1]"),
        observe("{}"),
        advance(2, "1.0"),
        advance(3, "1e3"),
        advance(4, "2000.5"),
        advance(5, r#""3000""#),
        advance(6, "-1"),
        advance(7, "null"),
        advance(8, &(TIME_MS_MAX + 1).to_string()),
        advance(9, "1e15"),
        advance(10, &TIME_MS_MAX.to_string()),
        advance(11, "1.0e15"),
        advance(12, &(TIME_MS_MAX + 1).to_string()),
        advance(13, "18446744073709551616"),
        observe("14"),
    ];
    EdgeCase {
        name: "integers",
        spec: "CONF-013, DEC-050",
        about: "ids 0, 2^53-1, 2^53, -1, 0.5, 1.0, 1e0 and others; to_ms at and past 10^15",
        lines: lines(texts),
    }
}

/// DEC-050's option ranges in `reset`: each bound loads, one past it is
/// `bad_deployment` (CONF-007), and a number too large for JSON is
/// `bad_request`.
fn options() -> EdgeCase {
    let mut texts = Vec::new();
    let mut id = 0u64;
    for options in [
        "{}",
        r#"{"pickup_delay_ms":1}"#,
        r#"{"pickup_delay_ms":0}"#,
        r#"{"pickup_delay_ms":3600000}"#,
        r#"{"pickup_delay_ms":3600001}"#,
        r#"{"pickup_delay_ms":120000.0}"#,
        r#"{"pickup_delay_ms":1.2e5}"#,
        r#"{"pickup_delay_ms":-1}"#,
        r#"{"pickup_delay_ms":"120000"}"#,
        r#"{"pickup_delay_ms":18446744073709551615}"#,
        r#"{"pickup_delay_ms":18446744073709551616}"#,
        r#"{"attempts_max":1}"#,
        r#"{"attempts_max":0}"#,
        r#"{"attempts_max":16}"#,
        r#"{"attempts_max":17}"#,
        r#"{"attempts_max":2.5}"#,
        r#"{"ews_latency_ms":0}"#,
        r#"{"ews_latency_ms":-1}"#,
        r#"{"ews_latency_ms":60000}"#,
        r#"{"ews_latency_ms":60001}"#,
        r#"{"spool_capacity":1}"#,
        r#"{"spool_capacity":0}"#,
        r#"{"spool_capacity":65535}"#,
        r#"{"spool_capacity":65536}"#,
        r#"{"dedup":true}"#,
        r#"{"dedup":false}"#,
        r#"{"dedup":1}"#,
        r#"{"dedup":"true"}"#,
        r#"{"dedup":null}"#,
        r#"{"retries":3}"#,
        r#"{"Pickup_Delay_Ms":1000}"#,
        r#"{"pickup_delay_ms":1,"attempts_max":16,"ews_latency_ms":60000,"spool_capacity":65535,"dedup":false}"#,
        "[]",
        "null",
    ] {
        texts.push(reset(&id.to_string(), &deployment_with_options(options)));
        id += 1;
    }
    texts.push(reset(
        &id.to_string(),
        r#"{"options":{"pickup_delay_ms":1e400},"orgs":[],"users":[]}"#,
    ));
    texts.push(reset(&(id + 1).to_string(), DEPLOYMENT));
    EdgeCase {
        name: "options",
        spec: "DEC-050, CONF-007, CONF-013",
        about: "each option at and past its range in reset, mistyped, unknown, and every option at its far bound",
        lines: lines(texts),
    }
}

/// CONF-003's names: presences, users and organisations in ASCII case
/// only, and unknown presences `bad_request` before `unknown_name`.
fn names() -> EdgeCase {
    let sign_in = |id: u64, user: &str, presence: &str| {
        format!(r#"{{"id":{id},"op":"sign_in","user":"{user}","presence":"{presence}"}}"#)
    };
    let set_presence = |id: u64, presence: &str| {
        format!(r#"{{"id":{id},"op":"set_presence","user":"Tony Smith","presence":"{presence}"}}"#)
    };
    let mut texts = vec![
        reset("1", DEPLOYMENT),
        // An unknown presence is bad_request, before unknown_name and
        // before rejected.
        sign_in(2, "Nobody", "asleep"),
        set_presence(3, "available"),
        set_presence(4, "asleep"),
        sign_in(5, "Nobody", "available"),
        sign_in(6, "TONY SMITH", "AVAILABLE"),
    ];
    let mut id = 10;
    for presence in [
        "available",
        "Busy",
        "AWAY",
        "Be-Right-Back",
        "off-WORK",
        "appear-offline",
        "Do-Not-Disturb",
        "PRESENTING",
        "do_not_disturb",
        "donotdisturb",
        "dnd",
        "offline",
        "online",
        "",
        " available",
        "available ",
        "available\\u00a0",
        "be-right-bac\u{212a}",
        "bu\u{17f}y",
        "AVA\u{130}LABLE",
        "\u{ff41}vailable",
    ] {
        texts.push(set_presence(id, presence));
        id += 1;
    }
    // Each name crashes and restarts a client, or takes an EWS down and
    // up, so that the answers alternate when the name is found.
    let users = [
        "tony smith",
        "sip:tony.smith@contoso",
        "SIP:Tony.Smith@CONTOSO",
        "tony.smith@contoso",
        "sip:",
        "Tony Smith ",
        " Tony Smith",
        "Tony  Smith",
        "\u{212a}en Myer",
        "Ken\\u00a0Myer",
        "",
    ];
    let orgs = [
        "CONTOSO",
        "Contoso",
        "contoso ",
        "contos\u{f8}",
        "",
        "fabrikam",
    ];
    for (ops, field, names) in [
        (["crash", "restart"], "user", &users[..]),
        (["ews_down", "ews_up"], "org", &orgs[..]),
    ] {
        for name in names {
            for op in ops {
                texts.push(format!(r#"{{"id":{id},"op":"{op}","{field}":"{name}"}}"#));
                id += 1;
            }
        }
    }
    EdgeCase {
        name: "names",
        spec: "CONF-003, CONF-007, DEC-035",
        about: "presence, user and organisation names in case variants, Unicode look-alikes and unknown ones",
        lines: lines(texts),
    }
}

/// CONF-004's clock: `advance` to the clock is fine, before it `rejected`.
fn advance_into_the_past() -> EdgeCase {
    let advance = |id: u64, to_ms: u64| format!(r#"{{"id":{id},"op":"advance","to_ms":{to_ms}}}"#);
    let texts = vec![
        reset("1", DEPLOYMENT),
        advance(2, 0),
        advance(3, 1000),
        advance(4, 999),
        advance(5, 1000),
        advance(6, 0),
        advance(7, 1001),
        r#"{"id":8,"op":"sign_in","user":"Tony Smith","presence":"available"}"#.into(),
        advance(9, 1000),
        advance(10, 1001),
    ];
    EdgeCase {
        name: "advance-into-the-past",
        spec: "CONF-004, CONF-007",
        about: "advance to the clock, before it and after it",
        lines: lines(texts),
    }
}

/// CONF-003's `reset` starts afresh: after a second one, the clock, the
/// clients, the sign-ins and the EWS states are those of time 0.
fn second_reset() -> EdgeCase {
    let texts = vec![
        reset("1", DEPLOYMENT),
        r#"{"id":2,"op":"sign_in","user":"Tony Smith","presence":"available"}"#.to_string(),
        r#"{"id":3,"op":"send","from":"Tony Smith","to":"Ken Myer","body":"hi"}"#.into(),
        r#"{"id":4,"op":"crash","user":"Ken Myer"}"#.into(),
        r#"{"id":5,"op":"ews_down","org":"contoso"}"#.into(),
        r#"{"id":6,"op":"advance","to_ms":5000}"#.into(),
        reset("7", DEPLOYMENT),
        // Each of these answers differently if anything survived.
        r#"{"id":8,"op":"advance","to_ms":0}"#.into(),
        r#"{"id":9,"op":"sign_in","user":"Tony Smith","presence":"available"}"#.into(),
        r#"{"id":10,"op":"restart","user":"Ken Myer"}"#.into(),
        r#"{"id":11,"op":"ews_up","org":"contoso"}"#.into(),
        r#"{"id":12,"op":"sign_out","user":"Ken Myer"}"#.into(),
        r#"{"id":13,"op":"observe"}"#.into(),
    ];
    EdgeCase {
        name: "second-reset",
        spec: "CONF-003",
        about: "a second reset after some ops starts from time 0 with every client running and signed out and every EWS up",
        lines: lines(texts),
    }
}

/// The corpus, `before-reset` first: it needs an implementation that has
/// answered `hello` and nothing else.
pub fn edge_cases() -> Vec<EdgeCase> {
    vec![
        before_reset(),
        framing(),
        fields(),
        integers(),
        options(),
        names(),
        advance_into_the_past(),
        second_reset(),
    ]
}

/// Sends every edge-case line to `imp` and to `reference`, case by case in
/// the order of `edge_cases`, and returns every line whose answers differ
/// by `id`, `ok` or `code` (messages are never compared, CONF-007). Call it
/// right after `hello` on a fresh connection, before any `reset`, with a
/// reference that has had no `reset` either: the first case is the one
/// that runs before any deployment. A fault of `imp` ends the check.
pub fn check_edge_cases(
    imp: &mut dyn Driver,
    reference: &mut Reference,
) -> Result<Vec<EdgeDifference>, Fault> {
    let mut differences = Vec::new();
    for case in edge_cases() {
        let expected = reference.exchange_lines(&case.lines)?;
        let actual = one_answer_each(imp.exchange_lines(&case.lines)?, case.lines.len())?;
        for (index, ((line, expected), actual)) in
            case.lines.iter().zip(expected).zip(actual).enumerate()
        {
            if !expected.agrees(&actual) {
                differences.push(EdgeDifference {
                    case: case.name,
                    spec: case.spec,
                    index,
                    line: shown_bytes(line, SHOWN_CHARS),
                    expected,
                    actual,
                });
            }
        }
    }
    Ok(differences)
}

/// The differences for a person: one block per case with its SPEC ids,
/// each differing line with both answers (and the implementation's
/// message), then the command that feeds the case by hand to `command`.
pub fn render_edge_differences(differences: &[EdgeDifference], command: &str) -> String {
    let mut out = String::new();
    let cases = edge_cases();
    for case in &cases {
        let ours: Vec<_> = differences.iter().filter(|d| d.case == case.name).collect();
        if ours.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "edge case `{}` ({}): {} line(s) answered differently",
            case.name,
            case.spec,
            ours.len()
        );
        for d in ours {
            let _ = writeln!(out, "  line {}: {}", d.index, d.line);
            let _ = writeln!(out, "    expected {}", d.expected);
            let _ = write!(out, "    actual   {}", d.actual);
            if d.actual.message.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, " ({})", shown_bytes(d.actual.message.as_bytes(), 200));
            }
        }
        let _ = writeln!(out, "  replay (a fresh implementation, hello first):");
        let _ = writeln!(out, "    {}", edge_replay(case, command));
    }
    out
}

/// A shell command that feeds `case`, after `hello`, to `command` on a
/// fresh start, byte for byte: a `printf` of the lines with every byte that
/// is not printable ASCII written in octal, and each long run of one byte
/// written by `head` and `tr`, so that no argument approaches the shell's
/// limit (the 1 MiB lines).
pub fn edge_replay(case: &EdgeCase, command: &str) -> String {
    let mut bytes = br#"{"id":0,"op":"hello","protocol":"offline-im/1"}"#.to_vec();
    bytes.push(b'\n');
    for line in &case.lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    const RUN_MIN: usize = 64;
    let mut parts: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|x| **x == b).count();
        if run >= RUN_MIN && b.is_ascii_alphanumeric() {
            if !text.is_empty() {
                parts.push(format!("printf '{}'", std::mem::take(&mut text)));
            }
            parts.push(format!(
                "head -c {run} /dev/zero | tr '\\0' '{}'",
                b as char
            ));
            i += run;
            continue;
        }
        match b {
            b'\'' | b'\\' | b'%' => {
                let _ = write!(text, "\\{b:03o}");
            }
            b' '..=b'~' => text.push(b as char),
            _ => {
                let _ = write!(text, "\\{b:03o}");
            }
        }
        i += 1;
    }
    if !text.is_empty() {
        parts.push(format!("printf '{text}'"));
    }
    format!("{{ {}; }} | {command}", parts.join("; "))
}
