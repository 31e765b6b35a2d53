//! The wire protocol as a second implementation written from SPEC.md alone
//! must see it (SPEC.md §7): what a line is (CONF-001), the JSON it holds,
//! the names it matches (CONF-003), the integers it carries (CONF-013), and
//! the schema against the reference: every required field, enum, pattern
//! and bound of `schema.json` is what the reference's line handler accepts,
//! walked constraint by constraint and then by a proptest over requests
//! generated from the schema. Every request goes through `serve` on a
//! buffer, exactly as `offline-im serve` reads stdin.

use offline_im::conformance::{
    self, ErrorCode, Fault, ID_MAX, LINE_BYTES_MAX, Op, Process, Reference, SCHEMA, TIME_MS_MAX,
};
use offline_im::rules::domain::Presence;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

/// The answers `serve` writes for `input`, one JSON value per line.
fn serve_bytes(input: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    conformance::serve(&mut Reference::new(), input, &mut out).expect("serves");
    String::from_utf8(out)
        .expect("answers are UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("answer {l:?}: {e}")))
        .collect()
}

/// The answers to `lines`, each followed by an LF.
fn serve_lines(lines: &[String]) -> Vec<Value> {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l.as_bytes());
        input.push(b'\n');
    }
    serve_bytes(&input)
}

/// The answers in short: `id:code` each (`id:ok` for `ok: true`), joined
/// by spaces, with `null` for an answer without an id.
fn summary(answers: &[Value]) -> String {
    answers
        .iter()
        .map(|a| {
            let code = a.get("code").and_then(Value::as_str).unwrap_or("ok");
            format!("{}:{code}", a["id"])
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn schema() -> &'static Value {
    static SCHEMA_JSON: OnceLock<Value> = OnceLock::new();
    SCHEMA_JSON.get_or_init(|| serde_json::from_str(SCHEMA).expect("the schema is JSON"))
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| jsonschema::validator_for(schema()).expect("the schema compiles"))
}

/// A deployment that sets every key the schema's `deployment` knows: a
/// Server organisation first, an Online one second.
fn server_first() -> Value {
    json!({
        "options": { "pickup_delay_ms": 120000, "attempts_max": 3, "dedup": true, "ews_latency_ms": 5000, "spool_capacity": 64 },
        "orgs": [
            { "name": "contoso", "profile": "server", "server_version": "2015-cu3", "sites": ["Redmond"], "ews_published": true, "federated_with": ["fabrikam"] },
            { "name": "fabrikam", "profile": "online" }
        ],
        "users": [
            { "name": "Tony Smith", "sip": "sip:tony@contoso.com", "org": "contoso", "site": "Redmond", "mailbox": "on-premises", "install": "c2r", "build": "16.0.6920.1000", "released": "2016-07-12" },
            { "name": "Ken Myer", "org": "contoso", "site": "Redmond", "mailbox": "on-premises", "install": "c2r", "build": "16.0.6920.1000", "released": "2016-07-12" },
            { "name": "Pat Coleman", "org": "fabrikam", "mailbox": "online", "install": "c2r", "build": "16.0.7070.2036", "released": "2016-08-01" }
        ]
    })
}

/// The same people with the Online organisation first, so that every value
/// of `profile` has a deployment in which it is the only change needed.
fn online_first() -> Value {
    json!({
        "orgs": [
            { "name": "fabrikam", "profile": "online", "ews_published": true, "federated_with": ["contoso"] },
            { "name": "contoso", "profile": "server" }
        ],
        "users": [
            { "name": "Pat Coleman", "sip": "pat@fabrikam.com", "org": "fabrikam", "mailbox": "online", "install": "c2r", "build": "16.0.7070.2036", "released": "2016-08-01" },
            { "name": "Ken Myer", "org": "contoso", "mailbox": "on-premises", "install": "c2r", "build": "16.0.6920.1000", "released": "2016-07-12" }
        ]
    })
}

fn reset_line(deployment: &Value) -> String {
    json!({ "id": 0, "op": "reset", "deployment": deployment }).to_string()
}

/// CONF-001: an empty or blank line is not JSON, so it is answered
/// `bad_request` with `id: null` like any other line that is not a
/// request; every line gets exactly one answer. (The reference used to
/// skip such lines and fell one answer behind SPEC.md.)
#[test]
fn conf_001_a_blank_line_is_answered_bad_request_with_id_null() {
    let input = b"\n \n\t\n\r\n \t\r \n{\"id\":6,\"op\":\"observe\"}\n";
    let answers = summary(&serve_bytes(input));
    assert_eq!(
        answers,
        "null:bad_request null:bad_request null:bad_request null:bad_request \
         null:bad_request 6:no_deployment"
    );
    let first = &serve_bytes(b"\n")[0];
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|m| m.contains("empty or blank line")),
        "{first}"
    );
}

