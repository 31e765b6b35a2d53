//! The simulation report (`simulate --report FILE`): one self-contained
//! HTML page that shows what happened over the day and why.
//!
//! What it shows:
//! - the summary, as `render_text` prints it;
//! - every time series (spool depth, IMs by route, client crashes) over an
//!   axis with a tick every hour, with the day's faults shaded behind it:
//!   one band per EWS outage, one per admin switch-off window, and one per
//!   crash burst;
//! - delivery latency as a histogram with logarithmic counts, so that the
//!   tail beyond the two-minute timer is visible, with p50, p90, p99 and the
//!   maximum marked;
//! - the spooler entries left at the end, retained and failed, by reason,
//!   by organisation and by profile;
//! - a table of the day's outages and switch-offs with their times, and the
//!   crashes counted per hour.
//!
//! A crash burst is a sample interval with at least `CRASH_BURST_MIN`
//! crashes and at least three times the run's mean per interval (DEC-079).
//! That is a choice of this report, not a product fact: single crashes are spread
//! over the day, and shading every one would shade the whole axis of a
//! large run. Every crash is still counted in the crash series and the
//! table.
//!
//! What it deliberately does not do: read the world. It draws the
//! `SimReport` the run returned, so the page costs the same whatever the
//! number of users; the 100,000-user day's page is about as large as the
//! 1,000-user one's.

use crate::formats::html::{clock, escape, page};
use crate::sim::{FAIL_REASONS, FaultKind, FaultWindow, SimReport, render_text};
use std::fmt::Write as _;

/// The plot's size and margins, in pixels.
const WIDTH_PX: f64 = 860.0;
const HEIGHT_PX: f64 = 230.0;
const LEFT_PX: f64 = 56.0;
const RIGHT_PX: f64 = 14.0;
const TOP_PX: f64 = 24.0;
const BOTTOM_PX: f64 = 36.0;

/// The fewest crashes in one sample interval that can make a burst.
pub const CRASH_BURST_MIN: u64 = 3;

const HOUR_MS: u64 = 3_600_000;

/// The colours of the fault bands and their legend.
const OUTAGE_FILL: &str = "#f1948a";
const ADMIN_FILL: &str = "#85c1e9";
const BURST_FILL: &str = "#abb2b9";

/// The horizontal axis shared by every time series.
struct TimeAxis {
    end_ms: u64,
}

impl TimeAxis {
    fn x(&self, at_ms: u64) -> f64 {
        LEFT_PX + (at_ms as f64 / self.end_ms.max(1) as f64) * (WIDTH_PX - LEFT_PX - RIGHT_PX)
    }

    /// A tick every whole hour up to the end, labelled every hour up to a
    /// day and every few hours beyond, so that at most 25 labels share the
    /// axis.
    fn ticks(&self) -> String {
        let hours = self.end_ms / HOUR_MS;
        let label_every = hours.div_ceil(24).max(1);
        let base = HEIGHT_PX - BOTTOM_PX;
        let mut out = String::from("<g class=\"ticks\">");
        for h in 0..=hours {
            let x = self.x(h * HOUR_MS);
            let labelled = h % label_every == 0;
            let _ = write!(
                out,
                "<line class=\"tick\" x1=\"{x:.1}\" y1=\"{base:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>",
                base + if labelled { 6.0 } else { 3.0 }
            );
            if labelled {
                let _ = write!(
                    out,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{h}</text>",
                    base + 17.0
                );
            }
        }
        out.push_str(&axis_title("hours of simulated time"));
        out.push_str("</g>");
        out
    }
}

/// The title under a chart's horizontal axis.
fn axis_title(text: &str) -> String {
    format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">{text}</text>",
        (LEFT_PX + WIDTH_PX - RIGHT_PX) / 2.0,
        HEIGHT_PX - 4.0
    )
}

/// A shaded stretch of simulated time.
struct Band {
    kind: &'static str,
    fill: &'static str,
    from_ms: u64,
    to_ms: u64,
    title: String,
}

