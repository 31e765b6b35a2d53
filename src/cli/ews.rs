//! The `ews` subcommand: builds the world to serve (a scenario after its
//! timeline, a simulated day, or an empty deployment), the credentials and
//! the schema, prints where to connect, and serves until stopped. It holds
//! no rule and speaks no HTTP itself: `crate::ews` does both.

use super::exit::{EXIT_BAD_INPUT, EXIT_FAULT, EXIT_VIOLATION};
use super::input::{load, load_sim_config};
use crate::ews::{Credentials, Endpoint, Limits, Validation};
use crate::formats::encode::email_of_user;
use crate::formats::report;
use crate::rules::world::World;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The flags of `ews`.
#[derive(clap::Args, Debug)]
pub struct EwsArgs {
    /// The address to listen on; port 0 picks a free port, printed at start.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Serve the mailboxes of this scenario after its timeline; the
    /// embedded models/default.toml's deployment if neither this nor
    /// --simulate is given.
    #[arg(long, conflicts_with = "simulate")]
    pub model: Option<PathBuf>,
    /// Serve the mailboxes of a simulated day (see --config, --users,
    /// --orgs, --hours, --seed).
    #[arg(long)]
    pub simulate: bool,
    /// Serve the deployment with empty mailboxes, before any timeline: items
    /// arrive only through CreateItem.
    #[arg(long, conflicts_with = "simulate")]
    pub empty: bool,
    /// With --simulate: the workload (TOML); the embedded one if omitted.
    #[arg(long, requires = "simulate")]
    pub config: Option<PathBuf>,
    /// With --simulate: users in the deployment (2 to 1000000).
    #[arg(long, requires = "simulate")]
    pub users: Option<u32>,
    /// With --simulate: organisations (1 to 64).
    #[arg(long, requires = "simulate")]
    pub orgs: Option<u32>,
    /// With --simulate: simulated hours (1 to 168).
    #[arg(long, requires = "simulate")]
    pub hours: Option<u32>,
    /// The seed of the simulated day and of the generated passwords; the
    /// passwords come from the operating system's randomness if omitted.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The folder of messages.xsd, types.xsd and xml.xsd; every request is
    /// validated against it (needs the ews-schema feature).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Do not validate requests against the schema.
    #[arg(long, conflicts_with = "schema")]
    pub no_schema: bool,
    /// A file of `address password` lines, one per user, instead of
    /// generated passwords; users it leaves out cannot sign in.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// The most connections served at once (1 to 65536); one more gets 503.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub connections_max: u32,
    /// Seconds a client has to send a request's head and body (1 to 3600);
    /// a slower one gets 408 or is disconnected.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub request_timeout_seconds: u32,
}

/// The schema folder used when `--schema` is not given: this repository's
/// copy, beside the checkout.
#[cfg(feature = "ews-schema")]
const DEFAULT_SCHEMA_DIR: &str = "../shared/ews-schema";

/// Runs `ews`; returns the exit code when serving stops or cannot start.
pub fn ews(args: EwsArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (world, source) = match world_to_serve(&args, err) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let credentials = match &args.credentials {
        Some(path) => match read_credentials(path, &world) {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => Credentials::generated(&world, args.seed.unwrap_or_else(os_seed)),
    };
    let validation = match validation(&args) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let schema_line = match &validation {
        Validation::Off => "schema: off (requests are not validated)".to_string(),
        #[cfg(feature = "ews-schema")]
        Validation::Schema(_) => format!(
            "schema: {} (libxml2)",
            args.schema
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_SCHEMA_DIR))
                .join("messages.xsd")
                .display()
        ),
    };
    let limits = Limits {
        connections_max: args.connections_max as usize,
        request_timeout: std::time::Duration::from_secs(u64::from(args.request_timeout_seconds)),
        ..Limits::default()
    };
    let items: usize = world.state.mailboxes.iter().map(|m| m.items.len()).sum();
    let clock_ms = world.state.clock_ms;
    let endpoint = Arc::new(Endpoint::new(world, credentials, validation, limits));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return EXIT_FAULT;
        }
    };
    let listener = match runtime.block_on(tokio::net::TcpListener::bind(&args.listen)) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: cannot listen on {}: {e}; expected a free local address such as 127.0.0.1:8080",
                args.listen
            );
            return EXIT_BAD_INPUT;
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| args.listen.clone(), |a| a.to_string());
    let _ = writeln!(
        out,
        "offline-im ews: serving http://{address}/EWS/Exchange.asmx"
    );
    let _ = writeln!(out, "{schema_line}");
    let _ = writeln!(
        out,
        "mailboxes: {source}, {items} items, virtual time {} ({clock_ms} ms)",
        crate::ews::virtual_time(clock_ms)
    );
    endpoint.with_world(|w| {
        for (u, password) in &endpoint.credentials().passwords {
            let org = w.deployment.org_of(*u);
            let (major, minor, build, _, _) = crate::ews::server_version(org);
            let user = w.deployment.user(*u);
            let _ = writeln!(
                out,
                "user {} password {password} name {:?} org {} profile {} mailbox {} client-released {} drafts-fault {} items {} exchange {major}.{minor}.{build}",
                email_of_user(&w.deployment, *u),
                user.name,
                org.name,
                match org.profile {
                    crate::rules::domain::Profile::Server => "server",
                    crate::rules::domain::Profile::Online => "online",
                },
                match user.mailbox {
                    crate::rules::domain::MailboxLocation::Online => "online",
                    crate::rules::domain::MailboxLocation::OnPremises => "on-premises",
                    crate::rules::domain::MailboxLocation::None => "none",
                },
                user.client.released,
                if crate::rules::mailbox::hits_drafts_fault(user) {
                    "yes"
                } else {
                    "no"
                },
                w.state.mailboxes[u.0 as usize].items.len()
            );
        }
    });
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    match runtime.block_on(crate::ews::serve(listener, endpoint)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: serving stopped: {e}");
            EXIT_FAULT
        }
    }
}

