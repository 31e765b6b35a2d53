//! EWS encoding: the `CreateItem` request that carries an offline message
//! (written by the sender's client) or a missed message (written by the
//! recipient's own client) into a mailbox, and its decoding with quick-xml.
//!
//! What it owns:
//! - `request_for`: which request a spooled message becomes (DEC-030): the
//!   `MessageDisposition`, the `SavedItemFolderId`, the `ItemClass`, the
//!   subject (DEC-031), the body and the two mailboxes;
//! - `encode_create_item` / `encode_envelope`: the hot-path writer, which
//!   appends to a caller's buffer and allocates nothing else. A request is
//!   one copy of its opening (built at compile time for each disposition,
//!   saved folder and class), then each text field escaped between fixed
//!   pieces of constant length;
//! - `escape_text`: XML 1.0 text escaping (DEC-032), with one table of the
//!   rule (`escape_of`) and three `Engine`s that find clean runs: portable,
//!   SSE2 (16 bytes a step) and AVX-512 (BW, VL, VBMI and VBMI2, with
//!   BMI2) on 256-bit vectors (32 bytes a step, each block classified by
//!   one table permute and one compare, escapes written in place with
//!   masked stores; a short address field is loaded into the 64-byte block
//!   of the piece before it and stored with it), chosen once at run time.
//!   Every engine writes the same bytes (tested);
//! - `decode`: quick-xml reading back, for the round-trip property.
//!
//! Invariants it keeps:
//! - every request is well-formed XML 1.0 and valid against Microsoft's EWS
//!   schema (`messages.xsd`), which `tests/encode.rs` checks with xmllint;
//! - `decode(encode(r)) == r` for every request whose text is XML-legal,
//!   and `decode(encode(r))` equals `r` with forbidden characters replaced
//!   by U+FFFD otherwise;
//! - no rule is restated: the class comes from the ledger (`dispatch`,
//!   `mailbox::classify`), the sender copy from `mailbox::keeps_sender_copy`,
//!   and the folder of a saved item from `mailbox::delivered_folders`.
//!
//! What it deliberately does not do: send anything, or model the EWS
//! response. The world's `exchange-process` event stands for Exchange.

use crate::rules::dispatch::Route;
use crate::rules::domain::{Deployment, Folder, MessageClass, MessageId};
use crate::rules::mailbox;
use crate::rules::world::State;
use quick_xml::events::Event as XmlEvent;
use std::borrow::Cow;

// The namespaces as macros, so that `concat!` can build the fixed opening
// of a request from the one spelling.
macro_rules! ns_messages {
    () => {
        "http://schemas.microsoft.com/exchange/services/2006/messages"
    };
}
macro_rules! ns_types {
    () => {
        "http://schemas.microsoft.com/exchange/services/2006/types"
    };
}

/// The EWS messages namespace (prefix `m`).
pub const NS_MESSAGES: &str = ns_messages!();
/// The EWS types namespace (prefix `t`).
pub const NS_TYPES: &str = ns_types!();
/// The SOAP 1.1 envelope namespace.
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// `t:MessageDispositionType` (types.xsd).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Disposition {
    SaveOnly,
    SendOnly,
    SendAndSaveCopy,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [
        Disposition::SaveOnly,
        Disposition::SendOnly,
        Disposition::SendAndSaveCopy,
    ];

    /// The schema's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Disposition::SaveOnly => "SaveOnly",
            Disposition::SendOnly => "SendOnly",
            Disposition::SendAndSaveCopy => "SendAndSaveCopy",
        }
    }
}

/// The `t:DistinguishedFolderIdNameType` values this crate uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TargetFolder {
    Inbox,
    ConversationHistory,
}

impl TargetFolder {
    pub const ALL: [TargetFolder; 2] = [TargetFolder::Inbox, TargetFolder::ConversationHistory];

    /// The schema's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetFolder::Inbox => "inbox",
            TargetFolder::ConversationHistory => "conversationhistory",
        }
    }
}

/// A `t:Mailbox`: display name and SMTP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    pub name: Cow<'a, str>,
    pub email: Cow<'a, str>,
}

/// One `CreateItem` request carrying one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CreateItem<'a> {
    pub disposition: Disposition,
    pub saved_folder: Option<TargetFolder>,
    pub class: MessageClass,
    pub subject: Cow<'a, str>,
    pub body: Cow<'a, str>,
    pub to: Address<'a>,
    pub from: Address<'a>,
}

impl CreateItem<'_> {
    /// The same request with every borrowed string owned.
    pub fn into_owned(self) -> CreateItem<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        CreateItem {
            disposition: self.disposition,
            saved_folder: self.saved_folder,
            class: self.class,
            subject: own(self.subject),
            body: own(self.body),
            to: Address {
                name: own(self.to.name),
                email: own(self.to.email),
            },
            from: Address {
                name: own(self.from.name),
                email: own(self.from.email),
            },
        }
    }
}

/// The longest subject, in characters (DEC-031).
pub const SUBJECT_CHARS_MAX: usize = 80;

/// The subject of an item: the body's first line, at most
/// `SUBJECT_CHARS_MAX` characters (DEC-031). Borrowed, never allocated.
pub fn subject_of(body: &str) -> &str {
    let line = body.split(['\r', '\n']).next().unwrap_or("");
    match line.char_indices().nth(SUBJECT_CHARS_MAX) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

/// The request the benchmarks encode (`benches/encode.rs`,
/// `examples/encode_vs_memcpy.rs`): a realistic IM of a few hundred bytes
/// with markup characters to escape, quotes and a non-BMP character.
pub fn benchmark_request() -> CreateItem<'static> {
    let body = "Can you review the contract draft before 3pm? Section 4 says fees < 5% & \
                payment within 30 days; legal wants \"net 45\". I'll be in meetings until \
                then, so leave comments in the doc 📄 and I will pick them up tonight. Thanks!";
    let address = |name: &'static str, email: &'static str| Address {
        name: Cow::Borrowed(name),
        email: Cow::Borrowed(email),
    };
    CreateItem {
        disposition: Disposition::SendAndSaveCopy,
        saved_folder: Some(TargetFolder::ConversationHistory),
        class: MessageClass::MissedConversation,
        subject: Cow::Borrowed("Can you review the contract draft before 3pm?"),
        body: Cow::Borrowed(body),
        to: address("Ken Myer", "ken.myer@contoso.com"),
        from: address("Tony Smith", "tony.smith@contoso.com"),
    }
}

