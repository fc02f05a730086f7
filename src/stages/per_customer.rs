//! Every per-customer result, held together once the order history is
//! dropped: what the `customers` table and the target lists are built
//! from, a row group at a time, when they are published.

use crate::config::TargetsConfig;
use crate::stages::clv_scores::{ClvScores, SimpleClv};
use crate::stages::customers::CustomerSummary;
use crate::stages::orders::CustomerIds;
use crate::stages::targets::TargetInputs;
use crate::stages::tiers::{CustomerTiers, Tiers};

/// Per customer in code (id) order, and what the target rules need.
pub struct PerCustomer {
    pub customer_ids: CustomerIds,
    pub as_of: i32,
    pub summary: CustomerSummary,
    /// The CLV scores and the simple CLV's settings, with the CLV stage.
    pub clv: Option<(ClvScores, SimpleClv)>,
    /// The loyalty tiers, with `[loyalty]`.
    pub tiers: Option<Tiers>,
    pub customer_tiers: CustomerTiers,
    /// The activity window, in days.
    pub window: u32,
    pub targets: TargetsConfig,
}

impl PerCustomer {
    /// What the target rules read.
    pub fn target_inputs(&self) -> TargetInputs<'_> {
        TargetInputs {
            customer_ids: &self.customer_ids,
            as_of: self.as_of,
            summary: &self.summary,
            window: self.window,
            tiers: self.tiers.as_ref(),
            customer_tiers: &self.customer_tiers,
            clv: self.clv.as_ref().map(|(scores, _)| scores),
            config: &self.targets,
        }
    }
}
