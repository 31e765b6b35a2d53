//! The deployment loader's rules (CONF-007, `bad_deployment`) and the one
//! range per option and per time (DEC-050).
//!
//! Every rule that SPEC.md lists under CONF-007 has a test here, named
//! `conf_007_…`, that breaks exactly that rule in an otherwise valid
//! deployment and requires `reset` to answer `bad_deployment` with a message
//! that names what was found and what was expected. `reset` wraps the
//! scenario loader, so each test covers both loaders. The schema test reads
//! the ranges of `src/conformance/schema.json` and requires the loader and
//! the schema to agree on each bound and on one past it.

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

/// Whether `reset` accepts `d`. The schema is never stricter than the
/// loader: whatever the loader accepts, the schema accepts too.
#[track_caller]
fn accepted(d: &Value) -> bool {
    let ok = Reference::new().reset(d).is_ok();
    if ok {
        assert!(
            schema_accepts(d),
            "the loader accepts what the schema rejects: {d}"
        );
    }
    ok
}

/// Requires `reset` to accept `base()` with `key` of `part` (`orgs` or
/// `users`) entry `i` set to each of `values`: the whole list of a keyword
/// rule.
#[track_caller]
fn accepts_each(part: &str, i: usize, key: &str, values: &[&str]) {
    for v in values {
        let d = with(|d| d[part][i][key] = json!(v));
        assert!(accepted(&d), "{part}[{i}].{key} = {v}");
    }
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

/// Whether the schema accepts `d` as the deployment of a `reset` request.
fn schema_accepts(d: &Value) -> bool {
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    validator.is_valid(&json!({ "id": 1, "op": "reset", "deployment": d }))
}

#[test]
fn conf_007_the_base_deployment_is_accepted() {
    assert!(accepted(&base()));
    assert!(schema_accepts(&base()));
}

/// CONF-007, DEC-050: for every integer option the schema lists, its minimum
/// and maximum are accepted by both the loader and the schema, and one below
/// the minimum and one above the maximum are rejected by both. The loader's
/// message names the key, the value found and the allowed range.
#[test]
fn conf_007_the_schema_ranges_are_the_loaders() {
    let schema = schema();
    let options = schema["$defs"]["deployment"]["properties"]["options"]["properties"]
        .as_object()
        .expect("the schema lists the options");
    let mut integers = 0;
    for (key, prop) in options {
        if prop["type"] != "integer" {
            assert_eq!(prop["type"], "boolean", "{key}: an integer or a boolean");
            continue;
        }
        integers += 1;
        let bound = |b: &str| {
            prop[b]
                .as_i64()
                .unwrap_or_else(|| panic!("the schema gives {key} no {b}"))
        };
        let (min, max) = (bound("minimum"), bound("maximum"));
        let set = |v: i64| with(|d| d["options"] = json!({ key.as_str(): v }));
        for v in [min, max] {
            assert!(accepted(&set(v)), "the loader rejects {key} = {v}");
            assert!(schema_accepts(&set(v)), "the schema rejects {key} = {v}");
        }
        for v in [min - 1, max + 1] {
            rejected(
                &set(v),
                &[
                    &format!("found {key} = {v}"),
                    &format!("expected {min} to {max}"),
                ],
            );
            assert!(!schema_accepts(&set(v)), "the schema accepts {key} = {v}");
        }
    }
    assert_eq!(
        integers, 4,
        "pickup_delay_ms, attempts_max, ews_latency_ms, spool_capacity"
    );
}

// ---- CONF-007: one test per rule, in the order SPEC.md lists them ----

#[test]
fn conf_007_an_unknown_key_is_rejected_at_every_level() {
    rejected(&with(|d| d["colour"] = json!("blue")), &["colour"]);
    rejected(
        &with(|d| d["options"] = json!({ "colour": 1 })),
        &["colour"],
    );
    rejected(&with(|d| d["orgs"][0]["colour"] = json!(1)), &["colour"]);
    rejected(&with(|d| d["users"][0]["colour"] = json!(1)), &["colour"]);
}

#[test]
fn conf_007_a_missing_required_key_is_rejected() {
    for key in ["orgs", "users"] {
        rejected(
            &with(|d| drop(d.as_object_mut().unwrap().remove(key))),
            &[key],
        );
    }
    for key in ["name", "profile"] {
        let d = with(|d| drop(d["orgs"][1].as_object_mut().unwrap().remove(key)));
        rejected(&d, &[key]);
    }
    for key in ["name", "org", "mailbox", "install", "build", "released"] {
        let d = with(|d| drop(d["users"][2].as_object_mut().unwrap().remove(key)));
        rejected(&d, &[key]);
    }
}

#[test]
fn conf_007_a_value_of_the_wrong_type_or_null_is_rejected() {
    rejected(
        &with(|d| d["orgs"][0]["ews_published"] = json!("yes")),
        &["yes"],
    );
    rejected(
        &with(|d| d["orgs"][0]["sites"] = json!("Redmond")),
        &["Redmond"],
    );
    rejected(
        &with(|d| d["options"] = json!({ "dedup": 1 })),
        &["expected"],
    );
    rejected(
        &with(|d| d["options"] = json!({ "attempts_max": 2.5 })),
        &["2.5", "integer"],
    );
    rejected(
        &with(|d| d["users"][0]["sip"] = Value::Null),
        &["found `null` at users[0].sip"],
    );
}

#[test]
fn conf_007_signed_in_and_presence_are_not_part_of_reset() {
    rejected(
        &with(|d| d["users"][1]["signed_in"] = json!(true)),
        &["found `signed_in` on users[1]", "sign_in"],
    );
    rejected(
        &with(|d| d["users"][0]["presence"] = json!("busy")),
        &["found `presence` on users[0]"],
    );
}

#[test]
fn conf_007_dedup_is_a_boolean() {
    assert!(accepted(
        &with(|d| d["options"] = json!({ "dedup": false }))
    ));
    rejected(&with(|d| d["options"] = json!({ "dedup": "no" })), &["no"]);
}

#[test]
fn conf_007_there_is_at_least_one_organisation() {
    rejected(
        &with(|d| {
            d["orgs"] = json!([]);
        }),
        &[
            "found no `[[deployment.orgs]]`",
            "at least one organisation",
        ],
    );
}

#[test]
fn conf_007_there_are_at_most_255_organisations() {
    let orgs = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({ "name": format!("org{i}"), "profile": "online" }))
            .collect()
    };
    let users = json!([
        { "name": "a", "org": "org0", "mailbox": "online", "install": "c2r",
          "build": "16.0.6920.1000", "released": "2016-07-12" }
    ]);
    assert!(accepted(&json!({ "orgs": orgs(255), "users": users })));
    rejected(
        &json!({ "orgs": orgs(256), "users": users }),
        &["found 256 organisations", "at most 255"],
    );
}