/// Where the benchmarks put each request in their output buffer, in turn
/// (`benches/encode.rs`, `examples/encode_vs_memcpy.rs`, through
/// `BenchmarkOutput`): 16 offsets that step 264 bytes through a 4 KiB
/// page, so that they cover every position in a page and every 8-byte
/// alignment within a cache line. On this project's machine one placement
/// can be up to 50 % slower than another, for the encoder (most likely a
/// load from the request's text waiting on an earlier store whose address
/// matches it modulo 4 KiB) and for a memory copy (the alignment of its
/// destination), so a figure from one placement alone is luck. The encoder
/// and the memory copy are measured over the same ones.
pub const BENCHMARK_PLACEMENTS: [usize; 16] = {
    let mut at = [0; 16];
    let mut k = 0;
    while k < 16 {
        at[k] = k * 264;
        k += 1;
    }
    at
};

/// How many separate output buffers the benchmarks write to, in turn. On
/// this project's machine the same code at the same placements ran about
/// 40 % slower in some buffers than in others, and which buffers were slow
/// changed from run to run with the same virtual addresses (so most likely
/// with the physical pages behind them). A figure from one buffer was
/// therefore a lottery drawn once per process; over several it is a mean.
pub const BENCHMARK_BUFFERS: usize = 4;

/// The benchmarks' output: `BENCHMARK_BUFFERS` buffers that never move,
/// and each write in the next buffer at the next of
/// `BENCHMARK_PLACEMENTS`, so that a run of 64 writes covers every buffer
/// at every placement. The encoder and the memory copy each get their own.
pub struct BenchmarkOutput {
    buffers: [Vec<u8>; BENCHMARK_BUFFERS],
    writes: usize,
}

impl BenchmarkOutput {
    /// Each buffer's capacity: the last placement and a request of up to
    /// 4 KiB (its room included) fit, so a buffer never moves.
    pub const BUFFER_BYTES: usize = 8192;

    pub fn new() -> Self {
        BenchmarkOutput {
            buffers: std::array::from_fn(|_| Vec::with_capacity(Self::BUFFER_BYTES)),
            writes: 0,
        }
    }

    /// The buffer for the next write, cut (or, on the first pass, grown
    /// with zeros) to its placement.
    #[inline]
    pub fn next_buffer(&mut self) -> &mut Vec<u8> {
        let (buffer, at) = Self::place(self.writes);
        self.writes = self.writes.wrapping_add(1);
        let buffer = &mut self.buffers[buffer];
        buffer.truncate(at);
        buffer.resize(at, 0);
        buffer
    }

    /// How many writes `next_buffer` has handed out.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// What the last write appended, if every buffer still has the
    /// capacity it was allocated with: a buffer that had grown would have
    /// moved, and the write that moved it would have measured an
    /// allocation too.
    pub fn last_written(&self) -> Option<&[u8]> {
        let (buffer, at) = Self::place(self.writes.checked_sub(1)?);
        let unmoved = self
            .buffers
            .iter()
            .all(|b| b.capacity() == Self::BUFFER_BYTES);
        unmoved.then(|| &self.buffers[buffer][at..])
    }

    /// Write `k`'s buffer and placement.
    #[inline]
    fn place(k: usize) -> (usize, usize) {
        let at = BENCHMARK_PLACEMENTS[k / BENCHMARK_BUFFERS % BENCHMARK_PLACEMENTS.len()];
        (k % BENCHMARK_BUFFERS, at)
    }
}

impl Default for BenchmarkOutput {
    fn default() -> Self {
        Self::new()
    }
}

fn email_of(sip: &str) -> &str {
    sip.strip_prefix("sip:").unwrap_or(sip)
}

/// The request a spooled message becomes (DEC-030), or `None` for a
/// message that no client spools (live, unavailable).
pub fn request_for<'a>(d: &'a Deployment, s: &'a State, m: MessageId) -> Option<CreateItem<'a>> {
    let rec = s.ledger.get(m)?;
    let class = mailbox::classify(d.user(rec.from).org == d.user(rec.to).org);
    let (disposition, saved_folder) = match rec.route {
        Route::Offline => {
            let profile = d.org_of(rec.from).profile;
            if mailbox::keeps_sender_copy(rec.route, profile) {
                (
                    Disposition::SendAndSaveCopy,
                    Some(TargetFolder::ConversationHistory),
                )
            } else {
                (Disposition::SendOnly, None)
            }
        }
        Route::MissedMessage => {
            let folders = mailbox::delivered_folders(class);
            let folder = if folders.contains(Folder::ConversationHistory) {
                TargetFolder::ConversationHistory
            } else {
                TargetFolder::Inbox
            };
            (Disposition::SaveOnly, Some(folder))
        }
        Route::Live | Route::Unavailable(_) => return None,
    };
    let address = |u| {
        let user = d.user(u);
        Address {
            name: Cow::Borrowed(user.name.as_str()),
            email: Cow::Borrowed(email_of(&user.sip)),
        }
    };
    Some(CreateItem {
        disposition,
        saved_folder,
        class,
        subject: Cow::Borrowed(subject_of(&rec.body)),
        body: Cow::Borrowed(rec.body.as_str()),
        to: address(rec.to),
        from: address(rec.from),
    })
}

/// Whether XML 1.0 allows the character at all (its `Char` production).
pub fn xml_legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether a byte may need escaping: markup, a control character other
/// than tab and newline (which XML 1.0 text holds as they are, so they are
/// copied with the clean run around them: a message of many lines costs no
/// escape step per line), or the lead byte 0xEF of U+FFFE and U+FFFF. The
/// SSE2 engine flags every control character, tabs and newlines too, and
/// `escape_of` copies those as they are.
#[inline]
const fn flagged(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | 0xEF | 0..=0x08 | 0x0B..=0x1F)
}

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
    match engine.usable() {
        // SAFETY: `usable` returned it, so the processor has its features.
        #[cfg(target_arch = "x86_64")]
        Engine::Avx512 => unsafe { escape_text_avx512(text, &mut w) },
        e => e.escape(text, &mut w),
    }
    w.finish();
}

/// `escape_field_avx512` compiled with its features.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2")]
unsafe fn escape_text_avx512(text: &str, w: &mut Wild<'_>) {
    // SAFETY: this function's own contract.
    unsafe { escape_field_avx512(text, w) }
}