/// CONF-001: a line is its bytes before the LF. JSON whitespace (space,
/// tab, CR) may surround the object, so CRLF works; nothing else may, not
/// even Unicode white space that a `trim` removes (the reference used to
/// trim it). The last line needs no LF. The limit is 1 MiB of content, the
/// LF not counted, and the rest of an overlong line is skipped.
#[test]
fn conf_001_a_line_is_its_bytes_before_the_lf() {
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(b"{\"id\":1,\"op\":\"observe\"}\r\n");
    input.extend_from_slice(b" \t{\"id\":2,\"op\":\"observe\"} \r\n");
    input.extend_from_slice("{\"id\":3,\"op\":\"observe\"}\u{a0}\n".as_bytes());
    input.extend_from_slice("{\"id\":4,\"op\":\"observe\"}\u{85}\n".as_bytes());
    input.extend_from_slice("\u{feff}{\"id\":5,\"op\":\"observe\"}\n".as_bytes());
    // Content of exactly LINE_BYTES_MAX bytes is a request; one more is not.
    let padded = |id: u64, len: usize| {
        let head = format!("{{\"id\":{id},\"op\":\"send\",\"from\":\"a\",\"to\":\"b\",\"body\":\"");
        let body = "x".repeat(len - head.len() - 2);
        format!("{head}{body}\"}}")
    };
    for (id, len) in [(6, LINE_BYTES_MAX), (7, LINE_BYTES_MAX + 1)] {
        let line = padded(id, len);
        assert_eq!(line.len(), len);
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(b"{\"id\":8,\"op\":\"observe\"}");
    let answers = summary(&serve_bytes(&input));
    assert_eq!(
        answers,
        "1:no_deployment 2:no_deployment null:bad_request null:bad_request \
         null:bad_request 6:no_deployment null:bad_request 8:no_deployment"
    );
}

/// CONF-001, CONF-008: the kit reads an answer line by the same rule as
/// `serve` reads a request: its content is the bytes before the LF, a blank
/// line or trailing Unicode white space is not JSON (a fault), and a CR
/// before the LF is JSON whitespace. CONF-013: the answer's id is read by
/// value, so `1.0` echoes id 1.
#[test]
fn conf_001_the_kit_reads_answer_lines_as_serve_reads_requests() {
    let answer_to_observe = |printed: &str| {
        let command = format!("printf '{printed}'; cat >/dev/null");
        let mut p = Process::spawn(&command, Duration::from_secs(5)).expect("sh starts");
        conformance::Driver::exchange(&mut p, &[Op::Observe])
    };
    for printed in [
        "\\n",
        " \\r\\n",
        "{\"id\":1,\"ok\":true,\"result\":{}}\\302\\240\\n",
    ] {
        match answer_to_observe(printed) {
            Err(Fault::NotJson { id: 1, .. }) => {}
            other => panic!("{printed:?}: expected a NotJson fault, found {other:?}"),
        }
    }
    for printed in [
        "{\"id\":1,\"ok\":true,\"result\":{}}\\r\\n",
        " \\t{\"id\":1,\"ok\":true,\"result\":{}}\\t\\n",
        "{\"id\":1.0,\"ok\":true,\"result\":{}}\\n",
    ] {
        let answers = answer_to_observe(printed).unwrap_or_else(|f| panic!("{printed:?}: {f}"));
        assert_eq!(answers, vec![conformance::done()], "{printed:?}");
    }
}

/// CONF-001: an extra field is `bad_request` on every op, `observe`
/// included (serde ignored extra fields on a variant without fields, so the
/// reference used to accept them there), and before anything else is
/// checked: the answer is the same before and after `reset`.
#[test]
fn conf_001_an_extra_field_is_bad_request_on_every_op_observe_included() {
    let lines = [
        r#"{"id":1,"op":"observe","verbose":true}"#.to_string(),
        reset_line(&server_first()),
        r#"{"id":2,"op":"observe","verbose":true}"#.into(),
        r#"{"id":3,"op":"sign_out","user":"Tony Smith","verbose":true}"#.into(),
        r#"{"id":4,"op":"observe"}"#.into(),
    ];
    let answers = summary(&serve_lines(&lines));
    assert_eq!(
        answers,
        "1:bad_request 0:ok 2:bad_request 3:bad_request 4:ok"
    );
}

/// CONF-001, "For implementers in other languages": how the reference
/// reads JSON where readers differ. A duplicated key keeps its last value;
/// an unpaired surrogate escape, a number beyond the double range, or
/// arrays and objects nested more than 127 levels deep make the line not JSON
/// (`id: null`).
#[test]
fn conf_001_json_strictness_is_the_references() {
    let nested = |depth: usize| {
        format!(
            r#"{{"id":9,"op":"observe","x":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    let lines = [
        r#"{"id":1,"op":"observe","id":2}"#.to_string(),
        r#"{"id":3,"op":"fly","op":"observe"}"#.into(),
        r#"{"id":4,"op":"send","from":"a","to":"b","body":"\ud800"}"#.into(),
        r#"{"id":5,"op":"send","from":"a","to":"b","body":"\udc00"}"#.into(),
        r#"{"id":6,"op":"send","from":"a","to":"b","body":"\ud83d\ude00"}"#.into(),
        r#"{"id":7,"op":"advance","to_ms":1e400}"#.into(),
        r#"{"id":8,"op":"advance","to_ms":1e-400}"#.into(),
        // The object is one level; 126 more arrays are 127 in all.
        nested(127),
        nested(128),
    ];
    let answers = summary(&serve_lines(&lines));
    assert_eq!(
        answers,
        "2:no_deployment 3:no_deployment null:bad_request null:bad_request \
         6:no_deployment null:bad_request 8:no_deployment 9:bad_request \
         null:bad_request"
    );
}

/// CONF-003: presence names, user names, SIP addresses (and their `sip:`
/// prefix) and organisation names match in any ASCII case and only so: a
/// Kelvin sign or a long s, which Unicode case folding maps to `k` and
/// `s`, matches nothing. An unknown presence is `bad_request` whatever the
/// state (the schema lists the names), where the reference used to answer
/// `unknown_name` after `reset` and `no_deployment` before.
#[test]
fn conf_003_names_match_in_ascii_case_only() {
    let lines: Vec<String> = [
        r#"{"id":1,"op":"sign_in","user":"Tony Smith","presence":"sleepy"}"#,
        &reset_line(&server_first()),
        r#"{"id":2,"op":"sign_in","user":"TONY SMITH","presence":"DO-NOT-DISTURB"}"#,
        r#"{"id":3,"op":"set_presence","user":"sip:TONY@contoso.COM","presence":"Available"}"#,
        r#"{"id":4,"op":"set_presence","user":"Sip:tony@contoso.com","presence":"bE-rIgHt-BaCk"}"#,
        r#"{"id":5,"op":"set_presence","user":"tony@CONTOSO.com","presence":"be-right-bac\u212a"}"#,
        r#"{"id":6,"op":"set_presence","user":"Tony Smith","presence":"bu\u017fy"}"#,
        r#"{"id":7,"op":"set_presence","user":"Tony Smith","presence":"sleepy"}"#,
        r#"{"id":8,"op":"set_presence","user":"Tony \u017fmith","presence":"busy"}"#,
        r#"{"id":9,"op":"ews_down","org":"CONTOSO"}"#,
        r#"{"id":10,"op":"ews_up","org":"\u212aontoso"}"#,
        r#"{"id":11,"op":"observe"}"#,
    ]
    .map(String::from)
    .to_vec();
    let answers = serve_lines(&lines);
    assert_eq!(
        summary(&answers),
        "1:bad_request 0:ok 2:ok 3:ok 4:ok 5:bad_request 6:bad_request 7:bad_request \
         8:unknown_name 9:ok 10:unknown_name 11:ok"
    );
    assert_eq!(
        answers[11]["result"]["users"][0]["presence"], "be-right-back",
        "the observation writes the name in lower case"
    );
}

/// CONF-003, DEC-015: a Do Not Disturb or Presenting recipient whose client
/// cannot file a missed message gets the IM live, and the answer carries
/// the recipient's gate reason beside `route: live`. The schema says so
/// (it used to say such a message fell back "to offline", and allowed a
/// reason beside any route): a reason rides only on `unavailable` (always)
/// and `live` (a fallback).
#[test]
fn conf_003_a_fallback_reason_rides_on_a_live_route() {
    let file = "models/do-not-disturb-incapable-client.toml";
    let text = include_str!("../models/do-not-disturb-incapable-client.toml");
    let entry = conformance::corpus_entry(file, text).expect("the scenario loads");
    let case = conformance::scenario_case(&entry);
    let mut r = Reference::new();
    let routes: Vec<Value> = case
        .requests()
        .iter()
        .filter_map(|op| {
            let a = conformance::call(&mut r, op);
            matches!(op, Op::Send { .. }).then(|| a.expect("a route"))
        })
        .collect();
    let fallback = routes
        .iter()
        .find(|a| a["route"] == "live" && a.get("reason").is_some())
        .unwrap_or_else(|| panic!("no live route with a reason in {routes:?}"));
    let answer = |result: &Value| json!({ "id": 1, "ok": true, "result": result });
    assert!(validator().is_valid(&answer(fallback)), "{fallback}");
    let route_def = &schema()["$defs"]["route"];
    let text = route_def.to_string();
    assert!(
        !text.contains("to offline") && text.contains("live"),
        "{text}"
    );
    for (result, valid) in [
        (json!({ "id": "m1", "route": "live" }), true),
        (
            json!({ "id": "m1", "route": "live", "reason": "msi-install" }),
            true,
        ),
        (
            json!({ "id": "m1", "route": "unavailable", "reason": "sender-signed-out" }),
            true,
        ),
        (json!({ "id": "m1", "route": "offline" }), true),
        (json!({ "id": "m1", "route": "missed-message" }), true),
        (json!({ "id": "m1", "route": "unavailable" }), false),
        (
            json!({ "id": "m1", "route": "offline", "reason": "msi-install" }),
            false,
        ),
        (
            json!({ "id": "m1", "route": "missed-message", "reason": "msi-install" }),
            false,
        ),
    ] {
        assert_eq!(
            validator().is_valid(&answer(&result)),
            valid,
            "{result} valid: expected {valid}"
        );
    }
}

/// CONF-013: integers are read by value (`1.0`, `1e0` and `-0` are
/// integers, correctly rounded as a double), ids go up to 2^53 − 1 and are
/// unreadable beyond (`id: null`), `to_ms` goes up to 10^15 and the
/// deployment's durations to the ends of DEC-050's ranges, and an
/// observation's times stay within 2^53 − 1.
#[test]
fn conf_013_integers_are_read_by_value_within_the_double_safe_range() {
    assert_eq!(ID_MAX, 9_007_199_254_740_991);
    assert_eq!(TIME_MS_MAX, 1_000_000_000_000_000);
    assert_eq!(TIME_MS_MAX, offline_im::rules::domain::TIME_MS_MAX);
    let delay_max_ms = offline_im::rules::domain::PICKUP_DELAY_MS.max;
    let observe = |id: &str| format!(r#"{{"id":{id},"op":"observe"}}"#);
    let lines: Vec<String> = [
        "9007199254740991",
        "9007199254740992",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "1.0",
        "2e0",
        "30E-1",
        "-0",
        "-0.0",
        "1.0000000000000001",
        "9007199254740991.5",
        "4503599627370496.5",
        "4503599627370497.5",
        "0.5",
        "-1",
        "\"1\"",
        "null",
    ]
    .iter()
    .map(|id| observe(id))
    .collect();
    let answers = summary(&serve_lines(&lines));
    // 9007199254740991.5 is a tie between 2^53 − 1 and 2^53 and rounds to
    // the even one, 2^53: out of range. The two ties above 2^52 round to
    // the even neighbour too, one down and one up. serde_json promises
    // correct rounding with its `float_roundtrip` feature.
    assert_eq!(
        answers,
        "9007199254740991:no_deployment null:bad_request null:bad_request \
         null:bad_request null:bad_request 1:no_deployment 2:no_deployment \
         3:no_deployment 0:no_deployment 0:no_deployment 1:no_deployment \
         null:bad_request 4503599627370496:no_deployment 4503599627370498:no_deployment \
         null:bad_request null:bad_request null:bad_request null:bad_request"
    );

    let mut slow = server_first();
    slow["options"]["pickup_delay_ms"] = json!(delay_max_ms);
    slow["options"]["ews_latency_ms"] = json!(1.0);
    let mut too_slow = server_first();
    too_slow["options"]["pickup_delay_ms"] = json!(delay_max_ms + 1);
    let lines = [
        json!({ "id": 1, "op": "reset", "deployment": too_slow }).to_string(),
        json!({ "id": 2, "op": "reset", "deployment": slow }).to_string(),
        format!(r#"{{"id":3,"op":"advance","to_ms":{}}}"#, TIME_MS_MAX + 1),
        r#"{"id":4,"op":"advance","to_ms":5.0}"#.into(),
        r#"{"id":5,"op":"advance","to_ms":4.5}"#.into(),
        format!(r#"{{"id":6,"op":"advance","to_ms":{TIME_MS_MAX}}}"#),
        r#"{"id":7,"op":"sign_in","user":"Tony Smith","presence":"available"}"#.into(),
        r#"{"id":8,"op":"send","from":"Tony Smith","to":"Ken Myer","body":"late"}"#.into(),
        r#"{"id":9,"op":"observe"}"#.into(),
    ];
    let answers = serve_lines(&lines);
    assert_eq!(
        summary(&answers),
        "1:bad_deployment 2:ok 3:bad_request 4:ok 5:bad_request 6:ok 7:ok 8:ok 9:ok"
    );
    assert!(
        answers[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("expected 1 to {delay_max_ms}"))),
        "{}",
        answers[0]
    );
    let o = &answers[8]["result"];
    assert_eq!(o["clock_ms"], json!(TIME_MS_MAX));
    assert_eq!(
        o["users"][0]["spooler"][0]["due_ms"],
        json!(TIME_MS_MAX + delay_max_ms)
    );
    assert!(TIME_MS_MAX + delay_max_ms <= ID_MAX);
    for a in &answers {
        assert!(validator().is_valid(a), "{a}");
    }
}

// The schema against the reference, constraint by constraint.

/// What a changed request should get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Valid for the schema; never `bad_request`, and for a `reset`, loaded.
    Accept,
    /// One value of an enum inside `deployment`: valid for the schema and
    /// loaded in at least one of the deployments the walk starts from (the
    /// loader checks combinations the schema does not, such as
    /// `server_version` only on a Server organisation).
    AcceptSomewhere,
    /// Invalid for the schema: `bad_request`, or `bad_deployment` inside
    /// `deployment`.
    Reject,
}

/// One change to a valid request, and what it should get.
#[derive(Clone, Debug)]
struct Change {
    what: String,
    request: Value,
    expect: Expect,
}

/// A schema node with a `$ref` resolved.
fn resolve(node: &Value) -> &Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("a local $ref");
            resolve(&schema()["$defs"][name])
        }
        None => node,
    }
}