#[test]
fn conf_007_organisation_names_are_unique_case_insensitively() {
    rejected(
        &with(|d| d["orgs"][1]["name"] = json!("CONTOSO")),
        &["duplicate organisation name `CONTOSO`"],
    );
}

#[test]
fn conf_007_profile_is_server_or_online() {
    rejected(
        &with(|d| d["orgs"][1]["profile"] = json!("hybrid")),
        &["hybrid", "server"],
    );
}

#[test]
fn conf_007_server_version_is_one_of_three_and_only_on_server() {
    accepts_each("orgs", 0, "server_version", &["2015", "2015-cu3", "2019"]);
    rejected(
        &with(|d| d["orgs"][0]["server_version"] = json!("2013")),
        &["2013", "2019"],
    );
    rejected(
        &with(|d| d["orgs"][1]["server_version"] = json!("2019")),
        &["found `server_version` on an Online organisation"],
    );
}

#[test]
fn conf_007_sites_are_only_on_server_and_unique_case_insensitively() {
    rejected(
        &with(|d| d["orgs"][1]["sites"] = json!(["Paris"])),
        &["found `sites` on an Online organisation"],
    );
    rejected(
        &with(|d| d["orgs"][0]["sites"] = json!(["Redmond", "redmond"])),
        &["duplicate site `redmond`"],
    );
}

#[test]
fn conf_007_federation_names_another_organisation_of_the_deployment() {
    assert!(accepted(&with(
        |d| d["orgs"][1]["federated_with"] = json!(["CONTOSO"])
    )));
    rejected(
        &with(|d| d["orgs"][0]["federated_with"] = json!(["northwind"])),
        &["unknown organisation `northwind`", "`contoso`, `fabrikam`"],
    );
    rejected(
        &with(|d| d["orgs"][0]["federated_with"] = json!(["Contoso"])),
        &["federated with itself", "another organisation"],
    );
}

#[test]
fn conf_007_there_is_at_least_one_user() {
    rejected(
        &with(|d| d["users"] = json!([])),
        &["found no `[[deployment.users]]`", "at least one user"],
    );
}

#[test]
fn conf_007_a_user_name_is_not_blank() {
    rejected(
        &with(|d| d["users"][2]["name"] = json!("  ")),
        &["found an empty user name"],
    );
}