/// How clean runs of text are found and copied. Every engine writes the
/// same bytes (DEC-032); `tests/encode.rs` compares them on every input it
/// generates. Only the speed differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Byte by byte; any processor.
    Portable,
    /// 16 bytes at a time with SSE2, part of every x86_64 processor.
    Sse2,
    /// 32 bytes at a time with AVX-512 BW, VL and VBMI (a 64-entry table
    /// permute classifies a block), VBMI2 (an expanding load puts a short
    /// field beside its piece), BMI2 and masked loads and stores, when the
    /// processor has them all.
    Avx512,
}

/// `Engine::best`'s discriminant once found, `u8::MAX` before.
static BEST_ENGINE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Portable, Engine::Sse2, Engine::Avx512];

    /// Whether this processor can run the engine.
    pub fn available(self) -> bool {
        match self {
            Engine::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vbmi")
                    && std::arch::is_x86_feature_detected!("avx512vbmi2")
                    && std::arch::is_x86_feature_detected!("bmi2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest engine this processor can run, found once and then
    /// read with one relaxed load: the hot path asks on every request.
    #[inline]
    pub fn best() -> Engine {
        match BEST_ENGINE.load(std::sync::atomic::Ordering::Relaxed) {
            k if k == Engine::Avx512 as u8 => Engine::Avx512,
            k if k == Engine::Sse2 as u8 => Engine::Sse2,
            k if k == Engine::Portable as u8 => Engine::Portable,
            _ => Engine::find_best(),
        }
    }

    /// The first call's `best`, asked of the processor and remembered: out
    /// of line, so that the hot path that calls `best` stays small.
    #[cold]
    #[inline(never)]
    fn find_best() -> Engine {
        let best = [Engine::Avx512, Engine::Sse2]
            .into_iter()
            .find(|e| e.available())
            .unwrap_or(Engine::Portable);
        BEST_ENGINE.store(best as u8, std::sync::atomic::Ordering::Relaxed);
        best
    }

    fn usable(self) -> Engine {
        if self.available() {
            self
        } else {
            Engine::Portable
        }
    }

    /// Writes a fixed piece and then one field, escaped, with this engine,
    /// which must be available. On AVX-512 a field that fits in the piece's
    /// 64-byte block beside it is loaded into that block and stored with
    /// it (`put_piece_then_field_avx512`).
    #[inline(always)]
    fn put_piece_then_escape(self, piece: &Piece<64>, text: &str, w: &mut Wild<'_>) {
        match self {
            // SAFETY: as `escape`.
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => unsafe { put_piece_then_field_avx512(piece, text, w) },
            _ => {
                w.put_padded(&piece.bytes, piece.len);
                self.escape(text, w);
            }
        }
    }

    /// Escapes one field with this engine, which must be available.
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 => escape_field_sse2(text, w),
            // SAFETY: `usable` returned this engine only if the processor
            // has its features; callers run it inside a function
            // compiled with those features.
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => unsafe { escape_field_avx512(text, w) },
            _ => escape_field_portable(text, w),
        }
    }
}

/// The most bytes one input byte escapes to (`&amp;` and `&#xD;`).
const ESCAPE_EXPANSION_MAX: usize = 5;

/// How far past the bytes it keeps the writer may store: clean text is
/// stored a whole block (up to 32 bytes) at a time, and only the clean
/// part is kept.
const WILD_BYTES: usize = 32;

/// Writes into capacity reserved beforehand, without a capacity check per
/// copy: the hot path's copies are many and short. Clean text is copied
/// by storing whole blocks (16 or 32 bytes) and keeping only their clean
/// prefix, so the reservation has `WILD_BYTES` of slack. Each field asserts its
/// worst case against the room left before it writes; `finish` publishes
/// the kept length.
struct Wild<'a> {
    out: &'a mut Vec<u8>,
    /// Where the next kept byte goes, and the end of the capacity: the
    /// buffer read once, so that a store through `at` cannot make the
    /// compiler reload it, and one pointer to carry through the hot path
    /// instead of a base and a length.
    at: *mut u8,
    end: *mut u8,
}

impl<'a> Wild<'a> {
    /// Reserves room for `bytes_max` kept bytes and the slack.
    fn new(out: &'a mut Vec<u8>, bytes_max: usize) -> Self {
        out.reserve(bytes_max.saturating_add(WILD_BYTES));
        let base = out.as_mut_ptr();
        // SAFETY: both offsets are within (or one past) the allocation.
        let (at, end) = unsafe { (base.add(out.len()), base.add(out.capacity())) };
        Wild { out, at, end }
    }

    /// The bytes between the cursor and the end of the capacity.
    #[inline(always)]
    fn room(&self) -> usize {
        // SAFETY: both point into one allocation, and `at <= end` (the
        // reservation and `assert_room`).
        unsafe { self.end.offset_from_unsigned(self.at) }
    }

    /// The positive and the negative space of the reservation, checked
    /// before a step that writes at most `bytes` kept bytes: a write past
    /// it would be a bug in the caller's arithmetic.
    #[inline(always)]
    fn assert_room(&self, bytes: usize) {
        assert!(
            bytes.saturating_add(WILD_BYTES) <= self.room(),
            "reservation too small"
        );
    }

    #[inline(always)]
    fn dst(&mut self) -> *mut u8 {
        self.at
    }

    #[inline(always)]
    fn put_slice(&mut self, bytes: &[u8]) {
        debug_assert!(bytes.len() + WILD_BYTES <= self.room());
        // SAFETY: the caller's `assert_room` covered this write, and the
        // source is a distinct slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.at, bytes.len()) }
        self.keep(bytes.len());
    }

    /// Keeps `n` of the bytes a wild store wrote.
    #[inline(always)]
    fn keep(&mut self, n: usize) {
        debug_assert!(n + WILD_BYTES <= self.room());
        // SAFETY: inside the reservation (the caller's `assert_room`).
        self.at = unsafe { self.at.add(n) };
    }

    /// Writes a word and keeps its first `n` bytes (at most 8).
    #[inline(always)]
    fn put_word(&mut self, bytes: u64, n: usize) {
        debug_assert!(n <= 8 && 8 <= WILD_BYTES);
        // SAFETY: the caller's `assert_room` covered `n` kept bytes, and
        // the slack covers the rest of the word.
        unsafe { self.at.cast::<u64>().write_unaligned(bytes.to_le()) }
        self.keep(n);
    }

