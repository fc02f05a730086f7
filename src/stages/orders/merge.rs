//! The customer partitions' histories merged into one, customers in id
//! order: a k-way merge of lists already sorted by id.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{CustomerDimension, OrderHistory};
use crate::stages::validate::LineKeys;

/// One history of every customer of `parts` (each in id order, no id in
/// two of them), with the dimensions' names and values from `keys`.
pub(super) fn merge_histories(
    parts: Vec<OrderHistory>,
    as_of: i32,
    keys: &LineKeys,
) -> OrderHistory {
    let entries: usize = parts.iter().map(|p| p.day.len()).sum();
    let customers: usize = parts.iter().map(OrderHistory::customers).sum();
    let mut merged = OrderHistory {
        as_of,
        customer_ids: Vec::with_capacity(customers),
        offsets: Vec::with_capacity(customers + 1),
        day: Vec::with_capacity(entries),
        cents: Vec::with_capacity(entries),
        dimensions: keys
            .dimension_names
            .iter()
            .zip(&keys.dimension_values)
            .map(|(name, values)| CustomerDimension {
                name: name.clone(),
                values: values.clone(),
                customer: Vec::with_capacity(customers),
            })
            .collect(),
    };
    let mut parts = parts;
    // The next customer of each part, smallest id on top.
    let mut next: BinaryHeap<Reverse<(String, usize, usize)>> = BinaryHeap::new();
    for (p, part) in parts.iter_mut().enumerate() {
        if part.customers() > 0 {
            let id = std::mem::take(&mut part.customer_ids[0]);
            next.push(Reverse((id, p, 0)));
        }
    }
    while let Some(Reverse((id, p, c))) = next.pop() {
        let part = &parts[p];
        let (day, cents) = part.of(c);
        merged.offsets.push(merged.day.len());
        merged.day.extend_from_slice(day);
        merged.cents.extend_from_slice(cents);
        for (dimension, theirs) in merged.dimensions.iter_mut().zip(&part.dimensions) {
            dimension.customer.push(theirs.customer[c]);
        }
        merged.customer_ids.push(id);
        if c + 1 < part.customers() {
            let id = std::mem::take(&mut parts[p].customer_ids[c + 1]);
            next.push(Reverse((id, p, c + 1)));
        }
    }
    merged.offsets.push(merged.day.len());
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_customers_in_id_order_with_their_entries() {
        let a = OrderHistory::from_rows(9, &[("b", 1, 10), ("d", 2, 20), ("d", 3, 30)]);
        let b = OrderHistory::from_rows(9, &[("a", 4, 40), ("c", 5, 50)]);
        let empty = OrderHistory {
            offsets: vec![0],
            ..Default::default()
        };
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
}
