//! The SSE2 engine (x86_64 only, where SSE2 is part of every processor):
//! one text field escaped 16 bytes a step. Each block is stored whole and
//! its clean prefix kept; the last partial block is gathered with
//! overlapping in-bounds reads, so nothing past the text is read. Unlike
//! the others it flags tabs and newlines too (one compare catches every
//! control character), and `escape_of` copies them as they are.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

use super::escape::{Escaper, escape_at};
use super::writer::Wild;

/// The SSE2 engine, as the request writer drives it. It needs no proof of
/// features: every x86_64 processor has SSE2.
#[derive(Clone, Copy)]
pub(super) struct Sse2Escaper;

impl Escaper for Sse2Escaper {
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        escape_field_sse2(text, w);
    }
}

/// Appends one text field, escaped, 16 bytes at a time with SSE2.
#[inline(always)]
fn escape_field_sse2(text: &str, w: &mut Wild<'_>) {
    escape_from(text.as_bytes(), 0, w);
}

/// Appends the bytes of a field's text `s` from `start` on, escaped, 16
/// bytes at a time with SSE2: each block is stored whole and its clean
/// prefix kept. The last partial block is gathered with overlapping
/// in-bounds reads, never past the end. The AVX2 engine hands it the last
/// 0 to 31 bytes of a field that `avx2::escape_short` cannot copy whole;
/// `start` is where an escape or a block ended, which may fall inside a
/// character: only the flagged bytes matter, and each is ASCII or the lead
/// byte 0xEF, whose escape reads the two bytes after it.
#[inline(always)]
pub(super) fn escape_from(s: &[u8], start: usize, w: &mut Wild<'_>) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    let n = s.len();
    let mut i = start;
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

/// The flagged lanes of a 16-byte block, as a bit mask: every control
/// character (tabs and newlines too, which `escape_of` copies as they
/// are), `&`, `<`, `>` and 0xEF, the class `escape::flagged` defines, with
/// one compare per markup byte (SSE2 has no byte shuffle; the AVX2 engine
/// looks the markup up by low nibble instead).
#[inline(always)]
fn flagged16(v: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
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

/// A 16-byte word as a vector, byte `k` in lane `k`.
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
