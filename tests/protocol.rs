//! The wire protocol as a second implementation written from SPEC.md alone
//! must see it (SPEC.md §7): what a line is (CONF-001), the JSON it holds,
//! the names it matches (CONF-003) and the integers it carries (CONF-013).
//! Every request goes through `serve` on a buffer, exactly as
//! `offline-im serve` reads stdin.

use offline_im::conformance::{
    self, Fault, ID_MAX, LINE_BYTES_MAX, Op, Process, Reference, SCHEMA, TIME_MS_MAX,
};
use offline_im::formats::scenario;
use offline_im::rules::domain::Presence;
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

/// `(id, code)` of an answer; the code is `null` for `ok: true`.
fn id_code(a: &Value) -> (Value, Value) {
    (
        a["id"].clone(),
        a.get("code").cloned().unwrap_or(Value::Null),
    )
}

fn bad(id: Value) -> (Value, Value) {
    (id, json!("bad_request"))
}

fn ok(id: u64) -> (Value, Value) {
    (json!(id), Value::Null)
}

fn code(id: u64, code: &str) -> (Value, Value) {
    (json!(id), json!(code))
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
    let answers: Vec<_> = serve_bytes(input).iter().map(id_code).collect();
    assert_eq!(
        answers,
        vec![
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            code(6, "no_deployment"),
        ]
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
    let answers: Vec<_> = serve_bytes(&input).iter().map(id_code).collect();
    assert_eq!(
        answers,
        vec![
            code(1, "no_deployment"),
            code(2, "no_deployment"),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            code(6, "no_deployment"),
            bad(Value::Null),
            code(8, "no_deployment"),
        ]
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
    let answers: Vec<_> = serve_lines(&lines).iter().map(id_code).collect();
    assert_eq!(
        answers,
        vec![bad(json!(1)), ok(0), bad(json!(2)), bad(json!(3)), ok(4)]
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
    let answers: Vec<_> = serve_lines(&lines).iter().map(id_code).collect();
    assert_eq!(
        answers,
        vec![
            code(2, "no_deployment"),
            code(3, "no_deployment"),
            bad(Value::Null),
            bad(Value::Null),
            code(6, "no_deployment"),
            bad(Value::Null),
            code(8, "no_deployment"),
            bad(json!(9)),
            bad(Value::Null),
        ]
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
    let req = |id: u64, op: &str, fields: Value| {
        let mut v = fields;
        v["id"] = json!(id);
        v["op"] = json!(op);
        v.to_string()
    };
    let lines = [
        req(
            1,
            "sign_in",
            json!({ "user": "Tony Smith", "presence": "sleepy" }),
        ),
        reset_line(&server_first()),
        req(
            2,
            "sign_in",
            json!({ "user": "TONY SMITH", "presence": "DO-NOT-DISTURB" }),
        ),
        req(
            3,
            "set_presence",
            json!({ "user": "sip:TONY@contoso.COM", "presence": "Available" }),
        ),
        req(
            4,
            "set_presence",
            json!({ "user": "Sip:tony@contoso.com", "presence": "bE-rIgHt-BaCk" }),
        ),
        req(
            5,
            "set_presence",
            json!({ "user": "tony@CONTOSO.com", "presence": "be-right-bac\u{212a}" }),
        ),
        req(
            6,
            "set_presence",
            json!({ "user": "Tony Smith", "presence": "bu\u{17f}y" }),
        ),
        req(
            7,
            "set_presence",
            json!({ "user": "Tony Smith", "presence": "sleepy" }),
        ),
        req(
            8,
            "set_presence",
            json!({ "user": "Tony \u{17f}mith", "presence": "busy" }),
        ),
        req(9, "ews_down", json!({ "org": "CONTOSO" })),
        req(10, "ews_up", json!({ "org": "\u{212a}ontoso" })),
        req(11, "observe", json!({})),
    ];
    let answers = serve_lines(&lines);
    let summary: Vec<_> = answers.iter().map(id_code).collect();
    assert_eq!(
        summary,
        vec![
            bad(json!(1)),
            ok(0),
            ok(2),
            ok(3),
            ok(4),
            bad(json!(5)),
            bad(json!(6)),
            bad(json!(7)),
            code(8, "unknown_name"),
            ok(9),
            code(10, "unknown_name"),
            ok(11),
        ]
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
    let corpus = conformance::corpus().expect("the corpus loads");
    let entry = corpus
        .iter()
        .find(|c| c.scenario.file == "models/do-not-disturb-incapable-client.toml")
        .expect("the scenario is in the corpus");
    let case = conformance::scenario_case(entry);
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
/// unreadable beyond (`id: null`), `to_ms` and the deployment's durations
/// go up to 2^52 − 1, and an observation's times stay within 2^53 − 1.
#[test]
fn conf_013_integers_are_read_by_value_within_the_double_safe_range() {
    assert_eq!(ID_MAX, 9_007_199_254_740_991);
    assert_eq!(TIME_MS_MAX, 4_503_599_627_370_495);
    assert_eq!(scenario::MS_MAX, TIME_MS_MAX);
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
    let answers: Vec<_> = serve_lines(&lines).iter().map(id_code).collect();
    let nd = |id: u64| code(id, "no_deployment");
    assert_eq!(
        answers,
        vec![
            nd(ID_MAX),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            nd(1),
            nd(2),
            nd(3),
            nd(0),
            nd(0),
            nd(1),
            // 9007199254740991.5 is a tie between 2^53 − 1 and 2^53, and
            // rounds to the even one, 2^53: out of range. So do the two
            // ties above 2^52, down and up (serde_json's default parser,
            // without `float_roundtrip`, is not always correctly rounded).
            bad(Value::Null),
            nd(1 << 52),
            nd((1 << 52) + 2),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
            bad(Value::Null),
        ]
    );

    let mut slow = server_first();
    slow["options"]["pickup_delay_ms"] = json!(TIME_MS_MAX);
    slow["options"]["ews_latency_ms"] = json!(1.0);
    let mut too_slow = server_first();
    too_slow["options"]["pickup_delay_ms"] = json!(TIME_MS_MAX + 1);
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
    let summary: Vec<_> = answers.iter().map(id_code).collect();
    assert_eq!(
        summary,
        vec![
            code(1, "bad_deployment"),
            ok(2),
            bad(json!(3)),
            ok(4),
            bad(json!(5)),
            ok(6),
            ok(7),
            ok(8),
            ok(9)
        ]
    );
    assert!(
        answers[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expected 0 to 4503599627370495")),
        "{}",
        answers[0]
    );
    let o = &answers[8]["result"];
    assert_eq!(o["clock_ms"], json!(TIME_MS_MAX));
    assert_eq!(
        o["users"][0]["spooler"][0]["due_ms"],
        json!(2 * TIME_MS_MAX)
    );
    const { assert!(2 * TIME_MS_MAX <= ID_MAX) };
    for a in &answers {
        assert!(validator().is_valid(a), "{a}");
    }
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
