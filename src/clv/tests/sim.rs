//! Deterministic simulation of BG/NBD + Gamma-Gamma customers for the tests
//! (and the ignored timing test). A self-contained PRNG and samplers, so the
//! module needs no `rand` dependency and the data are identical on every
//! machine.

/// SplitMix64: tiny, fast, statistically fine for simulation.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform on (0, 1): never 0, so logs are safe.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma(shape, scale 1): Marsaglia & Tsang (2000), with the
    /// U^(1/shape) boost for shape < 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let g = self.gamma(shape + 1.0);
            return g * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }
}

/// A simulated summary (owned columns).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub frequency: Vec<i64>,
    pub recency: Vec<i64>,
    pub tenure: Vec<i64>,
    pub monetary: Vec<f64>,
}

impl Summary {
    pub fn input(&self) -> crate::clv::CustomerSummaryInput<'_> {
        crate::clv::CustomerSummaryInput {
            frequency: &self.frequency,
            recency_days: &self.recency,
            tenure_days: &self.tenure,
            monetary_value: &self.monetary,
        }
    }
}

/// True parameters of a simulation.
#[derive(Debug, Clone, Copy)]
pub struct Truth {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Simulates `n` customers by the models' definitions: λ ~ Gamma(r, α),
/// dropout p ~ Beta(a, b) after each repeat purchase, T uniform on
/// [t_min, t_max] days, order values Gamma(p, ν) with ν ~ Gamma(q, γ).
/// Times are recorded in units of `1/resolution` days (rounded down), so a
/// test can make the integer rounding of the API negligible.
pub fn simulate(
    n: usize,
    truth: &Truth,
    t_min: f64,
    t_max: f64,
    resolution: f64,
    seed: u64,
) -> Summary {
    let mut rng = Rng::new(seed);
    let mut s = Summary::default();
    for _ in 0..n {
        let lambda = rng.gamma(truth.r) / truth.alpha;
        let p_drop = rng.beta(truth.a, truth.b);
        let t_end = t_min + (t_max - t_min) * rng.uniform();
        let (x, t_x) = repeat_purchases(&mut rng, lambda, p_drop, t_end);
        let nu = rng.gamma(truth.q) / truth.gamma;
        let m = if x > 0 {
            // Mean of x Gamma(p, ν) values is Gamma(p·x)/(ν·x).
            rng.gamma(truth.p * x as f64) / (nu * x as f64)
        } else {
            0.0
        };
        s.frequency.push(x);
        s.recency.push((t_x * resolution).floor() as i64);
        s.tenure.push((t_end * resolution).floor() as i64);
        s.monetary.push(m);
    }
    s
}

/// Simulates `n` customers' purchase histories from a purchase model by its
/// definition (monetary values 0), T uniform on [t_min, t_max] days, times
/// recorded in units of `1/resolution` days (see [`simulate`]).
/// * BG/NBD and MBG/NBD: λ ~ Gamma(r, α), dropout p ~ Beta(a, b) after each
///   repeat purchase (MBG/NBD: after the first purchase too);
/// * Pareto/NBD: λ ~ Gamma(r, α), lifetime exponential with rate
///   μ ~ Gamma(s, β).
pub fn simulate_purchases(
    n: usize,
    model: &crate::clv::PurchaseModel,
    t_min: f64,
    t_max: f64,
    resolution: f64,
    seed: u64,
) -> Summary {
    use crate::clv::PurchaseModel;
    let mut rng = Rng::new(seed);
    let mut s = Summary::default();
    for _ in 0..n {
        let t_end = t_min + (t_max - t_min) * rng.uniform();
        let (x, t_x) = match model {
            PurchaseModel::BgNbd(p) | PurchaseModel::MbgNbd(p) => {
                let lambda = rng.gamma(p.r) / p.alpha;
                let p_drop = rng.beta(p.a, p.b);
                let dead_at_once =
                    matches!(model, PurchaseModel::MbgNbd(_)) && rng.uniform() < p_drop;
                if dead_at_once {
                    (0, 0.0)
                } else {
                    repeat_purchases(&mut rng, lambda, p_drop, t_end)
                }
            }
            PurchaseModel::ParetoNbd(p) => {
                let lambda = rng.gamma(p.r) / p.alpha;
                let mu = rng.gamma(p.s) / p.beta;
                let alive_until = t_end.min(-rng.uniform().ln() / mu);
                let (mut t, mut x, mut t_x) = (0.0f64, 0i64, 0.0f64);
                loop {
                    t += -rng.uniform().ln() / lambda;
                    if t > alive_until {
                        break;
                    }
                    x += 1;
                    t_x = t;
                }
                (x, t_x)
            }
        };
        s.frequency.push(x);
        s.recency.push((t_x * resolution).floor() as i64);
        s.tenure.push((t_end * resolution).floor() as i64);
        s.monetary.push(0.0);
    }
    s
}

/// Repeat purchases of a BG/NBD customer alive at time 0 with rate
/// `lambda` who drops out with probability `p_drop` after each one, until
/// `t_end`: (x, t_x).
fn repeat_purchases(rng: &mut Rng, lambda: f64, p_drop: f64, t_end: f64) -> (i64, f64) {
    let (mut t, mut x, mut t_x) = (0.0f64, 0i64, 0.0f64);
    loop {
        t += -rng.uniform().ln() / lambda;
        if t > t_end {
            break;
        }
        x += 1;
        t_x = t;
        if rng.uniform() < p_drop {
            break;
        }
    }
    (x, t_x)
}
