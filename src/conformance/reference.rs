//! The reference implementation of `offline-im/1`: the rule book behind the
//! protocol's ops, and the JSON-lines loop that `offline-im serve` runs.
//!
//! Invariants it keeps:
//! - Every event op is `World::apply` followed by `World::settle_until` at
//!   the current clock: the rule book's eager scheduler performs whatever
//!   the event made due at that instant, in its fixed order. `advance` is
//!   `settle_until` alone. No rule lives here.
//! - `serve` answers every line, in order, and never panics on input: a
//!   line that is not a request, an empty or blank one included, gets a
//!   `bad_request` answer.
//!
//! What it deliberately does not do: keep the decision log (the protocol
//! does not carry it), or read anything but its input.

use super::protocol::{
    Answer, ErrorCode, Implementation, LINE_BYTES_MAX, Op, Rejection, answer_line, done,
    parse_presence, whole_numbers_as_integers,
};
use crate::formats::report;
use crate::formats::scenario;
use crate::rules::cmdlets;
use crate::rules::domain::{Deployment, OrgId, UserId};
use crate::rules::world::{Decision, Event, Outcome, SHELL_REJECTED, StepError, World};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

/// The rule book, speaking `offline-im/1`.
#[derive(Debug, Default)]
pub struct Reference {
    world: Option<World>,
}

impl Reference {
    /// A reference with no deployment loaded: until a `reset`, every op but
    /// `hello` and `reset` is answered `no_deployment`.
    pub fn new() -> Reference {
        Reference::default()
    }

    /// The world after the last op, if a deployment is loaded. Mutable so
    /// that experiments (and the deliberately wrong implementations in
    /// examples/) can be built as variations of the reference.
    pub fn world_mut(&mut self) -> Option<&mut World> {
        self.world.as_mut()
    }

    /// The decision outcomes of every op since the last call (or the last
    /// `reset`), in order: what the conformance kit's coverage counts.
    pub fn take_decisions(&mut self) -> Vec<Decision> {
        self.world
            .as_mut()
            .map(|w| std::mem::take(&mut w.decisions))
            .unwrap_or_default()
    }

    /// Applies the event `build` makes from the deployment, then performs
    /// everything due at the current instant.
    fn event(
        &mut self,
        build: impl FnOnce(&Deployment) -> Result<Event, Rejection>,
    ) -> Result<(Outcome, &World), Rejection> {
        let world = self.world.as_mut().ok_or_else(no_deployment)?;
        let e = build(&world.deployment)?;
        let out = world.apply_settled(&e).map_err(step_rejection)?;
        Ok((out, world))
    }

    fn simple(&mut self, build: impl FnOnce(&Deployment) -> Result<Event, Rejection>) -> Answer {
        self.event(build)?;
        done()
    }
}

fn no_deployment() -> Rejection {
    Rejection::new(
        ErrorCode::NoDeployment,
        "found an event before any deployment, expected `reset` first",
    )
}

fn step_rejection(e: StepError) -> Rejection {
    match e {
        StepError::Precondition(m) => Rejection::new(ErrorCode::Rejected, m),
        StepError::Cmdlet(c) => Rejection::new(ErrorCode::Cmdlet, c.to_string()),
    }
}

fn user(d: &Deployment, name: &str) -> Result<UserId, Rejection> {
    d.find_user(name).ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownName,
            format!(
                "found the unknown user `{name}`, expected one of {}",
                d.user_names()
            ),
        )
    })
}

fn org(d: &Deployment, name: &str) -> Result<OrgId, Rejection> {
    d.find_org(name).ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownName,
            format!(
                "found the unknown organisation `{name}`, expected one of {}",
                d.org_names()
            ),
        )
    })
}

/// Loads a deployment in the models/ form by wrapping it in a scenario, so
/// that `reset` and the scenario loader accept exactly the same tables.
pub fn load_deployment(deployment: &Value) -> Result<scenario::Scenario, Rejection> {
    let bad = |m: String| Rejection::new(ErrorCode::BadDeployment, m);
    let mut deployment = deployment.clone();
    whole_numbers_as_integers(&mut deployment);
    let deployment = &deployment;
    if let Some(users) = deployment.get("users").and_then(Value::as_array) {
        for (i, u) in users.iter().enumerate() {
            for key in ["signed_in", "presence"] {
                if u.get(key).is_some() {
                    return Err(bad(format!(
                        "found `{key}` on users[{i}], expected none: `reset` starts every user signed out; send `sign_in` ops instead"
                    )));
                }
            }
        }
    }
    if let Some(path) = null_at(deployment, String::new()) {
        return Err(bad(format!(
            "found `null` at {path}, expected a value (TOML has no null; leave an optional key out)"
        )));
    }
    // Written straight from JSON to TOML text, not through `toml::Value`,
    // whose integers are `i64`: an integer beyond it (`u64::MAX`, say) then
    // reaches the scenario loader and is reported against its range
    // (DEC-050) like any other value out of range.
    let doc = serde_json::json!({ "name": "reset", "deployment": deployment });
    let text = toml::to_string(&doc).map_err(|e| {
        bad(format!(
            "found a deployment TOML cannot hold ({e}), expected the models/ `[deployment]` table as JSON"
        ))
    })?;
    scenario::load("reset", &text).map_err(|e| bad(format!("deployment: {}", e.message)))
}

