//! Customer partitions as ranges of ids. Orders go to the partition whose
//! range holds their customer's id, so every customer of partition `p`
//! has a smaller id than every customer of partition `p + 1`: the
//! partitions' histories, each sorted by id, follow one another in id
//! order, and customer codes (ranks in id order) are consecutive within a
//! partition. A stage can then take the customers a partition at a time,
//! in code order, with no merge of all of them.
//!
//! The ranges are cut at evenly spaced ids of a sample of the input's
//! lines (every `step`-th line), so partitions get about as many lines
//! each. Which ids share a partition never changes a result (see
//! `stages::partition`), only how evenly the work is spread: the sample
//! needs no particular size or order.

/// Where the customer partitions start: partition `k + 1` starts at
/// `bounds[k]` (inclusive), partition 0 holds every id below `bounds[0]`,
/// the last every id from the last bound on. Without bounds every
/// customer is in partition 0.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerRanges {
    /// Strictly ascending, in byte order.
    bounds: Vec<Vec<u8>>,
    /// The first eight bytes of each bound ([`prefix_of`]): most lookups
    /// are settled by comparing these integers, not the ids.
    prefixes: Vec<u64>,
}

/// Sampled lines per partition: enough that the partitions' sizes vary by
/// a few percent, few enough that the sample is a few MiB at 4096
/// partitions.
pub const SAMPLES_PER_PARTITION: u64 = 256;

impl CustomerRanges {
    /// Ranges for `partitions` partitions cut at evenly spaced ids of
    /// `sample` (in any order, repeats counted). Fewer ranges when the
    /// sample has fewer distinct ids.
    pub fn of_sample(mut sample: Vec<Vec<u8>>, partitions: usize) -> CustomerRanges {
        sample.sort_unstable();
        let n = sample.len();
        let mut bounds: Vec<Vec<u8>> = (1..partitions.max(1))
            .map(|k| k * n / partitions)
            .filter(|&at| at > 0 && at < n)
            .map(|at| sample[at].clone())
            .collect();
        bounds.dedup();
        let prefixes = bounds.iter().map(|b| prefix_of(b)).collect();
        CustomerRanges { bounds, prefixes }
    }

    /// The partition of customer `id`: how many bounds are at or below it.
    pub fn partition_of(&self, id: &[u8]) -> usize {
        let prefix = prefix_of(id);
        // Bounds of a smaller prefix are smaller ids, of a larger one
        // larger: only those of the same prefix are compared in full.
        let below = self.prefixes.partition_point(|&p| p < prefix);
        let same = self.prefixes[below..].partition_point(|&p| p == prefix);
        below + self.bounds[below..below + same].partition_point(|bound| bound.as_slice() <= id)
    }

    /// Ranges that start partition `k + 1` at `bounds[k]` (strictly
    /// ascending): for tests whose histories are split by hand.
    #[cfg(test)]
    pub fn of_bounds(bounds: &[&str]) -> CustomerRanges {
        assert!(
            bounds.is_sorted_by(|a, b| a < b),
            "bounds strictly ascending"
        );
        let bounds: Vec<Vec<u8>> = bounds.iter().map(|b| b.as_bytes().to_vec()).collect();
        let prefixes = bounds.iter().map(|b| prefix_of(b)).collect();
        CustomerRanges { bounds, prefixes }
    }

    /// How many partitions the ranges make.
    pub fn partitions(&self) -> usize {
        self.bounds.len() + 1
    }
}

/// The first eight bytes of `id` as a big-endian integer, zero-padded. A
/// smaller prefix means a smaller id in byte order; an equal one says
/// nothing (`"ab"` and `"ab\0"` share one).
fn prefix_of(id: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = id.len().min(8);
    bytes[..n].copy_from_slice(&id[..n]);
    u64::from_be_bytes(bytes)
}

/// Every `step`-th line (by index in the input), from the lines offered
/// to it: the sample the customer ranges are cut from.
#[derive(Debug)]
pub struct LineSample {
    step: usize,
    ids: Vec<Vec<u8>>,
}

impl LineSample {
    pub fn every(step: usize) -> LineSample {
        LineSample {
            step: step.max(1),
            ids: Vec::new(),
        }
    }

    /// Adds the id of every `step`-th line (by input index) of the `rows`
    /// lines that start at input line `first_line`, as `id_of` gives it
    /// for the line's index among them (none: a line not to sample).
    pub fn add_lines<'i>(
        &mut self,
        first_line: usize,
        rows: usize,
        id_of: impl Fn(usize) -> Option<&'i [u8]>,
    ) {
        let first = (self.step - first_line % self.step) % self.step;
        for i in (first..rows).step_by(self.step) {
            if let Some(id) = id_of(i) {
                self.ids.push(id.to_vec());
            }
        }
    }

    /// The sampled ids, in the order they were added.
    pub fn into_ids(self) -> Vec<Vec<u8>> {
        self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Short ids over a small alphabet, with shared 8-byte prefixes and
    /// zero bytes, so the prefix ties and padding are hit.
    fn id() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b')], 0..4),
            proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b')], 7..11),
            proptest::collection::vec(any::<u8>(), 0..20),
        ]
    }

    proptest! {
        #[test]
        fn partition_is_the_count_of_bounds_at_or_below(
            sample in proptest::collection::vec(id(), 0..60),
            ids in proptest::collection::vec(id(), 1..60),
            partitions in 1usize..12,
        ) {
            let ranges = CustomerRanges::of_sample(sample, partitions);
            prop_assert!(ranges.partitions() <= partitions);
            prop_assert!(ranges.bounds.windows(2).all(|w| w[0] < w[1]));
            for id in &ids {
                let brute = ranges.bounds.iter().filter(|b| b.as_slice() <= id.as_slice()).count();
                prop_assert_eq!(ranges.partition_of(id), brute);
            }
            // Sorting within partitions and putting them one after another
            // sorts the ids.
            let mut by_part = ids.clone();
            by_part.sort_by_key(|id| (ranges.partition_of(id), id.clone()));
            let mut sorted = ids;
            sorted.sort();
            prop_assert_eq!(by_part, sorted);
        }
    }

    #[test]
    fn ranges_split_a_sample_evenly() {
        let sample: Vec<Vec<u8>> = (0..1000).map(|i| format!("c{i:04}").into_bytes()).collect();
        let ranges = CustomerRanges::of_sample(sample.clone(), 4);
        assert_eq!(ranges.partitions(), 4);
        let mut sizes = [0; 4];
        for id in &sample {
            sizes[ranges.partition_of(id)] += 1;
        }
        assert_eq!(sizes, [250; 4]);
        // One distinct id: the ids below it, and the rest.
        let one = CustomerRanges::of_sample(vec![b"x".to_vec(); 9], 4);
        assert_eq!(one.partitions(), 2);
        assert_eq!((one.partition_of(b"a"), one.partition_of(b"x")), (0, 1));
        // No sample: one partition.
        let none = CustomerRanges::of_sample(Vec::new(), 4);
        assert_eq!((none.partitions(), none.partition_of(b"x")), (1, 0));
    }

    #[test]
    fn every_step_th_line_is_sampled_however_the_input_is_cut() {
        let lines: Vec<Vec<u8>> = (0..13u8).map(|i| vec![i]).collect();
        let mut sample = LineSample::every(3);
        for (first, rows) in [(0, 5), (5, 2), (7, 6)] {
            // Line 9 is not to be sampled.
            sample.add_lines(first, rows, |i| {
                Some(lines[first + i].as_slice()).filter(|id| id[0] != 9)
            });
        }
        assert_eq!(sample.ids, [[0], [3], [6], [12]]);
    }
}
