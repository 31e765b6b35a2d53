//! criterion benchmark of EWS encoding, in bytes per second, side by side:
//!
//! - `encode/offline-im`: `encode_create_item` into a reused buffer;
//! - `encode/quick-xml-serde`: quick-xml's serde serializer writing the
//!   same bytes from serde structs into a reused `String`;
//! - `encode/memcpy`: copying the finished bytes into a reused buffer,
//!   the limit no encoder can beat.
//!
//! The three outputs are asserted byte-equal before measuring. The
//! encoder and memcpy write through `encode::BenchmarkOutput`: each
//! request at the next of `BENCHMARK_PLACEMENTS` in the next of
//! `BENCHMARK_BUFFERS` buffers that never move, so each figure is a mean
//! over the same 64 places, not the luck of one.
//! Targets (BENCHMARKS.md): within 3x of memcpy, faster than
//! quick-xml-serde. `escape/twelve-lines` times escaping alone on text
//! of many lines.
//!
//! `engine/<name>` pins each escape engine this processor can run
//! (`Engine::ALL`: portable, sse2, avx2, avx512), beside `engine/memcpy`
//! in the same group and the same 64 places, so that anyone can compare
//! the engines on their own processor:
//! `cargo bench --bench encode -- engine/`.
//!
//! `class-search/<name>` measures what issue 20 asked to measure before
//! writing an engine: escaping the benchmark request's six text fields
//! with the AVX2 engine (`escape_text_on`), and with a well-kept crate
//! that finds the bytes to escape, each writing the portable engine's
//! bytes (asserted): `aho-corasick`'s packed (Teddy) searcher over the 34
//! bytes of the class, one pattern each (with the crate's pattern-count
//! heuristics lifted, which would refuse Teddy for more than 16 one-byte
//! patterns), the only crate found that finds the whole class in one
//! pass; and `memchr::memchr3` over the three
//! markup bytes alone, which misses control characters and 0xEF and so
//! is no engine, only the first of the two passes a memchr-based one
//! would need. The candidates escape each byte found through
//! `escape_text_on` (so as not to restate the rule), which costs a call
//! per escape that an engine does not pay: two in this request:
//! `cargo bench --bench encode -- class-search/`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use offline_im::formats::encode::{
    Address, BenchmarkOutput, CreateItem, Engine, NS_MESSAGES, NS_TYPES, encode_create_item,
    encode_create_item_on, escape_text_on, flagged,
};
use serde::Serialize;
use std::hint::black_box;

#[derive(Serialize)]
#[serde(rename = "m:CreateItem")]
struct SeCreateItem<'a> {
    #[serde(rename = "@xmlns:m")]
    xmlns_m: &'a str,
    #[serde(rename = "@xmlns:t")]
    xmlns_t: &'a str,
    #[serde(rename = "@MessageDisposition")]
    disposition: &'a str,
    #[serde(
        rename = "m:SavedItemFolderId",
        skip_serializing_if = "Option::is_none"
    )]
    saved: Option<SeSaved<'a>>,
    #[serde(rename = "m:Items")]
    items: SeItems<'a>,
}

#[derive(Serialize)]
struct SeSaved<'a> {
    #[serde(rename = "t:DistinguishedFolderId")]
    folder: SeFolderId<'a>,
}

#[derive(Serialize)]
struct SeFolderId<'a> {
    #[serde(rename = "@Id")]
    id: &'a str,
}

#[derive(Serialize)]
struct SeItems<'a> {
    #[serde(rename = "t:Message")]
    message: SeMessage<'a>,
}

#[derive(Serialize)]
struct SeMessage<'a> {
    #[serde(rename = "t:ItemClass")]
    class: &'a str,
    #[serde(rename = "t:Subject")]
    subject: &'a str,
    #[serde(rename = "t:Body")]
    body: SeBody<'a>,
    #[serde(rename = "t:ToRecipients")]
    to: SeRecipient<'a>,
    #[serde(rename = "t:From")]
    from: SeRecipient<'a>,
}

#[derive(Serialize)]
struct SeBody<'a> {
    #[serde(rename = "@BodyType")]
    body_type: &'a str,
    #[serde(rename = "$text")]
    text: &'a str,
}

