//! The partitioned plan's data: order lines and orders split by key into
//! independent partitions, so each is grouped on its own (on any core, or
//! after a round trip through a spill file) and no table of every key is
//! ever held at once.
//!
//! Lines go to the partition of their order id's hash (of their customer
//! id's without an order-id mapping): an order's lines, duplicates and
//! conflicting customer ids are decided within one partition. The orders
//! assembled there go to the partition whose range of ids holds their
//! customer id (`customer_ranges`), where each customer's history is
//! built. Which line partition a key falls in depends only on the key and
//! the partition count; the customer ranges depend on a sample of the
//! input too. Nothing a partition computes depends on which other keys
//! share it, and the customer partitions are joined in id order whatever
//! their ranges: that is why the tables are the same for any partition
//! count (the property tests check 1, 2, 7 and 64).

use rayon::prelude::*;

/// The partition (of `partitions`) of a key with hash `hash`
/// (`validate::key_hash`): bits 16–47 of the hash, scaled. Not the top
/// bits: the hash tables that intern a partition's keys tag their slots
/// with those, and keys that agreed in them would collide in the tags.
pub fn partition_of(hash: u64, partitions: usize) -> usize {
    ((((hash >> 16) & 0xFFFF_FFFF) * partitions as u64) >> 32) as usize
}

/// Variable-length keys (trimmed customer or order ids), one after the
/// other, read in order ([`KeyBytes::iter`]). A missing key has length 0
/// (a blank id is a missing one). A key's length is one byte when under
/// [`LONG_KEY`] (ids nearly always are); a longer key's byte is
/// `LONG_KEY` and its length the four bytes (little-endian) before its
/// text in `bytes`. One byte a key, not four: at 146 M lines with a
/// customer and an order id each that is 876 MB less to hold, spill and
/// have the kernel hand over as fresh pages.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KeyBytes {
    len: Vec<u8>,
    bytes: Vec<u8>,
}

/// The length byte of a key of this many bytes or more, whose length is
/// then in `bytes`.
const LONG_KEY: u8 = u8::MAX;

impl KeyBytes {
    /// Keys as written by [`KeyBytes::parts`] (a spill file's).
    pub fn from_parts(len: Vec<u8>, bytes: Vec<u8>) -> KeyBytes {
        KeyBytes { len, bytes }
    }

    /// The length bytes and the text, for a spill file.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        (&self.len, &self.bytes)
    }

    /// Room for `keys` more keys of `bytes` bytes in all.
    pub fn reserve(&mut self, keys: usize, bytes: usize) {
        self.len.reserve(keys);
        self.bytes.reserve(bytes);
    }

    pub fn push(&mut self, key: &[u8]) {
        match u8::try_from(key.len()) {
            Ok(n) if n < LONG_KEY => self.len.push(n),
            _ => {
                self.len.push(LONG_KEY);
                let n = u32::try_from(key.len()).expect("a key under 4 GiB");
                self.bytes.extend_from_slice(&n.to_le_bytes());
            }
        }
        self.bytes.extend_from_slice(key);
    }

    /// The keys in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.len.iter().map(move |&n| {
            let (text, n) = self.key_at(start, n);
            start = text + n;
            &self.bytes[text..start]
        })
    }

    /// Where each key's entry starts in `bytes` (its text, or the length
    /// before a long key's text), for [`KeyBytes::get`].
    pub fn starts(&self) -> Vec<usize> {
        let mut start = 0;
        let starts = self.len.iter().map(|&n| {
            let at = start;
            let (text, n) = self.key_at(start, n);
            start = text + n;
            at
        });
        starts.collect()
    }

    /// Key `i`, whose entry starts at `start` (from [`KeyBytes::starts`]).
    pub fn get(&self, i: usize, start: usize) -> &[u8] {
        let (text, n) = self.key_at(start, self.len[i]);
        &self.bytes[text..text + n]
    }

    /// Where the text of the key whose entry starts at `start` and whose
    /// length byte is `n` starts, and its length.
    #[inline]
    fn key_at(&self, start: usize, n: u8) -> (usize, usize) {
        if n < LONG_KEY {
            return (start, n as usize);
        }
        let long: [u8; 4] = self.bytes[start..start + 4].try_into().expect("4 bytes");
        (start + 4, u32::from_le_bytes(long) as usize)
    }

    fn concat<'k>(pieces: impl Iterator<Item = &'k KeyBytes> + Clone) -> KeyBytes {
        KeyBytes {
            len: concat(pieces.clone().map(|k| &k.len)),
            bytes: concat(pieces.map(|k| &k.bytes)),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.len.capacity() + self.bytes.capacity()
    }
}