#[test]
fn conf_007_a_user_names_an_organisation_and_a_site_of_it() {
    assert!(accepted(&with(|d| d["users"][1]["org"] = json!("Contoso"))));
    assert!(accepted(
        &with(|d| d["users"][1]["site"] = json!("REDMOND"))
    ));
    rejected(
        &with(|d| d["users"][1]["org"] = json!("northwind")),
        &["unknown organisation `northwind`"],
    );
    rejected(
        &with(|d| d["users"][1]["site"] = json!("Paris")),
        &["unknown site `Paris`", "`Redmond`"],
    );
    rejected(
        &with(|d| d["users"][2]["site"] = json!("Redmond")),
        &["unknown site `Redmond`", "(none)"],
    );
}

#[test]
fn conf_007_mailbox_and_install_are_from_their_lists() {
    accepts_each("users", 0, "mailbox", &["online", "on-premises", "none"]);
    accepts_each("users", 0, "install", &["c2r", "msi"]);
    rejected(
        &with(|d| d["users"][0]["mailbox"] = json!("cloud")),
        &["cloud", "on-premises"],
    );
    rejected(
        &with(|d| d["users"][0]["install"] = json!("exe")),
        &["exe", "msi"],
    );
}

#[test]
fn conf_007_a_build_is_four_parts_of_digits_each_at_most_2_32_minus_1() {
    let build = |b: &str| with(|d| d["users"][0]["build"] = json!(b));
    assert!(accepted(&build("4294967295.0.0.0")));
    assert!(
        accepted(&build("016.0.6920.1000")),
        "leading zeros are digits"
    );
    for bad in [
        "4294967296.0.0.0",
        "16.0.6920",
        "16.0.6920.1000.1",
        "16..6920.1000",
        "16.0.+6920.1000",
        "16.0.-6920.1000",
        "16.0.6920.1000 ",
        "16.x.6920.1000",
    ] {
        rejected(&build(bad), &[&format!("found `{bad}`"), "four numbers"]);
    }
}

#[test]
fn conf_007_released_is_a_date_yyyy_mm_dd() {
    let released = |r: &str| with(|d| d["users"][0]["released"] = json!(r));
    assert!(
        accepted(&released("2016-02-31")),
        "the day is not checked against the month"
    );
    for bad in [
        "2016-6-14",
        "16-06-14",
        "2016-13-01",
        "2016-00-01",
        "2016-06-32",
        "2016-06-00",
        "+016-06-14",
        "2016-+6-14",
        "2016-06-14T00",
    ] {
        rejected(&released(bad), &[&format!("found `{bad}`"), "YYYY-MM-DD"]);
    }
}

#[test]
fn conf_007_display_names_and_sip_addresses_are_unique_case_insensitively() {
    rejected(
        &with(|d| d["users"][2]["name"] = json!("tony smith")),
        &["duplicate user `tony smith`", "`Tony Smith`"],
    );
    rejected(
        &with(|d| d["users"][2]["sip"] = json!("SIP:ken.myer@contoso")),
        &["duplicate user `Pat Coleman`", "`Ken Myer`"],
    );
    // Without `sip`, the address is derived from the name and organisation
    // (sip:tony.smith@contoso), and the derived one counts too.
    rejected(
        &with(|d| d["users"][1]["sip"] = json!("sip:tony.smith@contoso")),
        &["duplicate user `Ken Myer`"],
    );
}

/// The user bound is checked by `Deployment::new`, which the loader calls
/// before anything else that looks at the users; a million and one users are
/// built here directly rather than written out as JSON.
#[test]
fn conf_007_there_are_at_most_a_million_users() {
    use offline_im::rules::domain::{
        Build, Client, Date, Deployment, DeploymentError, Install, MailboxLocation, Options, Org,
        OrgId, Profile, USERS_MAX, User,
    };
    assert_eq!(USERS_MAX, 1_000_000, "SPEC.md states the number");
    let org = Org {
        name: "contoso".into(),
        profile: Profile::Online,
        server_version: None,
        sites: Vec::new(),
        ews_published: true,
    };
    let user = User {
        name: String::new(),
        sip: String::new(),
        org: OrgId(0),
        site: None,
        mailbox: MailboxLocation::Online,
        client: Client {
            install: Install::C2r,
            build: Build::OFFLINE_IM_MIN,
            released: Date::DRAFTS_FIX,
        },
    };
    let e = Deployment::new(
        vec![org],
        Vec::new(),
        vec![user; USERS_MAX + 1],
        Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        DeploymentError::TooMany {
            what: "users",
            found: USERS_MAX + 1,
            max: USERS_MAX
        }
    );
    assert_eq!(
        e.to_string(),
        "found 1000001 users, expected at most 1000000"
    );
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
/// 10^15 ms, and answers one past it `bad_request` (CONF-013), so the clock of the protocol is
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
    assert_eq!(e.code, ErrorCode::BadRequest, "{}", e.message);
    let e = r.advance(u64::MAX).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest, "{}", e.message);
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
