//! Key choice: a seeded generator (`SplitMix64`) and `KeyChooser`, which picks key indexes in
//! `0..keys` uniformly or by a Zipf law (index 0 the hottest). Invariant: the same seed gives
//! the same sequence, so a run can be repeated operation for operation.

use super::args::Distribution;

/// Steele, Lea and Flood's SplitMix64: tiny, fast, and good enough to pick keys.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0), by multiply-shift (bias below 2^-32 for our sizes).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Picks key indexes in `0..keys`.
#[derive(Clone, Debug)]
pub enum KeyChooser {
    Uniform { keys: u64 },
    Zipfian { keys: u64, zipf: Zipf },
}

impl KeyChooser {
    pub fn new(distribution: Distribution, keys: u64, zipf_s: f64) -> Self {
        let keys = keys.max(1);
        match distribution {
            Distribution::Uniform => KeyChooser::Uniform { keys },
            Distribution::Zipfian => KeyChooser::Zipfian {
                keys,
                zipf: Zipf::new(keys, zipf_s),
            },
        }
    }

    /// Size of the key space.
    pub fn keys(&self) -> u64 {
        match self {
            KeyChooser::Uniform { keys } | KeyChooser::Zipfian { keys, .. } => *keys,
        }
    }

    pub fn next(&self, rng: &mut SplitMix64) -> u64 {
        match self {
            KeyChooser::Uniform { keys } => rng.below(*keys),
            KeyChooser::Zipfian { zipf, .. } => zipf.sample(rng) - 1,
        }
    }
}

/// Zipf law on ranks `1..=n`: P(k) proportional to 1/k^s, for any s > 0. Sampled by rejection
/// inversion (Hörmann and Derflinger 1996, as in Apache Commons RNG): O(1) setup and per sample,
/// so a key space of any size costs nothing to prepare.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    /// `n` ≥ 1 ranks with exponent `s` (> 0; smaller values are raised to a tiny positive one).
    pub fn new(n: u64, s: f64) -> Self {
        let s = s.max(1e-9);
        let n = n.max(1) as f64;
        let mut zipf = Zipf {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        zipf.h_integral_x1 = zipf.h_integral(1.5) - 1.0;
        zipf.h_integral_n = zipf.h_integral(n + 0.5);
        zipf.threshold = 2.0 - zipf.h_integral_inverse(zipf.h_integral(2.5) - zipf.h(2.0));
        zipf
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut SplitMix64) -> u64 {
        loop {
            let u = self.h_integral_n + rng.unit() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(chooser: &KeyChooser, keys: usize, samples: usize) -> Vec<u64> {
        let mut rng = SplitMix64::new(7);
        let mut counts = vec![0u64; keys];
        for _ in 0..samples {
            counts[chooser.next(&mut rng) as usize] += 1;
        }
        counts
    }

    #[test]
    fn uniform_covers_every_key_evenly() {
        let counts = counts(
            &KeyChooser::new(Distribution::Uniform, 10, 0.0),
            10,
            100_000,
        );
        for (key, n) in counts.iter().enumerate() {
            assert!((9_000..11_000).contains(n), "key {key}: {n}");
        }
    }

    /// Rank frequencies follow 1/k^s: rank 1 is drawn about 2^s times as often as rank 2.
    #[test]
    fn zipfian_follows_the_power_law() {
        for s in [0.5, 0.99, 1.0, 1.5] {
            let counts = counts(
                &KeyChooser::new(Distribution::Zipfian, 100, s),
                100,
                400_000,
            );
            let ratio = counts[0] as f64 / counts[1] as f64;
            let expected = 2f64.powf(s);
            assert!(
                (ratio / expected - 1.0).abs() < 0.05,
                "s={s}: p(1)/p(2) = {ratio}, expected {expected}"
            );
            let ratio = counts[0] as f64 / counts[9] as f64;
            let expected = 10f64.powf(s);
            assert!(
                (ratio / expected - 1.0).abs() < 0.1,
                "s={s}: p(1)/p(10) = {ratio}, expected {expected}"
            );
        }
    }

    #[test]
    fn zipfian_stays_in_range() {
        let zipf = Zipf::new(3, 0.99);
        let mut rng = SplitMix64::new(1);
        for _ in 0..10_000 {
            assert!((1..=3).contains(&zipf.sample(&mut rng)));
        }
        assert_eq!(Zipf::new(1, 2.0).sample(&mut rng), 1);
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (SplitMix64::new(42), SplitMix64::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }
}
