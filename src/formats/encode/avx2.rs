//! The AVX2 engine (x86_64 processors with AVX2, the common case without
//! AVX-512 VBMI2: many AMD EPYC and Ryzen parts and most laptops): one
//! text field escaped 32 bytes a step. Each block is stored whole and its
//! clean prefix kept, as the SSE2 engine does with 16. The last 1 to 31
//! bytes, when clean and at least 8, are copied by two overlapping loads
//! and stores that lie inside them (`escape_rest`); otherwise they go to
//! the SSE2 engine's loop (`sse2::escape_from`). Nothing past the text is
//! read.
//!
//! Why a hand-written engine rather than a crate: the bytes to find are a
//! class, three markup bytes, the lead byte 0xEF and a range of control
//! characters (`escape::flagged`). `memchr` finds at most three given
//! bytes, so it would need a second pass for the rest; a byte-class DFA
//! (`regex-automata`) steps a byte at a time. Two compares per class member
//! on 32 lanes are what this file does.
//!
//! The unsafe code lives here, in the AVX-512 engine's pattern: the
//! intrinsics need AVX2, and the functions that use them are inlined into
//! the two functions compiled with it (`encode_avx2`, the request writer's
//! AVX2 instance, and `escape_text_avx2`). `Avx2Escaper` is the proof that
//! the processor has AVX2: only this file makes one, and only after the
//! detection in `escape.rs` said yes.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

use super::escape::{Engine, Escaper, escape_at};
use super::request::{CreateItem, write_request};
use super::sse2::flagged_lanes;
use super::writer::Wild;
use std::arch::x86_64::{
    __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8, _mm256_movemask_epi8,
    _mm256_or_si256, _mm256_set1_epi8, _mm256_storeu_si256,
};

/// The AVX2 engine, as the request writer drives it, and the proof that
/// the processor has AVX2: its one field is private, and this file makes
/// one only where `Engine::available` found the feature (`detect`) or
/// `Engine::best` remembered finding it (`if_best`).
#[derive(Clone, Copy)]
pub(super) struct Avx2Escaper(());

impl Avx2Escaper {
    /// The engine, if this processor has AVX2.
    #[inline]
    pub(super) fn detect() -> Option<Avx2Escaper> {
        Engine::Avx2.available().then_some(Avx2Escaper(()))
    }

    /// The engine, if `Engine::best` has already chosen it: one relaxed
    /// load and one compare.
    #[inline(always)]
    pub(super) fn if_best() -> Option<Avx2Escaper> {
        Engine::Avx2.is_known_best().then_some(Avx2Escaper(()))
    }

    /// Appends the `m:CreateItem` element with this engine, written by the
    /// request writer's instance compiled with AVX2.
    #[inline(always)]
    pub(super) fn write_create_item(self, r: &CreateItem<'_>, out: &mut Vec<u8>) {
        // SAFETY: `self` exists only where the processor has AVX2.
        unsafe { encode_avx2(r, out) }
    }

    /// Appends one field, escaped, in a function compiled with AVX2, for
    /// `escape_text`, which has no request around it.
    #[inline(always)]
    pub(super) fn escape_text(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has AVX2.
        unsafe { escape_text_avx2(text, w) }
    }
}

impl Escaper for Avx2Escaper {
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has AVX2; the
        // writer runs it inside `encode_avx2` or `escape_text_avx2`, which
        // are compiled with it.
        unsafe { escape_field_avx2(text, w) }
    }
}

/// `escape_field_avx2` compiled with AVX2.
///
/// # Safety
/// The processor must have AVX2 (`Engine::Avx2.available()`).
#[target_feature(enable = "avx2")]
unsafe fn escape_text_avx2(text: &str, w: &mut Wild<'_>) {
    // SAFETY: this function's own contract.
    unsafe { escape_field_avx2(text, w) }
}

/// The AVX2 instance of `write_request`, compiled with AVX2 so that its
/// escapes inline.
///
/// # Safety
/// The processor must have AVX2 (`Engine::Avx2.available()`).
#[target_feature(enable = "avx2")]
unsafe fn encode_avx2(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // The proof is this function's own contract.
    write_request(Avx2Escaper(()), r, out);
}