#[derive(Serialize)]
struct SeRecipient<'a> {
    #[serde(rename = "t:Mailbox")]
    mailbox: SeMailbox<'a>,
}

#[derive(Serialize)]
struct SeMailbox<'a> {
    #[serde(rename = "t:Name")]
    name: &'a str,
    #[serde(rename = "t:EmailAddress")]
    email: &'a str,
}

fn se_request<'a>(r: &'a CreateItem<'a>) -> SeCreateItem<'a> {
    let mailbox = |a: &'a Address<'a>| SeRecipient {
        mailbox: SeMailbox {
            name: &a.name,
            email: &a.email,
        },
    };
    SeCreateItem {
        xmlns_m: NS_MESSAGES,
        xmlns_t: NS_TYPES,
        disposition: r.disposition.as_str(),
        saved: r.saved_folder.map(|f| SeSaved {
            folder: SeFolderId { id: f.as_str() },
        }),
        items: SeItems {
            message: SeMessage {
                class: r.class.as_str(),
                subject: &r.subject,
                body: SeBody {
                    body_type: "Text",
                    text: &r.body,
                },
                to: mailbox(&r.to),
                from: mailbox(&r.from),
            },
        },
    }
}

fn bench_encode(c: &mut Criterion) {
    let r = offline_im::formats::encode::benchmark_request();
    let mut ours = Vec::with_capacity(4096);
    encode_create_item(&r, &mut ours);
    let mut theirs = String::with_capacity(4096);
    quick_xml::se::to_writer(&mut theirs, &se_request(&r)).expect("serializes");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        theirs,
        "the serializer must produce the same request"
    );

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(ours.len() as u64));
    let mut encoded = BenchmarkOutput::new();
    g.bench_function("offline-im", |b| {
        b.iter(|| {
            let buf = encoded.next_buffer();
            encode_create_item(black_box(&r), buf);
            buf.len()
        })
    });
    let mut text = String::with_capacity(4096);
    g.bench_function("quick-xml-serde", |b| {
        b.iter(|| {
            text.clear();
            quick_xml::se::to_writer(&mut text, &se_request(black_box(&r))).expect("serializes");
            text.len()
        })
    });
    let mut copied = BenchmarkOutput::new();
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            let buf = copied.next_buffer();
            buf.extend_from_slice(black_box(&ours));
            buf.len()
        })
    });
    g.finish();
    // In criterion's test mode (`cargo test --all-targets`, or
    // `cargo bench -- --test`) each function runs once, so these are
    // checked by the smoke run too; a filter may leave a function out.
    for (what, output) in [("encode", &encoded), ("copy", &copied)] {
        if output.writes() == 0 {
            continue;
        }
        assert_eq!(
            output.last_written(),
            Some(&ours[..]),
            "the last {what} wrote the request, and no buffer moved"
        );
    }
}

/// Each engine this processor can run, pinned, beside memcpy: the same
/// request, the same 64 output places.
fn bench_engines(c: &mut Criterion) {
    let r = offline_im::formats::encode::benchmark_request();
    let mut want = Vec::with_capacity(4096);
    encode_create_item_on(Engine::Portable, &r, &mut want);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(want.len() as u64));
    for engine in Engine::ALL.into_iter().filter(|e| e.available()) {
        let mut encoded = BenchmarkOutput::new();
        g.bench_function(engine.name(), |b| {
            b.iter(|| {
                let buf = encoded.next_buffer();
                encode_create_item_on(engine, black_box(&r), buf);
                buf.len()
            })
        });
        if encoded.writes() > 0 {
            assert_eq!(
                encoded.last_written(),
                Some(&want[..]),
                "{} writes the portable engine's bytes",
                engine.name()
            );
        }
    }
    let mut copied = BenchmarkOutput::new();
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            let buf = copied.next_buffer();
            buf.extend_from_slice(black_box(&want));
            buf.len()
        })
    });
    g.finish();
}