fn ref_name(node: &Value) -> Option<&str> {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
}

/// The request definitions of the schema, one per op, each with the
/// constraint on `id` that the enclosing `request` puts on it, and the
/// fields every request requires.
fn op_defs() -> Vec<(String, Value)> {
    let request = &schema()["$defs"]["request"];
    let shared_required = request["required"].as_array().expect("required ids");
    request["oneOf"]
        .as_array()
        .expect("one definition per op")
        .iter()
        .map(|def| {
            let mut def = def.clone();
            def["properties"]["id"] = request["properties"]["id"].clone();
            let mut required = shared_required.clone();
            if let Some(own) = def["required"].as_array() {
                required.extend(own.iter().cloned());
            }
            def["required"] = Value::Array(required);
            let op = def["properties"]["op"]["const"]
                .as_str()
                .expect("each op is a const")
                .to_string();
            (op, def)
        })
        .collect()
}

/// A valid request for `def`, naming what `deployment` has. Every property
/// the definition knows is set, optional or not, so that every constraint
/// can be changed.
fn valid_request(def: &Value, deployment: &Value) -> Value {
    let user = |i: usize| deployment["users"][i]["name"].clone();
    let mut request = serde_json::Map::new();
    for (key, node) in def["properties"].as_object().expect("properties") {
        let value = match (key.as_str(), ref_name(node)) {
            ("id", _) => json!(7),
            (_, Some("deployment")) => deployment.clone(),
            ("org", _) => deployment["orgs"][0]["name"].clone(),
            ("to", _) => user(1),
            (_, Some("name")) => user(0),
            (_, Some("presence_name")) => json!("available"),
            (_, Some("time_ms")) => json!(0),
            ("command", _) => json!("Get-CsImConfiguration"),
            _ => match resolve(node).get("const") {
                Some(c) => c.clone(),
                None => json!("hi"),
            },
        };
        request.insert(key.clone(), value);
    }
    Value::Object(request)
}

