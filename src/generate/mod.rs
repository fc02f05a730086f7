//! `retention generate`: a synthetic order history with known ground truth.
//!
//! Customers are acquired over `months` months, with monthly growth and a
//! year-end peak. Each then buys by a purchase model (`--model`): while
//! alive, purchases arrive as a Poisson process with rate λ ~ Gamma(r, α)
//! per day; under BG/NBD (Fader, Hardie & Lee 2005, the default) the
//! customer dies after each repeat purchase with probability
//! p ~ Beta(a, b); under MBG/NBD after every purchase, the first included;
//! under Pareto/NBD at an exponential time with rate μ ~ Gamma(s, β).
//! Order values follow Gamma-Gamma (Fader,
//! Hardie & Lee 2004): z ~ Gamma(shape p_gg, rate ν), ν ~ Gamma(q, rate γ).
//! A small share of orders is split into lines, and a small share is
//! partly refunded a few days later.
//!
//! Dimensions: every customer has a home `channel` and `country`, carried
//! on every line of their orders; a later order occasionally comes through
//! another channel (or, rarely, from another country), so "the value on the
//! first order" differs from "the latest value". Survey responses (optional,
//! `--surveys PATH`): a share of customers answer an NPS survey a few days
//! after some of their orders; the 0–10 score falls with the customer's
//! latent dropout probability p, so promoters retain better than detractors
//! ([`SurveyModel`]).
//!
//! Every customer draws from its own ChaCha streams (seed, customer index),
//! so the output depends on the seed only, not on the thread count. The
//! purchase process uses stream `i`; dimensions and surveys use their own
//! streams (`DIMENSION_STREAM + i`, `SURVEY_STREAM + i`), so adding them
//! left every order id, customer id, timestamp and amount of a seed exactly
//! as before. The parameters are written beside the data as
//! `PATH.truth.json`.

use std::mem::size_of;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma, Normal};
use rayon::prelude::*;
use serde::Serialize;

use crate::clv::PurchaseModelKind;
use crate::error::{Error, Result};

mod write;

use write::{is_parquet, LineFile, SurveyFile};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Stream offsets of the draws added after the purchase process: customer
/// `i` uses stream `i` for purchases, `DIMENSION_STREAM + i` for channel and
/// country, `SURVEY_STREAM + i` for survey responses (customer indices stay
/// far below 2^62).
const DIMENSION_STREAM: u64 = 1 << 62;
const SURVEY_STREAM: u64 = 2 << 62;

/// True parameters of the simulated population.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    /// The purchase model the customers follow.
    pub purchase_model: PurchaseModelKind,
    /// Pareto/NBD shape and rate (days) of the dropout-rate distribution
    /// (unused by the other models).
    pub s: f64,
    pub beta: f64,
    /// BG/NBD shape of the purchase-rate distribution.
    pub r: f64,
    /// BG/NBD scale of the purchase-rate distribution, in days.
    pub alpha: f64,
    /// BG/NBD dropout Beta parameters.
    pub a: f64,
    pub b: f64,
    /// Gamma-Gamma spend parameters.
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    /// Share of orders partly refunded later.
    pub refund_share: f64,
    /// Share of orders written as several lines.
    pub multi_line_share: f64,
    /// Monthly growth of acquisitions.
    pub monthly_growth: f64,
    /// How `channel` and `country` are drawn.
    pub dimensions: DimensionModel,
    /// How survey responses are drawn (written only with `--surveys`).
    pub surveys: SurveyModel,
}

