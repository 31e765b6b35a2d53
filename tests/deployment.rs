//! The one range per option and per time (DEC-050), through the
//! conformance reference and against the schema.

use offline_im::conformance::{ErrorCode, Implementation, Reference, SCHEMA};
use serde_json::{Value, json};

/// A valid deployment: Contoso (Server, site Redmond, federated with
/// Fabrikam) with Tony and Ken; Fabrikam (Online) with Pat.
fn base() -> Value {
    let user = |name: &str, org: &str| {
        json!({
            "name": name, "org": org, "mailbox": "online", "install": "c2r",
            "build": "16.0.6920.1000", "released": "2016-07-12"
        })
    };
    let mut tony = user("Tony Smith", "contoso");
    tony["site"] = json!("Redmond");
    json!({
        "orgs": [
            { "name": "contoso", "profile": "server", "server_version": "2015-cu3",
              "sites": ["Redmond"], "federated_with": ["fabrikam"] },
            { "name": "fabrikam", "profile": "online" }
        ],
        "users": [tony, user("Ken Myer", "contoso"), user("Pat Coleman", "fabrikam")]
    })
}

/// `base()` changed by `edit`.
fn with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut d = base();
    edit(&mut d);
    d
}

/// Requires `reset` to reject `d` with `bad_deployment` and a message that
/// contains every one of `fragments`; returns the message.
#[track_caller]
fn rejected(d: &Value, fragments: &[&str]) -> String {
    let e = match Reference::new().reset(d) {
        Ok(_) => panic!("accepted {d}"),
        Err(e) => e,
    };
    assert_eq!(e.code, ErrorCode::BadDeployment, "{}", e.message);
    for f in fragments {
        assert!(e.message.contains(f), "`{f}` not in: {}", e.message);
    }
    e.message
}

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

/// DEC-050: the schema's option ranges are the rows of the one table
/// (`domain::RANGES`) that every loader checks against, key for key, and the
/// schema lists no integer option the table lacks; `dedup` is the one
/// boolean. The defaults of the table are `Options::default()`.
#[test]
fn dec_050_the_schema_states_the_range_table() {
    use offline_im::rules::domain::{Options, RANGES};
    let schema = schema();
    let options = schema["$defs"]["deployment"]["properties"]["options"]["properties"]
        .as_object()
        .expect("the schema lists the options");
    let rows: Vec<_> = RANGES
        .iter()
        .filter(|r| r.place == "deployment.options")
        .collect();
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key).collect();
    keys.push("dedup");
    keys.sort_unstable();
    assert_eq!(options.keys().map(String::as_str).collect::<Vec<_>>(), keys);
    for r in &rows {
        let p = &options[r.key];
        assert_eq!(p["minimum"].as_u64(), Some(r.min), "{}", r.key);
        assert_eq!(p["maximum"].as_u64(), Some(r.max), "{}", r.key);
        assert_eq!(p["default"].as_u64(), r.default, "{}", r.key);
    }
    assert_eq!(options["dedup"]["default"], true);
    let d = Options::default();
    let defaults: Vec<(&str, Option<u64>)> = rows.iter().map(|r| (r.key, r.default)).collect();
    assert_eq!(
        defaults,
        [
            ("pickup_delay_ms", Some(d.pickup_delay_ms)),
            ("attempts_max", Some(d.attempts_max.into())),
            ("ews_latency_ms", Some(d.ews_latency_ms)),
            ("spool_capacity", Some(d.spool_capacity.into())),
        ]
    );
    assert!(d.dedup);
}

/// DEC-050: a value beyond `i64`, which TOML's own value type cannot hold,
/// still reaches the range check through `reset` and is reported against
/// its range, and so is a negative one.
#[test]
fn dec_050_reset_reports_u64_max_and_negative_values_against_their_range() {
    let d = with(|d| d["options"] = json!({ "ews_latency_ms": u64::MAX }));
    rejected(
        &d,
        &["found ews_latency_ms = 18446744073709551615, expected 0 to 60000 ms"],
    );
    let d = with(|d| d["options"] = json!({ "pickup_delay_ms": -1 }));
    rejected(
        &d,
        &["found pickup_delay_ms = -1, expected 1 to 3600000 ms"],
    );
}

/// DEC-050, CONF-004: `advance` accepts `to_ms` up to the end of time,
/// 10^15 ms, and rejects one past it, so the clock of the protocol is
/// bounded and `now + ews_latency_ms` cannot overflow.
#[test]
fn dec_050_advance_stops_at_the_end_of_time() {
    use offline_im::rules::domain::{TIME_MS_MAX, TO_MS};
    assert_eq!(
        TIME_MS_MAX, 1_000_000_000_000_000,
        "SPEC.md states the number"
    );
    assert_eq!(TO_MS.max, TIME_MS_MAX);
    let mut r = Reference::new();
    r.reset(&base()).expect("reset");
    let e = r.advance(TIME_MS_MAX + 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::Rejected);
    assert_eq!(
        e.message,
        "found to_ms = 1000000000000001, expected 0 to 1000000000000000 ms"
    );
    let e = r.advance(u64::MAX).unwrap_err();
    assert_eq!(e.code, ErrorCode::Rejected);
    r.sign_in("Tony Smith", "available").expect("sign in");
    r.advance(TIME_MS_MAX - 1)
        .expect("advance to just before the end");
    // A send at the last instant but one: its pickup is due two minutes
    // later, past the end of time, so it stays waiting, and nothing wraps.
    let sent = r.send("Tony Smith", "Ken Myer", "late").expect("send");
    assert_eq!(sent["route"], "offline");
    r.advance(TIME_MS_MAX).expect("advance to the end");
    let o = r.observe().expect("observe");
    assert_eq!(o["clock_ms"], TIME_MS_MAX);
    let entry = &o["users"][0]["spooler"][0];
    assert_eq!(entry["status"], "waiting", "{o}");
    assert_eq!(entry["due_ms"], TIME_MS_MAX - 1 + 120_000);
    assert_eq!(o["users"][1].get("folders"), None, "{o}");
}
