//! Minimiser for the models' negative log-likelihoods over log-parameters.
//!
//! Quasi-Newton (BFGS with a backtracking Armijo line search) inside a box on
//! the log-parameters, followed by a few Newton steps whose Hessian is the
//! model's closed form where it has one, else the forward difference of the
//! analytic gradient. The same Hessian gives the standard errors and an
//! honest convergence test: the Newton step, i.e. the estimated distance to
//! the optimum in log-parameters. With a closed-form Hessian and a warm
//! start, Newton's method runs from the start and BFGS only takes over
//! where it cannot go on.
//!
//! Why not `argmin`: argmin 0.11's line searches stop the whole run with an
//! error ("NaN or Inf encountered") as soon as a trial point has a non-finite
//! cost (checked with More-Thuente on a function that is +∞ outside its
//! domain). Here a trial step can overflow `exp(θ)` or leave the likelihood's
//! domain far from the optimum, and the required behaviour is to back off and
//! keep the best finite point, never to fail or return NaN. We also need the
//! box (so no parameter can reach 0 or ∞), the Newton polish (BFGS alone
//! stops at ~1e-3 relative precision on the flat a/b and q/γ ridges, too
//! loose for 1e-4 parity with `lifetimes`) and a convergence flag defined by
//! the Newton step. With 3-4 parameters that is less code than adapting
//! argmin, and no extra dependency tree.
//!
//! The objective is the *mean* negative log-likelihood, so tolerances do not
//! depend on the number of customers.

use rayon::prelude::*;

/// Box on every log-parameter: e^±30 ≈ 1e±13 keeps Γ, ψ and powers finite and
/// is far outside any plausible BTYD parameter in days or currency units. A
/// fit that ends on the box edge is reported as not converged.
pub(crate) const LOG_BOUND: f64 = 30.0;

/// Largest step (in log-parameters) one line search may try: a factor e^3
/// per parameter. Larger trial steps only overflow or waste evaluations.
const MAX_STEP: f64 = 3.0;
/// Unique rows above which a model's fit starts from a fit on a subsample
/// of them ([`subsample_start`]).
const SUBSAMPLE_ABOVE: usize = 40_000;
/// Rows in that subsample (about).
const SUBSAMPLE_ROWS: usize = 10_000;
const MAX_BFGS_ITER: u32 = 1000;
/// Gradient (∞-norm, mean NLL, log-parameters) at which BFGS hands over to
/// Newton. Below ~1e-12 the gradient is rounding noise.
const BFGS_GTOL: f64 = 1e-10;
const MAX_NEWTON_ITER: u32 = 20;
/// Relative change of the mean NLL treated as rounding noise in the Newton
/// phase's acceptance test.
const FLAT_VALUE: f64 = 1e-12;
/// Step for the forward-difference Hessian in log-parameters: truncation
/// error ~h ≈ 1e-6 relative, rounding error ~1e-15/h ≈ 1e-9 (the mean
/// gradient is summed to ~1e-15). Central differences would be ~1e-8
/// accurate at twice the cost, N more gradient evaluations over every
/// row; the Hessian gives Newton steps (where 1e-6 only slows the last
/// digits' convergence) and standard errors (estimates whose own
/// sampling error is of order 1/√n), so forward ones are enough.
const FD_STEP: f64 = 1e-6;
/// Newton step (∞-norm, log-parameters) below which a point counts as the
/// optimum: every parameter within ~1e-6 relative of it.
const CONVERGED_STEP: f64 = 1e-6;
/// Newton step below which the polish stops: a thousandth of
/// [`CONVERGED_STEP`]. Smaller steps only chase the objective's rounding
/// (each costs a finite-difference Hessian, N gradient evaluations).
const NEWTON_DONE_STEP: f64 = 1e-9;
/// Step that BFGS's inverse-Hessian estimate gives below which
/// [`AtOptimum::ConvergenceOnly`] stops: a tenth of [`CONVERGED_STEP`], a
/// margin for the estimate's own error (BFGS's curvature is exact only
/// along the steps it took).
const ESTIMATED_DONE_STEP: f64 = 1e-7;
/// Newton step after which the Hessian is not recomputed: over a step of s
/// in log-parameters it changes by about s relative, so the next step
/// (which tests convergence) is as good as with a fresh one and the
/// standard errors move by about s relative (statistically nothing: they
/// are estimates with an error of order 1/√n), at a saving of N gradient
/// evaluations per fit, a third of a warm-started fit's. The last Newton
/// step of a fit is typically 1e-6 to 1e-5. With a closed-form Hessian, a
/// step this short is tried with the gradient alone, a cheaper pass.
const HESSIAN_REUSE_STEP: f64 = 1e-4;

/// What a fit measures at the optimum BFGS reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtOptimum {
    /// The finite-difference Hessian: Newton steps polish the point to
    /// [`NEWTON_DONE_STEP`], the convergence test is the Newton step there,
    /// and it gives the standard errors.
    Hessian,
    /// For a warm-started refit whose parameters only predict (the CLV
    /// holdout's calibration refits): BFGS's own inverse-Hessian estimate,
    /// grown from the warm start's measured one, gives the last Newton
    /// steps and the convergence test (the estimated step below a tenth of
    /// [`CONVERGED_STEP`]). No standard errors, at a saving of N or more
    /// evaluations over every row. Without a warm start, or when the
    /// estimate does not show convergence, the fit goes on as with
    /// [`AtOptimum::Hessian`]. An objective with a closed-form Hessian
    /// takes Newton's steps with it instead, at about the estimate's cost
    /// in passes over the rows (the outcome then carries it).
    ConvergenceOnly,
}

