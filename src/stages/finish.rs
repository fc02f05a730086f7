//! The stages `segments` and `targets`, and the checks' customer totals,
//! of one customer partition whose results are stored, from one read of
//! them: what a cluster's executor makes of a partition it stored (so
//! that the client reads no customer's results back for them), and what
//! the embedded engine makes of a partition it spilled. The partitions'
//! totals are added up (they are exact in any order) and the lists' runs
//! merged by `run`.

use std::path::PathBuf;

use crate::config::TargetsConfig;
use crate::error::Result;
use crate::stages::checks::CustomerTotals;
use crate::stages::clv_scores::ClvScores;
use crate::stages::customers::Scoring;
use crate::stages::per_customer::CustomerPart;
use crate::stages::segments::{segment_totals, SegmentTotals};
use crate::stages::targets::{sorted_pieces, ListPiece, TargetInputs, TargetList, Targets};
use crate::stages::tiers::Tiers;

/// What finishing a partition needs of the whole run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FinishSettings {
    pub as_of: i32,
    /// The activity window, in days.
    pub window: u32,
    pub tiers: Option<Tiers>,
    pub targets: TargetsConfig,
    /// The RFM cuts and median second-order gap of every partition.
    pub scoring: Scoring,
    /// The lists the run publishes, in publishing order.
    pub lists: Vec<TargetList>,
    /// The code of each partition's first customer.
    pub starts: Vec<usize>,
    /// Whether the CLV stage scored the partitions (their scores and the
    /// CLVs of every customer sorted are then stored beside them).
    pub clv: bool,
}

/// What a finished partition leaves: its segment totals, its customers'
/// totals for the checks, and per list of [`FinishSettings::lists`] the
/// file of its rows on the list (`None` when it has none).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FinishedPart {
    pub segments: SegmentTotals,
    pub totals: CustomerTotals,
    pub runs: Vec<Option<PathBuf>>,
}

/// Where the partitions whose results another process stored are
/// finished: each one's totals and list runs, in partition order.
pub trait FinishElsewhere: Send + Sync {
    fn finish(&self, settings: &FinishSettings) -> Result<Vec<FinishedPart>>;
}

/// Partition `p`'s results (`part`, not yet scored, as a cluster's
/// executor reads them) finished: [`finish_scored`] once scored.
pub fn finish_part(
    (p, mut part): (usize, CustomerPart),
    clv: Option<&ClvScores>,
    targets: &Targets,
    settings: &FinishSettings,
) -> Result<(SegmentTotals, CustomerTotals, Vec<ListPiece>)> {
    settings.scoring.apply(&mut part.summary);
    finish_scored((p, &part), clv, targets, settings)
}

