//! The coded survey rows of one customer partition: what is held of each
//! checked row once its customer is known, gathered by the partition of
//! that customer (and spilled with the partitioned plan's machinery when
//! the budget cannot hold them), so that the rules that need all of a
//! customer's responses, and the counts, run a partition at a time.

use crate::stages::partition::Part;
use crate::time::PlacedTimestamp;

/// A checked response on or before as_of of a customer with orders,
/// known by their code: what is held of each survey row until its
/// partition is validated (the id text, the raw row and the file's other
/// columns are not).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coded {
    pub customer: u32,
    pub file: u32,
    pub row: u32,
    pub placed: PlacedTimestamp,
    pub score: u8,
}

impl Coded {
    /// The order that puts exact duplicates (same customer, instant and
    /// score) next to each other, the first by (file, row) first.
    pub fn duplicate_order(&self) -> (u32, i64, u8, u32, u32) {
        let c = self;
        (c.customer, c.placed.utc_micros, c.score, c.file, c.row)
    }

    pub fn same_response(&self, other: &Coded) -> bool {
        (self.customer, self.placed.utc_micros, self.score)
            == (other.customer, other.placed.utc_micros, other.score)
    }
}

/// Coded rows of one customer partition, a column each: 25 bytes a row,
/// where a [`Coded`] takes 32 with its padding.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SurveyPart {
    pub customer: Vec<u32>,
    pub file: Vec<u32>,
    pub row: Vec<u32>,
    pub local_day: Vec<i32>,
    pub utc_micros: Vec<i64>,
    pub score: Vec<u8>,
}

impl SurveyPart {
    pub fn with_capacity(rows: usize) -> SurveyPart {
        SurveyPart {
            customer: Vec::with_capacity(rows),
            file: Vec::with_capacity(rows),
            row: Vec::with_capacity(rows),
            local_day: Vec::with_capacity(rows),
            utc_micros: Vec::with_capacity(rows),
            score: Vec::with_capacity(rows),
        }
    }

    fn len(&self) -> usize {
        self.score.len()
    }

    pub fn push(&mut self, c: &Coded) {
        self.customer.push(c.customer);
        self.file.push(c.file);
        self.row.push(c.row);
        self.local_day.push(c.placed.local_day);
        self.utc_micros.push(c.placed.utc_micros);
        self.score.push(c.score);
    }

    /// The rows, in the order they were pushed.
    pub fn into_coded(self) -> Vec<Coded> {
        (0..self.len())
            .map(|i| Coded {
                customer: self.customer[i],
                file: self.file[i],
                row: self.row[i],
                placed: PlacedTimestamp {
                    utc_micros: self.utc_micros[i],
                    local_day: self.local_day[i],
                },
                score: self.score[i],
            })
            .collect()
    }
}

impl Part for SurveyPart {
    fn concat(pieces: Vec<SurveyPart>) -> SurveyPart {
        let mut whole = SurveyPart::with_capacity(pieces.iter().map(SurveyPart::len).sum());
        for piece in pieces {
            whole.customer.extend(piece.customer);
            whole.file.extend(piece.file);
            whole.row.extend(piece.row);
            whole.local_day.extend(piece.local_day);
            whole.utc_micros.extend(piece.utc_micros);
            whole.score.extend(piece.score);
        }
        whole
    }

    fn heap_bytes(&self) -> usize {
        4 * (self.customer.capacity() + self.file.capacity() + self.row.capacity())
            + 4 * self.local_day.capacity()
            + 8 * self.utc_micros.capacity()
            + self.score.capacity()
    }

    fn is_empty(&self) -> bool {
        self.score.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(customer: u32, row: u32) -> Coded {
        Coded {
            customer,
            file: 1,
            row,
            placed: PlacedTimestamp {
                utc_micros: 86_400_000_000 * row as i64,
                local_day: row as i32,
            },
            score: (row % 11) as u8,
        }
    }

    #[test]
    fn pieces_concatenate_to_the_rows_in_order() {
        let rows: Vec<Coded> = (0..7).map(|r| coded(r / 2, r)).collect();
        let (mut a, mut b) = (SurveyPart::default(), SurveyPart::default());
        rows[..3].iter().for_each(|c| a.push(c));
        rows[3..].iter().for_each(|c| b.push(c));
        let whole = SurveyPart::concat(vec![a, SurveyPart::default(), b]);
        assert_eq!(whole.len(), 7);
        assert!(whole.heap_bytes() >= 25 * 7);
        assert_eq!(whole.into_coded(), rows);
    }
}