/// One vector of every piece's values, in piece order, allocated once at
/// its final size.
fn concat<'v, T: Copy + 'v>(pieces: impl Iterator<Item = &'v Vec<T>> + Clone) -> Vec<T> {
    let mut all = Vec::with_capacity(pieces.clone().map(Vec::len).sum());
    for piece in pieces {
        all.extend_from_slice(piece);
    }
    all
}

/// Per dimension, the codes of every piece, in piece order.
fn concat_dimensions<P>(pieces: &[P], of: impl Fn(&P) -> &Vec<Vec<u32>>) -> Vec<Vec<u32>> {
    let dimensions = pieces.first().map_or(0, |p| of(p).len());
    (0..dimensions)
        .map(|d| concat(pieces.iter().map(|p| &of(p)[d])))
        .collect()
}

/// What a partition's data must offer to be buffered, spilled and read
/// back in pieces.
pub trait Part: Default + Send + Sized {
    /// The pieces of one partition, in order, as one.
    fn concat(pieces: Vec<Self>) -> Self;
    /// Heap bytes held (capacity, not length: what the memory budget sees).
    fn heap_bytes(&self) -> usize;
    fn is_empty(&self) -> bool;
}

/// The order lines of one partition, in input order (ascending `line`).
/// Filtered lines are not here (they belong to no order), nor are lines
/// without an order id when one is mapped (rejected already, and in no
/// order); without an order-id mapping only valid lines are (every line
/// is its own order, and a rejected one makes none).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LinePart {
    /// The line's index in the whole input (file order, then row order).
    pub line: Vec<u32>,
    /// Rejected by a row check (it still makes its order bad).
    pub rejected: Vec<bool>,
    pub ts_micros: Vec<i64>,
    pub day: Vec<i32>,
    pub cents: Vec<i64>,
    /// Hash of the row's whole content; empty without an order id.
    pub line_hash: Vec<u64>,
    /// Per dimension, the value's provisional code (the dimension's
    /// interner's, ranked when every line has been read);
    /// `validate::NO_CODE` when missing.
    pub dimensions: Vec<Vec<u32>>,
    pub customer: KeyBytes,
    /// Empty without an order-id mapping.
    pub order: KeyBytes,
}

impl Part for LinePart {
    fn concat(pieces: Vec<LinePart>) -> LinePart {
        if pieces.len() == 1 {
            return pieces.into_iter().next().expect("one piece");
        }
        let p = pieces.iter();
        LinePart {
            line: concat(p.clone().map(|p| &p.line)),
            rejected: concat(p.clone().map(|p| &p.rejected)),
            ts_micros: concat(p.clone().map(|p| &p.ts_micros)),
            day: concat(p.clone().map(|p| &p.day)),
            cents: concat(p.clone().map(|p| &p.cents)),
            line_hash: concat(p.clone().map(|p| &p.line_hash)),
            dimensions: concat_dimensions(&pieces, |p: &LinePart| &p.dimensions),
            customer: KeyBytes::concat(p.clone().map(|p| &p.customer)),
            order: KeyBytes::concat(p.map(|p| &p.order)),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.line.capacity() * 4
            + self.rejected.capacity()
            + self.ts_micros.capacity() * 8
            + self.day.capacity() * 4
            + self.cents.capacity() * 8
            + self.line_hash.capacity() * 8
            + self
                .dimensions
                .iter()
                .map(|d| d.capacity() * 4)
                .sum::<usize>()
            + self.customer.heap_bytes()
            + self.order.heap_bytes()
    }

    fn is_empty(&self) -> bool {
        self.line.is_empty()
    }
}

/// The accepted orders and refunds of one customer partition, assembled
/// from their lines (in any order: the history sorts them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrderPart {
    pub customer: KeyBytes,
    pub day: Vec<i32>,
    pub ts_micros: Vec<i64>,
    pub cents: Vec<i64>,
    /// The order's first line in input order (a tie-break between orders).
    pub first_line: Vec<u32>,
    /// How many distinct lines the order has; its lines are the next that
    /// many of `lines`.
    pub line_count: Vec<u32>,
    /// Every order's distinct lines (input indices), order after order.
    pub lines: Vec<u32>,
    /// Per dimension, the order's value: a final code (rank), or
    /// `validate::NO_CODE`.
    pub dimensions: Vec<Vec<u32>>,
}