/// The flagged lanes of a 32-byte block (`escape::flagged`, with tabs and
/// newlines flagged too, as in the SSE2 engine: `escape_of` copies them as
/// they are), as a bit mask.
///
/// # Safety
/// The processor must have AVX2; no memory is accessed.
#[inline(always)]
unsafe fn flagged32(v: __m256i) -> u32 {
    // SAFETY: the caller's contract; these intrinsics touch only registers.
    unsafe {
        flagged_lanes!(
            v,
            _mm256_set1_epi8,
            _mm256_max_epu8,
            _mm256_cmpeq_epi8,
            _mm256_or_si256,
            _mm256_movemask_epi8
        )
    }
}

/// Appends one text field, escaped, 32 bytes at a time: each whole block
/// is stored and its clean prefix kept; the last 1 to 31 bytes go to
/// `escape_rest`.
///
/// # Safety
/// The processor must have AVX2, and the caller's `assert_room` must have
/// covered the field's worst case plus `WILD_BYTES` (32), as for every
/// engine.
#[inline(always)]
unsafe fn escape_field_avx2(text: &str, w: &mut Wild<'_>) {
    let s = text.as_bytes();
    let n = s.len();
    let mut i = 0;
    // Each pass keeps at least one input byte, so the loop ends.
    while n - i >= 32 {
        // SAFETY: 32 bytes from `i` are inside `s`; AVX2 by contract.
        let block = unsafe { _mm256_loadu_si256(s.as_ptr().add(i).cast::<__m256i>()) };
        // SAFETY: the room the caller asserted covers the worst case of the
        // bytes left plus 32, and the kept length trails this store; AVX2
        // by contract.
        unsafe { _mm256_storeu_si256(w.dst().cast::<__m256i>(), block) };
        // SAFETY: AVX2 by contract; registers only.
        let mask = unsafe { flagged32(block) };
        if mask == 0 {
            w.keep(32);
            i += 32;
        } else {
            let clean = mask.trailing_zeros() as usize;
            w.keep(clean);
            i += clean;
            i += escape_at(s, i, w);
        }
    }
    if i < n {
        // SAFETY: the caller's contract, passed on.
        unsafe { escape_rest(s, i, w) };
    }
}

/// The last 1 to 31 bytes of a field, from `i`: when they are clean, two
/// overlapping loads that both lie inside them (16 bytes from each end,
/// or 8) and two overlapping stores copy them; otherwise, and below 8
/// bytes, the SSE2 loop escapes them. Nothing before `i` or past the end
/// is read, and what the stores overlap they write twice with the same
/// bytes.
///
/// # Safety
/// As `escape_field_avx2`; `i < s.len()`, and `s.len() - i < 32`.
#[inline(always)]
unsafe fn escape_rest(s: &[u8], i: usize, w: &mut Wild<'_>) {
    use super::sse2::flagged16;
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_set_epi64x, _mm_storeu_si128};
    let n = s.len();
    let r = n - i;
    debug_assert!((1..32).contains(&r));
    if r >= 16 {
        // SAFETY: 16 bytes from `i` and the last 16 bytes are inside `s`,
        // since `i + 16 <= n`.
        let (head, tail) = unsafe {
            (
                _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>()),
                _mm_loadu_si128(s.as_ptr().add(n - 16).cast::<__m128i>()),
            )
        };
        if flagged16(head) | flagged16(tail) == 0 {
            // SAFETY: the room asserted covers `r` bytes and 32 more past
            // the cursor; both stores end within `r` bytes of it.
            unsafe {
                _mm_storeu_si128(w.dst().cast::<__m128i>(), head);
                _mm_storeu_si128(w.dst().add(r - 16).cast::<__m128i>(), tail);
            }
            w.keep(r);
            return;
        }
    } else if r >= 8 {
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&s[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let (head, tail) = (word(i), word(n - 8));
        // SAFETY: SSE2 is part of the x86_64 baseline; registers only.
        let both = unsafe { _mm_set_epi64x(tail as i64, head as i64) };
        if flagged16(both) == 0 {
            // SAFETY: as above; both 8-byte stores end within `r` bytes of
            // the cursor.
            unsafe {
                w.dst().cast::<u64>().write_unaligned(head.to_le());
                w.dst()
                    .add(r - 8)
                    .cast::<u64>()
                    .write_unaligned(tail.to_le());
            }
            w.keep(r);
            return;
        }
    }
    super::sse2::escape_from(s, i, w);
}