/// Result of [`minimize`].
#[derive(Debug, Clone)]
pub(crate) struct Outcome<const N: usize> {
    /// Best point found (log-parameters), always finite and inside the box.
    pub theta: [f64; N],
    /// Mean negative log-likelihood there.
    pub value: f64,
    pub grad: [f64; N],
    pub iterations: u32,
    /// Inverse of the Hessian of the mean NLL in log-parameters, when that
    /// Hessian is positive definite.
    pub inv_hessian: Option<[[f64; N]; N]>,
    pub converged: bool,
}

/// Value, gradient and Hessian of an objective at one point.
pub(crate) type Evaluation<const N: usize> = (f64, [f64; N], [[f64; N]; N]);

/// An objective's [`Evaluation`] in one pass, for a model whose Hessian
/// has a closed form; `None` outside its domain or where the closed form
/// does not apply.
pub(crate) type ExactHessian<'h, const N: usize> = &'h dyn Fn(&[f64; N]) -> Option<Evaluation<N>>;

/// Where the Newton phase's Hessians come from.
#[derive(Clone, Copy)]
enum Curvature<'h, const N: usize> {
    /// Forward differences of the analytic gradient: N more evaluations.
    Differences,
    /// The model's closed form, with the value and gradient of each
    /// Newton trial: a Newton step costs one pass over the rows.
    Exact(ExactHessian<'h, N>),
}

/// Evaluates an objective that returns (value, gradient); a non-finite value
/// or gradient means "outside the domain".
fn eval<const N: usize, F>(f: &F, theta: &[f64; N]) -> Option<(f64, [f64; N])>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let (v, g) = f(theta);
    (v.is_finite() && g.iter().all(|x| x.is_finite())).then_some((v, g))
}