impl Part for OrderPart {
    fn concat(pieces: Vec<OrderPart>) -> OrderPart {
        if pieces.len() == 1 {
            return pieces.into_iter().next().expect("one piece");
        }
        let p = pieces.iter();
        OrderPart {
            customer: KeyBytes::concat(p.clone().map(|p| &p.customer)),
            day: concat(p.clone().map(|p| &p.day)),
            ts_micros: concat(p.clone().map(|p| &p.ts_micros)),
            cents: concat(p.clone().map(|p| &p.cents)),
            first_line: concat(p.clone().map(|p| &p.first_line)),
            line_count: concat(p.clone().map(|p| &p.line_count)),
            lines: concat(p.map(|p| &p.lines)),
            dimensions: concat_dimensions(&pieces, |p: &OrderPart| &p.dimensions),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.customer.heap_bytes()
            + self.day.capacity() * 4
            + self.ts_micros.capacity() * 8
            + self.cents.capacity() * 8
            + self.first_line.capacity() * 4
            + self.line_count.capacity() * 4
            + self.lines.capacity() * 4
            + self
                .dimensions
                .iter()
                .map(|d| d.capacity() * 4)
                .sum::<usize>()
    }

    fn is_empty(&self) -> bool {
        self.day.is_empty()
    }
}

impl OrderPart {
    pub fn with_dimensions(dimensions: usize) -> OrderPart {
        OrderPart {
            dimensions: vec![Vec::new(); dimensions],
            ..Default::default()
        }
    }
}

/// Where partitions go when they do not fit the memory budget: a store
/// that takes pieces of a partition and gives them all back, in the order
/// they were put (`io::spill` writes them to files; stages never touch the
/// file system themselves).
pub trait SpillStore<T: Part>: Sync {
    fn put(&self, partition: usize, piece: &T) -> crate::error::Result<()>;
    /// Every piece put for `partition`, in order; they are gone from the
    /// store afterwards.
    fn take(&self, partition: usize) -> crate::error::Result<Vec<T>>;
}

/// The pieces of every partition gathered so far: in memory until they
/// pass `budget` bytes in all, then the largest partitions' pieces are
/// written to the spill store and dropped. Pieces stay separate until a
/// partition is taken (one allocation at its final size then, rather than
/// a vector doubling and copying as it grows).
pub struct Buffered<'s, T: Part> {
    memory: Vec<Vec<T>>,
    held: usize,
    budget: usize,
    store: &'s dyn SpillStore<T>,
    /// Whether any piece went to the store.
    spilled: bool,
    /// Whether the partitions spilled at a crossing are written side by
    /// side ([`Buffered::spilling_side_by_side`]).
    side_by_side: bool,
}

impl<'s, T: Part> Buffered<'s, T> {
    pub fn new(partitions: usize, budget: usize, store: &'s dyn SpillStore<T>) -> Self {
        Buffered {
            memory: (0..partitions).map(|_| Vec::new()).collect(),
            held: 0,
            budget,
            store,
            spilled: false,
            side_by_side: false,
        }
    }

    /// Writes the partitions spilled at a crossing side by side on the
    /// thread pool, each by one task (each has its own place in the
    /// store): at 100 M orders a crossing spills some 3 GiB of lines, and
    /// on one thread that held the run on one core for about 2 s. Only for
    /// pieces added from outside the pool's tasks: a task that holds a
    /// lock while it adds (the orders stage's) could, while it waits for
    /// the spill, be given another task that takes the same lock.
    pub fn spilling_side_by_side(mut self) -> Self {
        self.side_by_side = true;
        self
    }

    /// Adds one piece per partition (`pieces[p]` to partition `p`);
    /// spills partitions when the budget is passed.
    pub fn add(&mut self, pieces: Vec<T>) -> crate::error::Result<()> {
        for (p, piece) in pieces.into_iter().enumerate() {
            if !piece.is_empty() {
                self.held += piece.heap_bytes();
                self.memory[p].push(piece);
            }
        }
        if self.held > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Spills whole partitions, the largest first, until at most half the
    /// budget is held. Spilling everything held at each crossing wrote
    /// up to the whole input to disk and read it back (10 GB at 100 M
    /// orders); this spills only what must go, and a partition that stays
    /// in memory is never written. A spilled partition's pieces are all
    /// written, after any it spilled before, so its pieces on disk always
    /// come before those in memory (what [`Stored::take`] relies on).
    fn spill(&mut self) -> crate::error::Result<()> {
        let mut sizes: Vec<(usize, usize)> = self
            .memory
            .iter()
            .enumerate()
            .map(|(p, pieces)| (pieces.iter().map(Part::heap_bytes).sum(), p))
            .collect();
        // Largest first; ties by partition, so the choice is the input's.
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let mut spilling = Vec::new();
        for (bytes, p) in sizes {
            if self.held <= self.budget / 2 {
                break;
            }
            spilling.push((p, std::mem::take(&mut self.memory[p])));
            self.held -= bytes;
        }
        self.spilled |= spilling.iter().any(|(_, pieces)| !pieces.is_empty());
        let store = self.store;
        // Each piece is dropped once written.
        let put = |(p, pieces): (usize, Vec<T>)| {
            pieces
                .into_iter()
                .try_for_each(|piece| store.put(p, &piece))
        };
        match self.side_by_side {
            true => spilling.into_par_iter().try_for_each(put),
            false => spilling.into_iter().try_for_each(put),
        }
    }

    /// Sets the bytes held before partitions are spilled (spilling at the
    /// next piece added, if more are held).
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
    }

