//! EWS encoding: every request of the corpus validates against Microsoft's
//! schema with xmllint and decodes back; escaping is exact; the round trip
//! holds for arbitrary text (proptest); every escaping engine writes the
//! same bytes, next to page boundaries too.

mod common;

use offline_im::formats::encode::{
    self, Address, CreateItem, Disposition, Engine, TargetFolder, decode, encode,
    encode_create_item, encode_create_item_on, escape_text, escape_text_on, request_for, sanitized,
};
use offline_im::formats::{report, scenario};
use offline_im::rules::domain::MessageClass;
use proptest::prelude::*;
use std::borrow::Cow;
use std::path::PathBuf;
use std::process::Command;

/// Every request the corpus produces: (label, request) for each spooled
/// message of each scenario, after the scenario has run.
fn corpus() -> Vec<(String, CreateItem<'static>)> {
    let mut out = Vec::new();
    for path in common::model_files() {
        let s = scenario::load_path(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        let (_, w) = report::run_world(&s).unwrap_or_else(|e| panic!("{e}"));
        for rec in &w.state.ledger {
            if let Some(r) = request_for(&w.deployment, &w.state, rec.id) {
                let name = path.file_stem().unwrap().to_string_lossy();
                out.push((format!("{name}-{}", rec.id), r.into_owned()));
            }
        }
    }
    out
}

/// The schema folder, from `OFFLINE_IM_EWS_SCHEMA` (set by
/// .cargo/config.toml to ../shared/ews-schema). Missing is a failure that
/// says what did not run, never a silent pass.
fn schema_dir() -> PathBuf {
    let dir = std::env::var_os("OFFLINE_IM_EWS_SCHEMA")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "\n*** EWS SCHEMA VALIDATION DID NOT RUN ***\nOFFLINE_IM_EWS_SCHEMA is not set; point it at ../shared/ews-schema (.cargo/config.toml does this by default)\n"
            )
        });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("messages.xsd").is_file(),
        "\n*** EWS SCHEMA VALIDATION DID NOT RUN ***\n{} has no messages.xsd; OFFLINE_IM_EWS_SCHEMA must name the folder of ../shared/ews-schema\n",
        dir.display()
    );
    dir
}