/// The bands of the day: every outage and switch-off, and every crash
/// burst.
fn bands(r: &SimReport, end_ms: u64) -> Vec<Band> {
    let mut out = Vec::new();
    for f in &r.faults {
        let (kind, fill) = match f.kind {
            FaultKind::Outage => ("outage", OUTAGE_FILL),
            FaultKind::AdminOff => ("admin-off", ADMIN_FILL),
        };
        let to_ms = f.to_ms.unwrap_or(end_ms);
        out.push(Band {
            kind,
            fill,
            from_ms: f.from_ms,
            to_ms,
            title: format!(
                "{} in {}, {} to {}",
                f.kind.name(),
                f.org,
                clock(f.from_ms),
                clock(to_ms)
            ),
        });
    }
    let interval_ms = r.sample_interval_ms.max(1);
    for i in crash_bursts(&r.crashes_per_sample) {
        let from_ms = i as u64 * interval_ms;
        out.push(Band {
            kind: "crash-burst",
            fill: BURST_FILL,
            from_ms,
            to_ms: (from_ms + interval_ms).min(end_ms),
            title: format!(
                "crash burst: {} clients crashed from {}",
                r.crashes_per_sample[i],
                clock(from_ms)
            ),
        });
    }
    out
}

/// The sample intervals that are crash bursts (DEC-079): at least
/// `CRASH_BURST_MIN` crashes, and at least three times the mean.
pub fn crash_bursts(crashes_per_sample: &[u64]) -> Vec<usize> {
    let total: u64 = crashes_per_sample.iter().sum();
    let intervals = crashes_per_sample.len().max(1) as u64;
    crashes_per_sample
        .iter()
        .enumerate()
        .filter(|(_, n)| **n >= CRASH_BURST_MIN && **n * intervals >= 3 * total)
        .map(|(i, _)| i)
        .collect()
}

/// One line of a time-series chart.
struct Series {
    name: &'static str,
    colour: &'static str,
    /// `(virtual time in ms, value)`, in time order.
    points: Vec<(u64, u64)>,
}

