//! EWS encoding: the `CreateItem` request that carries an offline message
//! (written by the sender's client) or a missed message (written by the
//! recipient's own client) into a mailbox, and its decoding with quick-xml.
//!
//! What each file owns:
//! - `request`: the request's shape and the rules that fill it:
//!   `Disposition`, `TargetFolder`, `Address`, `CreateItem`, which request
//!   a spooled message becomes (`request_for`, DEC-030) and its subject
//!   (`subject_of`, DEC-031); and its layout: the fixed opening of every
//!   request and the pieces between its fields, built at compile time, and
//!   `write_request`, which copies them and has an engine escape each text
//!   field between them;
//! - `escape`: the escaping rule every engine shares (DEC-032: `flagged`,
//!   `escape_of`, `xml_legal`, `sanitized`), the `Engine` enum with its
//!   run-time detection, and `Escaper`, through which `write_request`
//!   drives one engine;
//! - `writer`: `Wild`, which appends into capacity reserved beforehand
//!   with no capacity check per copy (one check covers a whole request),
//!   and `Piece`, fixed bytes padded to a constant length;
//! - `portable`: the portable engine, byte by byte, the readable definition
//!   that the others are tested against;
//! - `sse2` (x86_64): the SSE2 engine, 16 bytes a step;
//! - `avx2` (x86_64): the AVX2 engine, windows of 64 and 32 bytes, each
//!   block classified by a lookup by low nibble, a maximum and two compares,
//!   escapes written inside the window, short fields by two overlapping
//!   loads and stores; and the instances of the request writer and of
//!   `escape_text` compiled with AVX2;
//! - `avx512` (x86_64): the AVX-512 engine (BW, VL, VBMI and VBMI2, with
//!   BMI2) on 256-bit vectors, 32 bytes a step, each block classified by
//!   one table permute and one compare, escapes written in place with
//!   masked stores, a short address field loaded into the 64-byte block of
//!   the piece before it and stored with it; and the instances of the
//!   request writer and of `escape_text` compiled with its features;
//! - `decode`: quick-xml reading back, for the round-trip property;
//! - `benchmark`: the request and the output buffers the benchmarks share;
//! - this file: the public API, and the dispatch of `encode_create_item`,
//!   `encode_create_item_on`, `escape_text` and `escape_text_on` to an
//!   engine, chosen once at run time. Every engine writes the same bytes
//!   (tested); only the speed differs.
//!
//! Invariants it keeps:
//! - every request is well-formed XML 1.0 and valid against Microsoft's EWS
//!   schema (`messages.xsd`), which `tests/encode.rs` checks with xmllint;
//! - `decode(encode(r)) == r` for every request whose text is XML-legal,
//!   and `decode(encode(r))` equals `r` with forbidden characters replaced
//!   by U+FFFD otherwise;
//! - the hot path (`encode_create_item`) appends to the caller's buffer and
//!   allocates nothing else (`tests/alloc.rs`);
//! - no rule is restated: the class comes from the ledger (`dispatch`,
//!   `mailbox::classify`), the sender copy from `mailbox::keeps_sender_copy`,
//!   and the folder of a saved item from `mailbox::delivered_folders`;
//! - unsafe code lives only in the engine files (`sse2`, `avx2`, `avx512`)
//!   and in `writer`. An engine that needs processor features is reached
//!   through a value that proves them (`Avx2Escaper`, `Avx512Escaper`), so
//!   the dispatch here needs no unsafe block.
//!
//! What it may import: the rule book (`crate::rules`), std and quick-xml
//! (besides the serde and thiserror derives every format uses); inside this
//! folder the files import each other. It never names a driver
//! (`crate::check`, `crate::sim`, `crate::conformance`) or the CLI.
//!
//! What it deliberately does not do: send anything, or model the EWS
//! response. The world's `exchange-process` event stands for Exchange.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod benchmark;
mod decode;
mod escape;
mod portable;
mod request;
#[cfg(target_arch = "x86_64")]
mod sse2;
mod writer;

pub use benchmark::{BENCHMARK_BUFFERS, BENCHMARK_PLACEMENTS, BenchmarkOutput, benchmark_request};
pub use decode::{DECODE_EVENTS_MAX, DecodeError, decode, resolve_reference};
pub use escape::{Engine, flagged, sanitized, xml_legal};
pub use request::{
    Address, CreateItem, Disposition, NS_MESSAGES, NS_SOAP, NS_TYPES, SUBJECT_CHARS_MAX,
    TargetFolder, email_of_user, request_for, shape_for, subject_of,
};