    /// Every partition, ready to be taken whole from any thread.
    pub fn into_stored(self) -> Stored<'s, T> {
        Stored {
            memory: self.memory.into_iter().map(std::sync::Mutex::new).collect(),
            held: std::sync::atomic::AtomicUsize::new(self.held),
            spilled: self.spilled,
            store: self.store,
        }
    }
}

/// The partitions once every piece is in: each taken whole, once, by
/// whichever task processes it.
pub struct Stored<'s, T: Part> {
    memory: Vec<std::sync::Mutex<Vec<T>>>,
    /// Bytes of the pieces still in memory.
    held: std::sync::atomic::AtomicUsize,
    spilled: bool,
    store: &'s dyn SpillStore<T>,
}

impl<T: Part> Stored<'_, T> {
    pub fn partitions(&self) -> usize {
        self.memory.len()
    }

    /// Whether any piece went to the store.
    pub fn spilled(&self) -> bool {
        self.spilled
    }

    /// Bytes of the pieces still in memory (not yet taken).
    pub fn held_bytes(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Partition `p`'s pieces in memory, taken out.
    fn take_in_memory(&self, p: usize) -> Vec<T> {
        let in_memory = std::mem::take(&mut *self.memory[p].lock().expect("not poisoned"));
        let bytes = in_memory.iter().map(Part::heap_bytes).sum();
        self.held
            .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
        in_memory
    }

    /// Partition `p` whole: its spilled pieces, then those in memory.
    pub fn take(&self, p: usize) -> crate::error::Result<T> {
        let in_memory = self.take_in_memory(p);
        let mut pieces = match self.spilled {
            true => self.store.take(p)?,
            false => Vec::new(),
        };
        pieces.extend(in_memory);
        Ok(T::concat(pieces))
    }
}

/// A store for runs that never spill (tests, and a budget no input
/// reaches): putting a piece is a bug.
pub struct NoSpill;

impl<T: Part> SpillStore<T> for NoSpill {
    fn put(&self, _: usize, _: &T) -> crate::error::Result<()> {
        Err(crate::error::Error::Usage(
            "internal: a partition was spilled without a spill directory".into(),
        ))
    }

    fn take(&self, _: usize) -> crate::error::Result<Vec<T>> {
        Ok(Vec::new())
    }
}

/// A spill store in memory, for the stages' own tests.
#[cfg(test)]
pub struct MemorySpill<T>(std::sync::Mutex<std::collections::HashMap<usize, Vec<T>>>);

#[cfg(test)]
impl<T> Default for MemorySpill<T> {
    fn default() -> Self {
        MemorySpill(Default::default())
    }
}

#[cfg(test)]
impl<T: Part + Clone> SpillStore<T> for MemorySpill<T> {
    fn put(&self, partition: usize, piece: &T) -> crate::error::Result<()> {
        let mut pieces = self.0.lock().unwrap();
        pieces.entry(partition).or_default().push(piece.clone());
        Ok(())
    }

    fn take(&self, partition: usize) -> crate::error::Result<Vec<T>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .remove(&partition)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order piece of `orders` orders, days `first..`.
    fn piece(first: i32, orders: usize) -> OrderPart {
        let mut part = OrderPart::with_dimensions(0);
        for day in first..first + orders as i32 {
            part.customer.push(b"c");
            part.day.push(day);
            part.ts_micros.push(0);
            part.cents.push(1);
            part.first_line.push(0);
            part.line_count.push(1);
            part.lines.push(0);
        }
        part
    }

