//! The loyalty tier charts, as monthly panels: the customers in each tier
//! at every month end, and the customers who moved up or down a tier.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::super::data::{TierMonth, TierSection};
use super::super::svg::{Kind, RAMP, RED, TEAL};
use super::kpi_panels::{kpi_panel, Mark, Panel, Series};
use super::placeholder;

/// Colour of tier `i` of `n`, lowest tier lightest, along the ramp without
/// its palest colours (which vanish against the page).
fn tier_color(i: usize, n: usize) -> &'static str {
    let last = RAMP.len() - 1;
    let span = n.saturating_sub(1).max(1) as f64;
    let position = 2 + ((last - 2) as f64 * i as f64 / span).round() as usize;
    RAMP[position.min(last)]
}

/// The months of the migration, with whether each is complete.
fn month_axis(months: &[TierMonth]) -> (Vec<NaiveDate>, Vec<bool>) {
    months.iter().map(|m| (m.month, m.month_complete)).unzip()
}

/// Customers per tier at each month end: stacked bars, lowest tier at the
/// bottom.
pub(crate) fn tier_sizes(tiers: &TierSection) -> String {
    let months = tiers.months();
    if months.is_empty() {
        return placeholder("No month has tier figures yet.");
    }
    // Customers by month and the tier they ended it in.
    let mut ended: BTreeMap<(NaiveDate, &str), i64> = BTreeMap::new();
    for m in &tiers.migration {
        let count = ended.entry((m.month, m.to_tier.as_str())).or_default();
        *count = count.saturating_add(m.customers);
    }
    let n = tiers.sizes.len();
    let series = tiers
        .sizes
        .iter()
        .enumerate()
        .map(|(i, (tier, _))| {
            let values = months
                .iter()
                .map(|m| Some(ended.get(&(m.month, tier.as_str())).copied().unwrap_or(0) as f64))
                .collect();
            Series::new(tier.clone(), tier_color(i, n), Mark::Up, values)
        })
        .collect();
    let panel = Panel {
        id: "tier-sizes",
        title: "Customers per tier at each month end",
        y_title: "customers",
        kind: Kind::Count,
        series,
    };
    let (dates, complete) = month_axis(&months);
    kpi_panel(&panel, &dates, &complete)
}

/// Customers who moved up a tier (above zero) and down a tier (below zero)
/// per month.
pub(crate) fn tier_moves(tiers: &TierSection) -> String {
    let months = tiers.months();
    if months.iter().all(|m| m.up == 0 && m.down == 0) {
        return placeholder("No customer has moved between tiers yet.");
    }
    let count = |f: fn(&TierMonth) -> i64| months.iter().map(|m| Some(f(m) as f64)).collect();
    let panel = Panel {
        id: "tier-moves",
        title: "Customers moving between tiers",
        y_title: "customers per month",
        kind: Kind::Count,
        series: vec![
            Series::new("moved up", TEAL, Mark::Up, count(|m| m.up)),
            Series::new(
                "moved down (below zero)",
                RED,
                Mark::Down,
                count(|m| m.down),
            ),
        ],
    };
    let (dates, complete) = month_axis(&months);
    kpi_panel(&panel, &dates, &complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_colors_run_from_light_to_dark() {
        assert_eq!(tier_color(0, 3), RAMP[2]);
        assert_eq!(tier_color(2, 3), RAMP[7]);
        assert_eq!(tier_color(0, 1), RAMP[2]);
        assert_eq!(tier_color(19, 20), RAMP[7]);
    }
}