#[cfg(target_arch = "x86_64")]
use avx2::Avx2Escaper;
#[cfg(target_arch = "x86_64")]
use avx512::Avx512Escaper;
use escape::{ESCAPE_EXPANSION_MAX, Escaper};
use portable::PortableEscaper;
use request::write_request;
#[cfg(target_arch = "x86_64")]
use sse2::Sse2Escaper;
use writer::Wild;

/// Appends `text` as XML 1.0 character data (DEC-032): `&`, `<` and `>`
/// become entity references (quotes need none outside attributes), a
/// carriage return becomes `&#xD;` so that end-of-line normalisation cannot
/// change it, and each character that XML 1.0 forbids becomes U+FFFD.
/// Everything else, non-BMP characters included, is copied as UTF-8.
pub fn escape_text(text: &str, out: &mut Vec<u8>) {
    escape_text_on(Engine::best(), text, out);
}

/// `escape_text` on a given engine; an engine this processor lacks falls
/// back to the portable one.
pub fn escape_text_on(engine: Engine, text: &str, out: &mut Vec<u8>) {
    let room = text.len().saturating_mul(ESCAPE_EXPANSION_MAX);
    let mut w = Wild::new(out, room);
    w.assert_room(room);
    match UsableEngine::of(engine) {
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Avx512(avx512) => avx512.escape_text(text, &mut w),
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Avx2(avx2) => avx2.escape_text(text, &mut w),
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Sse2 => Sse2Escaper.escape(text, &mut w),
        UsableEngine::Portable => PortableEscaper.escape(text, &mut w),
    }
    w.finish();
}

/// Appends the `m:CreateItem` element, with its namespaces declared on it:
/// the part of the request that the EWS schema defines.
pub fn encode_create_item(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // Once found, the AVX-512 engine is one load and one compare away.
    #[cfg(target_arch = "x86_64")]
    if let Some(avx512) = Avx512Escaper::if_best() {
        return avx512.write_create_item(r, out);
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(avx2) = Avx2Escaper::if_best() {
        return avx2.write_create_item(r, out);
    }
    encode_on_best(r, out);
}

/// `encode_create_item` before the engine is found or without AVX-512:
/// out of line, so that the AVX-512 path above needs no stack frame.
#[inline(never)]
fn encode_on_best(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    encode_create_item_on(Engine::best(), r, out);
}

/// `encode_create_item` on a given engine; an engine this processor lacks
/// falls back to the portable one.
pub fn encode_create_item_on(engine: Engine, r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // Each arm passes a constant escaper, so each instance has one engine,
    // and each is a call out of line: this function is then only the
    // dispatch, with no stack frame of its own for a pinned engine to pay
    // for (the `engine/` benchmarks call it on every request).
    match UsableEngine::of(engine) {
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Avx512(avx512) => avx512.write_create_item(r, out),
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Avx2(avx2) => avx2.write_create_item(r, out),
        #[cfg(target_arch = "x86_64")]
        UsableEngine::Sse2 => encode_sse2(r, out),
        UsableEngine::Portable => encode_portable(r, out),
    }
}

/// The SSE2 instance of the request writer.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn encode_sse2(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    write_request(Sse2Escaper, r, out);
}

/// The portable instance of the request writer.
#[inline(never)]
fn encode_portable(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    write_request(PortableEscaper, r, out);
}

/// An engine this processor can run, with the proof of features the
/// AVX-512 one needs: what the `_on` functions dispatch on.
#[derive(Clone, Copy)]
enum UsableEngine {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2Escaper),
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512Escaper),
}

impl UsableEngine {
    /// `engine` if this processor can run it, else the portable engine.
    #[inline(always)]
    fn of(engine: Engine) -> UsableEngine {
        match engine {
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => {
                Avx512Escaper::detect().map_or(UsableEngine::Portable, UsableEngine::Avx512)
            }
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 => {
                Avx2Escaper::detect().map_or(UsableEngine::Portable, UsableEngine::Avx2)
            }
            // SSE2 is part of every x86_64 processor.
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 => UsableEngine::Sse2,
            _ => UsableEngine::Portable,
        }
    }
}

/// Appends the whole SOAP request: XML declaration, envelope, body.
pub fn encode_envelope(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"",
    );
    out.extend_from_slice(NS_SOAP.as_bytes());
    out.extend_from_slice(b"\"><soap:Body>");
    encode_create_item(r, out);
    out.extend_from_slice(b"</soap:Body></soap:Envelope>");
}

/// The SOAP request as a string.
pub fn encode(r: &CreateItem<'_>) -> String {
    let mut out = Vec::with_capacity(1024);
    encode_envelope(r, &mut out);
    // The writer only appends UTF-8: ASCII markup and escaped `&str` text.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
