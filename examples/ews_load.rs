//! A load run of the EWS endpoint on loopback, bounded in time: N clients
//! (50 by default), each its own user with its own connection, each
//! creating an offline-IM item, listing its Conversation History and
//! reading one item back, for S seconds (20 by default). It prints the
//! requests per second and the p50 and p99 latencies, then checks that
//! nothing was lost: every `CreateItem` that was accepted is in its
//! recipient's mailbox and counted by `FindItem` over HTTP, and every
//! invariant holds. BENCHMARKS.md has its figures.
//!
//!   cargo run --release --features ews-schema --example ews_load -- [CLIENTS] [SECONDS]
//!
//! Exit code: 0 when nothing was lost and the invariants hold; 1 otherwise;
//! 2 for bad arguments.

use base64::Engine as _;
use offline_im::ews::{Credentials, Endpoint, Limits, Validation};
use offline_im::formats::encode::{
    Address, CreateItem, email_of_user, encode, shape_for, subject_of,
};
use offline_im::rules::dispatch::Route;
use offline_im::rules::domain::{Deployment, UserId};
use offline_im::rules::world::World;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound on each client's requests, so that no loop is unbounded.
const REQUESTS_PER_CLIENT_MAX: usize = 1_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64, max: u64| -> u64 {
        match args.get(i) {
            None => default,
            Some(a) => match a.parse::<u64>() {
                Ok(v) if (1..=max).contains(&v) => v,
                _ => {
                    eprintln!("error: found {a:?}, expected a whole number from 1 to {max}");
                    std::process::exit(2);
                }
            },
        }
    };
    let clients = number(0, 50, 1000) as usize;
    let seconds = number(1, 20, 3600);
    std::process::exit(run(clients, Duration::from_secs(seconds)));
}

/// The schema check this build has.
fn validation() -> Validation {
    #[cfg(feature = "ews-schema")]
    {
        let dir = std::env::var("OFFLINE_IM_EWS_SCHEMA")
            .unwrap_or_else(|_| "../shared/ews-schema".into());
        match offline_im::ews::SchemaValidator::load(std::path::Path::new(&dir)) {
            Ok(v) => Validation::Schema(v),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
    #[cfg(not(feature = "ews-schema"))]
    Validation::Off
}

/// The request user `from` sends to `to`: DEC-030's shape for an offline
/// message.
fn request(d: &Deployment, from: UserId, to: UserId, body: &str) -> String {
    let (disposition, saved_folder, class) =
        shape_for(d, Route::Offline, from, to).expect("an offline message has a shape");
    let address = |u: UserId| Address {
        name: Cow::Borrowed(d.user(u).name.as_str()),
        email: Cow::Borrowed(email_of_user(d, u)),
    };
    encode(&CreateItem {
        disposition,
        saved_folder,
        class,
        subject: Cow::Borrowed(subject_of(body)),
        body: Cow::Borrowed(body),
        to: address(to),
        from: address(from),
    })
}

fn soap(operation: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><soap:Body>{operation}</soap:Body></soap:Envelope>"
    )
}

/// `FindItem` of the last ten items of a distinguished folder.
fn find_last(folder: &str) -> String {
    soap(&format!(
        "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"10\" Offset=\"0\" BasePoint=\"End\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"{folder}\"/></m:ParentFolderIds></m:FindItem>"
    ))
}

/// What one client did: each request's latency, and each accepted
/// message as (recipient, body).
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    accepted: Vec<(UserId, String)>,
    errors: usize,
}

