//! The fault model of one direction of a path between two hosts: loss, duplication,
//! reordering and latency with jitter, drawn from a seeded RNG so a run is reproducible.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// What can happen to a datagram on a link. The default is a perfect link: one copy, at once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Chance that a copy of a datagram is lost.
    pub loss: f64,
    /// Chance that a datagram is sent twice; each copy is then lost or delayed on its own.
    pub duplicate: f64,
    /// Chance that a copy is held back by `reorder_delay`, so datagrams sent after it overtake it.
    pub reorder: f64,
    /// How long a reordered copy is held back.
    pub reorder_delay: Duration,
    /// The one-way delay of every copy.
    pub latency: Duration,
    /// Extra delay of each copy, uniform in `[0, jitter)`.
    pub jitter: Duration,
}

impl Faults {
    /// Loss, duplication and reordering (held back 20 ms), no latency.
    pub fn lossy(loss: f64, duplicate: f64, reorder: f64) -> Self {
        Self {
            loss,
            duplicate,
            reorder,
            reorder_delay: Duration::from_millis(20),
            ..Self::default()
        }
    }

    /// These faults with the given one-way latency and jitter.
    pub fn with_latency(self, latency: Duration, jitter: Duration) -> Self {
        Self {
            latency,
            jitter,
            ..self
        }
    }
}

/// One direction of a path: its faults and the RNG stream that decides them.
pub struct Link {
    /// The faults in force; may be changed between datagrams.
    pub faults: Faults,
    rng: ChaCha8Rng,
}

impl Link {
    /// A link whose fate is drawn from stream `stream` of `seed`: every link of a run has its
    /// own stream, so what happens on one does not depend on traffic on the others.
    pub fn new(faults: Faults, seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self { faults, rng }
    }

    /// Sends one datagram: the delay of each copy that arrives (none if all were lost).
    pub fn transmit(&mut self) -> Vec<Duration> {
        let f = self.faults;
        let copies = if self.rng.gen_bool(f.duplicate) { 2 } else { 1 };
        let mut delays = Vec::with_capacity(copies);
        for _ in 0..copies {
            if self.rng.gen_bool(f.loss) {
                continue;
            }
            let mut delay = f.latency + f.jitter.mul_f64(self.rng.gen_range(0.0..1.0));
            if self.rng.gen_bool(f.reorder) {
                delay += f.reorder_delay;
            }
            delays.push(delay);
        }
        delays
    }
}

/// Every link of a network: node `from` to node `to`, one direction each, made on first use
/// with the network-wide faults.
pub struct Links {
    seed: u64,
    default: Faults,
    links: HashMap<(usize, usize), Link>,
}

impl Links {
    /// Perfect links whose later faults are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            default: Faults::default(),
            links: HashMap::new(),
        }
    }

    /// The link from node `from` to node `to`.
    pub fn get(&mut self, from: usize, to: usize) -> &mut Link {
        let (seed, default) = (self.seed, self.default);
        let stream = (u64::try_from(from).unwrap() << 32) | u64::try_from(to).unwrap();
        self.links
            .entry((from, to))
            .or_insert_with(|| Link::new(default, seed, stream))
    }

    /// Gives every link, existing and future, these faults (replacing per-link settings).
    pub fn set_all(&mut self, faults: Faults) {
        self.default = faults;
        for link in self.links.values_mut() {
            link.faults = faults;
        }
    }
}
