//! Key codes stored as narrow as the largest code allows.

use super::NO_CODE;

/// Codes stored as narrow as the largest code allows: one byte while a
/// dimension has fewer than 255 values, two below 65,535, four beyond. The
/// widest value of each width stands for [`NO_CODE`]. Dimension columns have
/// few values in practice, but nothing here assumes it.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeVec {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Default for CodeVec {
    fn default() -> Self {
        CodeVec::U8(Vec::new())
    }
}

impl CodeVec {
    pub fn len(&self) -> usize {
        match self {
            CodeVec::U8(v) => v.len(),
            CodeVec::U16(v) => v.len(),
            CodeVec::U32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code at `i` ([`NO_CODE`] for a missing value).
    pub fn get(&self, i: usize) -> u32 {
        match self {
            CodeVec::U8(v) => match v[i] {
                u8::MAX => NO_CODE,
                x => x as u32,
            },
            CodeVec::U16(v) => match v[i] {
                u16::MAX => NO_CODE,
                x => x as u32,
            },
            CodeVec::U32(v) => v[i],
        }
    }

    /// Widens the storage until `code` fits.
    fn fit(&mut self, code: u32) {
        if code == NO_CODE {
            return;
        }
        let widen16 = |v: &[u8]| {
            v.iter()
                .map(|&x| if x == u8::MAX { u16::MAX } else { x as u16 })
                .collect::<Vec<u16>>()
        };
        if let CodeVec::U8(v) = self {
            if code >= u8::MAX as u32 {
                *self = CodeVec::U16(widen16(v));
            }
        }
        if let CodeVec::U16(v) = self {
            if code >= u16::MAX as u32 {
                *self = CodeVec::U32(
                    v.iter()
                        .map(|&x| if x == u16::MAX { NO_CODE } else { x as u32 })
                        .collect(),
                );
            }
        }
    }

    pub fn push(&mut self, code: u32) {
        self.fit(code);
        match self {
            CodeVec::U8(v) => v.push(if code == NO_CODE { u8::MAX } else { code as u8 }),
            CodeVec::U16(v) => v.push(if code == NO_CODE {
                u16::MAX
            } else {
                code as u16
            }),
            CodeVec::U32(v) => v.push(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_widen_as_values_grow_and_keep_missing() {
        let mut codes = CodeVec::default();
        codes.push(3);
        codes.push(NO_CODE);
        assert!(matches!(codes, CodeVec::U8(_)));
        codes.push(254);
        assert!(matches!(codes, CodeVec::U8(_)));
        codes.push(255);
        assert!(matches!(codes, CodeVec::U16(_)));
        codes.push(70_000);
        assert!(matches!(codes, CodeVec::U32(_)));
        codes.push(NO_CODE);
        let got: Vec<u32> = (0..codes.len()).map(|i| codes.get(i)).collect();
        assert_eq!(got, vec![3, NO_CODE, 254, 255, 70_000, NO_CODE]);
    }
}
