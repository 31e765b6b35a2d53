//! The portable engine: one text field escaped byte by byte between
//! escapes, on any processor. It is the readable definition of what every
//! engine writes; `tests/encode.rs` checks the SSE2, AVX2 and AVX-512 engines
//! against it at every offset. It holds no unsafe code.

use super::escape::{Escaper, escape_at, flagged};
use super::writer::Wild;

/// The portable engine, as the request writer drives it.
#[derive(Clone, Copy)]
pub(super) struct PortableEscaper;

impl Escaper for PortableEscaper {
    #[inline(always)]
    fn escape(self, text: &str, w: &mut Wild<'_>) {
        escape_field_portable(text, w);
    }
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
