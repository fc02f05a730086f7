//! The customer partitions' histories joined into one, customers in id
//! order: the index of a k-way merge of lists already sorted by id, cut
//! into ranges of ids that are merged on every core. The entries stay in
//! their partitions.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::order_history::HistoryPart;
use super::OrderHistory;
use crate::stages::validate::LineKeys;

/// One history of every customer of `parts` (each in id order, no id in
/// two of them), with the dimensions' names and values from `keys`.
pub(super) fn merge_histories(
    parts: Vec<HistoryPart>,
    as_of: i32,
    keys: &LineKeys,
) -> OrderHistory {
    let index = merged_order(&parts).concat();
    let dimensions = keys
        .dimension_names
        .iter()
        .cloned()
        .zip(keys.dimension_values.iter().cloned());
    OrderHistory::indexed(parts, index, as_of, dimensions)
}

/// Every customer of `parts` as (part, index) in id order, in ranges of
/// ids: cut at evenly spaced ids of the largest part, each range merged
/// on its own task.
fn merged_order(parts: &[HistoryPart]) -> Vec<Vec<(u32, u32)>> {
    let Some(largest) = parts.iter().max_by_key(|p| p.customers()) else {
        return Vec::new();
    };
    let ranges = (rayon::current_num_threads() * 4).min(largest.customers().max(1));
    // Range r holds the ids from cuts[r] (inclusive) to cuts[r + 1]; the
    // first starts at the smallest id, the last ends past the largest.
    let mut inner: Vec<&str> = (1..ranges)
        .map(|k| largest.customer_ids[k * largest.customers() / ranges].as_str())
        .collect();
    inner.dedup();
    let mut cuts: Vec<Option<&str>> = vec![None];
    cuts.extend(inner.into_iter().map(Some));
    cuts.push(None);
    let below = |part: &HistoryPart, cut: Option<&str>| match cut {
        None => 0,
        Some(id) => part.customer_ids.partition_point(|c| c.as_str() < id),
    };
    let end = |part: &HistoryPart, cut: Option<&str>| match cut {
        None => part.customers(),
        Some(_) => below(part, cut),
    };
    cuts.par_windows(2)
        .map(|w| {
            let bounds: Vec<(usize, usize)> = parts
                .iter()
                .map(|p| (below(p, w[0]), end(p, w[1])))
                .collect();
            merge_range(parts, &bounds)
        })
        .collect()
}

/// The customers `bounds[p].0..bounds[p].1` of each part `p`, merged in
/// id order.
fn merge_range(parts: &[HistoryPart], bounds: &[(usize, usize)]) -> Vec<(u32, u32)> {
    let total: usize = bounds.iter().map(|(lo, hi)| hi - lo).sum();
    let mut out = Vec::with_capacity(total);
    // The next customer of each part, smallest id on top.
    let mut next: BinaryHeap<Reverse<(&str, usize, usize)>> = BinaryHeap::new();
    for (p, &(lo, hi)) in bounds.iter().enumerate() {
        if lo < hi {
            next.push(Reverse((parts[p].customer_ids[lo].as_str(), p, lo)));
        }
    }
    while let Some(Reverse((_, p, c))) = next.pop() {
        out.push((p as u32, c as u32));
        if c + 1 < bounds[p].1 {
            next.push(Reverse((parts[p].customer_ids[c + 1].as_str(), p, c + 1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_customers_in_id_order_with_their_entries() {
        let a = HistoryPart::from_rows(&[("b", 1, 10), ("d", 2, 20), ("d", 3, 30)]);
        let b = HistoryPart::from_rows(&[("a", 4, 40), ("c", 5, 50)]);
        let empty = HistoryPart::from_rows(&[]);
        let merged = merge_histories(vec![a, empty, b], 9, &LineKeys::default());
        let expected = OrderHistory::from_rows(
            9,
            &[
                ("a", 4, 40),
                ("b", 1, 10),
                ("c", 5, 50),
                ("d", 2, 20),
                ("d", 3, 30),
            ],
        );
        assert_eq!(merged, expected);
    }

    #[test]
    fn merges_many_parts_cut_into_ranges_like_one_sort() {
        // Brute force: every id sorted. Ids are distinct (7919 is invertible
        // modulo the prime 100003); parts are made from the id and position.
        let ids: Vec<String> = (0..5000)
            .map(|i| format!("c{}", (i * 7919) % 100_003))
            .collect();
        let mut parts: Vec<Vec<(&str, i32, i64)>> = vec![Vec::new(); 7];
        for (i, id) in ids.iter().enumerate() {
            parts[(id.len() * 31 + i) % 7].push((id, i as i32, i as i64));
        }
        let histories: Vec<HistoryPart> = parts
            .iter()
            .map(|rows| HistoryPart::from_rows(rows))
            .collect();
        let all: Vec<(&str, i32, i64)> = parts.concat();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let histories = histories.clone();
            let merged = pool.install(|| merge_histories(histories, 0, &LineKeys::default()));
            assert_eq!(merged, OrderHistory::from_rows(0, &all));
        }
    }
}