    /// The bytes of pieces still in memory fall as partitions are taken
    /// or handed over; a lower budget spills at the next piece, and every
    /// partition comes back whole, spilled pieces first.
    #[test]
    fn held_bytes_fall_as_partitions_are_taken() {
        let store = MemorySpill::default();
        let mut buffered = Buffered::new(3, usize::MAX, &store);
        buffered
            .add(vec![piece(0, 10), piece(100, 20), piece(200, 30)])
            .unwrap();
        let bytes = |p: &OrderPart| p.heap_bytes();
        let first = [piece(0, 10), piece(100, 20), piece(200, 30)].map(|p| bytes(&p));
        buffered.set_budget(first[0] + first[1]);
        buffered
            .add(vec![
                piece(10, 5),
                OrderPart::default(),
                OrderPart::default(),
            ])
            .unwrap();
        // Over the budget: the largest partitions go until half is held.
        let stored = buffered.into_stored();
        let held = stored.held_bytes();
        assert!(held <= (first[0] + first[1]) / 2, "{held}");
        let whole: Vec<OrderPart> = (0..3).map(|p| stored.take(p).unwrap()).collect();
        assert_eq!(stored.held_bytes(), 0);
        assert_eq!(whole[0].day, (0..15).collect::<Vec<_>>());
        assert_eq!(whole[2].day, (200..230).collect::<Vec<_>>());
    }

    /// Partitions spilled side by side come back as those spilled one
    /// after another do: every piece of each, in the order it was added,
    /// over many crossings of a small budget.
    #[test]
    fn partitions_spilled_side_by_side_come_back_in_order() {
        let rounds = 40;
        let take_all = |side_by_side: bool| {
            let store = MemorySpill::default();
            let budget = piece(0, 40).heap_bytes() * 3;
            let mut buffered = Buffered::new(7, budget, &store);
            if side_by_side {
                buffered = buffered.spilling_side_by_side();
            }
            for round in 0..rounds {
                // Sizes vary by partition and round, some pieces empty.
                let pieces = (0..7).map(|p| piece(round * 100, (round as usize * 7 + p * 3) % 23));
                buffered.add(pieces.collect()).unwrap();
            }
            let stored = buffered.into_stored();
            assert!(stored.spilled());
            (0..7)
                .map(|p| stored.take(p).unwrap().day)
                .collect::<Vec<Vec<i32>>>()
        };
        let one_after_another = take_all(false);
        assert_eq!(take_all(true), one_after_another);
        for (p, days) in one_after_another.iter().enumerate() {
            let added = (0..rounds).flat_map(|round| {
                let orders = (round as usize * 7 + p * 3) % 23;
                round * 100..round * 100 + orders as i32
            });
            assert_eq!(days, &added.collect::<Vec<_>>(), "partition {p}");
        }
    }

    #[test]
    fn partition_of_spreads_keys_evenly_and_stays_in_range() {
        let mut counts = [0usize; 7];
        for i in 0..70_000u64 {
            let hash = crate::stages::validate::key_hash(format!("C{i}").as_bytes());
            counts[partition_of(hash, 7)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(partition_of(u64::MAX, 64), 63);
        assert_eq!(partition_of(0, 64), 0);
    }

    #[test]
    fn key_bytes_read_back_in_order_with_missing_keys() {
        let mut keys = KeyBytes::default();
        for k in ["a", "", "a much longer key than fifteen bytes", "b"] {
            keys.push(k.as_bytes());
        }
        let back: Vec<&[u8]> = keys.iter().collect();
        assert_eq!(
            back,
            [
                &b"a"[..],
                b"",
                b"a much longer key than fifteen bytes",
                b"b"
            ]
        );
    }

    proptest::proptest! {
        /// Keys of any length, those of 255 bytes and more (their length
        /// in the text) among them, read back in order and by their
        /// starts, also after the pieces they were pushed to are joined.
        #[test]
        fn key_bytes_of_any_length_read_back(
            lengths in proptest::collection::vec(
                proptest::prop_oneof![0usize..4, 250usize..260, 300usize..70_000],
                0..12,
            ),
            cut in 0usize..12,
        ) {
            let keys: Vec<Vec<u8>> = lengths
                .iter()
                .enumerate()
                .map(|(k, &n)| (0..n).map(|b| (b * 31 + k) as u8).collect())
                .collect();
            let cut = cut.min(keys.len());
            let mut pieces = [KeyBytes::default(), KeyBytes::default()];
            for (k, key) in keys.iter().enumerate() {
                pieces[usize::from(k >= cut)].push(key);
            }
            let joined = KeyBytes::concat(pieces.iter());
            let back: Vec<&[u8]> = joined.iter().collect();
            let expected: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            proptest::prop_assert_eq!(&back, &expected);
            let starts = joined.starts();
            let by_start: Vec<&[u8]> = starts.iter().enumerate().map(|(i, &at)| joined.get(i, at)).collect();
            proptest::prop_assert_eq!(by_start, expected);
        }
    }
}