    /// Copies all `N` bytes of a padded piece and keeps the first `n`: one
    /// fixed-size copy instead of a call for a length known only at run
    /// time. The caller's `assert_room` must cover `N`.
    #[inline(always)]
    fn put_padded<const N: usize>(&mut self, bytes: &[u8; N], n: usize) {
        debug_assert!(n <= N && N + WILD_BYTES <= self.room());
        // SAFETY: as `put_slice`, for `N` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.at, N) }
        self.keep(n);
    }

    fn finish(self) {
        // SAFETY: every byte below the cursor was written by this writer
        // (or was already initialised), and the cursor never passes the
        // capacity.
        unsafe {
            let len = self.at.offset_from_unsigned(self.out.as_ptr());
            self.out.set_len(len)
        }
    }
}

/// The escaped form of a byte below 0x20 or of markup (DEC-032):
/// its bytes, little-endian in a word, and how many there are. The rule
/// itself, evaluated at compile time into `ESCAPES_LOW`.
const fn escape_low(b: u8) -> (u64, usize) {
    const fn word(b: &[u8; 5]) -> u64 {
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], 0, 0, 0])
    }
    match b {
        b'&' => (word(b"&amp;"), 5),
        b'<' => (word(b"&lt;\0"), 4),
        b'>' => (word(b"&gt;\0"), 4),
        b'\r' => (word(b"&#xD;"), 5),
        b'\t' | b'\n' => (b as u64, 1),
        0..=0x1F => (FFFD_WORD, 3),
        // Not flagged: itself.
        _ => (b as u64, 1),
    }
}

/// U+FFFD in UTF-8, little-endian in a word.
const FFFD_WORD: u64 = 0x00BD_BFEF;

/// `escape_low` for every byte below 0x40, so that an escape is one load
/// rather than a branch on the byte.
static ESCAPES_LOW: [(u64, usize); 0x40] = {
    let mut t = [(0, 0); 0x40];
    let mut b = 0;
    while b < 0x40 {
        t[b] = escape_low(b as u8);
        b += 1;
    }
    t
};

/// The escaped form of the flagged byte at `s[i]` (DEC-032): its bytes,
/// little-endian in a word, how many there are, and how many input bytes
/// it stands for. The one table of the rule; every engine uses it.
#[inline(always)]
fn escape_of(s: &[u8], i: usize) -> (u64, usize, usize) {
    match s[i] {
        b @ 0..0x40 => {
            let (bytes, len) = ESCAPES_LOW[usize::from(b)];
            (bytes, len, 1)
        }
        // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8; any other
        // character starting with 0xEF is copied whole, its continuation
        // bytes by the scan.
        b => match s.get(i + 1..i + 3) {
            Some([0xBF, 0xBE | 0xBF]) => (FFFD_WORD, 3, 3),
            _ => (u64::from(b), 1, 1),
        },
    }
}

/// Writes the escaped form of the flagged byte at `s[i]` and returns how
/// many input bytes it stands for.
#[inline(always)]
fn escape_at(s: &[u8], i: usize, w: &mut Wild<'_>) -> usize {
    let (bytes, len, consumed) = escape_of(s, i);
    w.put_word(bytes, len);
    consumed
}

/// Appends one text field, escaped, byte by byte between escapes.
fn escape_field_portable(text: &str, w: &mut Wild<'_>) {
    let s = text.as_bytes();
    let mut i = 0;
    // Each pass consumes at least one byte, so the loop ends.
    while i < s.len() {
        let clean = s[i..]
            .iter()
            .position(|b| flagged(*b))
            .unwrap_or(s.len() - i);
        w.put_slice(&s[i..i + clean]);
        i += clean;
        if i < s.len() {
            i += escape_at(s, i, w);
        }
    }
}

/// Appends one text field, escaped, 16 bytes at a time with SSE2: each
/// block is stored whole and its clean prefix kept. The last partial block
/// is gathered with overlapping in-bounds reads, never past the end.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn escape_field_sse2(text: &str, w: &mut Wild<'_>) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_storeu_si128,
    };
    // The flagged lanes of a block, as a bit mask.
    #[inline(always)]
    fn flagged16(v: __m128i) -> u32 {
        // SAFETY: SSE2 is part of the x86_64 baseline; no memory access.
        unsafe {
            let control_max = _mm_set1_epi8(0x1F);
            // max(v, 0x1F) == 0x1F exactly where v <= 0x1F, unsigned.
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, control_max), control_max);
            let markup = _mm_or_si128(
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'&' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'<' as i8)),
                ),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'>' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xEFu8 as i8)),
                ),
            );
            _mm_movemask_epi8(_mm_or_si128(markup, control)) as u32
        }
    }
    let s = text.as_bytes();
    let n = s.len();
    let mut i = 0;
    // Each pass keeps at least one input byte, so the loop ends.
    while i < n {
        let avail = (n - i).min(16);
        let block = if avail == 16 {
            // SAFETY: 16 bytes from `i` are inside `s`.
            unsafe { _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>()) }
        } else {
            lanes(gather_tail(&s[i..]))
        };
        // SAFETY: the caller's `assert_room` covered the field's worst case
        // plus `WILD_BYTES`, and the kept length trails this store.
        unsafe { _mm_storeu_si128(w.dst().cast::<__m128i>(), block) };
        let mask = flagged16(block);
        if mask == 0 {
            w.keep(avail);
            i += avail;
        } else {
            let clean = mask.trailing_zeros() as usize;
            w.keep(clean);
            i += clean;
            i += escape_at(s, i, w);
        }
    }
}

/// For each value of a byte's low six bits, the one flagged byte with
/// those bits (`flagged`), or a byte without them when there is none. A
/// byte is flagged exactly when it equals its own entry: every flagged
/// byte (below 0x20, `&`, `<`, `>`, 0xEF) is alone among the four bytes
/// that share its low six bits, which the build checks.
#[cfg(target_arch = "x86_64")]
static FLAGGED_BY_LOW6: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut e = 0;
    while e < 64 {
        // Matched by no byte whose low six bits are `e`.
        let none = (e as u8) ^ 1;
        t[e] = none;
        let mut high = 0;
        while high < 4 {
            let b = (high << 6 | e) as u8;
            if flagged(b) {
                assert!(t[e] == none, "two flagged bytes share an entry");
                t[e] = b;
            }
            high += 1;
        }
        e += 1;
    }
    t
};

