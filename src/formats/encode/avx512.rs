//! The AVX-512 engine (x86_64 only): one text field escaped 32 bytes a
//! step, on 256-bit vectors with AVX-512 BW, VL, VBMI and VBMI2 and with
//! BMI2. Each block is classified by one table permute and one compare,
//! stored whole, and its escapes written in place with masked stores; a
//! short address field is loaded into the 64-byte block of the piece
//! before it and stored with it.
//!
//! The unsafe code lives here: the intrinsics need the processor's
//! features, and the functions that use them are inlined into the two
//! functions compiled with those features (`encode_avx512`, the request
//! writer's AVX-512 instance, and `escape_text_avx512`), so that each
//! intrinsic becomes one instruction. `Avx512Escaper` is the proof those
//! features are there: only this file makes one, and only after the
//! detection in `escape.rs` said yes, so the rest of the module calls this
//! engine without an unsafe block of its own.

// One of the few files allowed unsafe code (`#![deny(unsafe_code)]` in
// lib.rs): every block says why it is sound.
#![allow(unsafe_code)]

use super::escape::{Engine, Escaper, escape_of, flagged};
use super::request::{CreateItem, write_request};
use super::writer::{Piece, Wild};

/// The AVX-512 engine, as the request writer drives it, and the proof that
/// the processor has its features: its one field is private, and this
/// file makes one only where `Engine::available` found the features
/// (`detect`) or `Engine::best` remembered finding them (`if_best`).
#[derive(Clone, Copy)]
pub(super) struct Avx512Escaper(());

impl Avx512Escaper {
    /// The engine, if this processor has its features.
    #[inline]
    pub(super) fn detect() -> Option<Avx512Escaper> {
        Engine::Avx512.available().then_some(Avx512Escaper(()))
    }

    /// The engine, if `Engine::best` has already chosen it: one relaxed
    /// load and one compare, the hot path's test before anything else.
    #[inline(always)]
    pub(super) fn if_best() -> Option<Avx512Escaper> {
        Engine::Avx512.is_known_best().then_some(Avx512Escaper(()))
    }

    /// Appends the `m:CreateItem` element with this engine, written by the
    /// request writer's instance compiled with the features. Not named
    /// `encode_create_item`: `benches/count_instructions.py` stops at that
    /// name, which the release build's line tables give without a module,
    /// and would stop where this method is inlined too, in the wrong call.
    #[inline(always)]
    pub(super) fn write_create_item(self, r: &CreateItem<'_>, out: &mut Vec<u8>) {
        // SAFETY: `self` exists only where the processor has the features.
        unsafe { encode_avx512(r, out) }
    }

    /// Appends one field, escaped, in a function compiled with the
    /// features, for `escape_text`, which has no request around it.
    #[inline(always)]
    pub(super) fn escape_text(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has the features.
        unsafe { escape_text_avx512(text, w) }
    }
}

impl Escaper for Avx512Escaper {
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        // SAFETY: `self` exists only where the processor has the features;
        // the writer runs it inside `encode_avx512` or `escape_text_avx512`,
        // which are compiled with them.
        unsafe { escape_field_avx512(text, w) }
    }

    /// A field that fits in the piece's 64-byte block beside it is loaded
    /// into that block and stored with it (`put_piece_then_field_avx512`).
    #[inline(always)]
    fn put_piece_then_escape(self, piece: &Piece<64>, text: &str, w: &mut Wild<'_>) {
        // SAFETY: as `escape`.
        unsafe { put_piece_then_field_avx512(piece, text, w) }
    }
}

/// `escape_field_avx512` compiled with its features.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[target_feature(enable = "avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2")]
unsafe fn escape_text_avx512(text: &str, w: &mut Wild<'_>) {
    // SAFETY: this function's own contract.
    unsafe { escape_field_avx512(text, w) }
}

/// The AVX-512 instance of `write_request`, compiled with the features so
/// that its escapes inline.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[target_feature(enable = "avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2")]
unsafe fn encode_avx512(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    // The proof is this function's own contract.
    write_request(Avx512Escaper(()), r, out);
}

