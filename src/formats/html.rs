//! What every HTML page of the crate shares: escaping, the page shell with
//! its style sheet, and virtual times written for people.
//!
//! Every page is self-contained: its style is inline, its pictures are
//! inline SVG, and it links to nothing, so that it opens the same from a
//! CI artifact, a mail attachment or a machine without a network. The page
//! tests (`tests/pages.rs`) refuse any `http:` or `https:` address in it.
//!
//! What it deliberately does not do: choose what a page shows. The
//! sequence chart (`chart`) and the simulation report (`sim::page`)
//! do.

use std::fmt::Write as _;

/// `text` with the five characters HTML gives meaning to replaced by
/// entities, so that it is safe in element content and in quoted
/// attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The style sheet every page carries.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}\
svg{display:block;margin:1em 0;background:#fcfcfc}\
pre{background:#f4f4f4;padding:1em;overflow-x:auto}\
table{border-collapse:collapse;margin:0.5em 0 1em 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}\
td.num{text-align:right}\
.chart{overflow-x:auto}\
ol.events li{margin-bottom:0.4em}\
ol.events code{display:block;font-size:0.85em;white-space:pre-wrap;color:#444}\
.legend span{display:inline-block;margin-right:1.5em}\
.swatch{display:inline-block;width:1em;height:0.8em;margin-right:0.3em;vertical-align:middle}";

/// A whole page: the doctype, the title, the style sheet and `body`.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// A virtual time for people: `h:mm:ss`, with milliseconds when there are
/// any, e.g. `0:02:00` or `1:00:02.500`.
pub fn clock(at_ms: u64) -> String {
    let seconds = at_ms / 1000;
    let mut out = format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    );
    if !at_ms.is_multiple_of(1000) {
        let _ = write!(out, ".{:03}", at_ms % 1000);
    }
    out
}

/// The SPEC ids a line mentions (`OIM-009`, `DEC-013`, `INV-004`, …), in
/// the order they first appear, each once.
pub fn spec_ids(line: &str) -> Vec<String> {
    const PREFIXES: [&str; 5] = ["OIM-", "DEC-", "INV-", "LIVE-", "CONF-"];
    let mut out: Vec<String> = Vec::new();
    for (i, _) in line.char_indices() {
        let rest = &line[i..];
        let Some(prefix) = PREFIXES.iter().find(|p| rest.starts_with(**p)) else {
            continue;
        };
        let digits: String = rest[prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        // An id is whole: its prefix starts a word, and three digits follow.
        let starts_word = line[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if digits.len() == 3 && starts_word {
            let id = format!("{prefix}{digits}");
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::formats::html::{clock, escape, spec_ids};

    #[test]
    fn escape_covers_content_and_attributes() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn clock_reads_as_hours_minutes_seconds() {
        assert_eq!(clock(0), "0:00:00");
        assert_eq!(clock(120_000), "0:02:00");
        assert_eq!(clock(3_602_500), "1:00:02.500");
        assert_eq!(clock(90_000_000), "25:00:00");
    }

    #[test]
    fn spec_ids_are_whole_and_listed_once() {
        assert_eq!(
            spec_ids("filed (OIM-009, DEC-013) then OIM-009 again; XOIM-001, DEC-01, INV-0042"),
            vec!["OIM-009", "DEC-013"]
        );
        assert!(spec_ids("nothing cited").is_empty());
    }
}