fn clamp_box<const N: usize>(mut theta: [f64; N]) -> [f64; N] {
    for t in &mut theta {
        *t = t.clamp(-LOG_BOUND, LOG_BOUND);
    }
    theta
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm_inf<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

pub(crate) fn norm2<const N: usize>(a: &[f64; N]) -> f64 {
    dot(a, a).sqrt()
}

/// Gradient with the components that push against an active bound zeroed:
/// the box's first-order optimality measure.
fn projected<const N: usize>(theta: &[f64; N], g: &[f64; N]) -> [f64; N] {
    let mut p = *g;
    for i in 0..N {
        let at_lo = theta[i] <= -LOG_BOUND && g[i] > 0.0;
        let at_hi = theta[i] >= LOG_BOUND && g[i] < 0.0;
        if at_lo || at_hi {
            p[i] = 0.0;
        }
    }
    p
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut m = [[0.0; N]; N];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    m
}

fn mat_vec<const N: usize>(m: &[[f64; N]; N], v: &[f64; N]) -> [f64; N] {
    let mut out = [0.0; N];
    for (o, row) in out.iter_mut().zip(m) {
        *o = dot(row, v);
    }
    out
}

/// `Σ_{k<len} a[k]·b[k]`.
fn dot_prefix<const N: usize>(a: &[f64; N], b: &[f64; N], len: usize) -> f64 {
    a[..len].iter().zip(&b[..len]).map(|(x, y)| x * y).sum()
}

/// Cholesky factor L (lower) of a symmetric matrix, `None` unless positive
/// definite.
fn cholesky<const N: usize>(m: &[[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut l = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let s = m[i][j] - dot_prefix(&l[i], &l[j], j);
            if i == j {
                if !(s > 0.0 && s.is_finite()) {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves L·Lᵀ·x = b.
fn chol_solve<const N: usize>(l: &[[f64; N]; N], b: &[f64; N]) -> [f64; N] {
    let mut y = [0.0; N];
    for i in 0..N {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [0.0; N];
    for i in (0..N).rev() {
        let mut s = y[i];
        for k in i + 1..N {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    x
}

fn chol_inverse<const N: usize>(l: &[[f64; N]; N]) -> [[f64; N]; N] {
    let mut inv = [[0.0; N]; N];
    for j in 0..N {
        let mut e = [0.0; N];
        e[j] = 1.0;
        let col = chol_solve(l, &e);
        for i in 0..N {
            inv[i][j] = col[i];
        }
    }
    inv
}

/// Hessian of the objective at `p` by forward differences of its analytic
/// gradient (the gradient at `p` is known: N more evaluations),
/// symmetrised. `None` if any evaluation leaves the domain.
fn fd_hessian<const N: usize, F>(f: &F, p: &Point<N>) -> Option<[[f64; N]; N]>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut h = [[0.0; N]; N];
    for j in 0..N {
        let mut up = p.theta;
        up[j] += FD_STEP;
        let (_, gu) = eval(f, &up)?;
        for (row, (u, g)) in h.iter_mut().zip(gu.iter().zip(&p.grad)) {
            row[j] = (u - g) / FD_STEP;
        }
    }
    // Symmetrise: the two finite-difference estimates of each mixed
    // derivative differ by truncation error only.
    let mut sym = h;
    for (i, row) in sym.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = 0.5 * (h[i][j] + h[j][i]);
        }
    }
    Some(sym)
}

struct Point<const N: usize> {
    theta: [f64; N],
    value: f64,
    grad: [f64; N],
}

/// Backtracking Armijo search along `dir` from `p`, projecting trial points
/// onto the box. Non-finite trial values are treated as "too far" and halve
/// the step, which is the behaviour argmin lacks.
fn line_search<const N: usize, F>(f: &F, p: &Point<N>, dir: &[f64; N]) -> Option<Point<N>>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut t = 1.0f64.min(MAX_STEP / norm_inf(dir).max(f64::MIN_POSITIVE));
    for _ in 0..60 {
        let mut trial = p.theta;
        for i in 0..N {
            trial[i] += t * dir[i];
        }
        let trial = clamp_box(trial);
        let mut s = [0.0; N];
        for i in 0..N {
            s[i] = trial[i] - p.theta[i];
        }
        if norm_inf(&s) == 0.0 {
            return None;
        }
        let predicted = dot(&p.grad, &s);
        if predicted < 0.0 && -predicted < FLAT_VALUE * p.value.abs() {
            // The whole step promises less than the value's rounding: no
            // evaluation can confirm a decrease (the noise floor; Newton
            // takes over from here).
            return None;
        }
        match eval(f, &trial) {
            Some((v, g)) => {
                let ok = if predicted < 0.0 {
                    v <= p.value + 1e-4 * predicted
                } else {
                    v < p.value
                };
                if ok {
                    return Some(Point {
                        theta: trial,
                        value: v,
                        grad: g,
                    });
                }
                // Minimiser of the quadratic through f(0), f'(0), f(t),
                // safeguarded to [0.1t, 0.5t].
                let curvature = v - p.value - predicted;
                let q = if curvature > 0.0 && predicted < 0.0 {
                    -predicted / (2.0 * curvature)
                } else {
                    0.5
                };
                t *= q.clamp(0.1, 0.5);
            }
            None => t *= 0.25,
        }
    }
    None
}

/// Minimises `f` (mean NLL over log-parameters, with analytic gradient) from
/// `start`. Never returns a non-finite point: if even `start` is outside the
/// domain, the origin (all parameters 1) is tried, and failing that `start`
/// is returned clamped, with `converged = false`.
#[cfg(test)]
pub(crate) fn minimize<const N: usize, F>(f: F, start: [f64; N]) -> Outcome<N>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    minimize_from((f, None), start, None, AtOptimum::Hessian)
}

/// [`minimize`] with BFGS's inverse Hessian starting at `hinv0` (a positive
/// definite estimate, e.g. from [`warm_start`]) instead of the identity,
/// and `at_optimum` measured at the end. With the objective's `exact`
/// Hessian and a warm start, Newton's method runs first: from near the
/// optimum it converges in a few passes, where BFGS would spend several
/// before the Hessian is even measured; BFGS takes over only where Newton
/// cannot go on.
pub(crate) fn minimize_from<const N: usize, F>(
    (f, exact): (F, Option<ExactHessian<N>>),
    start: [f64; N],
    hinv0: Option<[[f64; N]; N]>,
    at_optimum: AtOptimum,
) -> Outcome<N>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut start = clamp_box(start.map(|v| if v.is_finite() { v } else { 0.0 }));
    let curvature = exact.map_or(Curvature::Differences, Curvature::Exact);
    let mut newton_first_iterations = 0;
    if let (Some(exact), Some(_)) = (exact, hinv0) {
        match newton_first(&f, exact, start) {
            Ok(done) => return done,
            Err((reached, iterations)) => {
                start = reached;
                newton_first_iterations = iterations;
            }
        }
    }
    let Some(p) = starting_point(&f, start) else {
        return Outcome {
            theta: start,
            value: f64::INFINITY,
            grad: [0.0; N],
            iterations: 0,
            inv_hessian: None,
            converged: false,
        };
    };
    let (p, bfgs_iterations, estimate) = bfgs(&f, p, hinv0);
    let bfgs_iterations = bfgs_iterations + newton_first_iterations;
    let (p, iterations) = match at_optimum {
        // The estimate is trusted only when it grew from a measured
        // curvature (a warm start): from the identity, BFGS has seen too
        // few directions to notice a flat one. An exact Hessian costs no
        // more than the estimate's steps.
        AtOptimum::ConvergenceOnly if hinv0.is_some() && exact.is_none() => {
            match estimated_polish(&f, p, estimate.as_ref(), bfgs_iterations) {
                Ok(done) => return done,
                Err(reached) => reached,
            }
        }
        _ => (p, bfgs_iterations),
    };
    let hessian = hessian_at(&f, curvature, &p);
    let (p, hessian, newton_iterations) = newton_polish(&f, curvature, p, hessian);
    outcome(p, hessian, iterations + newton_iterations)
}

/// Newton's method with the `exact` Hessian from `start`: the converged
/// outcome, or the point it reached and its steps when it is not there
/// (a Hessian that is not positive definite, no step accepted, the box's
/// edge, or no closed form at `start`).
fn newton_first<const N: usize, F>(
    f: &F,
    exact: ExactHessian<N>,
    start: [f64; N],
) -> Result<Outcome<N>, ([f64; N], u32)>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let Some((p, hessian)) = exact_point(exact, &start) else {
        return Err((start, 0));
    };
    let (p, hessian, iterations) = newton_polish(f, Curvature::Exact(exact), p, Some(hessian));
    let theta = p.theta;
    let done = outcome(p, hessian, iterations);
    if done.converged {
        Ok(done)
    } else {
        Err((theta, iterations))
    }
}

/// The point `theta` with its value, gradient and exact Hessian, when they
/// are all finite.
fn exact_point<const N: usize>(
    exact: ExactHessian<N>,
    theta: &[f64; N],
) -> Option<(Point<N>, [[f64; N]; N])> {
    let (value, grad, hessian) = exact(theta)?;
    let finite = value.is_finite()
        && grad.iter().all(|g| g.is_finite())
        && hessian.iter().flatten().all(|h| h.is_finite());
    finite.then_some((
        Point {
            theta: *theta,
            value,
            grad,
        },
        hessian,
    ))
}

/// The Hessian at `p`: `curvature`'s closed form, else differences.
fn hessian_at<const N: usize, F>(
    f: &F,
    curvature: Curvature<N>,
    p: &Point<N>,
) -> Option<[[f64; N]; N]>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    match curvature {
        Curvature::Exact(exact) => exact_point(exact, &p.theta).map(|(_, hessian)| hessian),
        Curvature::Differences => None,
    }
    .or_else(|| fd_hessian(f, p))
}

/// The first finite point: `start` (already clamped to the box), else the
/// origin (all parameters 1), else `None`.
fn starting_point<const N: usize, F>(f: &F, start: [f64; N]) -> Option<Point<N>>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let (theta, value, grad) = eval(f, &start)
        .map(|(v, g)| (start, v, g))
        .or_else(|| eval(f, &[0.0; N]).map(|(v, g)| ([0.0; N], v, g)))?;
    Some(Point { theta, value, grad })
}