/// Sets the value at JSON pointer `path`.
fn with(request: &Value, path: &str, value: Value) -> Value {
    let mut r = request.clone();
    *r.pointer_mut(path).expect("the path exists") = value;
    r
}

/// Removes the key at the end of `path`.
fn without(request: &Value, path: &str) -> Value {
    let mut r = request.clone();
    let (parent, key) = path.rsplit_once('/').expect("a key path");
    r.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("an object")
        .remove(key);
    r
}

/// Names that a Unicode case fold would match to `name` but ASCII folding
/// does not, and names that are simply different.
fn lookalikes(name: &str) -> Vec<String> {
    let mut out = vec![format!("{name}x"), format!(" {name}"), String::new()];
    for (ascii, unicode) in [('k', '\u{212a}'), ('s', '\u{17f}'), ('i', '\u{130}')] {
        if name.contains(ascii) {
            out.push(name.replacen(ascii, &unicode.to_string(), 1));
        }
    }
    out
}

/// Every change the schema node `node` allows at `path` of `request`: each
/// required key dropped, an extra key where none may be, each enum and
/// const value and a value outside, each pattern example in other ASCII
/// cases and its Unicode lookalikes, each integer bound and one past it,
/// and a value of the wrong type.
fn changes(node: &Value, request: &Value, path: &str, out: &mut Vec<Change>) {
    let node = resolve(node);
    let at = request.pointer(path).expect("the path exists");
    let change = |out: &mut Vec<Change>, what: String, request: Value, expect: Expect| {
        out.push(Change {
            what,
            request,
            expect,
        })
    };
    // The value at `path` replaced.
    let set = |out: &mut Vec<Change>, value: Value, expect: Expect| {
        let what = format!("{} = {value}", if path.is_empty() { "/" } else { path });
        change(out, what, with(request, path, value), expect)
    };
    if let (Some(props), Some(obj)) = (node.get("properties"), at.as_object()) {
        for req in node["required"].as_array().into_iter().flatten() {
            let key = req.as_str().expect("a key");
            if obj.contains_key(key) {
                let p = format!("{path}/{key}");
                change(
                    out,
                    format!("drop {p}"),
                    without(request, &p),
                    Expect::Reject,
                );
            }
        }
        if node.get("additionalProperties") == Some(&Value::Bool(false)) {
            let mut extended = request.clone();
            extended
                .pointer_mut(path)
                .and_then(Value::as_object_mut)
                .expect("an object")
                .insert("extra_field".into(), json!(1));
            change(
                out,
                format!("extra field in {path}/"),
                extended,
                Expect::Reject,
            );
        }
        for (key, sub) in props.as_object().expect("properties") {
            if obj.contains_key(key) {
                changes(sub, request, &format!("{path}/{key}"), out);
            }
        }
        set(out, json!(5), Expect::Reject);
        return;
    }
    if let (Some(items), Some(_)) = (node.get("items"), at.as_array().and_then(|a| a.first())) {
        changes(items, request, &format!("{path}/0"), out);
        set(out, json!("x"), Expect::Reject);
        return;
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let accept = if path.starts_with("/deployment") {
            Expect::AcceptSomewhere
        } else {
            Expect::Accept
        };
        for v in values {
            set(out, v.clone(), accept);
        }
        set(out, json!("zz"), Expect::Reject);
    }
    if let Some(c) = node.get("const") {
        set(out, c.clone(), Expect::Accept);
        let outside = format!("{}0", c.as_str().expect("string consts"));
        set(out, json!(outside), Expect::Reject);
    }
    // A name pattern carries examples, and is walked through case variants
    // and lookalikes; the deployment's format patterns (`build`,
    // `released`) have none, and `tests/deployment.rs` walks those.
    if let (Some(_), Some(examples)) = (
        node.get("pattern"),
        node.get("examples").and_then(Value::as_array),
    ) {
        for example in examples {
            let name = example.as_str().expect("string examples");
            let alternating: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for accepted in [name.to_string(), name.to_ascii_uppercase(), alternating] {
                set(out, json!(accepted), Expect::Accept);
            }
            for rejected in lookalikes(name) {
                set(out, json!(rejected), Expect::Reject);
            }
        }
    }
    match node.get("type").and_then(Value::as_str) {
        Some("integer") => {
            let min = node["minimum"]
                .as_u64()
                .expect("every integer has a minimum");
            let max = node["maximum"].as_u64().unwrap_or_else(|| {
                panic!("{path}: every integer on the wire has a maximum (CONF-013)")
            });
            set(out, json!(min), Expect::Accept);
            set(out, json!(min as i64 - 1), Expect::Reject);
            set(out, json!(min as f64 + 0.5), Expect::Reject);
            set(out, json!(min.to_string()), Expect::Reject);
            set(out, json!(max), Expect::Accept);
            set(out, json!(max as f64), Expect::Accept);
            set(out, json!(max + 1), Expect::Reject);
        }
        Some("string") => {
            set(out, json!(5), Expect::Reject);
            set(out, Value::Null, Expect::Reject);
        }
        Some("boolean") => set(out, json!("true"), Expect::Reject),
        _ => {}
    }
}