/// The path of the first `null` in `v` (`users[0].sip`), if any.
fn null_at(v: &Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::Null => Some(if path.is_empty() {
            "the top".into()
        } else {
            path
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| null_at(x, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, x)| null_at(x, join(k))),
        _ => None,
    }
}

impl Implementation for Reference {
    fn name(&self) -> String {
        format!("offline-im reference {}", env!("CARGO_PKG_VERSION"))
    }

    fn reset(&mut self, deployment: &Value) -> Answer {
        let scenario = load_deployment(deployment)?;
        let mut world = scenario.world();
        world.keep_trace = false;
        world.keep_decisions = true;
        self.world = Some(world);
        done()
    }

    fn send(&mut self, from: &str, to: &str, body: &str) -> Answer {
        let (out, world) = self.event(|d| {
            Ok(Event::Send {
                from: user(d, from)?,
                to: user(d, to)?,
                body: body.to_string(),
            })
        })?;
        let (id, route) = out.route.ok_or_else(|| {
            Rejection::new(
                ErrorCode::Rejected,
                "the rule book answered a send without a route",
            )
        })?;
        let view = report::route_view(&world.deployment, &world.state, id, route);
        let mut result = serde_json::json!({ "id": view.id, "route": view.route });
        if let Some(reason) = view.reason {
            result["reason"] = Value::from(reason);
        }
        Ok(result)
    }

    fn sign_in(&mut self, u: &str, p: &str) -> Answer {
        let presence = parse_presence(p)?;
        self.simple(|d| {
            Ok(Event::SignIn {
                user: user(d, u)?,
                presence,
            })
        })
    }

    fn sign_out(&mut self, u: &str) -> Answer {
        self.simple(|d| Ok(Event::SignOut { user: user(d, u)? }))
    }

    fn set_presence(&mut self, u: &str, p: &str) -> Answer {
        let presence = parse_presence(p)?;
        self.simple(|d| {
            Ok(Event::SetPresence {
                user: user(d, u)?,
                presence,
            })
        })
    }

    fn crash(&mut self, u: &str) -> Answer {
        self.simple(|d| Ok(Event::CrashClient { user: user(d, u)? }))
    }

    fn restart(&mut self, u: &str) -> Answer {
        self.simple(|d| Ok(Event::RestartClient { user: user(d, u)? }))
    }

    fn ews_down(&mut self, o: &str) -> Answer {
        self.simple(|d| Ok(Event::EwsDown { org: org(d, o)? }))
    }

    fn ews_up(&mut self, o: &str) -> Answer {
        self.simple(|d| Ok(Event::EwsUp { org: org(d, o)? }))
    }

    fn admin(&mut self, o: &str, command: &str) -> Answer {
        // A command line the shell rejects is an outcome only when the
        // closure gets as far as parsing it, so CONF-007's order of codes
        // is the closure's alone.
        let parse_failed = std::cell::Cell::new(false);
        let answer = self
            .event(|d| {
                let org = org(d, o)?;
                let parsed = cmdlets::parse(command).map_err(|e| {
                    parse_failed.set(true);
                    Rejection::new(ErrorCode::Cmdlet, e.to_string())
                })?;
                Ok(Event::Admin {
                    org,
                    text: command.to_string(),
                    parsed: Box::new(parsed),
                })
            })
            .map(|(out, _)| out);
        if parse_failed.get()
            && let Some(world) = self.world.as_mut()
        {
            world.decisions.push(SHELL_REJECTED);
        }
        let out = answer?;
        Ok(serde_json::json!({ "output": out.shell_output }))
    }

    fn advance(&mut self, to_ms: u64) -> Answer {
        // The clock's upper bound (DEC-050's `to_ms` range, CONF-013) is the
        // op's own check, so that no time the rule book computes from the
        // clock can overflow; past it, the request is `bad_request`.
        Op::Advance { to_ms }.check()?;
        let world = self.world.as_mut().ok_or_else(no_deployment)?;
        if to_ms < world.state.clock_ms {
            return Err(Rejection::new(
                ErrorCode::Rejected,
                format!(
                    "found `to_ms` {to_ms}, before the clock; expected at least {}",
                    world.state.clock_ms
                ),
            ));
        }
        world.settle_until(to_ms).map_err(step_rejection)?;
        done()
    }

    fn observe(&mut self) -> Answer {
        let world = self.world.as_ref().ok_or_else(no_deployment)?;
        serde_json::to_value(report::observe(&world.deployment, &world.state))
            .map_err(|e| Rejection::new(ErrorCode::Rejected, e.to_string()))
    }
}

/// Speaks `offline-im/1` on `input` and `output` until `input` ends:
/// one answer line per request line, in order (CONF-001). A line is the
/// bytes up to the next LF, or up to the end of the input when no LF
/// follows; its content, without the LF, is one request. Every line is
/// answered, an empty or blank one too (it is not JSON). Output is flushed
/// whenever no further request is already buffered, so a pipelining client
/// and a lock-step client are both served promptly.
pub fn serve(
    imp: &mut (impl Implementation + ?Sized),
    input: impl Read,
    output: impl Write,
) -> io::Result<()> {
    let mut reader = BufReader::new(input);
    let mut out = BufWriter::new(output);
    let mut line: Vec<u8> = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return out.flush();
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.len() > LINE_BYTES_MAX {
            // Skip the rest of the overlong line, unread, before answering it.
            reader.skip_until(b'\n')?;
        }
        let answer = answer_line(imp, &line);
        out.write_all(answer.as_bytes())?;
        out.write_all(b"\n")?;
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
}