/// Runs xmllint over files; returns (success, stderr).
fn xmllint(files: &[PathBuf]) -> (bool, String) {
    let schema = schema_dir().join("messages.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("\n*** EWS SCHEMA VALIDATION DID NOT RUN ***\ncannot start xmllint ({e}); install it with `apt-get install -y libxml2-utils`\n")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("offline-im-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn write_create_items(
    dir: &std::path::Path,
    requests: &[(String, CreateItem<'_>)],
) -> Vec<PathBuf> {
    requests
        .iter()
        .map(|(label, r)| {
            let mut body = Vec::new();
            encode_create_item(r, &mut body);
            let file = dir.join(format!("{label}.xml"));
            std::fs::write(&file, body).expect("writable");
            file
        })
        .collect()
}

#[test]
fn every_corpus_request_is_valid_against_the_ews_schema() {
    let requests = corpus();
    // The positive space is not empty: both classes, all three dispositions
    // that the rules use, both folders.
    assert!(requests.len() >= 20, "only {} requests", requests.len());
    for class in [MessageClass::MissedConversation, MessageClass::Note] {
        assert!(requests.iter().any(|(_, r)| r.class == class), "{class:?}");
    }
    for d in Disposition::ALL {
        assert!(requests.iter().any(|(_, r)| r.disposition == d), "{d:?}");
    }
    let dir = temp_dir("corpus");
    let files = write_create_items(&dir, &requests);
    let (ok, stderr) = xmllint(&files);
    assert!(ok, "xmllint rejected a corpus request:\n{stderr}");
    assert_eq!(
        stderr.matches(" validates").count(),
        files.len(),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn xmllint_rejects_what_the_schema_forbids() {
    // The negative space: the validation can fail, so its pass means
    // something. An unknown disposition and a misplaced element.
    let (_, r) = corpus().into_iter().next().expect("a request");
    let mut good = Vec::new();
    encode_create_item(&r, &mut good);
    let good = String::from_utf8(good).unwrap();
    let bad_disposition = good.replacen("MessageDisposition=\"", "MessageDisposition=\"Bogus", 1);
    let bad_order = good.replacen("<t:ItemClass>", "<t:Subject>x</t:Subject><t:ItemClass>", 1);
    let dir = temp_dir("bad");
    for (name, text) in [("disposition", bad_disposition), ("order", bad_order)] {
        let file = dir.join(format!("{name}.xml"));
        std::fs::write(&file, text).unwrap();
        let (ok, stderr) = xmllint(std::slice::from_ref(&file));
        assert!(!ok, "{name}: xmllint accepted it: {stderr}");
        assert!(stderr.contains("fails to validate"), "{name}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_corpus_request_round_trips() {
    for (label, r) in corpus() {
        let xml = encode(&r);
        let back = decode(&xml).unwrap_or_else(|e| panic!("{label}: {e}\n{xml}"));
        assert_eq!(back, r, "{label}");
    }
}

/// DEC-030: which request each route makes, per profile and organisation.
#[test]
fn dec_030_disposition_and_folder_follow_the_route() {
    let requests = corpus();
    let find = |label: &str| {
        requests
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r)
            .unwrap_or_else(|| panic!("no {label}"))
    };
    // default: Tony (Server) to Ken, same organisation, a sender copy.
    let r = find("default-m1");
    assert_eq!(r.disposition, Disposition::SendAndSaveCopy);
    assert_eq!(r.saved_folder, Some(TargetFolder::ConversationHistory));
    assert_eq!(r.class, MessageClass::MissedConversation);
    assert_eq!(r.to.email, "ken.myer@contoso");
    // default: Tony to Pat (federated).
    assert_eq!(find("default-m2").class, MessageClass::Note);
    // Missed messages are saved by the recipient's own client.
    let missed: Vec<_> = requests
        .iter()
        .filter(|(_, r)| r.disposition == Disposition::SaveOnly)
        .collect();
    assert!(!missed.is_empty());
    for (label, r) in missed {
        let folder = match r.class {
            MessageClass::MissedConversation => TargetFolder::ConversationHistory,
            MessageClass::Note => TargetFolder::Inbox,
        };
        assert_eq!(r.saved_folder, Some(folder), "{label}");
    }
    // Online senders keep no copy (OIM-015): SendOnly, no folder.
    for (label, r) in requests
        .iter()
        .filter(|(_, r)| r.disposition == Disposition::SendOnly)
    {
        assert_eq!(r.saved_folder, None, "{label}");
    }
}

/// DEC-031: the subject is the first line of the body, at most 80
/// characters, counted in characters, not bytes.
#[test]
fn dec_031_subject_is_the_first_line_cut_at_80_characters() {
    assert_eq!(encode::subject_of("Lunch?\nAt noon"), "Lunch?");
    assert_eq!(encode::subject_of("a\r\nb"), "a");
    assert_eq!(encode::subject_of(""), "");
    let long = "é".repeat(100);
    assert_eq!(encode::subject_of(&long).chars().count(), 80);
    assert_eq!(encode::subject_of(&"x".repeat(80)).len(), 80);
}

/// DEC-032: exact escaping.
#[test]
fn dec_032_escaping_is_exact() {
    let cases = [
        ("plain", "plain"),
        ("a<b&c>d", "a&lt;b&amp;c&gt;d"),
        ("say \"hi\" 'there'", "say \"hi\" 'there'"),
        ("line\r\nnext\ttab", "line&#xD;\nnext\ttab"),
        ("emoji 😀 𝄞", "emoji 😀 𝄞"),
        ("bell\u{7}nul\u{0}", "bell\u{FFFD}nul\u{FFFD}"),
        ("\u{FFFE}\u{FFFF}\u{FFFD}", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        ("]]>", "]]&gt;"),
    ];
    for (input, expected) in cases {
        let mut out = Vec::new();
        escape_text(input, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{input:?}");
    }
}

#[test]
fn the_envelope_is_pinned() {
    let r = CreateItem {
        disposition: Disposition::SendAndSaveCopy,
        saved_folder: Some(TargetFolder::ConversationHistory),
        class: MessageClass::MissedConversation,
        subject: Cow::Borrowed("Lunch at noon?"),
        body: Cow::Borrowed("Lunch at noon? <b>&</b>"),
        to: Address {
            name: Cow::Borrowed("Ken Myer"),
            email: Cow::Borrowed("ken@contoso.com"),
        },
        from: Address {
            name: Cow::Borrowed("Tony Smith"),
            email: Cow::Borrowed("tony@contoso.com"),
        },
    };
    insta::assert_snapshot!(encode(&r));
}

#[test]
fn decode_rejects_what_is_not_a_request() {
    for (xml, expected) in [
        ("<a>", "found no MessageDisposition"),
        ("<m:CreateItem", "byte"),
        ("", "found no MessageDisposition"),
        ("<x>&bogus;</x>", "found the entity &bogus;"),
    ] {
        let e = decode(xml).expect_err(xml);
        assert!(e.to_string().contains(expected), "{xml}: {e}");
    }
}

fn text() -> impl Strategy<Value = String> {
    // Markup, quotes, line ends, non-BMP and forbidden characters are all
    // likely, not just possible.
    let special = prop_oneof![
        Just('<'),
        Just('>'),
        Just('&'),
        Just('"'),
        Just('\''),
        Just('\r'),
        Just('\n'),
        Just('\t'),
        Just('\u{0}'),
        Just('\u{1B}'),
        Just('\u{FFFE}'),
        Just('😀'),
        Just('𝄞'),
        Just('é'),
        Just(']'),
        any::<char>(),
    ];
    proptest::collection::vec(special, 0..40).prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_is_exact_up_to_forbidden_characters(
        body in text(),
        subject in text(),
        name in text(),
        email in text(),
        d in 0..3usize,
        f in 0..3usize,
        same in any::<bool>(),
    ) {
        let r = CreateItem {
            disposition: Disposition::ALL[d],
            saved_folder: [None, Some(TargetFolder::Inbox), Some(TargetFolder::ConversationHistory)][f],
            class: if same { MessageClass::MissedConversation } else { MessageClass::Note },
            subject: Cow::Borrowed(&subject),
            body: Cow::Borrowed(&body),
            to: Address { name: Cow::Borrowed(&name), email: Cow::Borrowed(&email) },
            from: Address { name: Cow::Borrowed(&email), email: Cow::Borrowed(&name) },
        };
        let back = decode(&encode(&r)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = CreateItem {
            subject: sanitized(&subject),
            body: sanitized(&body),
            to: Address { name: sanitized(&name), email: sanitized(&email) },
            from: Address { name: sanitized(&email), email: sanitized(&name) },
            ..r.clone()
        };
        prop_assert_eq!(back, expected);
    }
}

/// Text with long clean runs between the special characters, so that the
/// engines' full blocks, partial blocks and escapes inside and across
/// block boundaries all occur.
fn long_text() -> impl Strategy<Value = String> {
    let run = proptest::collection::vec(proptest::char::range('a', 'z'), 0..70)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    proptest::collection::vec(prop_oneof![2 => run, 1 => text()], 0..8)
        .prop_map(|parts| parts.concat())
}

/// The engines this processor has, the portable one first; says so
/// loudly, once, when one cannot be compared here.
fn engines() -> Vec<Engine> {
    let (have, lack): (Vec<Engine>, Vec<Engine>) =
        Engine::ALL.into_iter().partition(|e| e.available());
    static NOTED: std::sync::Once = std::sync::Once::new();
    if !lack.is_empty() {
        NOTED.call_once(|| {
            eprintln!("NOTE: this processor lacks {lack:?}; those engines were not compared");
        });
    }
    have
}

/// Escapes `text` on every engine this processor has, asserts each wrote
/// what the portable one wrote (naming the case with `what`), and returns
/// how many engines it compared.
fn assert_engines_escape_alike(text: &str, what: impl Fn() -> String) -> usize {
    let mut want = Vec::new();
    escape_text_on(Engine::Portable, text, &mut want);
    let engines = engines();
    for engine in &engines {
        let mut got = Vec::new();
        escape_text_on(*engine, text, &mut got);
        assert_eq!(got, want, "{engine:?}, {}", what());
    }
    engines.len()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_engine_writes_the_same_bytes(
        body in long_text(),
        name in text(),
        d in 0..3usize,
        f in 0..3usize,
        same in any::<bool>(),
    ) {
        let subject = encode::subject_of(&body);
        let r = CreateItem {
            disposition: Disposition::ALL[d],
            saved_folder: [None, Some(TargetFolder::Inbox), Some(TargetFolder::ConversationHistory)][f],
            class: if same { MessageClass::MissedConversation } else { MessageClass::Note },
            subject: Cow::Borrowed(subject),
            body: Cow::Borrowed(&body),
            to: Address { name: Cow::Borrowed(&name), email: Cow::Borrowed("ken@contoso.com") },
            from: Address { name: Cow::Borrowed("Tony"), email: Cow::Borrowed(&name) },
        };
        let (mut want_text, mut want_request) = (Vec::new(), Vec::new());
        escape_text_on(Engine::Portable, &body, &mut want_text);
        encode_create_item_on(Engine::Portable, &r, &mut want_request);
        for engine in engines() {
            let (mut text, mut request) = (b"kept".to_vec(), Vec::new());
            escape_text_on(engine, &body, &mut text);
            prop_assert_eq!(&text[..4], b"kept", "{:?} overwrote what the buffer held", engine);
            prop_assert_eq!(&text[4..], &want_text[..], "{:?} escaped differently", engine);
            encode_create_item_on(engine, &r, &mut request);
            prop_assert_eq!(&request, &want_request, "{:?} encoded differently", engine);
        }
    }
}

/// A field whose last partial block would reach into the next page is read
/// without a masked load (DEC-032's bytes are unchanged). Every length up
/// to two blocks is placed to end at every distance from a page boundary.
#[test]
fn partial_blocks_next_to_a_page_boundary_escape_alike() {
    let big = "ab<c&d\te>".repeat(2000);
    let base = big.as_ptr() as usize;
    let mut crossing = 0;
    for len in 1..=64 {
        for gap in 0..40 {
            // `start` puts the text `gap` bytes before a page boundary.
            let page_end = (base / 4096 + 2) * 4096;
            let start = page_end - gap - base;
            let text = &big[start..start + len];
            crossing += usize::from(gap < 32 && len > gap);
            assert_engines_escape_alike(text, || format!("{len} bytes, {gap} before a page end"));
        }
    }
    assert!(crossing > 1000, "only {crossing} placements cross a page");
}

/// `len` clean letters that never repeat within 26 bytes, starting from
/// letter `from`: a byte stored at a wrong offset shows, where in a run of
/// one letter it would not.
fn filler(from: usize, len: usize) -> String {
    (from..from + len)
        .map(|k| char::from(b'a' + (k % 26) as u8))
        .collect()
}

/// Each character that an engine treats specially, alone or in a pair, at
/// every offset of clean text of every length up to four blocks and a
/// tail: block ends, the two-block pass, the overlapping tail store (which
/// must not rewrite what an escape just before it wrote, such as U+FFFE's
/// continuation bytes), and partial blocks.
#[test]
fn special_characters_at_every_offset_escape_alike() {
    let specials = [
        "<",
        "&",
        ">",
        "\r",
        "\t",
        "\n",
        "\u{0}",
        "\u{1F}",
        "\u{FFFE}",
        "\u{FFFF}",
        "\u{FEFF}",
        "\u{EFFF}",
        "é",
        "😀",
        "\u{FFFE}<",
    ];
    let mut compared = 0;
    for len in 0..=140 {
        for at in 0..=len {
            for special in specials {
                let text = format!("{}{special}{}", filler(0, at), filler(at, len - at));
                compared +=
                    assert_engines_escape_alike(&text, || format!("{special:?} at {at} of {len}"));
            }
        }
    }
    assert!(
        compared >= 10_000 * specials.len(),
        "compared only {compared}"
    );
}

/// Two characters to escape at every pair of offsets of texts that fill
/// one, one and a half and two 64-byte windows: several escapes in one
/// window, each adding to the growth of those after it, the clean bytes
/// between them stored behind each (one store when the next escape is
/// near, two when it is more than 32 bytes on), adjacent escapes, and a
/// window cut short near the field's end.
#[test]
fn two_escapes_at_every_pair_of_offsets_escape_alike() {
    let specials = ["<", "&", "\r", "\u{1}", "\u{FFFE}"];
    let mut compared = 0;
    for len in [64, 96, 128] {
        for first in 0..len {
            for second in first..len {
                for (a, b) in [(0, 1), (1, 0), (2, 3), (4, 0), (1, 4)] {
                    let text = format!(
                        "{}{}{}{}{}",
                        filler(0, first),
                        specials[a],
                        filler(first, second - first),
                        specials[b],
                        filler(second, len - second)
                    );
                    compared += assert_engines_escape_alike(&text, || {
                        format!(
                            "{:?} at {first} and {:?} at {second} of {len}",
                            specials[a], specials[b]
                        )
                    });
                }
            }
        }
    }
    assert!(compared >= 5 * 14_000, "compared only {compared}");
}

/// Texts made of one character to escape, or of a pair, repeated, of every
/// length up to three windows: every lane of every block flagged, the most
/// output a window can write (five bytes for each `&` and carriage
/// return), which must stay inside the room the writer reserves.
#[test]
fn texts_of_nothing_but_escapes_escape_alike() {
    let mut compared = 0;
    for unit in ["&", "\r", "<", "\u{1}", "\t", "<&", "\u{FFFE}", "&a"] {
        for count in 0..=192 / unit.len() {
            let text = unit.repeat(count);
            compared += assert_engines_escape_alike(&text, || format!("{unit:?} x {count}"));
        }
    }
    assert!(compared >= 4 * 500, "compared only {compared}");
}

/// Every byte that UTF-8 text can hold, inside a character after a clean
/// block, escapes as the portable engine escapes it: the vector
/// classifications (SSE2 compares, the AVX2 lookup by low nibble, the
/// AVX-512 table) flag exactly the
/// bytes the rule flags.
#[test]
fn every_byte_value_is_classified_alike() {
    // All of U+0000..U+07FF (every ASCII, two-byte lead and continuation
    // byte), a character for each three-byte lead (U+D100 for 0xED, below
    // the surrogates), each four-byte lead, and the 0xEF characters
    // the rule singles out.
    let chars = (0..0x800u32)
        .chain((0..16).map(|k| k << 12 | if k == 0xD { 0x100 } else { 0x800 }))
        .chain([
            0x10000, 0x40000, 0x80000, 0xC0000, 0x100000, 0xFFFE, 0xFFFF, 0xFEFF,
        ])
        .filter_map(char::from_u32);
    let mut covered = [false; 256];
    let mut compared = 0;
    for ch in chars {
        let text = format!("{}{ch}{}", "a".repeat(40), "b".repeat(3));
        for b in ch.to_string().bytes() {
            covered[usize::from(b)] = true;
        }
        compared += assert_engines_escape_alike(&text, || format!("{ch:?}"));
    }
    let uncovered: Vec<usize> = (0..256)
        .filter(|&b| !covered[b] && !matches!(b, 0xC0 | 0xC1 | 0xF5..))
        .collect();
    assert!(uncovered.is_empty(), "bytes never tested: {uncovered:x?}");
    assert!(compared >= 0x800, "compared only {compared}");
}

/// The benchmarks' output (`encode::BenchmarkOutput`): 64 writes put a
/// request in every buffer at every placement, each write's bytes are what
/// `last_written` gives back, and no buffer moves.
#[test]
fn benchmark_output_visits_every_buffer_at_every_placement() {
    let r = encode::benchmark_request();
    let mut reference = Vec::new();
    encode_create_item(&r, &mut reference);
    let mut output = encode::BenchmarkOutput::new();
    assert_eq!(output.last_written(), None, "nothing written yet");
    assert_eq!(output.writes(), 0);
    let mut places = std::collections::BTreeSet::new();
    let writes = encode::BENCHMARK_BUFFERS * encode::BENCHMARK_PLACEMENTS.len();
    for _ in 0..writes {
        let buffer = output.next_buffer();
        places.insert((buffer.as_ptr() as usize, buffer.len()));
        encode_create_item(&r, buffer);
        assert_eq!(output.last_written(), Some(&reference[..]));
    }
    assert_eq!(places.len(), writes, "every (buffer, placement) once");
    assert_eq!(output.writes(), writes);
    let placements: std::collections::BTreeSet<usize> = places.iter().map(|p| p.1).collect();
    assert_eq!(
        placements.into_iter().collect::<Vec<_>>(),
        encode::BENCHMARK_PLACEMENTS.to_vec()
    );
}

/// The four address fields, where the AVX-512 engine loads a field that
/// fits into the block of the piece before it: a special character at
/// every offset of every length up to past that block, in every field at
/// once, encodes alike on every engine. The cases below 20 bytes fit
/// after every piece; those above 39 fit after none.
#[test]
fn special_characters_in_the_address_fields_encode_alike() {
    let mut compared = 0;
    for len in 0..=70 {
        for at in 0..=len {
            // "" makes every address field empty at length 0, and clean
            // text of every other length.
            for special in ["<", "&", "\r", "\u{FFFE}", "é", ""] {
                let text = format!("{}{special}{}", filler(0, at), filler(at, len - at));
                let r = CreateItem {
                    to: Address {
                        name: Cow::Borrowed(&text),
                        email: Cow::Borrowed(&text),
                    },
                    from: Address {
                        name: Cow::Borrowed(&text),
                        email: Cow::Borrowed(&text),
                    },
                    ..encode::benchmark_request()
                };
                let mut want = Vec::new();
                encode_create_item_on(Engine::Portable, &r, &mut want);
                for engine in engines() {
                    let mut got = Vec::new();
                    encode_create_item_on(engine, &r, &mut got);
                    assert_eq!(got, want, "{engine:?}, {special:?} at {at} of {len}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 6 * 2556, "compared only {compared}");
}