/// The flagged lanes among `lanes` of a 32-byte block (`flagged`, for 32
/// bytes at once), as a bit mask: one permute looks up each byte's entry in
/// `FLAGGED_BY_LOW6` (two 32-byte halves, indexed by the low six bits) and
/// one compare, under the mask `lanes`, finds the bytes equal to theirs.
/// Lanes outside `lanes` may hold anything: they are never flagged.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`); the
/// caller is compiled with them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn flagged32(block: std::arch::x86_64::__m256i, lanes: u32) -> u32 {
    use std::arch::x86_64::{
        __m256i, _mm256_loadu_si256, _mm256_mask_cmpeq_epi8_mask, _mm256_permutex2var_epi8,
    };
    // SAFETY: the caller's features; the loads read the two halves of a
    // static 64-byte table.
    unsafe {
        let low = _mm256_loadu_si256(FLAGGED_BY_LOW6.as_ptr().cast::<__m256i>());
        let high = _mm256_loadu_si256(FLAGGED_BY_LOW6.as_ptr().add(32).cast::<__m256i>());
        _mm256_mask_cmpeq_epi8_mask(lanes, _mm256_permutex2var_epi8(low, block, high), block)
    }
}

/// The fewer than 32 bytes of `s` from `i` as the low lanes of a block,
/// the other lanes zeros (`flagged32` is asked only about the low ones),
/// read without touching memory past `s`: a masked load, or, when the
/// block's span reaches into the next page, where a masked load could
/// cost a microcode assist, a copy through a buffer on the stack (rare:
/// at most one block in 128 starts there).
///
/// # Safety
/// As `flagged32`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn load_partial32(s: &[u8], i: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::{_mm256_loadu_si256, _mm256_maskz_loadu_epi8};
    let avail = s.len() - i;
    debug_assert!((1..32).contains(&avail));
    let at = s[i..].as_ptr();
    if (at as usize) % PAGE_BYTES <= PAGE_BYTES - 32 {
        // SAFETY: the caller's features; the masked load accesses only
        // the `avail` lanes inside `s`.
        return unsafe { _mm256_maskz_loadu_epi8(lanes_below(avail), at.cast()) };
    }
    let block = near_page_end(&s[i..]);
    // SAFETY: the caller's features; the load reads the 32-byte array.
    unsafe { _mm256_loadu_si256(block.as_ptr().cast()) }
}

/// `load_partial32`'s bytes for text near the end of a page, out of line.
#[cfg(target_arch = "x86_64")]
#[cold]
#[inline(never)]
fn near_page_end(t: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 32];
    block[..t.len()].copy_from_slice(t);
    block
}

/// Escapes the flagged lanes of a block already stored at `w.dst()`, keeps
/// what the block now stands for, and returns the input bytes it consumed.
/// Each flagged lane in turn: its escape goes where the lane was stored
/// (moved by the bytes earlier escapes added), and the lanes after it are
/// stored again, moved past the escape, by a masked store.
///
/// # Safety
/// As `flagged32`; `block` holds `avail` (1 to 32) bytes of `s` from `i`,
/// `flagged` is its non-empty mask, and the caller's `assert_room` covered
/// the field's worst case.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn escape_block32(
    s: &[u8],
    i: usize,
    avail: usize,
    block: std::arch::x86_64::__m256i,
    mut flagged: u32,
    w: &mut Wild<'_>,
) -> usize {
    use std::arch::x86_64::_mm256_mask_storeu_epi8;
    let dst = w.dst();
    // The output bytes this block added so far.
    let mut grown = 0usize;
    let mut consumed = avail;
    // At most one pass per lane.
    while flagged != 0 {
        let k = flagged.trailing_zeros() as usize;
        let (bytes, len, taken) = escape_of(s, i + k);
        // SAFETY: inside the field's room plus the slack.
        unsafe {
            dst.add(k + grown)
                .cast::<u64>()
                .write_unaligned(bytes.to_le())
        };
        grown = grown + len - taken;
        let after = k + taken;
        if after >= avail {
            // The escape ends the block, or (U+FFFE or U+FFFF split by the
            // block's end) takes input past it.
            consumed = after;
            break;
        }
        // Lanes `after..avail`; `after < avail <= 32`.
        let rest = (u32::MAX >> (32 - avail)) & !((1u32 << after) - 1);
        // SAFETY: lane `j` goes to `dst + grown + j`, below the bytes this
        // block keeps, inside the room; the caller's features.
        unsafe { _mm256_mask_storeu_epi8(dst.add(grown).cast::<i8>(), rest, block) };
        flagged &= !((1u32 << after) - 1);
    }
    w.keep(consumed + grown);
    consumed
}

