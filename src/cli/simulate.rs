//! The `simulate` subcommand: flags over the config, the progress bar, the
//! trace file, the HTML report, swarms and shards. Split from `cli` to keep
//! each file about one thing; it holds no rule.

use super::exit::{EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATION};
use super::input::{load_sim_config, write_page};
use crate::rules::world::TraceRecord;
use crate::sim::{self, Observer, SimConfig};
use std::io::Write;
use std::path::PathBuf;

/// The flags of `simulate`.
#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// The workload (TOML); the embedded models/sim/workday.toml if omitted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Users in the deployment (2 to 1000000).
    #[arg(long)]
    pub users: Option<u32>,
    /// Organisations (1 to 64).
    #[arg(long)]
    pub orgs: Option<u32>,
    /// Simulated hours (1 to 168).
    #[arg(long)]
    pub hours: Option<u32>,
    /// The seed of the one random generator.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write a self-contained HTML report with charts.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the decision log as JSON lines.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Run N seeds from --seed on, each drawing its fault parameters from
    /// its seed, and report every failing seed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub swarm: Option<u32>,
    /// With --swarm: run only shard K of N (K in 1..=N), e.g. 2/4.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
}

/// Parses `K/N` with 1 <= K <= N.
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("found `{text}`, expected K/N with 1 <= K <= N, e.g. 2/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: u32 = k.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// A progress bar on stderr (hidden when stderr is not a terminal) and,
/// with `--trace`, the decision log as JSON lines.
struct Cli {
    bar: indicatif::ProgressBar,
    trace: Option<std::io::BufWriter<std::fs::File>>,
    trace_error: Option<std::io::Error>,
}

impl Observer for Cli {
    fn progress(&mut self, now_ms: u64, _end_ms: u64) {
        self.bar.set_position(now_ms / 60_000);
    }

    fn trace(&mut self, line: &TraceRecord) {
        if let (Some(w), None) = (&mut self.trace, &self.trace_error) {
            let json = serde_json::to_string(line).unwrap_or_default();
            if let Err(e) = writeln!(w, "{json}") {
                self.trace_error = Some(e);
            }
        }
    }

    fn wants_trace(&self) -> bool {
        self.trace.is_some()
    }
}

/// Runs `simulate`; returns the exit code.
pub fn simulate(args: SimArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let c = match load_sim_config(
        args.config.as_deref(),
        args.users,
        args.orgs,
        args.hours,
        args.seed,
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.shard.is_some() && args.swarm.is_none() {
        let _ = writeln!(
            err,
            "error: found --shard without --swarm, expected --swarm N alongside it"
        );
        return EXIT_BAD_INPUT;
    }
    let config_file = args.config.as_ref().map(|p| p.display().to_string());
    if let Some(n) = args.swarm {
        return swarm(
            &c,
            config_file.as_deref(),
            n,
            args.shard.unwrap_or((1, 1)),
            args.json,
            out,
            err,
        );
    }
    let trace = match &args.trace {
        None => None,
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                let _ = writeln!(err, "error: cannot write the trace to {}: {e}", p.display());
                return EXIT_BAD_INPUT;
            }
        },
    };
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(u64::from(c.hours) * 60),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} simulated minutes ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut obs = Cli {
        bar,
        trace,
        trace_error: None,
    };
    let started = std::time::Instant::now();
    let r = sim::run(&c, config_file.as_deref(), &mut obs);
    let seconds = started.elapsed().as_secs_f64();
    obs.bar.finish_and_clear();
    if let Some(mut w) = obs.trace.take()
        && let Err(e) = w
            .flush()
            .map_err(Some)
            .and(obs.trace_error.map_or(Ok(()), |e| Err(Some(e))))
    {
        let _ = writeln!(err, "error: writing the trace failed: {e:?}");
        return EXIT_BAD_INPUT;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&serde_json::json!({
            "summary": r.summary,
            "violation": r.violation,
        }))
        .unwrap_or_default()
    } else {
        sim::render_text(&r)
    };
    let _ = writeln!(out, "{text}");
    // Wall-clock figures go to stderr only, so stdout stays byte-identical.
    let _ = writeln!(
        err,
        "{} events in {seconds:.2} s of wall time ({:.0} events/s)",
        r.summary.events,
        r.summary.events as f64 / seconds.max(1e-9)
    );
    if let Some(path) = &args.report
        && !write_page(path, "report", &sim::page::render_html(&r), err)
    {
        return EXIT_BAD_INPUT;
    }
    if r.violation.is_some() {
        EXIT_VIOLATION
    } else {
        EXIT_OK
    }
}

fn swarm(
    c: &SimConfig,
    config_file: Option<&str>,
    n: u32,
    (k, shards): (u32, u32),
    json: bool,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> u8 {
    let mut failing = Vec::new();
    let mut ran = 0;
    for i in 0..n {
        if i % shards != k - 1 {
            continue;
        }
        ran += 1;
        let seed = c.seed.wrapping_add(u64::from(i));
        let ci = c.with_faults_from_seed(seed);
        let r = sim::run(&ci, config_file, &mut sim::Quiet);
        if let Some(v) = r.violation {
            failing.push(serde_json::json!({
                "seed": seed,
                "id": v.id,
                "at_ms": v.at_ms,
                "why": v.why,
                "replay": swarm_replay(&ci, config_file),
            }));
        }
    }
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "seeds_run": ran,
                "shard": format!("{k}/{shards}"),
                "failing": failing,
            }))
            .unwrap_or_default()
        );
    } else {
        let _ = writeln!(
            out,
            "swarm shard {k}/{shards}: {ran} seeds run, {} failing",
            failing.len()
        );
        for f in &failing {
            let _ = writeln!(
                out,
                "  seed {}: {} at {} ms: {}\n    replay: {}",
                f["seed"], f["id"], f["at_ms"], f["why"], f["replay"]
            );
        }
    }
    if failing.is_empty() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}

/// A swarm seed's fault parameters come from the seed itself, so its replay
/// is the swarm of one at that seed.
fn swarm_replay(c: &SimConfig, config_file: Option<&str>) -> String {
    format!("{} --swarm 1", sim::replay_command(c, config_file))
}