fn run(clients: usize, duration: Duration) -> i32 {
    // A deployment of the simulator's kind, two users per client, empty.
    let config = offline_im::sim::SimConfig {
        users: u32::try_from(clients * 2).unwrap_or(u32::MAX),
        orgs: 2,
        ..offline_im::sim::SimConfig::default_config()
    };
    let d = Arc::new(offline_im::sim::deployment(&config));
    let world = World::new(Arc::clone(&d));
    let credentials = Credentials::generated(&world, 1);
    let limits = Limits {
        connections_max: clients + 8,
        ..Limits::default()
    };
    let endpoint = Arc::new(Endpoint::new(
        world,
        credentials.clone(),
        validation(),
        limits,
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a free port");
    let url = format!(
        "http://{}/EWS/Exchange.asmx",
        listener.local_addr().expect("bound")
    );
    runtime.spawn(offline_im::ews::serve(listener, Arc::clone(&endpoint)));
    let auth = |u: UserId| {
        let password = &credentials.passwords[u.0 as usize].1;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{password}", email_of_user(&d, u)))
        )
    };
    // Writers the Drafts fault would refuse (OIM-014) and recipients
    // without a mailbox (DEC-007) are left out, so every refusal below
    // is a failure of the endpoint.
    let sound: Vec<UserId> = d
        .user_ids()
        .filter(|u| {
            let user = d.user(*u);
            user.mailbox != offline_im::rules::domain::MailboxLocation::None
                && !offline_im::rules::mailbox::hits_drafts_fault(user)
        })
        .collect();
    assert!(sound.len() >= 2, "the deployment has writers");
    let started = Instant::now();
    let deadline = started + duration;
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let from = sound[c % sound.len()];
                // Every other client writes to a colleague, the rest to
                // another organisation.
                let to = *sound
                    .iter()
                    .cycle()
                    .skip(c + 1)
                    .take(sound.len())
                    .find(|u| **u != from && ((d.user(**u).org == d.user(from).org) == (c % 2 == 0)))
                    .unwrap_or(&sound[(c + 1) % sound.len()]);
                let (url, d, auth) = (&url, &d, auth(from));
                scope.spawn(move || {
                    let agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(30)))
                        .build()
                        .new_agent();
                    let mut tally = Tally::default();
                    let call = |body: &str, tally: &mut Tally| -> Option<String> {
                        let t = Instant::now();
                        let response = agent
                            .post(url)
                            .header("Authorization", &auth)
                            .header("Content-Type", "text/xml; charset=utf-8")
                            .send(body);
                        let text = response.ok().and_then(|mut r| {
                            let ok = r.status().as_u16() == 200;
                            let text = r.body_mut().read_to_string().ok()?;
                            ok.then_some(text)
                        });
                        tally.latencies.push(t.elapsed());
                        if text.is_none() {
                            tally.errors += 1;
                        }
                        text
                    };
                    for k in 0..REQUESTS_PER_CLIENT_MAX {
                        if Instant::now() >= deadline {
                            break;
                        }
                        let body = format!("load c{c} n{k}");
                        if let Some(answer) = call(&request(d, from, to, &body), &mut tally) {
                            if answer.contains("ResponseClass=\"Success\"") {
                                tally.accepted.push((to, body));
                            } else {
                                tally.errors += 1;
                            }
                        }
                        let Some(list) = call(&find_last("conversationhistory"), &mut tally) else {
                            continue;
                        };
                        if let Some(id) = list.split("<t:ItemId Id=\"").nth(1).and_then(|r| r.split('"').next()) {
                            let get = soap(&format!(
                                "<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id=\"{id}\"/></m:ItemIds></m:GetItem>"
                            ));
                            call(&get, &mut tally);
                        }
                    }
                    tally
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = tallies
        .iter()
        .flat_map(|t| t.latencies.iter().copied())
        .collect();
    latencies.sort();
    let at = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let requests = latencies.len();
    let errors: usize = tallies.iter().map(|t| t.errors).sum();
    let accepted: Vec<&(UserId, String)> = tallies.iter().flat_map(|t| t.accepted.iter()).collect();
    println!(
        "clients {clients}, {:.1} s, schema validation {}",
        elapsed.as_secs_f64(),
        if endpoint.validates() { "on" } else { "off" }
    );
    println!(
        "requests {requests} ({:.0}/s), accepted CreateItem {}, errors {errors}",
        requests as f64 / elapsed.as_secs_f64(),
        accepted.len()
    );
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    // Nothing lost: each accepted message is its recipient's delivered
    // item, and the recipient's own FindItem counts every one.
    let lost = endpoint.with_world(|w| {
        accepted
            .iter()
            .filter(|(to, body)| {
                !w.state.mailboxes[to.0 as usize].items.iter().any(|i| {
                    i.kind == offline_im::rules::mailbox::ItemKind::Delivered
                        && w.state
                            .ledger
                            .get(i.message)
                            .is_some_and(|r| &r.body == body)
                })
            })
            .count()
    });
    let mut per_recipient: std::collections::BTreeMap<UserId, usize> =
        std::collections::BTreeMap::new();
    for (to, _) in &accepted {
        *per_recipient.entry(*to).or_default() += 1;
    }
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut miscounted = 0;
    for (to, n) in &per_recipient {
        let folders = ["inbox", "conversationhistory"];
        let total: usize = folders
            .iter()
            .map(|f| {
                let find = soap(&format!(
                    "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"1\" Offset=\"0\" BasePoint=\"Beginning\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"{f}\"/></m:ParentFolderIds></m:FindItem>"
                ));
                let text = agent
                    .post(&url)
                    .header("Authorization", &auth(*to))
                    .send(&find)
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok())
                    .unwrap_or_default();
                text.split("TotalItemsInView=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|v| v.parse().ok()).unwrap_or(0)
            })
            .sum();
        // A recipient's Conversation History also holds its own sender
        // copies, so it holds at least what was delivered to it.
        if total < *n {
            miscounted += 1;
        }
    }
    let violations = endpoint.violations();
    println!(
        "lost {lost}, recipients whose FindItem counts fewer than were delivered {miscounted}, invariants {}",
        if violations.is_empty() {
            "hold".to_string()
        } else {
            format!("broken: {violations:?}")
        }
    );
    i32::from(
        lost > 0 || miscounted > 0 || !violations.is_empty() || errors > 0 || accepted.is_empty(),
    )
}