/// Appends one text field, escaped, with AVX-512 on 256-bit vectors
/// (512-bit ones measured no faster here): two full blocks a pass
/// with one test for both, then single blocks, then the partial tail. Each
/// block is stored whole and its clean prefix kept; `escape_block32`
/// handles a block with flagged lanes.
///
/// It is not itself a `target_feature` function, so that it can be inlined
/// always; its callers are (`encode_avx512`, `escape_text_avx512`), which
/// is what lets the intrinsics compile to single instructions.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn escape_field_avx512(text: &str, w: &mut Wild<'_>) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_storeu_si256};
    let s = text.as_bytes();
    let n = s.len();
    // SAFETY (each block below): the caller's features; loads of full
    // blocks lie inside `s`, and stores go to `w.dst()` and the 32 bytes
    // after it, which the caller's `assert_room` and the slack cover.
    let load = |at: usize| unsafe { _mm256_loadu_si256(s.as_ptr().add(at).cast::<__m256i>()) };
    if n < 32 {
        if n > 0 {
            unsafe { put_block32(s, 0, n, load_partial32(s, 0), w) };
        }
        return;
    }
    let mut i = 0;
    // Whether the 32 input bytes before `i` were one clean block, and so
    // lie, as they are, in the 32 output bytes before `w.dst()`. (An
    // escape's continuation bytes, those of U+FFFE and U+FFFF, are never
    // the start of a block: the escape consumes them.)
    let mut clean_before = false;
    // Each pass of each loop consumes at least one input byte, so each
    // loop ends.
    while i + 64 <= n {
        let (a, b) = (load(i), load(i + 32));
        let dst = w.dst();
        unsafe {
            _mm256_storeu_si256(dst.cast::<__m256i>(), a);
            _mm256_storeu_si256(dst.add(32).cast::<__m256i>(), b);
        }
        if unsafe { flagged32(a, u32::MAX) | flagged32(b, u32::MAX) } == 0 {
            w.keep(64);
            i += 64;
            clean_before = true;
        } else {
            // One block at a time where there are escapes: the second block
            // is loaded and stored again by the next pass.
            let consumed;
            (consumed, clean_before) = unsafe { put_block32(s, i, 32, a, w) };
            i += consumed;
        }
    }
    while i + 32 <= n {
        let consumed;
        (consumed, clean_before) = unsafe { put_block32(s, i, 32, load(i), w) };
        i += consumed;
    }
    if i == n {
        return;
    }
    // The tail. After a clean block, the text's last 32 bytes are in
    // bounds and those before `i` among them were written as they are:
    // when the last 32 are all clean, storing them whole over their own
    // output changes nothing before `w.dst()` and writes the tail.
    if clean_before {
        let last = load(n - 32);
        if unsafe { flagged32(last, u32::MAX) } == 0 {
            let rest = n - i;
            // SAFETY: the clean block before `i` put 32 bytes before
            // `w.dst()`, and `32 - rest < 32`; the store ends `rest` bytes
            // after `w.dst()`, inside the room.
            unsafe { _mm256_storeu_si256(w.dst().sub(32 - rest).cast::<__m256i>(), last) };
            w.keep(rest);
            return;
        }
    }
    while i < n {
        i += unsafe { put_block32(s, i, n - i, load_partial32(s, i), w) }.0;
    }
}

/// Writes a fixed piece of at most 64 bytes and then one field, escaped.
/// When the field fits in the rest of the piece's 64-byte block, one
/// expanding load puts its bytes in the lanes after the piece (reading
/// exactly the field's bytes, so no page check is needed), one compare
/// under those lanes classifies them, and one store writes piece and field
/// together. Otherwise, or when the field has bytes to escape, the piece
/// is kept and the field written by `escape_field_avx512`.
///
/// # Safety
/// As `escape_field_avx512`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn put_piece_then_field_avx512(piece: &Piece<64>, text: &str, w: &mut Wild<'_>) {
    use std::arch::x86_64::{
        _bzhi_u64, _mm512_loadu_si512, _mm512_mask_cmpeq_epi8_mask, _mm512_mask_expandloadu_epi8,
        _mm512_permutexvar_epi8, _mm512_storeu_si512,
    };
    let (p, n) = (piece.len, text.len());
    // SAFETY: the caller's features; the piece and the table are 64-byte
    // arrays; the expanding load reads the `n` bytes of `text` (as many as
    // the mask has lanes); the store goes to `w.dst()` and the 64 bytes
    // after it, which the caller's room covers (the piece's padded size
    // and the field's worst case).
    unsafe {
        let block = _mm512_loadu_si512(piece.bytes.as_ptr().cast());
        if n <= 64 - p {
            let lanes = _bzhi_u64(u64::MAX, n as u32) << p;
            let block = _mm512_mask_expandloadu_epi8(block, lanes, text.as_ptr().cast());
            _mm512_storeu_si512(w.dst().cast(), block);
            let table = _mm512_loadu_si512(FLAGGED_BY_LOW6.as_ptr().cast());
            let looked_up = _mm512_permutexvar_epi8(block, table);
            if _mm512_mask_cmpeq_epi8_mask(lanes, looked_up, block) == 0 {
                w.keep(p + n);
                return;
            }
        } else {
            _mm512_storeu_si512(w.dst().cast(), block);
        }
        w.keep(p);
        escape_field_avx512(text, w);
    }
}

/// Stores a block holding `avail` (1 to 32) bytes of `s` from `i` at
/// `w.dst()` and keeps what it stands for, escaping its flagged lanes;
/// returns the input bytes it consumed and whether it was clean.
///
/// # Safety
/// As `escape_block32`, without the mask.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn put_block32(
    s: &[u8],
    i: usize,
    avail: usize,
    block: std::arch::x86_64::__m256i,
    w: &mut Wild<'_>,
) -> (usize, bool) {
    // SAFETY: the caller's room and features.
    unsafe { std::arch::x86_64::_mm256_storeu_si256(w.dst().cast(), block) };
    match unsafe { flagged32(block, lanes_below(avail)) } {
        0 => {
            w.keep(avail);
            (avail, true)
        }
        flagged => (
            unsafe { escape_block32(s, i, avail, block, flagged, w) },
            false,
        ),
    }
}

/// The mask of lanes `0..n`, for `n` from 0 to 32.
///
/// # Safety
/// The processor must have BMI2, and the caller is compiled with it (as
/// every caller is, for `Engine::Avx512`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn lanes_below(n: usize) -> u32 {
    debug_assert!(n <= 32);
    // SAFETY: the caller's features.
    unsafe { std::arch::x86_64::_bzhi_u32(u32::MAX, n as u32) }
}

/// The smallest page size of x86_64: a load that stays inside one page
/// cannot reach an unmapped one.
#[cfg(target_arch = "x86_64")]
const PAGE_BYTES: usize = 4096;

/// A 16-byte word as a vector, byte `k` in lane `k`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lanes(word: u128) -> std::arch::x86_64::__m128i {
    // SAFETY: SSE2 is part of the x86_64 baseline; no memory access.
    unsafe { std::arch::x86_64::_mm_set_epi64x((word >> 64) as i64, word as i64) }
}

/// Sixteen spaces, as `gather_tail` pads.
const SPACES_WORD: u128 = u128::from_le_bytes([b' '; 16]);

/// The 1 to 15 bytes of `t` as the low lanes of a 16-byte block, the other
/// lanes spaces (never flagged). Two overlapping reads cover the bytes, so
/// nothing past the end of `t` is read and no copy call is made.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn gather_tail(t: &[u8]) -> u128 {
    let r = t.len();
    debug_assert!((1..16).contains(&r));
    let word = |at: usize, width: usize| -> u128 {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(&t[at..at + width]);
        u128::from(u64::from_le_bytes(b))
    };
    let bytes = if r >= 8 {
        word(0, 8) | word(r - 8, 8) << ((r - 8) * 8)
    } else if r >= 4 {
        word(0, 4) | word(r - 4, 4) << ((r - 4) * 8)
    } else {
        // One to three bytes: the first, middle and last cover them all.
        word(0, 1) | word(r / 2, 1) << (r / 2 * 8) | word(r - 1, 1) << ((r - 1) * 8)
    };
    bytes | SPACES_WORD << (r * 8)
}

