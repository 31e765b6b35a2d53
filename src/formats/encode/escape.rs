//! The escaping rule every engine shares (DEC-032), and the choice of
//! engine.
//!
//! What it owns:
//! - the rule: which characters XML 1.0 allows (`xml_legal`), which bytes
//!   may need escaping (`flagged`), the escaped form of each
//!   (`escape_of`, one table built at compile time), and the text a round
//!   trip gives back (`sanitized`). The engines only find clean runs
//!   faster; what an escape writes is decided here, once;
//! - `Engine`, the public name of each engine, with its run-time detection
//!   (`available`) and the choice remembered after the first request
//!   (`best`);
//! - `Escaper`, the interface through which the request writer drives one
//!   engine at compile time.
//!
//! It holds no unsafe code: an engine that needs processor features proves
//! them with its own type (`Avx512Escaper`, `Avx2Escaper`), in its own
//! file.

use super::writer::{Piece, Wild};
use std::borrow::Cow;

/// Whether XML 1.0 allows the character at all (its `Char` production).
pub fn xml_legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether a byte may need escaping: markup, a control character other
/// than tab and newline (which XML 1.0 text holds as they are, so they are
/// copied with the clean run around them: a message of many lines costs no
/// escape step per line), or the lead byte 0xEF of U+FFFE and U+FFFF. The
/// SSE2 engine flags every control character, tabs and newlines too, and
/// `escape_of` copies those as they are. Public so that a benchmark of
/// another byte search can ask for the class instead of restating it.
#[inline]
pub const fn flagged(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | 0xEF | 0..=0x08 | 0x0B..=0x1F)
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
    /// 64 and 32 bytes at a time with AVX2: most x86_64 processors of the
    /// last decade, AVX-512 or not.
    Avx2,
    /// 32 bytes at a time with AVX-512 BW, VL and VBMI (a 64-entry table
    /// permute classifies a block), VBMI2 (an expanding load puts a short
    /// field beside its piece), BMI2 and masked loads and stores, when the
    /// processor has them all.
    Avx512,
}

/// `Engine::best`'s discriminant once found, `u8::MAX` before.
static BEST_ENGINE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

impl Engine {
    /// Every engine, available or not, for tests that compare them.
    pub const ALL: [Engine; 4] = [Engine::Portable, Engine::Sse2, Engine::Avx2, Engine::Avx512];

    /// The engine's name, as the `engine/…` benchmarks call it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Portable => "portable",
            Engine::Sse2 => "sse2",
            Engine::Avx2 => "avx2",
            Engine::Avx512 => "avx512",
        }
    }

    /// Whether this processor can run the engine.
    pub fn available(self) -> bool {
        match self {
            Engine::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Engine::Sse2 => true,
            // The feature `avx2.rs` compiles its functions with.
            #[cfg(target_arch = "x86_64")]
            Engine::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => {
                // The features `avx512.rs` compiles its functions with: the
                // two lists must agree, for an `Avx512Escaper` exists only
                // where this test (or `best`, which ran it) said yes.
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
            k if k == Engine::Avx2 as u8 => Engine::Avx2,
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
        let best = [Engine::Avx512, Engine::Avx2, Engine::Sse2]
            .into_iter()
            .find(|e| e.available())
            .unwrap_or(Engine::Portable);
        BEST_ENGINE.store(best as u8, std::sync::atomic::Ordering::Relaxed);
        best
    }

    /// Whether `best` has already found this engine: one relaxed load and
    /// one compare, and never a detection, for the hot path to ask before
    /// anything else. Only the AVX-512 and AVX2 engines have such a path,
    /// hence x86_64 only.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn is_known_best(self) -> bool {
        BEST_ENGINE.load(std::sync::atomic::Ordering::Relaxed) == self as u8
    }
}

/// One engine as the request writer drives it. Each engine has its own
/// zero-sized type, so that each instance of the writer
/// (`request::write_request`) is compiled for one engine and holds no
/// run-time choice between them.
pub(super) trait Escaper: Copy {
    /// Appends one field, escaped. The caller's `assert_room` covered the
    /// field's worst case (`ESCAPE_EXPANSION_MAX` bytes per input byte).
    fn escape(self, text: &str, w: &mut Wild<'_>);

    /// Appends a fixed piece and then one field, escaped. An engine may
    /// write the two together (the AVX-512 one does, for a short field);
    /// the others copy the piece and then escape the field.
    #[inline(always)]
    fn put_piece_then_escape(self, piece: &Piece<64>, text: &str, w: &mut Wild<'_>) {
        w.put_padded(&piece.bytes, piece.len);
        self.escape(text, w);
    }
}

/// The most bytes one input byte escapes to (`&amp;` and `&#xD;`).
pub(super) const ESCAPE_EXPANSION_MAX: usize = 5;

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
///
/// A constant reference rather than a static, for speed: rustc treats the
/// methods of the engines' `Escaper` impls as reachable from other crates,
/// so a static they read would be exported and read through the GOT, one
/// load more per use. The table a constant points to is emitted in each
/// code unit that reads it, at a fixed offset from the code.
const ESCAPES_LOW: &[(u64, usize); 0x40] = &{
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
pub(super) fn escape_of(s: &[u8], i: usize) -> (u64, usize, usize) {
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
pub(super) fn escape_at(s: &[u8], i: usize, w: &mut Wild<'_>) -> usize {
    let (bytes, len, consumed) = escape_of(s, i);
    w.put_word(bytes, len);
    consumed
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
