//! The "Loyalty tiers" section: customers per tier at as_of
//! (`customers.tier`) and the moves between tiers (`tier_migration`).

use super::super::charts;
use super::super::data::{movement, ReportData, TierMove, TierSection};
use super::super::format::{self, escape};
use super::{inline_bar, part, section as page_section, table_with_class, Cell};

/// The note of a run without tiers.
pub(crate) const NO_TIERS: &str =
    "No loyalty tiers: the pipeline has no [loyalty] section, so there is no tier_migration.";

pub(super) fn section(data: &ReportData) -> String {
    let Some(tiers) = &data.tiers else {
        let note = format!("<div class=\"empty\">{}</div>", escape(NO_TIERS));
        return page_section(part::TIERS, "", &note);
    };
    let lead = "Customers in loyalty tiers by their net spend over the trailing twelve months \
                ([loyalty] tiers). Left: every tier's customers at each month end. Right: the \
                customers who moved up a tier (above zero) or down a tier (below zero) each \
                month; new customers enter their first tier and are counted on the left. The \
                month in progress is hatched.";
    let mut body = String::from("<div class=\"grid2\"><div class=\"panel\"><h3>Tier sizes</h3>");
    body.push_str(&charts::tier_sizes(tiers));
    body.push_str("</div><div class=\"panel\"><h3>Moves between tiers</h3>");
    body.push_str(&charts::tier_moves(tiers));
    body.push_str("</div><div><h3>Customers per tier at as of</h3>");
    body.push_str(&sizes_table(tiers));
    body.push_str("</div><div>");
    body.push_str(&last_month_matrix(tiers));
    body.push_str("</div></div>");
    page_section(part::TIERS, lead, &body)
}

/// Customers per tier at as_of with their share.
fn sizes_table(tiers: &TierSection) -> String {
    if tiers.sizes.is_empty() {
        return charts::placeholder("No customer has a tier yet.");
    }
    let total: i64 = tiers.sizes.iter().map(|s| s.1).sum();
    let largest = tiers.sizes.iter().map(|s| s.1).max().unwrap_or(0);
    let rows: Vec<Vec<Cell>> = tiers
        .sizes
        .iter()
        .map(|(tier, n)| {
            let bar = if largest > 0 {
                *n as f64 / largest as f64
            } else {
                0.0
            };
            vec![
                Cell::Text(tier.clone()),
                Cell::Num(format::int(*n)),
                Cell::NumHtml(inline_bar(bar, &format::share(*n as f64, total as f64))),
            ]
        })
        .collect();
    let total_row = vec![
        Cell::Text("All tiers".to_string()),
        Cell::Num(format::int(total)),
        Cell::Num(String::new()),
    ];
    table_with_class(
        &[
            ("Tier", false),
            ("Customers", true),
            ("% of customers", true),
        ],
        &rows,
        Some(total_row),
        "compact",
    )
}

/// The from → to counts of the last complete month: moves up in green,
/// down in red.
fn last_month_matrix(tiers: &TierSection) -> String {
    let Some((month, moves)) = tiers.last_complete_moves() else {
        return "<h3>Moves in the last complete month</h3><p class=\"note\">No month is \
                complete yet.</p>"
            .to_string();
    };
    let mut from: Vec<&str> = Vec::new();
    let mut to: Vec<&str> = Vec::new();
    for m in &moves {
        if !from.contains(&m.from_tier.as_str()) {
            from.push(&m.from_tier);
        }
        if !to.contains(&m.to_tier.as_str()) {
            to.push(&m.to_tier);
        }
    }
    let rows: Vec<Vec<Cell>> = from
        .iter()
        .map(|f| {
            let mut row = vec![Cell::Text(f.to_string())];
            row.extend(to.iter().map(|t| matrix_cell(&moves, f, t)));
            row
        })
        .collect();
    let mut headers: Vec<(&str, bool)> = vec![("From \\ to", false)];
    headers.extend(to.iter().map(|t| (*t, true)));
    format!(
        "<h3>Moves in {} (the last complete month)</h3><p class=\"note\">Customers by their \
         tier at the end of the month before (rows; (new): first order in the month) and at \
         the month's end (columns).</p>{}",
        escape(&format::month_name(month)),
        table_with_class(&headers, &rows, None, "compact")
    )
}

/// One cell of the matrix: the customers who moved from `from` to `to`.
fn matrix_cell(moves: &[&TierMove], from: &str, to: &str) -> Cell {
    let Some(m) = moves
        .iter()
        .find(|m| m.from_tier == from && m.to_tier == to)
    else {
        return Cell::Num(format::MISSING.to_string());
    };
    let class = match m.movement.as_str() {
        movement::UP if m.customers > 0 => "good",
        movement::DOWN if m.customers > 0 => "bad",
        _ => "",
    };
    let text = escape(&format::int(m.customers));
    if class.is_empty() {
        Cell::NumHtml(text)
    } else {
        Cell::NumHtml(format!("<span class=\"{class}\">{text}</span>"))
    }
}