/// BFGS's inverse Hessian approximation and what it is made of.
struct InverseHessian<const N: usize> {
    hinv: [[f64; N]; N],
    /// `hinv` is the (scaled) identity: a failed line search from here is
    /// the noise floor, not a bad approximation.
    fresh: bool,
    /// The initial matrix has been scaled (or was given by the caller).
    scaled: bool,
}

impl<const N: usize> InverseHessian<N> {
    fn new(hinv0: Option<[[f64; N]; N]>) -> InverseHessian<N> {
        InverseHessian {
            hinv: hinv0.unwrap_or_else(identity::<N>),
            fresh: hinv0.is_none(),
            scaled: hinv0.is_some(),
        }
    }

    /// Back to the unscaled identity (steepest descent).
    fn reset(&mut self) {
        self.hinv = identity();
        self.fresh = true;
        self.scaled = false;
    }

    /// The quasi-Newton direction for the projected gradient `pg`, with the
    /// components held at a bound zeroed; steepest descent (after a reset)
    /// when that is not a descent direction.
    fn direction(&mut self, pg: &[f64; N]) -> [f64; N] {
        let mut dir = mat_vec(&self.hinv, pg).map(|v| -v);
        for i in 0..N {
            if pg[i] == 0.0 {
                dir[i] = 0.0;
            }
        }
        if dot(&dir, pg) >= 0.0 {
            self.reset();
            dir = pg.map(|v| -v);
        }
        dir
    }

    /// The BFGS update for step `s` and gradient change `y`.
    fn update(&mut self, s: &[f64; N], y: &[f64; N]) {
        let sy = dot(s, y);
        // Skip the update unless the curvature condition holds (Armijo alone
        // does not guarantee it); keeps hinv positive definite.
        if !(sy > 1e-12 * norm2(s) * norm2(y) && sy.is_finite()) {
            return;
        }
        if !self.scaled {
            // Nocedal & Wright (6.20): scale the initial matrix once.
            let yy = dot(y, y);
            self.hinv = identity();
            for (i, row) in self.hinv.iter_mut().enumerate() {
                row[i] = sy / yy;
            }
            self.scaled = true;
        }
        let rho = 1.0 / sy;
        let hy = mat_vec(&self.hinv, y);
        let yhy = dot(y, &hy);
        for i in 0..N {
            for j in 0..N {
                self.hinv[i][j] +=
                    -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
            }
        }
        self.fresh = false;
    }
}

/// Phase 1: BFGS from `p` until the projected gradient is below
/// [`BFGS_GTOL`] or no step makes progress. Returns the point reached, the
/// iterations used, and the last inverse-Hessian estimate BFGS had there
/// (not the identity it falls back to when a step fails).
fn bfgs<const N: usize, F>(
    f: &F,
    mut p: Point<N>,
    hinv0: Option<[[f64; N]; N]>,
) -> (Point<N>, u32, Option<[[f64; N]; N]>)
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut iterations = 0u32;
    let mut h = InverseHessian::new(hinv0);
    let mut estimate = None;
    while iterations < MAX_BFGS_ITER {
        if !h.fresh {
            estimate = Some(h.hinv);
        }
        let pg = projected(&p.theta, &p.grad);
        if norm_inf(&pg) < BFGS_GTOL {
            break;
        }
        let dir = h.direction(&pg);
        iterations += 1;
        let Some(next) = line_search(f, &p, &dir) else {
            if h.fresh {
                break; // not even steepest descent makes progress: noise floor
            }
            h.reset();
            continue;
        };
        let mut s = [0.0; N];
        let mut y = [0.0; N];
        for i in 0..N {
            s[i] = next.theta[i] - p.theta[i];
            y[i] = next.grad[i] - p.grad[i];
        }
        h.update(&s, &y);
        p = next;
    }
    if !h.fresh {
        estimate = Some(h.hinv);
    }
    (p, iterations, estimate)
}

/// Phase 2 for [`AtOptimum::ConvergenceOnly`]: Newton steps with BFGS's
/// inverse-Hessian `estimate` from `p` until the step it gives is below
/// [`ESTIMATED_DONE_STEP`]; then the outcome there, converged. The point
/// reached and the iterations are handed back when the estimate cannot
/// show convergence: no estimate, a step above [`HESSIAN_REUSE_STEP`]
/// (the estimate is not near the optimum), a step not accepted, or the
/// box's edge.
fn estimated_polish<const N: usize, F>(
    f: &F,
    mut p: Point<N>,
    estimate: Option<&[[f64; N]; N]>,
    mut iterations: u32,
) -> Result<Outcome<N>, (Point<N>, u32)>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let Some(hinv) = estimate else {
        return Err((p, iterations));
    };
    for _ in 0..MAX_NEWTON_ITER {
        let pg = projected(&p.theta, &p.grad);
        let step = mat_vec(hinv, &pg).map(|v| -v);
        let len = norm_inf(&step);
        if len < ESTIMATED_DONE_STEP {
            let at_bound = p.theta.iter().any(|t| t.abs() >= LOG_BOUND - 1e-9);
            if at_bound {
                break;
            }
            return Ok(Outcome {
                theta: p.theta,
                value: p.value,
                grad: p.grad,
                iterations,
                inv_hessian: None,
                converged: true,
            });
        }
        if len > HESSIAN_REUSE_STEP {
            break;
        }
        let Some((next, _)) = newton_step(f, Curvature::Differences, &p, &step) else {
            break;
        };
        iterations += 1;
        p = next;
    }
    Err((p, iterations))
}