/// Partition `p`'s scored results (`part`) and CLV scores finished: its
/// segment totals, customer totals, and its rows of each list in the
/// list's order with their ids. `targets` are the figures of every
/// customer (the CLVs' ranks among them). The embedded engine finishes
/// its stored partitions so too.
pub fn finish_scored(
    (p, part): (usize, &CustomerPart),
    clv: Option<&ClvScores>,
    targets: &Targets,
    settings: &FinishSettings,
) -> Result<(SegmentTotals, CustomerTotals, Vec<ListPiece>)> {
    let segments = segment_totals(&part.summary, clv);
    let totals = CustomerTotals::of(&part.summary);
    let inputs = TargetInputs {
        start: settings.starts[p],
        as_of: settings.as_of,
        summary: &part.summary,
        window: settings.window,
        tiers: settings.tiers.as_ref(),
        customer_tiers: &part.tiers,
        clv,
        config: &settings.targets,
    };
    let pieces = sorted_pieces(&inputs, targets, &settings.lists, &part.ids)?;
    Ok((segments, totals, pieces))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::orders::{HistoryPart, OrderHistory};
    use crate::stages::per_customer::customer_parts;
    use crate::stages::segments::segment_totals;
    use crate::stages::targets::{joined_lists, part_rows, published_lists};

    /// Forty customers' entries over 400 days, refunds among them (some
    /// lapsed, some big spenders; their median second-order gap is 127
    /// days), twenty-two with one order 110 to 190 days ago and six whose
    /// last order is 225 to 300 days old.
    fn rows() -> Vec<(String, i32, i64)> {
        let repeat = (0..160).map(|i| {
            let c = (i * 7) % 40;
            let day = (i * 53) % 397 + (c % 5) * 40;
            let cents = (i as i64 * 7_919) % 40_000 - 2_000;
            (format!("c{c:02}"), day.min(399), cents)
        });
        let once = (0..22).map(|c| (format!("n{c:02}"), 211 + 4 * c, 1_500));
        let lapsed = (0..12).map(|i| (format!("l{:02}", i / 2), 10 + 15 * i, 900));
        repeat.chain(once).chain(lapsed).collect()
    }

    /// The customers in parts of `per_part`, an empty part before each.
    fn history_in_parts(rows: &[(&str, i32, i64)], per_part: usize) -> OrderHistory {
        let mut ids: Vec<&str> = rows.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut parts = vec![];
        for of_part in ids.chunks(per_part) {
            let rows: Vec<_> = rows
                .iter()
                .copied()
                .filter(|r| of_part.contains(&r.0))
                .collect();
            parts.push(HistoryPart::default());
            parts.push(HistoryPart::from_rows(&rows));
        }
        OrderHistory::of_parts(parts, 400, [])
    }

    /// Finishing each part on its own, from its results as they are
    /// stored (not scored), gives what the stages make of every customer
    /// at once: the segment totals and customer totals added up, and each
    /// list's rows (sorted and joined) with their customers' ids.
    #[test]
    fn parts_finished_apart_add_up_to_every_customers_stages() {
        let rows = rows();
        let rows: Vec<(&str, i32, i64)> =
            rows.iter().map(|(c, d, x)| (c.as_str(), *d, *x)).collect();
        let tiers = Tiers::new(vec![("Low".into(), 0), ("High".into(), 50_000)]);
        let lists = published_lists(true, false);
        for per_part in [1, 3, 7, 40] {
            let history = history_in_parts(&rows, per_part);
            let ids = history.clone().take_ids();
            let parts = customer_parts((&history, Some(&ids)), Some(&tiers), None).unwrap();
            let whole = parts.whole_summary().unwrap();
            let settings = FinishSettings {
                as_of: 400,
                window: 200,
                tiers: Some(tiers.clone()),
                targets: TargetsConfig::default(),
                scoring: parts.scoring().clone(),
                lists: lists.clone(),
                starts: parts.part_starts(),
                clv: false,
            };
            let targets = Targets::of(None, parts.gap_doubled(), &settings.targets).unwrap();
            let (mut segments, mut totals) = (SegmentTotals::zero(), CustomerTotals::default());
            let mut listed = Vec::new();
            let mut of_parts = Vec::new();
            for p in 0..parts.part_count() {
                let held = parts.part(p).unwrap();
                let mut stored = (*held).clone();
                // Stored results are not scored: finishing scores them.
                let s = &mut stored.summary;
                (s.r_score, s.f_score, s.m_score) = (vec![], vec![], vec![]);
                s.second_order_gap_doubled = None;
                let finished = finish_part((p, stored), None, &targets, &settings).unwrap();
                segments.add(&finished.0);
                totals = totals + finished.1;
                for piece in &finished.2 {
                    for r in 0..piece.len() {
                        let code = piece.rows.customer(r) as usize;
                        assert_eq!(piece.ids.get(r), parts.held_id(code), "row {r}'s id");
                    }
                }
                listed.push(finished.2.into_iter().map(|piece| piece.rows).collect());
                let inputs = TargetInputs {
                    start: settings.starts[p],
                    as_of: 400,
                    summary: &held.summary,
                    window: 200,
                    tiers: Some(&tiers),
                    customer_tiers: &held.tiers,
                    clv: None,
                    config: &settings.targets,
                };
                of_parts.push(part_rows(&inputs, &targets, &lists).unwrap());
            }
            assert_eq!(segments, segment_totals(&whole, None), "{per_part} a part");
            assert_eq!(totals, CustomerTotals::of(&whole), "{per_part} a part");
            let joined = joined_lists(&lists, of_parts);
            let lens: Vec<usize> = joined.iter().map(|l| l.len()).collect();
            assert!(lens.iter().all(|&n| n > 0), "every list has rows: {lens:?}");
            assert_eq!(joined_lists(&lists, listed), joined, "{per_part} a part");
        }
    }
}
