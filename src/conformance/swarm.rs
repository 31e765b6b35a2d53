//! Generated cases with swarm testing (CONF-014): every case draws its own
//! op mix from its seed, so that some cases never crash and sign in and out
//! many times while others crash constantly (Groce et al., ISSTA 2012).
//!
//! Invariants it keeps:
//! - A drawn case is plain indices and weights; `materialize` resolves them
//!   against the case's world modulo its sizes, so every draw is a
//!   meaningful case and nothing is ever rejected or filtered.
//! - The simplest value of every strategy is the simplest case: shrinking
//!   an op's kind roll moves it to the first enabled kind, a weight to 0,
//!   and an index to the first user, presence or organisation.
//! - The alphabet is the whole protocol: every presence of CONF-003 and
//!   every event op, `admin` with the world's own cmdlets.
//!
//! What it deliberately does not do: compute an expected answer. It only
//! draws requests; the reference answers them.

use super::generate::{GenCmdlet, GenWorld, cmdlet_strategy, world_strategy};
use super::protocol::Op;
use crate::rules::domain::Deployment;
use proptest::prelude::*;

/// The op kinds a case mixes, in the order of `GenCase::weights`.
pub const OP_KINDS: [&str; 12] = [
    "send",
    "sign_in",
    "sign_out",
    "set_presence",
    "crash",
    "restart",
    "ews_down",
    "ews_up",
    "admin",
    "advance",
    "relog",
    "burst",
];

/// The largest weight a kind can draw; a kind's share of a case's ops is
/// its weight over the sum of the case's weights.
pub const WEIGHT_MAX: u8 = 6;

/// Bodies drawn by generated sends: plain, markup, non-BMP and empty.
pub const BODIES: [&str; 4] = ["hello", "<b>5 & 6</b> \"q\"", "caf\u{e9} \u{1F600}", ""];

/// Every presence name of the protocol (CONF-003), drawn by sign-ins and
/// presence changes. The first is the simplest, so shrinking moves a
/// presence towards Available.
pub const PRESENCES: [&str; 8] = [
    "available",
    "busy",
    "away",
    "be-right-back",
    "off-work",
    "appear-offline",
    "do-not-disturb",
    "presenting",
];

/// One drawn op: a roll that picks the kind through the case's weights, and
/// three indices that `materialize` reads as users, a presence, a body, an
/// organisation, a cmdlet or a clock step, depending on the kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOp {
    /// Picks the kind: `roll % sum(weights)` falls in one kind's share.
    pub roll: u16,
    /// The first index: the acting user, the organisation, the cmdlet or
    /// the clock step.
    pub a: u8,
    /// The second index: the recipient or the presence.
    pub b: u8,
    /// The third index: the body of a send.
    pub c: u8,
}

/// The world a generated case runs in.
#[derive(Clone, Debug)]
pub enum GenWorldChoice {
    /// A generated deployment and set-up (CONF-018). First, so that
    /// shrinking moves towards it and ends at the minimal world.
    Generated(GenWorld),
    /// A corpus entry's deployment and set-up, modulo the corpus size.
    Corpus(usize),
}

/// The most cmdlets a case draws for its `admin` ops in a generated world,
/// besides the world's own set-up.
pub const CASE_CMDLETS_MAX: usize = 4;

/// A drawn case before its names are resolved.
#[derive(Clone, Debug)]
pub struct GenCase {
    /// The world the case runs in.
    pub world: GenWorldChoice,
    /// In a generated world, who is signed in when the ops start: user `i`
    /// signs in with `PRESENCES[start[i]]`, or stays signed out past the
    /// last presence. All zero, the simplest, is everyone Available.
    pub start: [u8; 4],
    /// In a generated world, more commands its `admin` ops may run.
    pub cmdlets: Vec<GenCmdlet>,
    /// The case's own op mix (swarm testing): one weight per `OP_KINDS`
    /// entry. All zero means all equal.
    pub weights: [u8; OP_KINDS.len()],
    /// The drawn ops, at most `--steps` of them.
    pub ops: Vec<GenOp>,
}

/// What a case's ops are resolved against: the world's names and options
/// and the cmdlets its `admin` ops run.
pub struct WorldNames<'a> {
    /// The deployment, for user and organisation names and the options the
    /// clock steps are drawn around.
    pub deployment: &'a Deployment,
    /// The organisation and command line of every cmdlet `admin` may run.
    pub admin: &'a [(String, String)],
}

fn gen_op() -> impl Strategy<Value = GenOp> {
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(roll, a, b, c)| GenOp {
        roll,
        a,
        b,
        c,
    })
}

/// The strategy of generated cases over `worlds` worlds with up to `steps`
/// ops each.
pub fn case_strategy(worlds: usize, steps: usize) -> impl Strategy<Value = GenCase> {
    let world = prop_oneof![
        world_strategy().prop_map(GenWorldChoice::Generated),
        (0..worlds.max(1)).prop_map(GenWorldChoice::Corpus),
    ];
    (
        world,
        proptest::array::uniform4(0..=PRESENCES.len() as u8),
        proptest::collection::vec(cmdlet_strategy(), 0..=CASE_CMDLETS_MAX),
        proptest::array::uniform12(0..=WEIGHT_MAX),
        proptest::collection::vec(gen_op(), 0..=steps),
    )
        .prop_map(|(world, start, cmdlets, weights, ops)| GenCase {
            world,
            start,
            cmdlets,
            weights,
            ops,
        })
}

/// The sign-ins that start a generated world's case, per `GenCase::start`.
pub fn start_sign_ins(user_names: &[String], start: &[u8; 4]) -> Vec<Op> {
    user_names
        .iter()
        .zip(start)
        .filter_map(|(user, p)| {
            PRESENCES.get(usize::from(*p)).map(|presence| Op::SignIn {
                user: user.clone(),
                presence: presence.to_string(),
            })
        })
        .collect()
}