/// The world to serve and a line saying where it came from.
fn world_to_serve(args: &EwsArgs, err: &mut dyn Write) -> Result<(World, String), u8> {
    if args.simulate {
        let c = load_sim_config(
            args.config.as_deref(),
            args.users,
            args.orgs,
            args.hours,
            args.seed,
        )
        .map_err(|e| {
            let _ = writeln!(err, "{e}");
            EXIT_BAD_INPUT
        })?;
        let config_file = args.config.as_ref().map(|p| p.display().to_string());
        let (r, world) =
            crate::sim::run_keeping_world(&c, config_file.as_deref(), &mut crate::sim::Quiet);
        if let Some(v) = r.violation {
            let _ = writeln!(err, "error: the simulated day broke an invariant: {v:?}");
            return Err(EXIT_VIOLATION);
        }
        let source = format!(
            "a simulated day ({})",
            crate::sim::replay_command(&c, config_file.as_deref())
        );
        return Ok((world, source));
    }
    let scenario = load(args.model.as_deref(), err).ok_or(EXIT_BAD_INPUT)?;
    let name = args.model.as_ref().map_or_else(
        || "models/default.toml".to_string(),
        |p| p.display().to_string(),
    );
    if args.empty {
        let world = World::new(Arc::clone(&scenario.deployment));
        return Ok((world, format!("{name}, empty")));
    }
    match report::run_world(&scenario) {
        Ok((_, world)) => Ok((world, format!("{name} after its timeline"))),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            Err(EXIT_VIOLATION)
        }
    }
}

/// The schema check the flags ask for.
fn validation(args: &EwsArgs) -> Result<Validation, String> {
    if args.no_schema {
        return Ok(Validation::Off);
    }
    #[cfg(feature = "ews-schema")]
    {
        let dir = args
            .schema
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SCHEMA_DIR));
        crate::ews::SchemaValidator::load(&dir)
            .map(Validation::Schema)
            .map_err(|e| {
                format!(
                    "error: {e}; expected the folder of messages.xsd (--schema DIR), or --no-schema"
                )
            })
    }
    #[cfg(not(feature = "ews-schema"))]
    {
        match &args.schema {
            Some(_) => Err(
                "error: found --schema, but this build has no schema validation; rebuild with --features ews-schema (README: libxml2-dev), or pass --no-schema"
                    .to_string(),
            ),
            None => Ok(Validation::Off),
        }
    }
}

/// Reads `address password` lines; `#` starts a comment line.
fn read_credentials(path: &Path, world: &World) -> Result<Credentials, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{name}:1:1: error: cannot read the file: {e}; expected lines of `address password`"
        )
    })?;
    let mut passwords = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let column = line.len() - line.trim_start().len() + 1;
        let mut words = trimmed.split_whitespace();
        let (Some(address), Some(password), None) = (words.next(), words.next(), words.next())
        else {
            return Err(format!(
                "{name}:{}:{column}: error: found {trimmed:?}, expected `address password`",
                i + 1
            ));
        };
        let user = world.deployment.find_user(address).ok_or_else(|| {
            format!(
                "{name}:{}:{column}: error: found the user {address:?}, expected one of {}",
                i + 1,
                world.deployment.user_names()
            )
        })?;
        if passwords.iter().any(|(u, _)| *u == user) {
            return Err(format!(
                "{name}:{}:{column}: error: found a second password for {address}, expected one per user",
                i + 1
            ));
        }
        passwords.push((user, password.to_string()));
    }
    Ok(Credentials { passwords })
}

/// A seed from the operating system's randomness: std's per-process
/// random hash keys, so that the passwords differ on every start.
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}