/// For each value of a byte's low six bits, the one flagged byte with
/// those bits (`flagged`), or a byte without them when there is none. A
/// byte is flagged exactly when it equals its own entry: every flagged
/// byte (below 0x20, `&`, `<`, `>`, 0xEF) is alone among the four bytes
/// that share its low six bits, which the build checks.
///
/// A constant reference rather than a static, as `ESCAPES_LOW` is: read
/// at a fixed offset from the code, not through the GOT.
const FLAGGED_BY_LOW6: &[u8; 64] = &{
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
/// always; its callers are (`encode_avx512`, `escape_text_avx512`, through
/// `Avx512Escaper`), which
/// is what lets the intrinsics compile to single instructions.
///
/// # Safety
/// The processor must have `Engine::Avx512`'s features (`available`).
#[inline(always)]
unsafe fn escape_field_avx512(text: &str, w: &mut Wild<'_>) {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_storeu_si256};
    let s = text.as_bytes();
    let n = s.len();
    // The unsafe blocks below share one argument: the caller's features;
    // loads of full blocks lie inside `s`, and stores go to `w.dst()` and
    // the 32 bytes after it, which the caller's `assert_room` and the
    // slack cover.
    // SAFETY: every call passes an `at` with `at + 32 <= n`, so the 32
    // bytes loaded lie inside `s`; the caller's features.
    let load = |at: usize| unsafe { _mm256_loadu_si256(s.as_ptr().add(at).cast::<__m256i>()) };
    if n < 32 {
        if n > 0 {
            // SAFETY: the caller's features and room; `n` is 1 to 31.
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
        // SAFETY: the 64 bytes from `w.dst()` lie inside the field's room
        // and the slack (64 input bytes need at least 64 output bytes of
        // the worst case).
        unsafe {
            _mm256_storeu_si256(dst.cast::<__m256i>(), a);
            _mm256_storeu_si256(dst.add(32).cast::<__m256i>(), b);
        }
        // SAFETY: the caller's features; no memory access.
        if unsafe { flagged32(a, u32::MAX) | flagged32(b, u32::MAX) } == 0 {
            w.keep(64);
            i += 64;
            clean_before = true;
        } else {
            // One block at a time where there are escapes: the second block
            // is loaded and stored again by the next pass.
            let consumed;
            // SAFETY: the caller's features and room; `a` holds the 32
            // bytes of `s` from `i`.
            (consumed, clean_before) = unsafe { put_block32(s, i, 32, a, w) };
            i += consumed;
        }
    }
    while i + 32 <= n {
        let consumed;
        // SAFETY: the caller's features and room; the block holds the 32
        // bytes of `s` from `i`.
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
        // SAFETY: the caller's features; no memory access.
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
        // SAFETY: the caller's features and room; the partial load reads
        // only the `n - i` (1 to 31) bytes of `s` from `i`.
        i += unsafe { put_block32(s, i, n - i, load_partial32(s, i), w) }.0;
    }
}

/// Writes a fixed piece of at most 64 bytes and then one field, escaped.
/// When the field fits in the rest of the piece's 64-byte block, one
/// expanding load puts its bytes in the lanes after the piece (reading
/// exactly the field's bytes, so no page check is needed), one compare
/// under those lanes classifies them, and one store writes piece and field
/// together. Otherwise (an empty field too), or when the field has bytes
/// to escape, the piece is kept and the field written by
/// `escape_field_avx512`.
///
/// # Safety
/// As `escape_field_avx512`.
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
        // An empty field has no bytes to load: its pointer may be dangling
        // (`""`), where a masked load with no lane, though it reads
        // nothing, costs a fault assist of about 100 ns (measured: a
        // request with four empty address fields took 320 ns, not 15).
        if n != 0 && n <= 64 - p {
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
    // SAFETY: the caller's features; no memory access.
    match unsafe { flagged32(block, lanes_below(avail)) } {
        0 => {
            w.keep(avail);
            (avail, true)
        }
        flagged => (
            // SAFETY: this function's contract, and `flagged` is the
            // block's non-empty mask.
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
#[inline(always)]
unsafe fn lanes_below(n: usize) -> u32 {
    debug_assert!(n <= 32);
    // SAFETY: the caller's features.
    unsafe { std::arch::x86_64::_bzhi_u32(u32::MAX, n as u32) }
}

/// The smallest page size of x86_64: a load that stays inside one page
/// cannot reach an unmapped one.
const PAGE_BYTES: usize = 4096;