/// `text` as `decode(encode(text))` gives it back: forbidden characters
/// replaced by U+FFFD.
pub fn sanitized(text: &str) -> Cow<'_, str> {
    if text.chars().all(xml_legal) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if xml_legal(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// The room for a request's opening, up to and including `<t:Subject>`.
const OPENING_BYTES_MAX: usize = 384;

/// Fixed bytes padded to `N`, so that they are copied by one copy of
/// constant length and their length kept (`Wild::put_padded`); the room a
/// request reserves counts the padding.
#[derive(Clone, Copy)]
struct Piece<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Piece<N> {
    const EMPTY: Self = Piece {
        bytes: [0; N],
        len: 0,
    };

    /// One piece; a piece longer than `N` fails the build.
    const fn new(piece: &[u8]) -> Self {
        Self::EMPTY.then(piece)
    }

    /// Appends bytes; past `N`, the build fails.
    const fn then(mut self, piece: &[u8]) -> Self {
        let mut i = 0;
        while i < piece.len() {
            self.bytes[self.len + i] = piece[i];
            i += 1;
        }
        self.len += piece.len();
        self
    }
}

/// The fixed opening of a request for one disposition, saved folder and
/// class: everything before the subject, built at compile time, so that a
/// request starts with one copy.
type Opening = Piece<OPENING_BYTES_MAX>;

impl Opening {
    const fn of(d: Disposition, f: Option<TargetFolder>, c: MessageClass) -> Opening {
        let mut o = Opening::EMPTY
            .then(
                concat!(
                    "<m:CreateItem xmlns:m=\"",
                    ns_messages!(),
                    "\" xmlns:t=\"",
                    ns_types!(),
                    "\" MessageDisposition=\""
                )
                .as_bytes(),
            )
            .then(d.as_str().as_bytes())
            .then(b"\">");
        if let Some(f) = f {
            o = o
                .then(b"<m:SavedItemFolderId><t:DistinguishedFolderId Id=\"")
                .then(f.as_str().as_bytes())
                .then(b"\"/></m:SavedItemFolderId>");
        }
        o.then(b"<m:Items><t:Message><t:ItemClass>")
            .then(c.as_str().as_bytes())
            .then(b"</t:ItemClass><t:Subject>")
    }
}

const SAVED_FOLDERS: [Option<TargetFolder>; 3] = [
    Some(TargetFolder::Inbox),
    Some(TargetFolder::ConversationHistory),
    None,
];
const CLASSES: [MessageClass; 2] = [MessageClass::MissedConversation, MessageClass::Note];

/// Every opening, indexed by `opening_index`.
static OPENINGS: [Opening; 18] = {
    let mut out = [Opening::EMPTY; 18];
    let mut i = 0;
    while i < out.len() {
        // `opening_index` indexes by discriminant: the build fails if the
        // order of `Disposition::ALL` or `CLASSES` ever departs from it.
        assert!(Disposition::ALL[i / 6] as usize == i / 6);
        assert!(CLASSES[i % 2] as usize == i % 2);
        out[i] = Opening::of(
            Disposition::ALL[i / 6],
            SAVED_FOLDERS[i / 2 % 3],
            CLASSES[i % 2],
        );
        i += 1;
    }
    out
};

/// A request's index in `OPENINGS`. The disposition and the class index
/// by their discriminants, which follow `Disposition::ALL` and `CLASSES`
/// (checked where `OPENINGS` is built).
fn opening_index(r: &CreateItem<'_>) -> usize {
    // In `SAVED_FOLDERS` order.
    let f = match r.saved_folder {
        Some(TargetFolder::Inbox) => 0,
        Some(TargetFolder::ConversationHistory) => 1,
        None => 2,
    };
    r.disposition as usize * 6 + f * 2 + r.class as usize
}

/// The fixed pieces between the text fields, in order.
const AFTER_SUBJECT: Piece<64> = Piece::new(b"</t:Subject><t:Body BodyType=\"Text\">");
const AFTER_BODY: Piece<64> = Piece::new(b"</t:Body><t:ToRecipients><t:Mailbox><t:Name>");
const AFTER_NAME: Piece<64> = Piece::new(b"</t:Name><t:EmailAddress>");
const AFTER_TO: Piece<64> = Piece::new(b"</t:EmailAddress></t:Mailbox></t:ToRecipients>");
const BEFORE_FROM_NAME: Piece<64> = Piece::new(b"<t:From><t:Mailbox><t:Name>");
const CLOSE: Piece<96> =
    Piece::new(b"</t:EmailAddress></t:Mailbox></t:From></t:Message></m:Items></m:CreateItem>");

/// Appends the `m:CreateItem` element, with its namespaces declared on it:
/// the part of the request that the EWS schema defines.
pub fn encode_create_item(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // Once found, the AVX-512 engine is one load and one compare away.
    #[cfg(target_arch = "x86_64")]
    if BEST_ENGINE.load(std::sync::atomic::Ordering::Relaxed) == Engine::Avx512 as u8 {
        // SAFETY: `best` stores it only if the processor has its features.
        return unsafe { encode_avx512(r, out) };
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
    match engine.usable() {
        // SAFETY: `usable` returned it, so the processor has its features.
        #[cfg(target_arch = "x86_64")]
        Engine::Avx512 => unsafe { encode_avx512(r, out) },
        // Each arm passes a constant, so each instance has one engine.
        Engine::Sse2 => encode_with(Engine::Sse2, r, out),
        _ => encode_with(Engine::Portable, r, out),
    }
}

/// The AVX-512 instance of `encode_with`, compiled with the features so
/// that its escapes inline.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2")]
unsafe fn encode_avx512(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    encode_with(Engine::Avx512, r, out);
}

/// The request: its opening, then each text field escaped by `engine`
/// between the fixed pieces.
#[inline(always)]
fn encode_with(engine: Engine, r: &CreateItem<'_>, out: &mut Vec<u8>) {
    let text = [
        &r.subject,
        &r.body,
        &r.to.name,
        &r.to.email,
        &r.from.name,
        &r.from.email,
    ];
    let text_len: usize = text.iter().map(|t| t.len()).sum();
    let fixed = OPENING_BYTES_MAX
        + AFTER_SUBJECT.bytes.len()
        + AFTER_BODY.bytes.len()
        + 2 * AFTER_NAME.bytes.len()
        + AFTER_TO.bytes.len()
        + BEFORE_FROM_NAME.bytes.len()
        + CLOSE.bytes.len();
    // One check for the whole request: each field escapes to at most
    // `ESCAPE_EXPANSION_MAX` bytes per input byte, so the fields' worst
    // cases add up to this, and the slack covers every wild store.
    let room = fixed + text_len.saturating_mul(ESCAPE_EXPANSION_MAX);
    let mut w = Wild::new(out, room);
    w.assert_room(room);
    let opening = &OPENINGS[opening_index(r)];
    w.put_padded(&opening.bytes, opening.len);
    engine.escape(&r.subject, &mut w);
    w.put_padded(&AFTER_SUBJECT.bytes, AFTER_SUBJECT.len);
    engine.escape(&r.body, &mut w);
    engine.put_piece_then_escape(&AFTER_BODY, &r.to.name, &mut w);
    engine.put_piece_then_escape(&AFTER_NAME, &r.to.email, &mut w);
    w.put_padded(&AFTER_TO.bytes, AFTER_TO.len);
    engine.put_piece_then_escape(&BEFORE_FROM_NAME, &r.from.name, &mut w);
    engine.put_piece_then_escape(&AFTER_NAME, &r.from.email, &mut w);
    w.put_padded(&CLOSE.bytes, CLOSE.len);
    w.finish();
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

/// Why a document is not a request this crate can read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct DecodeError {
    pub offset: u64,
    pub message: String,
}

/// The bound on XML events per document, so a hostile input cannot loop.
pub const DECODE_EVENTS_MAX: usize = 10_000;

/// Reads a request back (an envelope, or a bare `m:CreateItem`).
pub fn decode(xml: &str) -> Result<CreateItem<'static>, DecodeError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut disposition = None;
    let mut saved_folder = None;
    let mut class = None;
    let (mut subject, mut body) = (None, None);
    let (mut to_name, mut to_email, mut from_name, mut from_email) = (None, None, None, None);
    let err = |reader: &quick_xml::Reader<&[u8]>, message: String| DecodeError {
        offset: reader.buffer_position(),
        message,
    };
    for _ in 0..DECODE_EVENTS_MAX {
        let event = reader
            .read_event()
            .map_err(|e| err(&reader, e.to_string()))?;
        match event {
            XmlEvent::Start(e) => {
                read_attributes(&e, &mut disposition, &mut saved_folder)
                    .map_err(|m| err(&reader, m))?;
                text.clear();
                path.push(e.local_name().as_ref().to_string());
            }
            XmlEvent::Empty(e) => {
                read_attributes(&e, &mut disposition, &mut saved_folder)
                    .map_err(|m| err(&reader, m))?;
            }
            XmlEvent::Text(t) => text.push_str(&t.xml10_content()),
            XmlEvent::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name: &str = r.as_ref();
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| err(&reader, format!("unknown entity &{name};")))?
                            .to_string()
                    }
                    Err(e) => return Err(err(&reader, e.to_string())),
                };
                text.push_str(&resolved);
            }
            XmlEvent::End(_) => {
                let leaf = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                let grand = path.iter().rev().nth(1).map(String::as_str).unwrap_or("");
                let value = std::mem::take(&mut text);
                match (grand, parent, leaf.as_str()) {
                    (_, "Message", "ItemClass") => {
                        class = [MessageClass::MissedConversation, MessageClass::Note]
                            .into_iter()
                            .find(|c| c.as_str() == value);
                    }
                    (_, "Message", "Subject") => subject = Some(value),
                    (_, "Message", "Body") => body = Some(value),
                    ("ToRecipients", "Mailbox", "Name") => to_name = Some(value),
                    ("ToRecipients", "Mailbox", "EmailAddress") => to_email = Some(value),
                    ("From", "Mailbox", "Name") => from_name = Some(value),
                    ("From", "Mailbox", "EmailAddress") => from_email = Some(value),
                    _ => {}
                }
            }
            XmlEvent::Eof => {
                let missing = |what: &str| err(&reader, format!("found no {what}, expected one"));
                return Ok(CreateItem {
                    disposition: disposition.ok_or_else(|| missing("MessageDisposition"))?,
                    saved_folder,
                    class: class.ok_or_else(|| missing("known t:ItemClass"))?,
                    subject: Cow::Owned(subject.ok_or_else(|| missing("t:Subject"))?),
                    body: Cow::Owned(body.ok_or_else(|| missing("t:Body"))?),
                    to: Address {
                        name: Cow::Owned(to_name.ok_or_else(|| missing("recipient t:Name"))?),
                        email: Cow::Owned(
                            to_email.ok_or_else(|| missing("recipient t:EmailAddress"))?,
                        ),
                    },
                    from: Address {
                        name: Cow::Owned(from_name.ok_or_else(|| missing("sender t:Name"))?),
                        email: Cow::Owned(
                            from_email.ok_or_else(|| missing("sender t:EmailAddress"))?,
                        ),
                    },
                });
            }
            _ => {}
        }
    }
    Err(err(
        &reader,
        format!("found more than {DECODE_EVENTS_MAX} XML events, expected one request"),
    ))
}

/// Reads the two attributes a request carries: the disposition on
/// `CreateItem` and the folder on `DistinguishedFolderId`.
fn read_attributes(
    e: &quick_xml::events::BytesStart<'_>,
    disposition: &mut Option<Disposition>,
    saved_folder: &mut Option<TargetFolder>,
) -> Result<(), String> {
    let element = e.local_name();
    for a in e.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|x| x.to_string())?;
        match (element.as_ref(), a.key.local_name().as_ref()) {
            ("CreateItem", "MessageDisposition") => {
                *disposition = Disposition::ALL.into_iter().find(|d| d.as_str() == value);
            }
            ("DistinguishedFolderId", "Id") => {
                *saved_folder = TargetFolder::ALL.into_iter().find(|f| f.as_str() == value);
            }
            _ => {}
        }
    }
    Ok(())
}