/// Whether the schema rejects the request only inside `deployment`: then
/// the code is `bad_deployment` (CONF-007), otherwise `bad_request`.
fn invalid_only_in_deployment(request: &Value) -> bool {
    request["op"] == "reset"
        && request.get("deployment").is_some()
        && validator().is_valid(&with(request, "/deployment", server_first()))
}

/// The answer of the reference's line handler to `request` after a reset
/// to `deployment`.
fn answer_after_reset(deployment: &Value, request: &Value) -> Value {
    let answers = serve_lines(&[reset_line(deployment), request.to_string()]);
    assert_eq!(answers.len(), 2, "{request}");
    assert_eq!(
        summary(&answers[..1]),
        "0:ok",
        "the starting deployment loads"
    );
    answers[1].clone()
}

/// The id an answer to `request` must carry: the request's when it is one
/// the schema allows, `null` otherwise (CONF-013).
fn expected_id(request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let valid = jsonschema::is_valid(&schema()["$defs"]["id"], &id);
    match id.as_f64() {
        Some(f) if valid => json!(f as u64),
        _ => Value::Null,
    }
}

/// CONF-001, CONF-003, CONF-007, CONF-013: every required field, enum,
/// const, pattern, bound and type of the schema's requests is what the
/// reference accepts. For each op, and inside `deployment` for each key,
/// a change the schema allows is never `bad_request` (and a `reset` loads),
/// and a change it forbids is `bad_request`, or `bad_deployment` inside
/// `deployment`, with the request's id unless the id itself was changed.
#[test]
fn conf_001_every_constraint_of_the_schema_is_the_references() {
    let bases = [server_first(), online_first()];
    let mut ops_seen = Vec::new();
    let mut checked = 0;
    let mut somewhere: std::collections::BTreeMap<String, bool> = Default::default();
    for (op, def) in op_defs() {
        ops_seen.push(op.clone());
        for base in &bases {
            let request = valid_request(&def, base);
            assert!(
                validator().is_valid(&request),
                "the walk starts valid: {request}"
            );
            let before = answer_after_reset(base, &request);
            assert_ne!(before["code"], "bad_request", "{request}: {before}");
            let mut all = Vec::new();
            changes(&def, &request, "", &mut all);
            for c in all {
                let valid = validator().is_valid(&c.request);
                let answer = answer_after_reset(base, &c.request);
                let code = answer.get("code").cloned().unwrap_or(Value::Null);
                let context = format!("{op}: {}: {} -> {answer}", c.what, c.request);
                assert_eq!(answer["id"], expected_id(&c.request), "{context}");
                match c.expect {
                    Expect::Accept => {
                        assert!(valid, "the schema rejects {context}");
                        assert_ne!(code, "bad_request", "{context}");
                        if op == "reset" {
                            assert_eq!(answer["ok"], true, "{context}");
                        }
                    }
                    Expect::AcceptSomewhere => {
                        assert!(valid, "the schema rejects {context}");
                        *somewhere.entry(format!("{op}: {}", c.what)).or_default() |=
                            answer["ok"] == true;
                    }
                    Expect::Reject => {
                        assert!(!valid, "the schema accepts {context}");
                        let expected = if invalid_only_in_deployment(&c.request) {
                            "bad_deployment"
                        } else {
                            "bad_request"
                        };
                        assert_eq!(code, expected, "{context}");
                    }
                }
                checked += 1;
            }
        }
    }
    let nowhere: Vec<_> = somewhere.iter().filter(|(_, ok)| !**ok).collect();
    assert!(
        nowhere.is_empty(),
        "values no deployment accepts: {nowhere:?}"
    );
    let names = [
        "hello",
        "reset",
        "send",
        "sign_in",
        "sign_out",
        "set_presence",
        "crash",
        "restart",
        "ews_down",
        "ews_up",
        "admin",
        "advance",
        "observe",
    ];
    assert_eq!(ops_seen, names, "the schema has one definition per op");
    assert!(checked > 500, "{checked} changes");
}