/// Escaping alone, on a message of twelve lines: tabs and newlines are
/// copied with the clean text around them, not one escape step each.
fn bench_escape_lines(c: &mut Criterion) {
    let text = "Line one of the message, about forty bytes.\n".repeat(12);
    let mut g = c.benchmark_group("escape");
    g.throughput(Throughput::Bytes(text.len() as u64));
    let mut out = Vec::with_capacity(4096);
    g.bench_function("twelve-lines", |b| {
        b.iter(|| {
            out.clear();
            offline_im::formats::encode::escape_text(black_box(&text), &mut out);
            out.len()
        })
    });
    g.finish();
    if !out.is_empty() {
        assert_eq!(out, text.as_bytes(), "lines escape to themselves");
    }
}

/// The bytes `escape_text` may rewrite (DEC-032), as the crate candidates
/// search for them: the rule book's own class (`encode::flagged`), not a
/// copy of it. Each byte found is escaped by `escape_text_on` on the
/// portable engine, and the output is asserted equal to the engine's.
fn class_bytes() -> Vec<u8> {
    (0..=u8::MAX).filter(|b| flagged(*b)).collect()
}

/// Appends `text` escaped, given where the bytes of the class are: the
/// clean runs between them copied, each character found escaped by the
/// portable engine (a character of 3 bytes for 0xEF, 1 otherwise).
fn escape_at_found(text: &str, found: impl Iterator<Item = usize>, out: &mut Vec<u8>) {
    let mut copied = 0;
    for at in found {
        out.extend_from_slice(&text.as_bytes()[copied..at]);
        let width = if text.as_bytes()[at] == 0xEF { 3 } else { 1 };
        escape_text_on(Engine::Portable, &text[at..at + width], out);
        copied = at + width;
    }
    out.extend_from_slice(&text.as_bytes()[copied..]);
}

/// Escaping the benchmark request's six text fields: the AVX2 engine, and
/// the crates that could find the bytes to escape instead.
fn bench_class_search(c: &mut Criterion) {
    let r = offline_im::formats::encode::benchmark_request();
    let fields = r.text_fields();
    let mut want = Vec::with_capacity(4096);
    for f in fields {
        escape_text_on(Engine::Portable, f, &mut want);
    }
    let mut g = c.benchmark_group("class-search");
    g.throughput(Throughput::Bytes(want.len() as u64));
    let mut out = Vec::with_capacity(4096);
    let check = |name: &str, out: &[u8]| {
        assert!(
            out.is_empty() || out == want,
            "{name} writes the engine's bytes"
        );
    };
    if Engine::Avx2.available() {
        g.bench_function("avx2-engine", |b| {
            b.iter(|| {
                out.clear();
                for f in black_box(fields) {
                    escape_text_on(Engine::Avx2, f, &mut out);
                }
                out.len()
            })
        });
        check("the AVX2 engine", &out);
    }
    let class = class_bytes();
    // The crate's own limits would refuse Teddy for more than 16 one-byte
    // patterns (its heuristics find it slow there) and fall back to
    // Rabin-Karp; lifted, to measure Teddy itself.
    let teddy = aho_corasick::packed::Config::new()
        .only_teddy(true)
        .heuristic_pattern_limits(false)
        .builder()
        .extend(class.iter().map(|b| [*b]))
        .build();
    if let Some(teddy) = teddy {
        out.clear();
        g.bench_function("aho-corasick-teddy", |b| {
            b.iter(|| {
                out.clear();
                for f in black_box(fields) {
                    escape_at_found(f, teddy.find_iter(f).map(|m| m.start()), &mut out);
                }
                out.len()
            })
        });
        check("aho-corasick", &out);
    }
    out.clear();
    g.bench_function("memchr3-markup-only", |b| {
        b.iter(|| {
            out.clear();
            for f in black_box(fields) {
                escape_at_found(
                    f,
                    memchr::memchr3_iter(b'&', b'<', b'>', f.as_bytes()),
                    &mut out,
                );
            }
            out.len()
        })
    });
    // The benchmark request has no control character and no 0xEF, so the
    // markup alone gives the same bytes here.
    check("memchr3", &out);
    g.finish();
}

criterion_group!(
    benches,
    bench_encode,
    bench_engines,
    bench_escape_lines,
    bench_class_search
);
criterion_main!(benches);
