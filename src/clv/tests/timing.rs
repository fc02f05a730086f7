//! Timings of fit + predict on synthesized populations (ignored by default;
//! run in release mode, one at a time so peak RSS is per size):
//!
//! ```text
//! cargo test --release timing_1m -- --ignored --nocapture
//! cargo test --release timing_10m -- --ignored --nocapture
//! ```
//!
//! With `CLV_TIMING_CSV=/path/file.csv` the 1M test also writes the summary
//! (customer_id,frequency,recency,T,monetary_value) so `lifetimes` can be
//! timed on the same data.

use std::io::Write;
use std::time::Instant;

use super::sim::{simulate, Truth};
use crate::clv::{fit_bgnbd, fit_gamma_gamma, predict, PredictionSettings};

/// Daily data over three years, parameters typical of e-commerce fits.
const TRUTH: Truth = Truth {
    r: 0.45,
    alpha: 40.0,
    a: 1.1,
    b: 8.0,
    p: 6.0,
    q: 4.0,
    gamma: 16.0,
};

fn run(n: usize) {
    let t0 = Instant::now();
    let mut s = simulate(n, &TRUTH, 0.0, 1095.0, 1.0, 2024);
    // Order values in cents, as the pipeline produces them: equal amounts are
    // equal doubles, which is what makes the (x, m) compression bite.
    for m in &mut s.monetary {
        *m = (*m * 100.0).round() / 100.0;
    }
    eprintln!("n = {n}: simulated in {:.2?}", t0.elapsed());
    if let Ok(path) = std::env::var("CLV_TIMING_CSV") {
        let file = std::fs::File::create(&path).expect("CLV_TIMING_CSV is writable");
        let mut w = std::io::BufWriter::new(file);
        writeln!(w, "customer_id,frequency,recency,T,monetary_value").expect("write");
        for i in 0..n {
            writeln!(
                w,
                "C{i},{},{},{},{}",
                s.frequency[i], s.recency[i], s.tenure[i], s.monetary[i]
            )
            .expect("write");
        }
        eprintln!("wrote {path}");
    }
    let input = s.input();
    let (rows, _) = crate::clv::compress::compress_rfm(&input);
    let spend = crate::clv::compress::compress_spend(&input);
    eprintln!(
        "unique (x, t_x, T) rows: {}; unique (x, m) rows: {}",
        rows.len(),
        spend.len()
    );

    let work = Instant::now();
    let t = Instant::now();
    let (bg, rep) = fit_bgnbd(&input);
    eprintln!(
        "fit_bgnbd: {:.2?} {bg:?} converged={} iterations={} |g|={:e}",
        t.elapsed(),
        rep.converged,
        rep.iterations,
        rep.gradient_norm
    );
    let t = Instant::now();
    let (gg, rep) = fit_gamma_gamma(&input);
    eprintln!(
        "fit_gamma_gamma: {:.2?} {gg:?} converged={} iterations={} |g|={:e}",
        t.elapsed(),
        rep.converged,
        rep.iterations,
        rep.gradient_norm
    );
    let t = Instant::now();
    let preds = predict(bg, Some(&gg), &input, &PredictionSettings::default());
    eprintln!("predict (12 months): {:.2?}", t.elapsed());
    let total_clv: f64 = preds.iter().map(|p| p.clv).sum();
    eprintln!(
        "total CLV {total_clv:.0}; fit_bgnbd + fit_gamma_gamma + predict: {:.2?}",
        work.elapsed()
    );
    assert!(preds.iter().all(|p| p.clv.is_finite()));
}

#[test]
#[ignore = "timing: run explicitly in release mode"]
fn timing_1m() {
    run(1_000_000);
}

#[test]
#[ignore = "timing: run explicitly in release mode"]
fn timing_10m() {
    run(10_000_000);
}
