//! Customers given a batch at a time (`clv::batches`, as a pipeline's
//! customer partitions give them) fit and score to the numbers of the
//! whole-summary functions ([`fit_purchase_model`], [`fit_gamma_gamma`],
//! [`predict_with_intervals`]), bit for bit, whatever the batches.

use std::ops::Range;

use super::intervals::TRUTH;
use super::sim::{simulate, Summary};
use crate::clv::{
    conditional_expected_purchases, fit_gamma_gamma, fit_purchase_model, predict_with_intervals,
    AtOptimum, CompressedSummary, CustomerPredictions, FoldedSummary, GammaGammaParams,
    LogCovariance, PredictionIntervals, PredictionSettings, PurchaseModel, PurchaseModelKind,
    RowMemory, Scorer, SummaryFold, Uncertainty,
};

/// Customers `0..n` cut at `cuts` (empty batches among them).
fn batches(n: usize, cuts: &[usize]) -> Vec<Range<usize>> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(n)).collect();
    ends.extend([0, n]);
    ends.sort_unstable();
    ends.windows(2).map(|w| w[0]..w[1]).collect()
}

fn part(data: &Summary, customers: Range<usize>) -> Summary {
    Summary {
        frequency: data.frequency[customers.clone()].to_vec(),
        recency: data.recency[customers.clone()].to_vec(),
        tenure: data.tenure[customers.clone()].to_vec(),
        monetary: data.monetary[customers].to_vec(),
    }
}

/// A customer's figures as bits (NaN compares equal to itself).
fn figures(p: &CustomerPredictions, i: usize) -> [u64; 5] {
    [
        p.p_alive(i),
        p.expected_orders(i),
        p.p_no_order(i),
        p.expected_avg_order_value(i),
        p.clv(i),
    ]
    .map(f64::to_bits)
}

fn interval_bits(intervals: &[[f64; 2]]) -> Vec<[u64; 2]> {
    intervals.iter().map(|i| i.map(f64::to_bits)).collect()
}

/// Every batch scored by `scorer` equals the whole summary's predictions
/// and intervals for the same customers.
fn assert_batches_score_as_whole(
    scorer: &Scorer,
    parts: &[(Range<usize>, Summary)],
    whole: &(CustomerPredictions, Option<PredictionIntervals>),
) {
    for (customers, data) in parts {
        let (predictions, intervals) = scorer.predict(scorer.batch(&data.input()));
        assert_eq!(predictions.len(), customers.len());
        for (i, c) in customers.clone().enumerate() {
            assert_eq!(
                figures(&predictions, i),
                figures(&whole.0, c),
                "customer {c}"
            );
        }
        match (&intervals, &whole.1) {
            (None, None) => {}
            (Some(got), Some(want)) => {
                let range = customers.clone();
                assert_eq!(
                    interval_bits(&got.expected_orders),
                    interval_bits(&want.expected_orders[range.clone()])
                );
                assert_eq!(interval_bits(&got.clv), interval_bits(&want.clv[range]));
            }
            _ => panic!("intervals on one side only"),
        }
    }
}

/// `scorer` as another process reads it back (a cluster's executor): its
/// serialized bytes decoded into a scorer that owns everything.
fn sent(scorer: &Scorer) -> Scorer {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(scorer, config).unwrap();
    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
}

/// `value` as another process reads it back: serialized and decoded.
fn through_bytes<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(value, config).unwrap();
    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
}

/// How the batches are folded.
#[derive(Clone, Copy, Debug)]
enum Folding {
    /// One fold, a batch at a time in order (a client over its partitions).
    InOrder,
    /// Each batch in a fold of its own, sent as bytes and added in order
    /// (a cluster's executors, then the client).
    Apart,
}

/// The batches folded for rows scored under `memory` (which chooses what
/// the index holds of each row).
fn fold(parts: &[(Range<usize>, Summary)], folding: Folding, memory: RowMemory) -> FoldedSummary {
    let mut fold = SummaryFold::new(memory);
    for (_, p) in parts {
        match folding {
            Folding::InOrder => fold.add(&p.input()),
            Folding::Apart => {
                let mut own = SummaryFold::default();
                own.add(&p.input());
                fold.add_part(&through_bytes(&own.into_part()));
            }
        }
    }
    fold.finish()
}

/// Fits and scores by batches and at once, with and without Gamma-Gamma
/// and intervals; a scorer sent to another process scores the same.
fn check(seed: u64, cuts: &[usize], folding: Folding) {
    let data = simulate(1_500, &TRUTH, 30.0, 546.0, 1.0, seed);
    let parts: Vec<(Range<usize>, Summary)> = batches(data.frequency.len(), cuts)
        .into_iter()
        .map(|r| (r.clone(), part(&data, r)))
        .collect();
    for memory in [RowMemory::HoldRows, RowMemory::PerBatch] {
        let folded = fold(&parts, folding, memory);
        assert_eq!(folded.customers(), data.frequency.len() as f64);
        for kind in [
            PurchaseModelKind::BgNbd,
            PurchaseModelKind::MbgNbd,
            PurchaseModelKind::ParetoNbd,
        ] {
            check_model(kind, &data, &parts, (&folded, memory));
        }
    }
}