/// One time-series chart: its title, the bands behind, and a line per
/// series.
fn series_chart(title: &str, axis: &TimeAxis, bands: &[Band], series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0)
        .max(1);
    let base = HEIGHT_PX - BOTTOM_PX;
    let y = |v: u64| base - (v as f64 / max as f64) * (base - TOP_PX);
    let mut out = format!(
        "<svg class=\"series\" width=\"{WIDTH_PX}\" height=\"{HEIGHT_PX}\" role=\"img\" aria-label=\"{}\"><text x=\"{LEFT_PX}\" y=\"14\" font-size=\"13\">{}</text>",
        escape(title),
        escape(title)
    );
    for b in bands {
        let (x1, x2) = (axis.x(b.from_ms), axis.x(b.to_ms));
        let _ = write!(
            out,
            "<rect class=\"band\" data-kind=\"{}\" x=\"{x1:.1}\" y=\"{TOP_PX}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" opacity=\"0.45\"><title>{}</title></rect>",
            b.kind,
            (x2 - x1).max(1.5),
            base - TOP_PX,
            b.fill,
            escape(&b.title)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT_PX}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\" stroke=\"#888\"/><line x1=\"{LEFT_PX}\" y1=\"{TOP_PX}\" x2=\"{LEFT_PX}\" y2=\"{base}\" stroke=\"#888\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{max}</text><text x=\"{:.1}\" y=\"{base}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        WIDTH_PX - RIGHT_PX,
        LEFT_PX - 4.0,
        TOP_PX + 8.0,
        LEFT_PX - 4.0
    );
    out.push_str(&axis.ticks());
    let mut legend_x = WIDTH_PX - RIGHT_PX;
    for Series {
        name,
        colour,
        points,
    } in series.iter().rev()
    {
        let text: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", axis.x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"line\" data-series=\"{name}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            text.join(" ")
        );
        // Legend entries right to left, each as wide as its name (about
        // 6.5 px per character at 11 px), so that names do not overlap.
        if series.len() > 1 {
            legend_x -= 6.5 * name.len() as f64 + 14.0;
            let _ = write!(
                out,
                "<text x=\"{legend_x:.1}\" y=\"14\" font-size=\"11\" fill=\"{colour}\">{name}</text>"
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// The latency histogram: buckets of equal width in seconds, bar heights
/// by the logarithm of the count, and the percentiles marked.
fn latency_chart(r: &SimReport) -> String {
    const BUCKETS: u64 = 60;
    let lat = &r.latencies_ms;
    let l = &r.summary.latency;
    let delivered: u64 = lat.values().sum();
    let max_ms = l.max_ms.max(1);
    let bucket_ms = max_ms.div_ceil(BUCKETS).max(1);
    let mut counts = vec![0u64; BUCKETS as usize + 1];
    for (ms, n) in lat {
        counts[((*ms / bucket_ms) as usize).min(BUCKETS as usize)] += n;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let decades = ((top as f64).log10().ceil() as u32).max(1);
    let base = HEIGHT_PX - BOTTOM_PX;
    let plot_w = WIDTH_PX - LEFT_PX - RIGHT_PX;
    let x = |ms: u64| LEFT_PX + (ms as f64 / ((BUCKETS + 1) * bucket_ms) as f64) * plot_w;
    // log10(n) + 1 over the decades, so that a single message still shows.
    let h = |n: u64| {
        if n == 0 {
            0.0
        } else {
            ((n as f64).log10() + 1.0) / (f64::from(decades) + 1.0) * (base - TOP_PX)
        }
    };
    let mut out = format!(
        "<svg class=\"latency\" width=\"{WIDTH_PX}\" height=\"{HEIGHT_PX}\" role=\"img\" aria-label=\"delivery latency\"><text x=\"{LEFT_PX}\" y=\"14\" font-size=\"13\">Delivery latency (send to mailbox) of {delivered} messages; counts on a log scale</text>"
    );
    for d in 0..=decades {
        let n = 10u64.saturating_pow(d);
        let yy = base - h(n);
        let _ = write!(
            out,
            "<line x1=\"{LEFT_PX}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{n}</text>",
            WIDTH_PX - RIGHT_PX,
            LEFT_PX - 4.0,
            yy + 3.0
        );
    }
    for (i, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
        let from = i as u64 * bucket_ms;
        let bh = h(*n);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#d68910\"><title>{n} messages took {:.1} to {:.1} s</title></rect>",
            x(from),
            base - bh,
            (x(from + bucket_ms) - x(from) - 1.0).max(1.0),
            from as f64 / 1000.0,
            (from + bucket_ms) as f64 / 1000.0
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT_PX}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\" stroke=\"#888\"/>",
        WIDTH_PX - RIGHT_PX
    );
    // Ten labelled seconds ticks along the axis.
    let span_ms = (BUCKETS + 1) * bucket_ms;
    for k in 0..=10 {
        let ms = span_ms * k / 10;
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{xx:.1}\" y1=\"{base}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#888\"/><text x=\"{xx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"{}\">{:.0} s</text>",
            base + 5.0,
            base + 16.0,
            // The last label ends at its tick, so that the right edge does
            // not cut it.
            if k == 10 { "end" } else { "middle" },
            ms as f64 / 1000.0,
            xx = x(ms)
        );
    }
    let marks = [
        ("p50", l.p50_ms),
        ("p90", l.p90_ms),
        ("p99", l.p99_ms),
        ("max", l.max_ms),
    ];
    for (k, (name, ms)) in marks.iter().enumerate() {
        let xx = x(*ms);
        // Near the right edge the label goes left of its line, so that it
        // is not cut off.
        let (label_x, anchor) = if xx > WIDTH_PX - 120.0 {
            (xx - 3.0, "end")
        } else {
            (xx + 3.0, "start")
        };
        let _ = write!(
            out,
            "<g class=\"percentile\" data-name=\"{name}\"><title>{name}: {:.1} s</title><line x1=\"{xx:.1}\" y1=\"{TOP_PX}\" x2=\"{xx:.1}\" y2=\"{base}\" stroke=\"#922b21\" stroke-dasharray=\"3 2\"/><text x=\"{label_x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#922b21\" text-anchor=\"{anchor}\">{name} {:.1} s</text></g>",
            *ms as f64 / 1000.0,
            TOP_PX + 10.0 + 12.0 * k as f64,
            *ms as f64 / 1000.0
        );
    }
    out.push_str(&axis_title("seconds from send to mailbox"));
    out.push_str("</svg>");
    out
}

/// The spooler entries left at the end, by organisation and by profile.
fn spool_table(r: &SimReport) -> String {
    let mut out = String::from(
        "<table class=\"spool-at-end\"><tr><th>organisation</th><th>profile</th><th>retained: waiting</th><th>retained: in flight</th>",
    );
    for why in FAIL_REASONS {
        let _ = write!(out, "<th>failed: {}</th>", why.name());
    }
    out.push_str("</tr>");
    let row = |out: &mut String, org: &str, profile: &str, t: [u64; 6]| {
        let _ = write!(out, "<tr><td>{}</td><td>{profile}</td>", escape(org));
        for n in t {
            let _ = write!(out, "<td class=\"num\">{n}</td>");
        }
        out.push_str("</tr>");
    };
    let as_row = |s: &crate::sim::SpoolAtEnd| {
        [
            s.waiting,
            s.in_flight,
            s.failed[0],
            s.failed[1],
            s.failed[2],
            s.failed[3],
        ]
    };
    for s in &r.spool_at_end {
        row(&mut out, &s.org, s.profile, as_row(s));
    }
    for profile in ["server", "online"] {
        if !r.spool_at_end.iter().any(|s| s.profile == profile) {
            continue;
        }
        let mut t = [0u64; 6];
        for s in r.spool_at_end.iter().filter(|s| s.profile == profile) {
            for (k, n) in as_row(s).iter().enumerate() {
                t[k] += n;
            }
        }
        row(&mut out, "all", profile, t);
    }
    out.push_str("</table>");
    out
}

/// The day's outages and switch-offs with their times, and the crashes per
/// hour.
fn fault_table(r: &SimReport, end_ms: u64) -> String {
    let mut out = String::from(
        "<table class=\"faults\"><tr><th>fault</th><th>organisation</th><th>from</th><th>to</th><th>minutes</th></tr>",
    );
    let windows: &[FaultWindow] = &r.faults;
    for f in windows {
        let to_ms = f.to_ms.unwrap_or(end_ms);
        let _ = write!(
            out,
            "<tr class=\"fault\" data-kind=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td class=\"num\">{:.1}</td></tr>",
            match f.kind {
                FaultKind::Outage => "outage",
                FaultKind::AdminOff => "admin-off",
            },
            f.kind.name(),
            escape(&f.org),
            clock(f.from_ms),
            clock(to_ms),
            if f.to_ms.is_none() {
                " (end of run)"
            } else {
                ""
            },
            to_ms.saturating_sub(f.from_ms) as f64 / 60_000.0
        );
    }
    if windows.is_empty() {
        out.push_str("<tr><td colspan=\"5\">no outage and no switch-off</td></tr>");
    }
    out.push_str("</table>");
    let per_hour = &r.crashes_per_hour;
    out.push_str("<table class=\"crashes\"><tr><th>hour</th><th>client crashes</th></tr>");
    for (h, n) in per_hour.iter().enumerate().filter(|(_, n)| **n > 0) {
        let _ = write!(
            out,
            "<tr><td>{} to {}</td><td class=\"num\">{n}</td></tr>",
            clock(h as u64 * HOUR_MS),
            clock(((h as u64 + 1) * HOUR_MS).min(end_ms))
        );
    }
    if per_hour.iter().all(|n| *n == 0) {
        out.push_str("<tr><td colspan=\"2\">no crash</td></tr>");
    }
    out.push_str("</table>");
    out
}

/// The report as one self-contained page.
pub fn render_html(r: &SimReport) -> String {
    let s = &r.summary;
    let end_ms = r
        .samples
        .last()
        .map_or(u64::from(s.hours) * HOUR_MS, |x| x.at_ms)
        .max(1);
    let interval_ms = r.sample_interval_ms.max(1);
    let axis = TimeAxis { end_ms };
    let bands = bands(r, end_ms);
    let series = |f: fn(&crate::sim::Sample) -> u64| -> Vec<(u64, u64)> {
        r.samples.iter().map(|p| (p.at_ms, f(p))).collect()
    };
    let crashes: Vec<(u64, u64)> = r
        .crashes_per_sample
        .iter()
        .enumerate()
        .map(|(i, n)| (((i as u64 + 1) * interval_ms).min(end_ms), *n))
        .collect();
    let mut body = format!(
        "<h1>offline-im simulation, seed {}</h1><pre>{}</pre>",
        s.seed,
        escape(&render_text(r))
    );
    let _ = write!(
        body,
        "<p class=\"legend\">Shaded behind every time series: <span><i class=\"swatch\" style=\"background:{OUTAGE_FILL}\"></i>EWS outage ({} in the run)</span><span><i class=\"swatch\" style=\"background:{ADMIN_FILL}\"></i>offline IM switched off by an administrator</span><span><i class=\"swatch\" style=\"background:{BURST_FILL}\"></i>crash burst (at least {CRASH_BURST_MIN} crashes in a sample interval, and three times the mean)</span>. A switch-off is the configured window: clients pick it up at their next sign-in (DEC-009). Hover over a band for its organisation and times.</p>",
        r.faults
            .iter()
            .filter(|f| f.kind == FaultKind::Outage)
            .count()
    );
    body.push_str("<h2>Spool depth</h2>");
    body.push_str(&series_chart(
        "Entries in all History Spoolers",
        &axis,
        &bands,
        &[Series {
            name: "spool depth",
            colour: "#c0392b",
            points: series(|p| p.spool_depth),
        }],
    ));
    body.push_str("<h2>Routes over time</h2>");
    body.push_str(&series_chart(
        "IMs per sample interval, by route",
        &axis,
        &bands,
        &[
            Series {
                name: "live",
                colour: "#2e86c1",
                points: series(|p| p.live),
            },
            Series {
                name: "offline",
                colour: "#27ae60",
                points: series(|p| p.offline),
            },
            Series {
                name: "missed-message",
                colour: "#8e44ad",
                points: series(|p| p.missed_message),
            },
            Series {
                name: "unavailable",
                colour: "#7f8c8d",
                points: series(|p| p.unavailable),
            },
        ],
    ));
    body.push_str("<h2>Client crashes</h2>");
    body.push_str(&series_chart(
        "Client crashes per sample interval",
        &axis,
        &bands,
        &[Series {
            name: "crashes",
            colour: "#566573",
            points: crashes,
        }],
    ));
    body.push_str("<h2>Delivery latency</h2>");
    body.push_str(&latency_chart(r));
    body.push_str("<h2>Spooler entries left at the end</h2><p>Retained entries are still waiting or in flight; failed ones stay visible in the History Spooler (OIM-012). Counted by the organisation of the client whose History Spooler holds them (for a missed message, the recipient's).</p>");
    body.push_str(&spool_table(r));
    body.push_str("<h2>The day's faults</h2>");
    body.push_str(&fault_table(r, end_ms));
    page(&format!("offline-im simulation, seed {}", s.seed), &body)
}