/// CONF-003: the presence pattern of the schema is exactly its examples in
/// any ASCII case, and the examples are the rule book's presence names.
#[test]
fn conf_003_the_presence_pattern_is_the_names_in_ascii_case() {
    let def = &schema()["$defs"]["presence_name"];
    let names: Vec<&str> = Presence::ALL.iter().map(|p| p.name()).collect();
    let examples: Vec<&str> = def["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| e.as_str().expect("a string"))
        .collect();
    assert_eq!(examples, names);
    let fold = |n: &str| -> String {
        n.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_uppercase(), c)
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let pattern = format!(
        "^(?:{})$",
        names.iter().map(|n| fold(n)).collect::<Vec<_>>().join("|")
    );
    assert_eq!(def["pattern"], json!(pattern));
    assert_eq!(
        schema()["$defs"]["presence"]["enum"],
        json!(names),
        "observations write the names in lower case"
    );
}

// The proptest: requests generated from the schema.

/// A JSON value of any kind, for replacing a field.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0..=ID_MAX + 2).prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
        (-3i64..(1 << 54)).prop_map(|n| Value::from(n as f64)),
        (0u32..100).prop_map(|n| Value::from(f64::from(n) + 0.5)),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "available",
            "BUSY",
            "Do-Not-Disturb",
            "sleepy",
            "Tony Smith",
            "contoso",
            "offline-im/1",
            "observe",
            "reset",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value the schema allows for the property `node` of an op's
/// definition, drawn from what `deployment` names and beyond.
fn schema_value(key: &str, node: &Value, deployment: &Value) -> BoxedStrategy<Value> {
    let names = |field: &str| -> Vec<String> {
        deployment[field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let named = |mut known: Vec<String>| {
        known.push("nobody".into());
        prop_oneof![
            3 => prop::sample::select(known).prop_map(Value::from),
            1 => "\\PC{0,10}".prop_map(Value::from),
        ]
        .boxed()
    };
    match (key, ref_name(node)) {
        ("id", _) => prop_oneof![
            Just(json!(0)),
            Just(json!(ID_MAX)),
            (0..=ID_MAX).prop_map(Value::from),
            (0u32..1000).prop_map(|n| Value::from(f64::from(n))),
        ]
        .boxed(),
        (_, Some("deployment")) => Just(deployment.clone()).boxed(),
        ("org", _) => named(names("orgs")),
        (_, Some("name")) => named(names("users")),
        (_, Some("presence_name")) => {
            let examples: Vec<String> = resolve(node)["examples"]
                .as_array()
                .expect("examples")
                .iter()
                .map(|e| e.as_str().unwrap_or_default().to_string())
                .collect();
            (prop::sample::select(examples), any::<u64>())
                .prop_map(|(name, mask)| {
                    let cased: String = name
                        .chars()
                        .enumerate()
                        .map(|(i, c)| {
                            if mask >> (i % 64) & 1 == 1 {
                                c.to_ascii_uppercase()
                            } else {
                                c
                            }
                        })
                        .collect();
                    Value::from(cased)
                })
                .boxed()
        }
        (_, Some("time_ms")) => prop_oneof![
            Just(json!(0)),
            Just(json!(TIME_MS_MAX)),
            (0u64..400_000).prop_map(Value::from),
            (0..=TIME_MS_MAX).prop_map(Value::from),
        ]
        .boxed(),
        ("command", _) => prop::sample::select(vec![
            "Get-CsImConfiguration",
            "Set-CsImConfiguration -EnableOfflineIM $False",
            "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $False",
            "Set-CsNothing",
            "",
        ])
        .prop_map(Value::from)
        .boxed(),
        _ => match resolve(node).get("const") {
            Some(c) => Just(c.clone()).boxed(),
            None => "\\PC{0,20}".prop_map(Value::from).boxed(),
        },
    }
}

/// A schema-valid request of a random op, over one of the walk's
/// deployments or a corpus one.
fn valid_requests() -> impl Strategy<Value = Value> {
    let corpus = conformance::corpus().expect("the corpus loads");
    let mut deployments = vec![server_first(), online_first()];
    deployments.extend(corpus.iter().map(|c| c.deployment.clone()));
    let per_op: Vec<BoxedStrategy<Value>> = op_defs()
        .into_iter()
        .map(|(_, def)| {
            let deployments = deployments.clone();
            prop::sample::select(deployments)
                .prop_flat_map(move |d| {
                    let fields: Vec<(String, BoxedStrategy<Value>)> = def["properties"]
                        .as_object()
                        .expect("properties")
                        .iter()
                        .map(|(k, node)| (k.clone(), schema_value(k, node, &d)))
                        .collect();
                    let keys: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
                    let values: Vec<BoxedStrategy<Value>> =
                        fields.into_iter().map(|(_, s)| s).collect();
                    values.prop_map(move |vs| Value::Object(keys.iter().cloned().zip(vs).collect()))
                })
                .boxed()
        })
        .collect();
    prop::strategy::Union::new(per_op)
}

/// One way to break (or keep) a request, at a position chosen by `index`.
#[derive(Clone, Debug)]
enum Damage {
    /// Remove a key of some object in the request.
    Drop(prop::sample::Index),
    /// Add a key to some object in the request.
    Add(prop::sample::Index, String, Value),
    /// Replace some value in the request.
    Replace(prop::sample::Index, Value),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Drop),
        (
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                "extra", "id", "op", "user", "presence", "to_ms", "options", "sip"
            ]),
            any_json()
        )
            .prop_map(|(i, k, v)| Damage::Add(i, k.to_string(), v)),
        (any::<prop::sample::Index>(), any_json()).prop_map(|(i, v)| Damage::Replace(i, v)),
    ]
}