/// Phase 2: Newton from `p`, whose Hessian is `hessian`, with Hessians
/// from `curvature`. Returns the point reached, the Hessian there (if
/// finite; a difference Hessian may be from at most
/// [`HESSIAN_REUSE_STEP`] before it) and the steps taken.
fn newton_polish<const N: usize, F>(
    f: &F,
    curvature: Curvature<N>,
    mut p: Point<N>,
    mut hessian: Option<[[f64; N]; N]>,
) -> (Point<N>, Option<[[f64; N]; N]>, u32)
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut iterations = 0u32;
    for _ in 0..MAX_NEWTON_ITER {
        let Some(l) = hessian.as_ref().and_then(cholesky) else {
            break;
        };
        let pg = projected(&p.theta, &p.grad);
        let mut step = chol_solve(&l, &pg).map(|v| -v);
        let len = norm_inf(&step);
        if len < NEWTON_DONE_STEP {
            break;
        }
        if len > MAX_STEP {
            step = step.map(|v| v * MAX_STEP / len);
        }
        let trial_curvature = if len < HESSIAN_REUSE_STEP {
            Curvature::Differences
        } else {
            curvature
        };
        let Some((next, next_hessian)) = newton_step(f, trial_curvature, &p, &step) else {
            break;
        };
        iterations += 1;
        let moved = norm_inf(&std::array::from_fn::<f64, N, _>(|i| {
            next.theta[i] - p.theta[i]
        }));
        p = next;
        if next_hessian.is_some() {
            hessian = next_hessian;
        } else if moved >= HESSIAN_REUSE_STEP {
            hessian = hessian_at(f, curvature, &p);
        }
    }
    (p, hessian, iterations)
}

/// The first of `step`, `step/2`, … (ten tries) from `p` that the Newton
/// phase accepts, with its Hessian when `curvature` gives it with the
/// evaluation.
fn newton_step<const N: usize, F>(
    f: &F,
    curvature: Curvature<N>,
    p: &Point<N>,
    step: &[f64; N],
) -> Option<(Point<N>, Option<[[f64; N]; N]>)>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    let mut t = 1.0;
    for _ in 0..10 {
        let mut trial = p.theta;
        for i in 0..N {
            trial[i] += t * step[i];
        }
        let trial = clamp_box(trial);
        if let Some((next, hessian)) = trial_evaluation(f, curvature, &trial) {
            // Near the optimum the value changes by less than its own
            // rounding noise (a sum over many rows carries ~1e-14
            // relative error), so also accept a step that keeps the value
            // within that noise and shrinks the gradient.
            let flat = next.value <= p.value + FLAT_VALUE * p.value.abs().max(1.0);
            if next.value < p.value || (flat && norm2(&next.grad) < norm2(&p.grad)) {
                return Some((next, hessian));
            }
        }
        t *= 0.5;
    }
    None
}

/// A Newton trial's point, with its Hessian when `curvature` has a closed
/// form that applies there; `None` outside the domain.
fn trial_evaluation<const N: usize, F>(
    f: &F,
    curvature: Curvature<N>,
    theta: &[f64; N],
) -> Option<(Point<N>, Option<[[f64; N]; N]>)>
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    if let Curvature::Exact(exact) = curvature {
        if let Some((p, hessian)) = exact_point(exact, theta) {
            return Some((p, Some(hessian)));
        }
    }
    let (value, grad) = eval(f, theta)?;
    let p = Point {
        theta: *theta,
        value,
        grad,
    };
    Some((p, None))
}

/// The outcome at the final point `p`: the convergence test is the Newton
/// step there (the estimated distance to the optimum) and no parameter on
/// the box edge; the inverse Hessian gives the standard errors.
fn outcome<const N: usize>(
    p: Point<N>,
    hessian: Option<[[f64; N]; N]>,
    iterations: u32,
) -> Outcome<N> {
    let chol = hessian.as_ref().and_then(cholesky);
    let newton_step = chol
        .as_ref()
        .map(|l| norm_inf(&chol_solve(l, &p.grad)))
        .unwrap_or(f64::INFINITY);
    let at_bound = p.theta.iter().any(|t| t.abs() >= LOG_BOUND - 1e-9);
    let inv_hessian = chol.as_ref().map(chol_inverse);
    Outcome {
        theta: p.theta,
        value: p.value,
        grad: p.grad,
        iterations,
        inv_hessian,
        converged: newton_step < CONVERGED_STEP && !at_bound,
    }
}

/// Rows per work item in the likelihood sums. Large enough to amortise rayon
/// overhead, small enough to balance two to dozens of threads.
const CHUNK: usize = 8192;

/// Σ over `0..len` of `f(range)` (each returning K partial sums), computed per
/// fixed chunk and added in chunk order. The association is the same whether
/// the chunks run in parallel or not, so fits are bit-identical across thread
/// counts and runs.
pub(crate) fn chunked_sum<const K: usize, F>(len: usize, f: F) -> [f64; K]
where
    F: Fn(std::ops::Range<usize>) -> [f64; K] + Sync,
{
    let chunks = len.div_ceil(CHUNK);
    let part = |c: usize| f(c * CHUNK..((c + 1) * CHUNK).min(len));
    let partials: Vec<[f64; K]> = if chunks > 1 {
        (0..chunks).into_par_iter().map(part).collect()
    } else {
        (0..chunks).map(part).collect()
    };
    let mut total = [0.0; K];
    for p in partials {
        for k in 0..K {
            total[k] += p[k];
        }
    }
    total
}