/// Customer-level dimensions carried on every order line.
#[derive(Debug, Clone, Serialize)]
pub struct DimensionModel {
    pub description: &'static str,
    /// Acquisition channels and their weights.
    pub channels: Vec<(&'static str, f64)>,
    /// Countries (ISO 3166 alpha-2) and their weights.
    pub countries: Vec<(&'static str, f64)>,
    /// Chance that an order after the first comes through a channel drawn
    /// afresh (which may be the home channel again).
    pub channel_redraw_share: f64,
    /// Chance that an order after the first carries a country drawn afresh.
    pub country_redraw_share: f64,
}

impl Default for DimensionModel {
    fn default() -> Self {
        DimensionModel {
            description: "Each customer draws a home channel and country by weight; every line of \
                an order carries the order's values. The first order carries the home values; each \
                later order redraws the channel with probability channel_redraw_share and the \
                country with probability country_redraw_share (a redraw may give the home value \
                again). Dimensions are independent of purchasing and spending.",
            channels: vec![
                ("organic", 0.35),
                ("paid_search", 0.25),
                ("social", 0.15),
                ("email", 0.15),
                ("referral", 0.10),
            ],
            countries: vec![
                ("GB", 0.40),
                ("DE", 0.20),
                ("FR", 0.15),
                ("US", 0.15),
                ("NL", 0.10),
            ],
            channel_redraw_share: 0.10,
            country_redraw_share: 0.02,
        }
    }
}

/// NPS survey responses linked to the latent BG/NBD dropout probability.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyModel {
    pub description: &'static str,
    /// Share of customers who ever answer surveys.
    pub customer_share: f64,
    /// Chance that such a customer answers the survey sent after an order.
    pub response_share: f64,
    /// A response comes uniformly within this many days after its order.
    pub max_delay_days: f64,
    /// score = clamp(round(intercept + slope · p + noise), 0, 10).
    pub score_intercept: f64,
    pub score_dropout_slope: f64,
    /// Standard deviation of the Normal noise, drawn per response.
    pub score_noise_sd: f64,
}

impl Default for SurveyModel {
    fn default() -> Self {
        SurveyModel {
            description: "A customer answers surveys at all with probability customer_share. \
                Such a customer gets a survey after each order (not after refunds) and answers it \
                with probability response_share, at a time uniform in (0, max_delay_days] days after \
                the order (responses past the end of the history are dropped). The score is \
                clamp(round(score_intercept + score_dropout_slope * p + e), 0, 10), p the customer's \
                BG/NBD dropout probability and e ~ Normal(0, score_noise_sd) per response: customers \
                unlikely to drop out score high, so promoters (9-10) retain better than detractors \
                (0-6).",
            customer_share: 0.4,
            response_share: 0.5,
            max_delay_days: 14.0,
            score_intercept: 10.5,
            score_dropout_slope: -12.0,
            score_noise_sd: 1.5,
        }
    }
}

impl Default for GroundTruth {
    fn default() -> Self {
        GroundTruth {
            purchase_model: PurchaseModelKind::BgNbd,
            s: 0.8,
            beta: 400.0,
            r: 0.9,
            alpha: 60.0,
            a: 0.8,
            b: 3.0,
            p: 6.0,
            q: 4.0,
            gamma: 15.0,
            refund_share: 0.02,
            multi_line_share: 0.3,
            monthly_growth: 0.02,
            dimensions: DimensionModel::default(),
            surveys: SurveyModel::default(),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    pub start: NaiveDate,
    pub months: u32,
    pub out: PathBuf,
    /// Where to write survey responses (CSV or Parquet by extension).
    pub surveys: Option<PathBuf>,
    pub truth: GroundTruth,
    /// Memory budget in bytes: the history is simulated and written a
    /// time window at a time when its lines do not fit in a quarter of it
    /// (the file is the same whatever the budget).
    pub memory_limit: u64,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateSummary {
    pub path: String,
    pub customers: u64,
    pub orders: u64,
    pub refunds: u64,
    pub lines: u64,
    pub seed: u64,
    pub start: String,
    pub end_exclusive: String,
    pub time_unit: &'static str,
    /// The survey file written, if any.
    pub surveys: Option<SurveySummary>,
    pub truth: GroundTruth,
}

/// What was written to the survey file.
#[derive(Debug, Clone, Serialize)]
pub struct SurveySummary {
    pub path: String,
    pub responses: u64,
    pub respondents: u64,
}

impl SurveySummary {
    /// The survey file at `path`, nothing written yet.
    fn of(path: &Path) -> SurveySummary {
        SurveySummary {
            path: path.display().to_string(),
            responses: 0,
            respondents: 0,
        }
    }
}

/// One output row (an order line).
#[derive(Debug, Clone, Copy)]
struct Line {
    ts_micros: i64,
    customer: u64,
    order_seq: u32,
    /// Set for refund rows.
    refund: bool,
    cents: i64,
    /// Indices into the dimension model's channel and country lists.
    channel: u8,
    country: u8,
}

/// One survey response.
#[derive(Debug, Clone, Copy)]
struct Response {
    ts_micros: i64,
    customer: u64,
    score: u8,
}

/// A customer's simulated history.
struct Simulated {
    lines: Vec<Line>,
    responses: Vec<Response>,
}

/// Index drawn by weight.
fn pick_weighted<R: RngExt>(rng: &mut R, weights: &[(&'static str, f64)]) -> u8 {
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let mut pick = rng.random::<f64>() * total;
    for (k, (_, w)) in weights.iter().enumerate() {
        if pick < *w {
            return k as u8;
        }
        pick -= w;
    }
    (weights.len() - 1) as u8
}

fn month_weight(truth: &GroundTruth, start: NaiveDate, m: u32) -> f64 {
    let month_of_year = (start.month0() + m) % 12;
    let season = match month_of_year {
        10 => 1.3, // November
        11 => 1.5, // December
        0 => 0.8,  // January
        _ => 1.0,
    };
    (1.0 + truth.monthly_growth).powi(m as i32) * season
}

/// The purchase process of customer `i` (stream `i`), and its dropout
/// probability. The draws here, and their order, fix every existing column.
fn generate_customer(
    options: &GenerateOptions,
    starts: &[i64],
    weights: &[f64],
    i: u64,
) -> (Vec<Line>, f64) {
    let truth = &options.truth;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(i);
    let end = *starts.last().expect("months > 0");
    // The first draw (`Simulation::acquired` reads it alone).
    let t0 = acquisition_time(&mut rng, starts, weights);
    let traits = Traits::draw(&mut rng, truth);

    // Pareto/NBD: alive until an exponential time (in f64: a near-zero
    // rate gives times far beyond i64 microseconds).
    let alive_until = traits.lifetime_days.map_or(f64::INFINITY, |days| {
        t0 as f64 + days * MICROS_PER_DAY as f64
    });
    let mut lines = Vec::new();
    let mut t = t0;
    let mut seq = 0u32;
    loop {
        let cents = traits.order_cents(&mut rng);
        seq += 1;
        push_order_lines(&mut rng, truth, (i, seq), t, cents, end, &mut lines);
        push_refund(&mut rng, truth, (i, seq), t, cents, end, &mut lines);
        // After each repeat purchase the customer may drop out for good (in
        // BG/NBD the first purchase, at time 0, is not a dropout chance; in
        // MBG/NBD it is; Pareto/NBD has no dropout at purchases).
        let chance = match truth.purchase_model {
            PurchaseModelKind::BgNbd => seq > 1,
            PurchaseModelKind::MbgNbd => true,
            PurchaseModelKind::ParetoNbd => false,
        };
        if chance && rng.random::<f64>() < traits.dropout {
            break;
        }
        let next = t as f64 + traits.gap.sample(&mut rng) * MICROS_PER_DAY as f64;
        if next >= end as f64 || next >= alive_until {
            break;
        }
        t = next as i64;
    }
    (lines, traits.dropout)
}

/// Acquisition month by weight, instant uniform within the month.
fn acquisition_time(rng: &mut ChaCha8Rng, starts: &[i64], weights: &[f64]) -> i64 {
    let total: f64 = weights.iter().sum();
    let mut pick = rng.random::<f64>() * total;
    let mut month = 0;
    while month + 1 < weights.len() && pick >= weights[month] {
        pick -= weights[month];
        month += 1;
    }
    starts[month] + (rng.random::<f64>() * (starts[month + 1] - starts[month]) as f64) as i64
}

/// A customer's latent purchase-model and Gamma-Gamma traits.
struct Traits {
    /// Dropout probability after each repeat purchase, p ~ Beta(a, b); for
    /// Pareto/NBD the chance that the next event is death rather than a
    /// purchase, μ/(λ+μ) (what the survey scores follow).
    dropout: f64,
    /// Pareto/NBD: days from the first purchase to death, Exp(μ).
    lifetime_days: Option<f64>,
    /// Order values, Gamma(p_gg, rate ν).
    spend: Gamma<f64>,
    /// Days between purchases, Exp(λ).
    gap: Exp<f64>,
}

impl Traits {
    /// Drawn in this order: λ, p, ν, then μ and the lifetime for
    /// Pareto/NBD (the order fixes every column; BG/NBD and MBG/NBD draw
    /// exactly what they drew before Pareto/NBD existed).
    fn draw(rng: &mut ChaCha8Rng, truth: &GroundTruth) -> Traits {
        let rate = Gamma::new(truth.r, 1.0 / truth.alpha)
            .expect("valid")
            .sample(rng)
            .max(1e-12);
        let dropout = Beta::new(truth.a, truth.b).expect("valid").sample(rng);
        let nu = Gamma::new(truth.q, 1.0 / truth.gamma)
            .expect("valid")
            .sample(rng);
        let (dropout, lifetime_days) = if truth.purchase_model == PurchaseModelKind::ParetoNbd {
            let mu = Gamma::new(truth.s, 1.0 / truth.beta)
                .expect("valid")
                .sample(rng)
                .max(1e-12);
            let lifetime = Exp::new(mu).expect("positive rate").sample(rng);
            (mu / (rate + mu), Some(lifetime))
        } else {
            (dropout, None)
        };
        Traits {
            dropout,
            lifetime_days,
            spend: Gamma::new(truth.p, 1.0 / nu).expect("valid"),
            gap: Exp::new(rate).expect("positive rate"),
        }
    }

    /// One order's value in cents, at least one cent.
    fn order_cents(&self, rng: &mut ChaCha8Rng) -> i64 {
        let value = self.spend.sample(rng).max(0.01);
        (value * 100.0).round().max(1.0) as i64
    }
}

/// The lines of order `seq` of `customer`, placed at `t`: one, or with
/// probability `multi_line_share` two or three splitting its cents.
fn push_order_lines(
    rng: &mut ChaCha8Rng,
    truth: &GroundTruth,
    (customer, seq): (u64, u32),
    t: i64,
    cents: i64,
    end: i64,
    lines: &mut Vec<Line>,
) {
    let parts = if rng.random::<f64>() < truth.multi_line_share {
        rng.random_range(2..=3)
    } else {
        1
    };
    let mut left = cents;
    for part in 0..parts {
        let share = if part + 1 == parts { left } else { left / 2 };
        left -= share;
        lines.push(Line {
            // A second apart, never past the end of the history (an
            // order placed in its last seconds keeps every line in it).
            ts_micros: (t + part as i64 * 1_000_000).min(end - 1),
            customer,
            order_seq: seq,
            refund: false,
            cents: share,
            channel: 0,
            country: 0,
        });
    }
}

/// With probability `refund_share`, a partial refund of the order 1 to 30
/// days later (dropped past the end of the history).
fn push_refund(
    rng: &mut ChaCha8Rng,
    truth: &GroundTruth,
    (customer, seq): (u64, u32),
    t: i64,
    cents: i64,
    end: i64,
    lines: &mut Vec<Line>,
) {
    if rng.random::<f64>() >= truth.refund_share {
        return;
    }
    let when = t + (rng.random_range(1..=30) as i64) * MICROS_PER_DAY;
    if when < end {
        let refunded = ((cents as f64) * rng.random_range(0.2..=1.0)).round() as i64;
        lines.push(Line {
            ts_micros: when,
            customer,
            order_seq: seq,
            refund: true,
            cents: -refunded.max(1),
            channel: 0,
            country: 0,
        });
    }
}

/// Channel and country of each order of customer `i` (its own stream), set
/// on every line, refunds included (a refund carries its order's values).
fn assign_dimensions(options: &GenerateOptions, i: u64, lines: &mut [Line]) {
    let model = &options.truth.dimensions;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(DIMENSION_STREAM + i);
    let home = (
        pick_weighted(&mut rng, &model.channels),
        pick_weighted(&mut rng, &model.countries),
    );
    let orders = lines.iter().map(|l| l.order_seq).max().unwrap_or(0) as usize;
    let mut of_order = vec![home; orders + 1];
    for values in of_order.iter_mut().skip(2) {
        if rng.random::<f64>() < model.channel_redraw_share {
            values.0 = pick_weighted(&mut rng, &model.channels);
        }
        if rng.random::<f64>() < model.country_redraw_share {
            values.1 = pick_weighted(&mut rng, &model.countries);
        }
    }
    for line in lines {
        (line.channel, line.country) = of_order[line.order_seq as usize];
    }
}

/// Survey responses of customer `i` (its own stream) after its orders.
fn draw_responses(
    options: &GenerateOptions,
    i: u64,
    lines: &[Line],
    dropout: f64,
    end: i64,
) -> Vec<Response> {
    let model = &options.truth.surveys;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    rng.set_stream(SURVEY_STREAM + i);
    if rng.random::<f64>() >= model.customer_share {
        return Vec::new();
    }
    let noise = Normal::new(0.0, model.score_noise_sd.max(0.0)).expect("valid sd");
    let mean = model.score_intercept + model.score_dropout_slope * dropout;
    // An order's time is that of its first line.
    let mut order_times: Vec<(u32, i64)> = lines
        .iter()
        .filter(|l| !l.refund)
        .map(|l| (l.order_seq, l.ts_micros))
        .collect();
    order_times.sort_unstable();
    order_times.dedup_by_key(|o| o.0);
    let mut responses = Vec::new();
    for (_, ordered) in order_times {
        let answers = rng.random::<f64>() < model.response_share;
        let delay = (1.0 - rng.random::<f64>()) * model.max_delay_days * MICROS_PER_DAY as f64;
        let score = (mean + noise.sample(&mut rng)).round().clamp(0.0, 10.0) as u8;
        let when = ordered + delay as i64;
        if answers && when < end {
            responses.push(Response {
                ts_micros: when,
                customer: i,
                score,
            });
        }
    }
    responses
}

/// Customer `i`'s lines, and their survey responses when asked for (drawn
/// from a stream of their own, so asking changes no line).
fn simulate_customer(
    options: &GenerateOptions,
    starts: &[i64],
    weights: &[f64],
    (i, with_responses): (u64, bool),
) -> Simulated {
    let (mut lines, dropout) = generate_customer(options, starts, weights, i);
    assign_dimensions(options, i, &mut lines);
    let responses = if with_responses {
        let end = *starts.last().expect("months > 0");
        draw_responses(options, i, &lines, dropout, end)
    } else {
        Vec::new()
    };
    Simulated { lines, responses }
}

/// Generates and writes the history.
pub fn generate(options: &GenerateOptions) -> Result<GenerateSummary> {
    if options.months == 0 || options.customers == 0 {
        return Err(Error::Usage(
            "--customers and --months must be at least 1".into(),
        ));
    }
    let starts = month_starts(options);
    let weights: Vec<f64> = (0..options.months)
        .map(|m| month_weight(&options.truth, options.start, m))
        .collect();
    let width = options.customers.to_string().len().max(6);
    let history = Simulation {
        options,
        starts: &starts,
        weights: &weights,
    };
    let (written, surveys) = write_history(&history, width)?;
    let summary = GenerateSummary {
        path: options.out.display().to_string(),
        customers: options.customers,
        orders: written.orders,
        refunds: written.refunds,
        lines: written.lines,
        seed: options.seed,
        start: options.start.to_string(),
        end_exclusive: DateTime::from_timestamp_micros(*starts.last().expect("months > 0"))
            .expect("in range")
            .date_naive()
            .to_string(),
        time_unit: "days",
        surveys,
        truth: options.truth.clone(),
    };
    let truth_path = truth_path(&options.out);
    let json = serde_json::to_vec_pretty(&summary)
        .map_err(|e| Error::output(&truth_path, e.to_string()))?;
    std::fs::write(&truth_path, json)
        .map_err(|e| Error::output(&truth_path, format!("cannot write: {e}")))?;
    Ok(summary)
}

/// The first instant (UTC microseconds) of each month, and of the month
/// after the last: `months + 1` values.
fn month_starts(options: &GenerateOptions) -> Vec<i64> {
    (0..=options.months)
        .map(|m| {
            let date = options
                .start
                .checked_add_months(chrono::Months::new(m))
                .expect("date in range");
            date.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_micros()
        })
        .collect()
}

/// What a history is simulated from.
struct Simulation<'a> {
    options: &'a GenerateOptions,
    /// [`month_starts`].
    starts: &'a [i64],
    /// [`month_weight`] of each month.
    weights: &'a [f64],
}

/// Writes the order lines a time window at a time (see [`windows`]):
/// every customer is simulated again for each window and only the
/// window's lines are kept, sorted and written; and so the survey
/// responses, when asked for. Returns what was written.
fn write_history(history: &Simulation, width: usize) -> Result<(Written, Option<SurveySummary>)> {
    let options = history.options;
    create_parent(&options.out)?;
    let mut file = LineFile::create(&options.out, width, &options.truth.dimensions)?;
    let mut surveys = match &options.surveys {
        Some(path) => {
            create_parent(path)?;
            Some((SurveyFile::create(path, width)?, SurveySummary::of(path)))
        }
        None => None,
    };
    let mut written = Written::default();
    for window in windows(history) {
        let mut part = history.window(window, surveys.is_some());
        // Exports are in time order; ties broken by customer, order and
        // amount (lines equal in all of these are equal in every field).
        part.lines.par_sort_unstable_by_key(|l| {
            (l.ts_micros, l.customer, l.order_seq, l.refund, l.cents)
        });
        written.orders += part.orders;
        written.refunds += part.lines.iter().filter(|l| l.refund).count() as u64;
        written.lines += part.lines.len() as u64;
        file.write(&part.lines)?;
        if let Some((survey_file, summary)) = &mut surveys {
            part.responses
                .par_sort_unstable_by_key(|r| (r.ts_micros, r.customer, r.score));
            summary.responses += part.responses.len() as u64;
            summary.respondents += part.respondents;
            survey_file.write(&part.responses)?;
        }
    }
    file.finish()?;
    let surveys = match surveys {
        Some((survey_file, summary)) => {
            survey_file.finish()?;
            Some(summary)
        }
        None => None,
    };
    Ok((written, surveys))
}

/// Counts of what [`write_history`] wrote.
#[derive(Debug, Default)]
struct Written {
    /// Distinct orders (refunds are lines of their order, not orders).
    orders: u64,
    refunds: u64,
    lines: u64,
}

/// Customers simulated to see how the lines spread over the days.
const SAMPLE_CUSTOMERS: u64 = 10_000;

/// The share of the memory budget one window's lines and responses may
/// take: they are gathered from the threads' pieces into one vector
/// (twice their size for a moment), beside a batch being written.
const WINDOW_SHARE: u64 = 4;

/// What a Parquet output holds beside the windows: a batch's arrays and
/// the row group the writer buffers. Measured at a million customers
/// under a 256 MiB budget: a peak of 219 MiB, about 170 of them beside
/// the window's lines.
const PARQUET_WRITER_BYTES: u64 = 160 << 20;

/// What a Parquet survey file holds beside the windows: its batch's three
/// columns and its row group, set at a fifth of the order lines' writer
/// (three short columns to six). Checked by its effect: 5 M customers
/// with Parquet lines and surveys under 256 MiB peaked at 225 MiB.
const SURVEY_WRITER_BYTES: u64 = 32 << 20;

/// The bytes one window's lines and responses may take: a
/// [`WINDOW_SHARE`] of the budget after the Parquet writers' parts (24
/// MiB at the command line's smallest budget, 256 MiB, with Parquet
/// lines).
fn window_bytes(options: &GenerateOptions) -> u64 {
    let lines_writer = if is_parquet(&options.out) {
        PARQUET_WRITER_BYTES
    } else {
        0
    };
    let survey_writer = match &options.surveys {
        Some(path) if is_parquet(path) => SURVEY_WRITER_BYTES,
        _ => 0,
    };
    let writers = lines_writer + survey_writer;
    options.memory_limit.saturating_sub(writers) / WINDOW_SHARE
}

/// The time windows ([lo, hi) in UTC microseconds, in order, covering
/// every instant) whose lines (and survey responses, when asked for) each
/// take at most [`window_bytes`], whole days each, estimated from the first
/// [`SAMPLE_CUSTOMERS`] customers (every customer draws from streams of
/// its own, so they are a sample of the rest); one window when the whole
/// history fits. A day whose rows alone pass the share is a window of
/// its own.
fn windows(history: &Simulation) -> Vec<(i64, i64)> {
    let options = history.options;
    let (first, end) = (
        history.starts[0],
        *history.starts.last().expect("months > 0"),
    );
    let days = ((end - first) / MICROS_PER_DAY + 1) as usize;
    let sample = options.customers.min(SAMPLE_CUSTOMERS);
    let day_of = |ts: i64| ((ts - first) / MICROS_PER_DAY) as usize;
    let (line_bytes, response_bytes) = (size_of::<Line>() as u64, size_of::<Response>() as u64);
    let per_day = (0..sample)
        .into_par_iter()
        .fold(
            || vec![0u64; days],
            |mut bytes, i| {
                let simulated = history.customer(i, options.surveys.is_some());
                for line in simulated.lines {
                    bytes[day_of(line.ts_micros)] += line_bytes;
                }
                for response in simulated.responses {
                    bytes[day_of(response.ts_micros)] += response_bytes;
                }
                bytes
            },
        )
        .reduce(
            || vec![0u64; days],
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        );
    let scale = options.customers as f64 / sample as f64;
    let share = window_bytes(options) as f64;
    let mut cuts = vec![i64::MIN];
    let mut held = 0.0;
    for (day, &sampled) in per_day.iter().enumerate() {
        let bytes = sampled as f64 * scale;
        if held > 0.0 && held + bytes > share {
            cuts.push(first + day as i64 * MICROS_PER_DAY);
            held = 0.0;
        }
        held += bytes;
    }
    cuts.push(i64::MAX);
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// One window's lines, the orders whose first line is among them, and
/// (when asked for) its survey responses and the customers whose first
/// response is among them.
#[derive(Default)]
struct WindowPart {
    lines: Vec<Line>,
    orders: u64,
    responses: Vec<Response>,
    respondents: u64,
}

impl WindowPart {
    /// Adds customer `simulated`'s lines and survey responses (drawn only
    /// when asked for) in `[lo, hi)`.
    fn add(&mut self, simulated: Simulated, (lo, hi): (i64, i64)) {
        let in_window = |ts: i64| lo <= ts && ts < hi;
        let within = |l: &Line| in_window(l.ts_micros);
        // An order's lines are generated together, its first (earliest)
        // line first; refunds come after them.
        let mut previous = None;
        for line in simulated.lines.iter().filter(|l| !l.refund) {
            if previous != Some(line.order_seq) && within(line) {
                self.orders += 1;
            }
            previous = Some(line.order_seq);
        }
        self.lines
            .extend(simulated.lines.into_iter().filter(|l| within(l)));
        let first_response = simulated.responses.iter().map(|r| r.ts_micros).min();
        if first_response.is_some_and(in_window) {
            self.respondents += 1;
        }
        let responses = simulated.responses.into_iter();
        self.responses
            .extend(responses.filter(|r| in_window(r.ts_micros)));
    }

    fn append(mut self, mut other: WindowPart) -> WindowPart {
        self.lines.append(&mut other.lines);
        self.orders += other.orders;
        self.responses.append(&mut other.responses);
        self.respondents += other.respondents;
        self
    }
}

impl Simulation<'_> {
    /// Customer `i`, with survey responses only when they are asked for.
    fn customer(&self, i: u64, with_responses: bool) -> Simulated {
        simulate_customer(self.options, self.starts, self.weights, (i, with_responses))
    }

    /// Every customer simulated, their lines (and responses, when asked
    /// for) in `window` kept (unsorted). A customer acquired after the
    /// window is not simulated: their every line is later still, and so is
    /// every response, which follows an order.
    fn window(&self, window: (i64, i64), with_responses: bool) -> WindowPart {
        (0..self.options.customers)
            .into_par_iter()
            .fold(WindowPart::default, |mut part, i| {
                if self.acquired(i) < window.1 {
                    part.add(self.customer(i, with_responses), window);
                }
                part
            })
            .reduce(WindowPart::default, WindowPart::append)
    }

    /// When customer `i` is acquired: the first draw of their purchase
    /// stream, as [`generate_customer`] draws it.
    fn acquired(&self, i: u64) -> i64 {
        let mut rng = ChaCha8Rng::seed_from_u64(self.options.seed);
        rng.set_stream(i);
        acquisition_time(&mut rng, self.starts, self.weights)
    }
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::output(parent, format!("cannot create directory: {e}")))?;
        }
    }
    Ok(())
}

/// `orders.csv` → `orders.csv.truth.json`.
pub fn truth_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".truth.json");
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(out: PathBuf, memory_limit: u64) -> GenerateOptions {
        // The survey file in the order file's format.
        let format = out.extension().unwrap().to_str().unwrap().to_string();
        GenerateOptions {
            customers: 1500,
            seed: 7,
            start: NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(),
            months: 14,
            out: out.clone(),
            surveys: Some(out.with_extension(format!("surveys.{format}"))),
            truth: GroundTruth {
                // Orders of several lines, some split across windows.
                multi_line_share: 0.3,
                ..GroundTruth::default()
            },
            memory_limit,
        }
    }