/// [`check`] for one purchase model: its fit on the folded rows, and its
/// scores of the batches under the `memory` the rows were folded for.
fn check_model(
    kind: PurchaseModelKind,
    data: &Summary,
    parts: &[(Range<usize>, Summary)],
    (folded, memory): (&FoldedSummary, RowMemory),
) {
    let (model, report) = fit_purchase_model(kind, &data.input(), 0.0, None);
    let (batch_model, batch_report) = folded.fit_purchase_model(kind, 0.0, AtOptimum::Hessian);
    assert_eq!(format!("{batch_model:?}"), format!("{model:?}"));
    assert_eq!(format!("{batch_report:?}"), format!("{report:?}"));
    let (gg, gg_report) = fit_gamma_gamma(&data.input());
    let (batch_gg, batch_gg_report) = folded.fit_gamma_gamma(0.0);
    assert_eq!(format!("{batch_gg:?}"), format!("{gg:?}"));
    assert_eq!(format!("{batch_gg_report:?}"), format!("{gg_report:?}"));

    let uncertainty = Uncertainty {
        purchase: LogCovariance::of_fit(&report).expect("a converged purchase fit"),
        spend: LogCovariance::of_fit(&gg_report),
        level: 0.9,
    };
    let settings = PredictionSettings {
        horizon_months: 6,
        ..PredictionSettings::default()
    };
    let compressed = CompressedSummary::of(&data.input());
    let whole = |gg: Option<&GammaGammaParams>, u: Option<&Uncertainty>| {
        predict_with_intervals(model, gg, &data.input(), &compressed, &settings, u)
    };
    for gg in [Some(&gg), None] {
        let scoring =
            |folded: &FoldedSummary| folded.clone().into_scoring(model, gg, (&settings, memory));
        let scorer = scoring(folded).without_intervals();
        assert_batches_score_as_whole(&scorer, parts, &whole(gg, None));
        assert_batches_score_as_whole(&sent(&scorer), parts, &whole(gg, None));

        let scorer = scoring(folded).with_intervals(&uncertainty);
        let want = whole(gg, Some(&uncertainty));
        assert_batches_score_as_whole(&scorer, parts, &want);
        assert_batches_score_as_whole(&sent(&scorer), parts, &want);
        let forecast = &want.1.as_ref().expect("intervals").forecast;
        assert_eq!(scorer.forecast_gradients(), Some(forecast));
    }
}

/// Folded in one fold or apart and added up (as a cluster folds its
/// partitions), the batches fit and score as the whole summary.
#[test]
fn batches_fit_and_score_as_the_whole_summary() {
    for folding in [Folding::InOrder, Folding::Apart] {
        check(1, &[], folding);
        check(2, &[1], folding);
        check(3, &[0, 0, 700, 700], folding);
        check(4, &[13, 200, 201, 999, 1_499], folding);
    }
}

/// A customer's months, made again from their row when read, are the ones
/// their CLV and expected orders were made of: the CLV is the order value
/// times the months discounted and summed in order, bit for bit, and (for
/// BG/NBD) their running sums are FHL's conditional expectation at each
/// month's end; with and without intervals, for every model.
#[test]
fn months_read_back_are_the_ones_scored() {
    let data = simulate(800, &TRUTH, 30.0, 546.0, 1.0, 7);
    let settings = PredictionSettings {
        horizon_months: 5,
        month_days: 30.4375,
        discount_rate_monthly: 0.02,
    };
    let compressed = CompressedSummary::of(&data.input());
    let (gg, gg_report) = fit_gamma_gamma(&data.input());
    for kind in [
        PurchaseModelKind::BgNbd,
        PurchaseModelKind::MbgNbd,
        PurchaseModelKind::ParetoNbd,
    ] {
        let (model, report) = fit_purchase_model(kind, &data.input(), 0.0, None);
        let uncertainty = LogCovariance::of_fit(&report).map(|purchase| Uncertainty {
            purchase,
            spend: LogCovariance::of_fit(&gg_report),
            level: 0.9,
        });
        for u in [None, uncertainty.as_ref()] {
            let (predictions, _) =
                predict_with_intervals(model, Some(&gg), &data.input(), &compressed, &settings, u);
            let mut months = vec![f64::NAN; 5];
            for i in 0..predictions.len() {
                predictions.expected_orders_by_month(i, &mut months);
                let discounted = months.iter().enumerate().fold(0.0, |total, (j, n)| {
                    total + n * 1.02f64.powf(-((j + 1) as f64))
                });
                let clv = predictions.expected_avg_order_value(i) * discounted;
                assert_eq!(clv.to_bits(), predictions.clv(i).to_bits(), "{kind:?} {i}");
                let sum: f64 = months.iter().sum();
                let orders = predictions.expected_orders(i);
                assert!((sum - orders).abs() <= 1e-12 * orders, "{kind:?} {i}");
                if let PurchaseModel::BgNbd(params) = model {
                    let (x, t_x, t) = (data.frequency[i], data.recency[i], data.tenure[i]);
                    let mut running = 0.0;
                    for (j, n) in months.iter().enumerate() {
                        running += n;
                        let days = (j + 1) as f64 * settings.month_days;
                        let want = conditional_expected_purchases(
                            &params, x as f64, t_x as f64, t as f64, days,
                        );
                        assert!((running - want).abs() <= 1e-9 * want.max(1e-12), "{i} {j}");
                    }
                }
            }
        }
    }
}
