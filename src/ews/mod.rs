//! The EWS endpoint: SOAP 1.1 Exchange Web Services over HTTP, answered
//! from the rule book's mailboxes (`offline-im ews`, SPEC.md §8).
//!
//! A client or gateway points its EWS code at
//! `http://HOST:PORT/EWS/Exchange.asmx`; a mailbox integration reads the
//! folders and items that a scenario or a simulated day filed. Every
//! `CreateItem` becomes one `Event::CreateItemArrives` of `world::step`:
//! the rule book files it, and the endpoint only translates (DEC-073).
//!
//! What each file owns:
//! - `endpoint`: `Endpoint`, which holds the world, the credentials, the
//!   schema and the `Limits`, and `Endpoint::answer`, the whole of one
//!   request from its `Authorization` header and body to the status and
//!   body of the reply, with no network in it, so that tests can call it
//!   directly;
//! - `http`: the HTTP server on hyper and axum, which applies the limits: a body
//!   over `Limits::body_bytes_max` gets 413, a slow request 408, and a
//!   connection over `Limits::connections_max` gets 503;
//! - `xml`: the request read into a bounded element tree, a DTD refused;
//! - `schema` (feature `ews-schema`): validation against `messages.xsd`
//!   with libxml2;
//! - `ids`: folder and item ids, which name their owner, and the virtual
//!   clock as a date;
//! - `ops`: the five operations over the world;
//! - `respond`: the envelope, `ServerVersionInfo`, response messages and
//!   faults.
//!
//! Invariants it keeps:
//! - a request is answered in this order: credentials (401), schema
//!   (fault), well-formedness (fault), operation. A request refused at any
//!   stage changes nothing;
//! - a user reads and writes only their own mailbox (DEC-075, `ops`);
//! - the world changes only through `world::step`, under one lock, so the
//!   invariants of `rules::invariants` hold after every request.
//!
//! What it may import: the rule book, the formats (the encoder's escaper
//! and DEC-030's request shape), and its HTTP, XML and libxml2 crates. It
//! never names another driver; the command line builds the world it
//! serves (from a scenario or a simulated day) and hands it over.
//!
//! What it deliberately does not do: autodiscover, TLS, NTLM, or any EWS
//! operation beyond the five. A served world's clock does not move:
//! every item created through the endpoint is stamped with the virtual
//! time the world had when it was served (DEC-074).

mod endpoint;
mod http;
mod ids;
mod ops;
mod respond;
#[cfg(feature = "ews-schema")]
mod schema;
mod xml;

pub use endpoint::{Credentials, Endpoint, Limits, Reply, Validation};
pub use http::{EWS_PATH, serve};
pub use ids::virtual_time;
pub use respond::server_version;
#[cfg(feature = "ews-schema")]
pub use schema::{SchemaLoadError, SchemaValidator, SchemaViolation};