    /// A budget that cuts the history into many windows writes the same
    /// bytes, CSV and Parquet (whose batches then straddle windows), order
    /// lines and survey responses, with the same counts, as one that holds
    /// it whole.
    #[test]
    fn a_history_written_window_by_window_is_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["orders.csv", "orders.parquet"] {
            let whole = options(dir.path().join("whole").join(name), 1 << 30);
            let small = options(dir.path().join("windows").join(name), 64 << 10);
            let starts = month_starts(&small);
            let weights: Vec<f64> = (0..small.months)
                .map(|m| month_weight(&small.truth, small.start, m))
                .collect();
            let simulation = |options| Simulation {
                options,
                starts: &starts,
                weights: &weights,
            };
            assert_eq!(windows(&simulation(&whole)).len(), 1);
            assert!(windows(&simulation(&small)).len() >= 10);
            let a = generate(&whole).unwrap();
            let b = generate(&small).unwrap();
            assert_eq!(
                (a.orders, a.refunds, a.lines),
                (b.orders, b.refunds, b.lines)
            );
            assert!(
                a.orders > 1_000 && a.refunds > 0 && a.lines > a.orders,
                "{a:?}"
            );
            if name.ends_with(".csv") {
                // Orders counted independently: distinct order ids.
                let text = std::fs::read_to_string(&whole.out).unwrap();
                let ids: std::collections::HashSet<&str> = text
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split(',').next())
                    .filter(|id| id.starts_with('O'))
                    .collect();
                assert_eq!(ids.len() as u64, a.orders);
            }
            let bytes = |o: &GenerateOptions| std::fs::read(&o.out).unwrap();
            assert!(bytes(&whole) == bytes(&small), "{name} differs");
            let surveys = |o: &GenerateOptions| std::fs::read(o.surveys.as_ref().unwrap()).unwrap();
            assert!(
                surveys(&whole) == surveys(&small),
                "{name}'s surveys differ"
            );
            let counts = |s: &GenerateSummary| {
                let surveys = s.surveys.as_ref().unwrap();
                (surveys.responses, surveys.respondents)
            };
            assert_eq!(counts(&a), counts(&b));
            if name.ends_with(".csv") {
                assert_eq!(counts(&a), survey_counts(whole.surveys.as_ref().unwrap()));
            }
        }
    }

    /// A survey CSV's responses and distinct respondents, counted off the
    /// file; its rows must be in time order.
    fn survey_counts(path: &Path) -> (u64, u64) {
        let text = std::fs::read_to_string(path).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert!(
            rows.windows(2).all(|w| w[0][1] <= w[1][1]),
            "responses out of time order"
        );
        let respondents: std::collections::HashSet<&str> = rows.iter().map(|r| r[0]).collect();
        assert!(
            rows.len() > 100 && respondents.len() > 50,
            "too few to test"
        );
        (rows.len() as u64, respondents.len() as u64)
    }
}