/// The kind a roll picks under `weights`: walks the cumulative weights, so
/// each kind gets the share its weight gives it and a kind of weight 0 is
/// never picked. All zero means all equal.
pub fn kind_of(weights: &[u8; OP_KINDS.len()], roll: u16) -> usize {
    let total: u32 = weights.iter().map(|w| u32::from(*w)).sum();
    if total == 0 {
        return usize::from(roll) % OP_KINDS.len();
    }
    let mut left = u32::from(roll) % total;
    for (k, w) in weights.iter().enumerate() {
        let w = u32::from(*w);
        if left < w {
            return k;
        }
        left -= w;
    }
    // The walk ends inside the total, since `left < total`; the last kind
    // with a weight is the fallback the arithmetic never needs.
    weights.iter().rposition(|w| *w > 0).unwrap_or(0)
}

/// The clock steps an `advance` draws, in milliseconds: around the pickup
/// delay (OIM-011) and the EWS latency of this deployment, so that a world
/// with its own options is probed at its own edges, and around the retry
/// spacing of DEC-003.
pub fn advance_steps_ms(d: &Deployment) -> [u64; 8] {
    let pickup_ms = d.options.pickup_delay_ms;
    let latency_ms = d.options.ews_latency_ms;
    // The first step, the one shrinking moves towards, is a whole delivery:
    // the pickup, the request reaching Exchange, and the answer coming
    // back, each `latency_ms` after the last.
    [
        pickup_ms + 2 * latency_ms,
        pickup_ms.saturating_sub(1).max(1),
        pickup_ms,
        1,
        latency_ms.max(1),
        pickup_ms / 2 + 1,
        10 * pickup_ms,
        1_000,
    ]
}

/// Resolves a drawn case's ops against a world. `clock_ms` is where the
/// world's clock stands after its prefix.
pub fn materialize_ops(names: &WorldNames<'_>, g: &GenCase, mut clock_ms: u64) -> Vec<Op> {
    let d = names.deployment;
    let user = |i: u8| d.users[usize::from(i) % d.users.len()].name.clone();
    let org = |i: u8| d.orgs[usize::from(i) % d.orgs.len()].name.clone();
    let presence = |i: u8| PRESENCES[usize::from(i) % PRESENCES.len()].to_string();
    let steps_ms = advance_steps_ms(d);
    let mut ops = Vec::with_capacity(g.ops.len());
    for op in &g.ops {
        let GenOp { a, b, c, .. } = *op;
        let next = match OP_KINDS[kind_of(&g.weights, op.roll)] {
            "send" => Op::Send {
                from: user(a),
                to: user(b),
                body: BODIES[usize::from(c) % BODIES.len()].to_string(),
            },
            "sign_in" => Op::SignIn {
                user: user(a),
                presence: presence(b),
            },
            "sign_out" => Op::SignOut { user: user(a) },
            "set_presence" => Op::SetPresence {
                user: user(a),
                presence: presence(b),
            },
            "crash" => Op::Crash { user: user(a) },
            "restart" => Op::Restart { user: user(a) },
            "ews_down" => Op::EwsDown { org: org(a) },
            "ews_up" => Op::EwsUp { org: org(a) },
            // A world without cmdlets draws no admin op.
            "admin" if names.admin.is_empty() => continue,
            "admin" => {
                let (org, command) = &names.admin[usize::from(a) % names.admin.len()];
                Op::Admin {
                    org: org.clone(),
                    command: command.clone(),
                }
            }
            // A sign-out and a sign-in in a row, one drawn op: the sign-in
            // is where a client is provisioned again (DEC-009) and where
            // missed conversations are notified (DEC-021), so a sequence
            // that needs several of them is dense in some cases, not rare in
            // all of them.
            "relog" => {
                ops.push(Op::SignOut { user: user(a) });
                Op::SignIn {
                    user: user(a),
                    presence: presence(b),
                }
            }
            // Two IMs in a row from one user to another with one body: the
            // per-pair order (DEC-006) and the dedup by message id (DEC-004)
            // are only visible with two messages in one mailbox.
            "burst" => {
                let send = Op::Send {
                    from: user(a),
                    to: user(b),
                    body: BODIES[usize::from(c) % BODIES.len()].to_string(),
                };
                ops.push(send.clone());
                send
            }
            _ => {
                clock_ms = clock_ms
                    .saturating_add(steps_ms[usize::from(a) % steps_ms.len()])
                    .min(super::protocol::TIME_MS_MAX);
                Op::Advance { to_ms: clock_ms }
            }
        };
        ops.push(next);
    }
    ops
}

#[cfg(test)]
mod tests {
    use crate::conformance::swarm::{OP_KINDS, kind_of};

    /// A kind of weight 0 is never picked, and every kind with a weight is.
    #[test]
    fn conf_014_a_kind_of_weight_zero_is_never_drawn() {
        let mut weights = [0u8; OP_KINDS.len()];
        weights[2] = 1;
        weights[9] = 3;
        let picked: std::collections::BTreeSet<usize> =
            (0..=u16::MAX).map(|r| kind_of(&weights, r)).collect();
        assert_eq!(picked.into_iter().collect::<Vec<_>>(), [2, 9]);
        let share = (0..4000u16).filter(|r| kind_of(&weights, *r) == 9).count();
        assert_eq!(share, 3000, "weight 3 of 4 is three quarters of the rolls");
        let uniform: std::collections::BTreeSet<usize> =
            (0..100u16).map(|r| kind_of(&[0; 12], r)).collect();
        assert_eq!(uniform.len(), OP_KINDS.len(), "all zero means all equal");
    }
}
