//! `Endpoint`: the world served, the credentials, the schema and the
//! limits, and `Endpoint::answer`, one request from its credentials and
//! body to its reply, with no network in it.

use super::ops;
use super::respond::{self, Violation};
#[cfg(feature = "ews-schema")]
use super::schema::{SchemaValidator, SchemaViolation};
use super::xml;
use crate::rules::domain::UserId;
use crate::rules::invariants;
use crate::rules::world::World;
use base64::Engine as _;
use std::sync::Mutex;
use std::time::Duration;

/// The limits of one endpoint (DEC-075), which the HTTP server applies.
/// Each has one range, checked by the command line where it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body; a larger one gets 413 (1 MiB).
    pub body_bytes_max: usize,
    /// The time a client has to send its request head and then its body;
    /// a slower one gets 408 or is disconnected (10 s).
    pub request_timeout: Duration,
    /// The most connections served at once; one more gets 503 (256).
    pub connections_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes_max: 1 << 20,
            request_timeout: Duration::from_secs(10),
            connections_max: 256,
        }
    }
}

/// The password of each user: what HTTP Basic must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// (user, password), in deployment order.
    pub passwords: Vec<(UserId, String)>,
}

impl Credentials {
    /// A password for every user, 20 characters drawn by ChaCha8 from
    /// `seed`, so that the same seed gives the same passwords (the command
    /// line draws the seed from the operating system unless `--seed` is
    /// given).
    pub fn generated(world: &World, seed: u64) -> Credentials {
        use rand::{RngExt, SeedableRng};
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let passwords = world
            .deployment
            .user_ids()
            .map(|u| {
                let p: String = (0..20)
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                    .collect();
                (u, p)
            })
            .collect();
        Credentials { passwords }
    }

    /// The user that a Basic `Authorization` header authenticates, if the
    /// name (an SMTP or SIP address, or a display name) and password match.
    pub fn authenticate(&self, world: &World, header: Option<&str>) -> Option<UserId> {
        let encoded = header?.trim().strip_prefix("Basic ")?.trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        let user = world.deployment.find_user(name)?;
        let expected = &self.passwords.iter().find(|(u, _)| *u == user)?.1;
        // Compare every byte, so that the time taken does not tell how
        // much of a guess was right.
        let same = expected.len() == password.len()
            && expected
                .bytes()
                .zip(password.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(user)
    }
}

/// How requests are checked against Microsoft's schema.
pub enum Validation {
    /// Not at all: this build has no libxml2 (feature `ews-schema` off).
    Off,
    /// Against `messages.xsd`, with libxml2.
    #[cfg(feature = "ews-schema")]
    Schema(SchemaValidator),
}

/// The reply to one request, before HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status: 200, 401, 500 for a SOAP fault, 503.
    pub status: u16,
    /// The body; SOAP XML for 200 and 500.
    pub body: Vec<u8>,
}

/// The world served, and what the endpoint keeps beside it.
struct Served {
    world: World,
    names: ops::Translation,
}

/// One endpoint: the world it serves, the credentials, the schema and
/// the limits. It is shared by every connection.
pub struct Endpoint {
    served: Mutex<Served>,
    credentials: Credentials,
    validation: Validation,
    /// The limits the HTTP server applies.
    pub limits: Limits,
}

impl Endpoint {
    /// An endpoint over `world`. The world keeps no trace, so that memory
    /// follows the mailboxes and not the requests.
    pub fn new(
        mut world: World,
        credentials: Credentials,
        validation: Validation,
        limits: Limits,
    ) -> Endpoint {
        world.keep_trace = false;
        world.keep_decisions = false;
        world.trace.clear();
        Endpoint {
            served: Mutex::new(Served {
                world,
                names: ops::Translation::default(),
            }),
            credentials,
            validation,
            limits,
        }
    }

    /// The credentials users sign in with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Whether requests are checked against the schema.
    pub fn validates(&self) -> bool {
        !matches!(self.validation, Validation::Off)
    }

    /// Reads the world under the lock: what the tests and the load run
    /// inspect after the requests.
    pub fn with_world<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        f(&served.world)
    }

    /// The invariants the world breaks now; empty when every one holds.
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        self.with_world(|w| invariants::violations(&w.deployment, &w.state))
    }

    /// The user an `Authorization` header names with the right password:
    /// the HTTP server asks before it reads a body, so that an
    /// unauthenticated client gets 401 whatever it sends.
    pub fn user_of(&self, authorization: Option<&str>) -> Option<UserId> {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        self.credentials.authenticate(&served.world, authorization)
    }

    /// Answers one request: its `Authorization` header and its body.
    pub fn answer(&self, authorization: Option<&str>, body: &[u8]) -> Reply {
        self.answer_for(self.user_of(authorization), body)
    }

    /// Answers one request of `user`, already authenticated by `user_of`
    /// (`None`: nobody, which gets 401).
    pub fn answer_for(&self, user: Option<UserId>, body: &[u8]) -> Reply {
        let Some(user) = user else {
            return Reply {
                status: 401,
                body: b"401 Unauthorized: HTTP Basic credentials of a user of the served deployment are required\n".to_vec(),
            };
        };
        if let Err(v) = self.validate(body) {
            return fault(
                "ErrorSchemaValidation",
                "The request failed schema validation:",
                Some(&v),
            );
        }
        let envelope = match xml::parse(body) {
            Ok(e) => e,
            Err(e) => {
                return fault(
                    "ErrorSchemaValidation",
                    "The request failed schema validation:",
                    Some(&Violation {
                        line: e.line,
                        column: e.column,
                        message: e.message,
                    }),
                );
            }
        };
        let Some(operation) = envelope
            .child("Body")
            .filter(|_| envelope.name == "Envelope")
            .and_then(|b| b.children.first())
        else {
            return fault(
                "ErrorInvalidRequest",
                "The request is invalid: found no operation, expected a soap:Envelope whose soap:Body holds one EWS operation.",
                None,
            );
        };
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let Served { world, names } = &mut *served;
        match ops::run(world, names, user, operation) {
            ops::Answer::Body(b) => Reply {
                status: 200,
                body: respond::envelope(world.deployment.org_of(user), &b),
            },
            ops::Answer::Fault(code, message) => fault(code, &message, None),
            ops::Answer::Unavailable(why) => Reply {
                status: 503,
                body: format!("503 Service Unavailable: {why}\n").into_bytes(),
            },
        }
    }

    /// The first schema violation of a request, if the schema is checked.
    fn validate(&self, body: &[u8]) -> Result<(), Violation> {
        match &self.validation {
            Validation::Off => {
                let _ = body;
                Ok(())
            }
            #[cfg(feature = "ews-schema")]
            Validation::Schema(s) => s.validate(body).map_err(|all| {
                let first = all.into_iter().next().unwrap_or(SchemaViolation {
                    line: 0,
                    column: 0,
                    element: String::new(),
                    message: "libxml2 gave no reason".to_string(),
                });
                Violation {
                    line: first.line,
                    column: first.column,
                    message: if first.element.is_empty() {
                        first.message
                    } else {
                        format!("element {}: {}", first.element, first.message)
                    },
                }
            }),
        }
    }
}

/// A SOAP fault reply: HTTP 500, as SOAP 1.1 answers a fault.
fn fault(code: &'static str, message: &str, violation: Option<&Violation>) -> Reply {
    Reply {
        status: 500,
        body: respond::fault(code, message, violation),
    }
}