/// Standard errors of the natural parameters exp(θ) from the inverse Hessian
/// of the *mean* NLL in log-parameters and the total weight: at a stationary
/// point Var(θᵢ_nat) = θᵢ_nat² · [H_log⁻¹]ᵢᵢ / W exactly (the gradient term of
/// the change of variables vanishes), which equals the inverse Hessian of the
/// total NLL in natural parameters.
pub(crate) fn standard_errors<const N: usize>(
    out: &Outcome<N>,
    total_weight: f64,
) -> [Option<f64>; N] {
    let mut se = [None; N];
    if let Some(inv) = &out.inv_hessian {
        for i in 0..N {
            let var = inv[i][i] / total_weight;
            let v = out.theta[i].exp() * var.sqrt();
            if var > 0.0 && v.is_finite() {
                se[i] = Some(v);
            }
        }
    }
    se
}

/// The report of a fit: the optimizer's point (log-parameters, exponentiated
/// back) with standard errors, and the total log-likelihood over `total_w`
/// weighted customers.
pub(crate) fn fit_report<const N: usize>(
    model: &'static str,
    names: [&'static str; N],
    out: &Outcome<N>,
    total_w: f64,
) -> super::FitReport {
    let se = standard_errors(out, total_w);
    let values = out.theta.map(f64::exp);
    super::FitReport {
        model,
        parameters: (0..N).map(|i| (names[i], values[i], se[i])).collect(),
        log_likelihood: if out.value.is_finite() {
            -out.value * total_w
        } else {
            f64::NEG_INFINITY
        },
        customers: total_w as u64,
        iterations: out.iterations,
        gradient_norm: norm2(&out.grad),
        converged: out.converged,
        inverse_hessian: out
            .inv_hessian
            .map(|m| m.iter().map(|row| row.to_vec()).collect()),
    }
}

/// A fit of `mean_nll` (the mean negative log-likelihood in
/// log-parameters over `total_w` customers) plus `penalizer`·Σθᵢ², an L2
/// penalty on the log-parameters that pulls every parameter towards 1 (off
/// at 0). Starts from `start`, with BFGS's curvature from `curvature` when
/// given (a warm start), and measures `at_optimum` there. The report's
/// log-likelihood is the unpenalized one at the returned point; its
/// standard errors and convergence test are those of the penalized
/// objective, the one that was maximised.
pub(crate) fn fit_penalized<const N: usize, F>(
    model: &'static str,
    names: [&'static str; N],
    (mean_nll, exact): (F, Option<ExactHessian<N>>),
    (start, curvature): ([f64; N], Option<[[f64; N]; N]>),
    penalizer: f64,
    at_optimum: AtOptimum,
    total_w: f64,
) -> ([f64; N], super::FitReport)
where
    F: Fn(&[f64; N]) -> (f64, [f64; N]),
{
    if total_w <= 0.0 {
        let values = start.map(f64::exp);
        return (values, unfitted_report(model, names, values));
    }
    let penalized = |theta: &[f64; N]| {
        let (value, mut grad) = mean_nll(theta);
        if penalizer == 0.0 {
            return (value, grad);
        }
        let mut penalty = 0.0;
        for (g, t) in grad.iter_mut().zip(theta) {
            penalty += t * t;
            *g += 2.0 * penalizer * t;
        }
        (value + penalizer * penalty, grad)
    };
    let penalized_exact = |theta: &[f64; N]| {
        let (value, mut grad, mut hessian) = exact?(theta)?;
        let mut penalty = 0.0;
        for (i, t) in theta.iter().enumerate() {
            penalty += t * t;
            grad[i] += 2.0 * penalizer * t;
            hessian[i][i] += 2.0 * penalizer;
        }
        Some((value + penalizer * penalty, grad, hessian))
    };
    let exact = exact.map(|_| &penalized_exact as ExactHessian<N>);
    let out = minimize_from((penalized, exact), start, curvature, at_optimum);
    let mut report = fit_report(model, names, &out, total_w);
    if penalizer != 0.0 {
        let (value, _) = mean_nll(&out.theta);
        report.log_likelihood = if value.is_finite() {
            -value * total_w
        } else {
            f64::NEG_INFINITY
        };
    }
    (out.theta.map(f64::exp), report)
}

/// A start for a fit on many unique rows (`rows` of them): the optimum
/// and curvature that `fit_every(k)` reaches on every k-th row, about
/// [`SUBSAMPLE_ROWS`] of them. The mean likelihood of a spread subsample
/// has nearly the full data's shape, so from there the full fit needs a
/// few iterations to the same optimum and tolerance, instead of the dozens
/// that learn the curvature along the flat ridges from the default start
/// (Pareto/NBD: ~140 evaluations of a likelihood that needs a quadrature
/// per row; BG/NBD at 1.24 M rows: 38 evaluations of 64 ms each;
/// Gamma-Gamma at 1.5 M spend rows: 21 iterations, 6 from here). `None`
/// for small data and when the subsample's fit did not converge.
pub(crate) fn subsample_start<const N: usize>(
    rows: usize,
    fit_every: impl FnOnce(usize) -> super::FitReport,
) -> Option<([f64; N], [[f64; N]; N])> {
    if rows <= SUBSAMPLE_ABOVE {
        return None;
    }
    warm_start::<N>(&fit_every(rows.div_ceil(SUBSAMPLE_ROWS)))
}

/// A start for a refit on related data (the CLV holdout's calibration
/// period): the earlier fit's log-parameters and inverse Hessian. BFGS from
/// there needs a handful of iterations instead of dozens from the default
/// start, whose curvature it must first learn along the flat ridges.
pub(crate) fn warm_start<const N: usize>(
    report: &super::FitReport,
) -> Option<([f64; N], [[f64; N]; N])> {
    // Only a converged interior optimum is a good place to start from.
    if !report.converged {
        return None;
    }
    let theta: Vec<f64> = report.parameters.iter().map(|p| p.1.ln()).collect();
    let theta: [f64; N] = theta.try_into().ok()?;
    let rows = report.inverse_hessian.as_ref()?;
    let mut hinv = [[0.0; N]; N];
    for (i, row) in rows.iter().enumerate().take(N) {
        for (j, v) in row.iter().enumerate().take(N) {
            hinv[i][j] = *v;
        }
    }
    let finite =
        theta.iter().all(|t| t.is_finite()) && hinv.iter().flatten().all(|v| v.is_finite());
    (rows.len() == N && finite).then_some((theta, hinv))
}

/// The report when there was nothing to fit: the start values, no
/// standard errors, not converged.
pub(crate) fn unfitted_report<const N: usize>(
    model: &'static str,
    names: [&'static str; N],
    values: [f64; N],
) -> super::FitReport {
    super::FitReport {
        model,
        parameters: (0..N).map(|i| (names[i], values[i], None)).collect(),
        log_likelihood: 0.0,
        customers: 0,
        iterations: 0,
        gradient_norm: 0.0,
        converged: false,
        inverse_hessian: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock in 2-D plus an infinite wall: BFGS + Newton must reach the
    /// optimum and back off from the wall instead of failing.
    #[test]
    fn minimizes_rosenbrock_with_a_wall() {
        let f = |t: &[f64; 2]| {
            let (x, y) = (t[0], t[1]);
            if x < -1.5 {
                return (f64::INFINITY, [f64::NAN; 2]);
            }
            let v = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
            let gx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
            let gy = 200.0 * (y - x * x);
            (v, [gx, gy])
        };
        let out = minimize(f, [-1.2, 1.0]);
        assert!(out.converged, "{out:?}");
        assert!((out.theta[0] - 1.0).abs() < 1e-8 && (out.theta[1] - 1.0).abs() < 1e-8);
    }

    #[test]
    fn reports_a_flat_direction_as_not_converged() {
        // f depends on t0 only: the Hessian is singular, so no honest
        // standard error and no convergence claim.
        let f = |t: &[f64; 2]| ((t[0] - 0.5).powi(2), [2.0 * (t[0] - 0.5), 0.0]);
        let out = minimize(f, [3.0, 2.0]);
        assert!(!out.converged);
        assert!((out.theta[0] - 0.5).abs() < 1e-9);
        assert!(out.theta.iter().all(|t| t.is_finite()));
    }

    /// The forward-difference Hessian of a smooth non-quadratic function
    /// against its analytic Hessian: within ~1e-6 relative, as
    /// [`FD_STEP`]'s comment promises.
    #[test]
    fn forward_difference_hessian_matches_the_analytic_one() {
        // f = e^(x+y) + x²·y + 3y² at (0.3, −0.7).
        let f = |t: &[f64; 2]| {
            let (x, y) = (t[0], t[1]);
            let e = (x + y).exp();
            (
                e + x * x * y + 3.0 * y * y,
                [e + 2.0 * x * y, e + x * x + 6.0 * y],
            )
        };
        let theta = [0.3, -0.7];
        let (value, grad) = f(&theta);
        let got = fd_hessian(&f, &Point { theta, value, grad }).unwrap();
        let e = (theta[0] + theta[1]).exp();
        let want = [
            [e + 2.0 * theta[1], e + 2.0 * theta[0]],
            [e + 2.0 * theta[0], e + 6.0],
        ];
        for i in 0..2 {
            for j in 0..2 {
                let err = (got[i][j] - want[i][j]).abs() / want[i][j].abs();
                assert!(err < 5e-6, "H[{i}][{j}] = {} vs {}", got[i][j], want[i][j]);
            }
        }
    }

    /// Σ (e^(tᵢ−mᵢ) − (tᵢ−mᵢ)) + (t₀ + t₁ − m₀ − m₁)²/2, smooth, convex
    /// and not quadratic, with its minimum at t = m; and a counter of its
    /// evaluations.
    fn bowl(
        m: [f64; 3],
        count: &std::cell::Cell<u32>,
    ) -> impl Fn(&[f64; 3]) -> (f64, [f64; 3]) + '_ {
        move |t: &[f64; 3]| {
            count.set(count.get() + 1);
            let d: [f64; 3] = std::array::from_fn(|i| t[i] - m[i]);
            let coupling = d[0] + d[1];
            let mut value = 0.5 * coupling * coupling;
            let mut grad = [0.0; 3];
            for i in 0..3 {
                value += d[i].exp() - d[i];
                grad[i] = d[i].exp() - 1.0;
            }
            grad[0] += coupling;
            grad[1] += coupling;
            (value, grad)
        }
    }

    /// The inverse of the bowl's Hessian at t = m (diag(1) plus the
    /// coupling), the curvature a warm start would carry.
    fn bowl_inverse_hessian() -> [[f64; 3]; 3] {
        let h = [[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]];
        chol_inverse(&cholesky(&h).unwrap())
    }

    /// The bowl's minimum, and a start near it.
    const BOWL_MIN: [f64; 3] = [0.2, 0.1, -0.4];
    const WARM_START: [f64; 3] = [0.35, -0.05, -0.2];

    /// A fit of the bowl from [`WARM_START`] with the curvature at its
    /// minimum (a warm start's), its gradient passes counted in `count`.
    fn warm_bowl_fit(
        count: &std::cell::Cell<u32>,
        exact: Option<ExactHessian<3>>,
        at_optimum: AtOptimum,
    ) -> Outcome<3> {
        minimize_from(
            (bowl(BOWL_MIN, count), exact),
            WARM_START,
            Some(bowl_inverse_hessian()),
            at_optimum,
        )
    }

    #[test]
    fn a_warm_refit_that_only_predicts_reaches_the_optimum_with_fewer_evaluations() {
        let m = BOWL_MIN;
        let run = |at_optimum| {
            let count = std::cell::Cell::new(0);
            let out = warm_bowl_fit(&count, None, at_optimum);
            (out, count.get())
        };
        let (measured, measured_evaluations) = run(AtOptimum::Hessian);
        let (estimated, estimated_evaluations) = run(AtOptimum::ConvergenceOnly);
        assert!(
            measured.converged && estimated.converged,
            "{measured:?} {estimated:?}"
        );
        for (t, want) in estimated.theta.iter().zip(m) {
            assert!((t - want).abs() < 1e-7, "{estimated:?}");
        }
        assert!(measured.inv_hessian.is_some() && estimated.inv_hessian.is_none());
        assert!(
            estimated_evaluations + 3 <= measured_evaluations,
            "{estimated_evaluations} against {measured_evaluations}"
        );
    }

    #[test]
    fn convergence_only_without_a_warm_start_measures_the_hessian() {
        // Flat along t1: only a measured Hessian sees it (not converged).
        let f = |t: &[f64; 2]| ((t[0] - 0.5).powi(2), [2.0 * (t[0] - 0.5), 0.0]);
        let out = minimize_from((f, None), [3.0, 2.0], None, AtOptimum::ConvergenceOnly);
        assert!(!out.converged);
        let count = std::cell::Cell::new(0);
        let cold = minimize_from(
            (bowl(BOWL_MIN, &count), None),
            [0.0; 3],
            None,
            AtOptimum::ConvergenceOnly,
        );
        assert!(cold.converged && cold.inv_hessian.is_some());
    }

    /// The bowl's value, gradient and Hessian (diag(e^(tᵢ−mᵢ)) plus the
    /// coupling), counting its evaluations in `count`.
    fn bowl_exact(m: [f64; 3], count: &std::cell::Cell<u32>, t: &[f64; 3]) -> Evaluation<3> {
        let (value, grad) = bowl(m, count)(t);
        let mut hessian = [[0.0; 3]; 3];
        for (i, row) in hessian.iter_mut().enumerate() {
            row[i] = (t[i] - m[i]).exp();
        }
        for row in &mut hessian[..2] {
            row[0] += 1.0;
            row[1] += 1.0;
        }
        (value, grad, hessian)
    }

    #[test]
    fn an_exact_hessian_from_a_warm_start_converges_in_fewer_passes() {
        let m = BOWL_MIN;
        let differenced = std::cell::Cell::new(0);
        let by_differences = warm_bowl_fit(&differenced, None, AtOptimum::Hessian);
        let (gradients, exact_passes) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        let exact = |t: &[f64; 3]| Some(bowl_exact(m, &exact_passes, t));
        let by_exact = warm_bowl_fit(
            &gradients,
            Some(&exact as ExactHessian<3>),
            AtOptimum::Hessian,
        );
        assert!(by_exact.converged && by_differences.converged);
        for (got, want) in by_exact.theta.iter().zip(m) {
            assert!((got - want).abs() < 1e-9, "{by_exact:?}");
        }
        // At the optimum the Hessian is the coupled identity; the one
        // reported is from at most HESSIAN_REUSE_STEP before it.
        let (got, want) = (by_exact.inv_hessian.unwrap(), bowl_inverse_hessian());
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() < 2.0 * HESSIAN_REUSE_STEP, "{got:?}");
        }
        let passes = gradients.get() + exact_passes.get();
        assert!(exact_passes.get() >= 2, "the start and the first step");
        assert!(
            passes + 3 <= differenced.get(),
            "{passes} passes against {}",
            differenced.get()
        );
    }

    #[test]
    fn newton_hands_over_to_bfgs_where_the_hessian_is_not_positive_definite() {
        // Σ (tᵢ² − 1)²/4: the Hessian 3tᵢ² − 1 is negative at the start
        // and positive at the minimum t = 1.
        let f = |t: &[f64; 2]| {
            let value = t.iter().map(|v| (v * v - 1.0).powi(2) / 4.0).sum();
            (value, t.map(|v| v * (v * v - 1.0)))
        };
        let exact = |t: &[f64; 2]| {
            let (value, grad) = f(t);
            Some((
                value,
                grad,
                [
                    [3.0 * t[0] * t[0] - 1.0, 0.0],
                    [0.0, 3.0 * t[1] * t[1] - 1.0],
                ],
            ))
        };
        let out = minimize_from(
            (f, Some(&exact as ExactHessian<2>)),
            [0.3, 0.4],
            Some(identity()),
            AtOptimum::Hessian,
        );
        assert!(out.converged, "{out:?}");
        for t in out.theta {
            assert!((t - 1.0).abs() < 1e-9, "{out:?}");
        }
    }

    #[test]
    fn without_its_closed_form_the_fit_differences_the_gradient() {
        let fit = |exact: Option<ExactHessian<3>>| {
            let count = std::cell::Cell::new(0);
            let out = warm_bowl_fit(&count, exact, AtOptimum::Hessian);
            (out.theta, out.inv_hessian, count.get())
        };
        let nowhere = |_: &[f64; 3]| None;
        assert_eq!(fit(None), fit(Some(&nowhere)));
    }

    #[test]
    fn chunked_sum_matches_serial_sum() {
        let n = 3 * CHUNK + 17;
        let got = chunked_sum::<1, _>(n, |r| [r.map(|i| i as f64).sum()]);
        assert_eq!(got[0], (n * (n - 1) / 2) as f64);
    }
}