/// One value in a request: its JSON pointer, whether it is an object, and
/// for the value of an object's key, that object's pointer and the key.
#[derive(Clone)]
struct Place {
    pointer: String,
    is_object: bool,
    key_of: Option<(String, String)>,
}

/// Every value in `v`, the root first.
fn places(v: &Value, pointer: String, key_of: Option<(String, String)>, out: &mut Vec<Place>) {
    out.push(Place {
        pointer: pointer.clone(),
        is_object: v.is_object(),
        key_of,
    });
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                let key_of = Some((pointer.clone(), k.clone()));
                places(x, format!("{pointer}/{escaped}"), key_of, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                places(x, format!("{pointer}/{i}"), None, out);
            }
        }
        _ => {}
    }
}

fn apply(request: &mut Value, damage: &Damage) {
    let mut all = Vec::new();
    places(request, String::new(), None, &mut all);
    let pick = |i: &prop::sample::Index, fits: fn(&Place) -> bool| {
        let fitting: Vec<&Place> = all.iter().filter(|p| fits(p)).collect();
        (!fitting.is_empty()).then(|| fitting[i.index(fitting.len())].clone())
    };
    match damage {
        Damage::Drop(i) => {
            if let Some((parent, key)) = pick(i, |p| p.key_of.is_some()).and_then(|p| p.key_of)
                && let Some(m) = request.pointer_mut(&parent).and_then(Value::as_object_mut)
            {
                m.remove(&key);
            }
        }
        Damage::Add(i, key, value) => {
            if let Some(p) = pick(i, |p| p.is_object)
                && let Some(m) = request
                    .pointer_mut(&p.pointer)
                    .and_then(Value::as_object_mut)
            {
                m.insert(key.clone(), value.clone());
            }
        }
        Damage::Replace(i, value) => {
            if let Some(x) = pick(i, |_| true).and_then(|p| request.pointer_mut(&p.pointer)) {
                *x = value.clone();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// CONF-001, CONF-007, CONF-013: requests generated from the schema's
    /// op definitions, some of them damaged (a key dropped or added, a
    /// value replaced by any JSON), fed as lines to the reference's line
    /// handler after a `reset`: a request the schema accepts is never
    /// `bad_request`; one it rejects is `bad_request`, or `bad_deployment`
    /// when only its deployment is wrong; the answer carries the request's
    /// id exactly when the schema accepts the id, and validates.
    #[test]
    fn conf_001_schema_valid_requests_are_never_bad_request_and_invalid_ones_are(
        requests in prop::collection::vec(
            (valid_requests(), prop::collection::vec(damage(), 0..3), 0usize..4),
            1..8,
        )
    ) {
        let mut lines = vec![reset_line(&server_first())];
        let mut sent = Vec::new();
        for (request, damages, spacing) in requests {
            let mut request = request;
            for d in &damages {
                apply(&mut request, d);
            }
            // JSON whitespace around the object changes nothing.
            let pad = ["", " ", "\t", " \r"][spacing];
            lines.push(format!("{pad}{request}{pad}"));
            sent.push(request);
        }
        let answers = serve_lines(&lines);
        prop_assert_eq!(answers.len(), lines.len());
        prop_assert_eq!(summary(&answers[..1]), "0:ok");
        for (request, answer) in sent.iter().zip(&answers[1..]) {
            prop_assert!(validator().is_valid(answer), "answer {} to {}", answer, request);
            prop_assert_eq!(&answer["id"], &expected_id(request), "{} -> {}", request, answer);
            let code = answer.get("code").cloned().unwrap_or(Value::Null);
            if validator().is_valid(request) {
                prop_assert_ne!(&code, "bad_request", "{} -> {}", request, answer);
            } else if invalid_only_in_deployment(request) {
                prop_assert_eq!(&code, "bad_deployment", "{} -> {}", request, answer);
            } else {
                prop_assert_eq!(&code, "bad_request", "{} -> {}", request, answer);
            }
        }
    }
}

/// The codes compared by the walk are the protocol's own.
#[test]
fn the_walk_compares_the_protocols_codes() {
    let codes: Vec<Value> = [
        ErrorCode::BadRequest,
        ErrorCode::NoDeployment,
        ErrorCode::BadDeployment,
        ErrorCode::UnknownName,
        ErrorCode::Rejected,
        ErrorCode::Cmdlet,
    ]
    .iter()
    .map(|c| serde_json::to_value(c).expect("a code"))
    .collect();
    assert_eq!(
        schema()["$defs"]["answer"]["oneOf"][1]["properties"]["code"]["enum"],
        Value::Array(codes)
    );
}
