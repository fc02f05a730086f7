//! The "Target lists" section: each published list's size, suggested
//! action, rule and customers of highest value.

use super::super::data::{ReportData, TargetList, TargetSection};
use super::super::format::{self, escape, finite_opt, MISSING};
use super::{part, section as page_section, table_with_class, Cell};
use crate::tables::schema::targets::{AT_RISK_HIGH_VALUE, REENGAGE_NEW, VIP, WIN_BACK};

/// The note of a run without target lists.
pub(crate) const NO_LISTS: &str = "No target lists in this run.";

pub(super) fn section(data: &ReportData) -> String {
    let targets = &data.targets;
    if targets.lists.is_empty() {
        let note = format!("<div class=\"empty\">{}</div>", escape(NO_LISTS));
        return page_section(part::TARGETS, "", &note);
    }
    let lead = format!(
        "Customers to act on. Each customer is on at most one list: the first, in the order \
         below, whose rule holds. Active means an order less than {} days before as of (the \
         activity window). The full lists are the tables of the same name; below, each list's \
         ten customers of highest value.",
        data.facts.activity_window_days
    );
    let mut body = summary_table(data);
    body.push_str("<div class=\"grid2\">");
    for list in &targets.lists {
        body.push_str("<div>");
        body.push_str(&top_customers(list));
        body.push_str("</div>");
    }
    body.push_str("</div>");
    page_section(part::TARGETS, &lead, &body)
}

/// One row per list: size, share of all customers, rule and action.
fn summary_table(data: &ReportData) -> String {
    let customers = data.facts.customers as f64;
    let rows: Vec<Vec<Cell>> = data
        .targets
        .lists
        .iter()
        .map(|list| {
            let actions = if list.actions.is_empty() {
                MISSING.to_string()
            } else {
                list.actions.join("; ")
            };
            vec![
                Cell::Text(list.name.clone()),
                Cell::Num(format::int(list.customers as i64)),
                Cell::Num(format::share(list.customers as f64, customers)),
                Cell::Html(format!(
                    "<span class=\"rule\">{}</span>",
                    escape(&rule(data, list))
                )),
                Cell::Html(format!("<span class=\"rule\">{}</span>", escape(&actions))),
            ]
        })
        .collect();
    table_with_class(
        &[
            ("List", false),
            ("Customers", true),
            ("% of customers", true),
            ("Rule", false),
            ("Suggested action", false),
        ],
        &rows,
        None,
        "lists",
    )
}

/// A quantile setting as "the top N%" of customers by CLV, and the
/// setting itself.
fn top_share(quantile: Option<f64>) -> (String, String) {
    match finite_opt(quantile) {
        Some(q) => (format::plain(100.0 * (1.0 - q)), format::plain(q)),
        None => (MISSING.to_string(), MISSING.to_string()),
    }
}

/// The rule of a list, in one line, with the run's settings.
fn rule(data: &ReportData, list: &TargetList) -> String {
    let targets: &TargetSection = &data.targets;
    let name = list.name.as_str();
    if name == WIN_BACK.name {
        format!(
            "Not active at as of: no order in the last {} days.",
            data.facts.activity_window_days
        )
    } else if name == AT_RISK_HIGH_VALUE.name {
        let (top, q) = top_share(targets.high_clv_quantile);
        let p = finite_opt(targets.p_alive_below).map_or_else(|| MISSING.into(), format::plain);
        format!(
            "Active, CLV in the top {top}% (clv_quantile ≥ {q}), P(alive) below {p}, and longer \
             since the last order than their usual gap between order days."
        )
    } else if name == REENGAGE_NEW.name {
        reengage_rule(targets, list)
    } else if name == VIP.name {
        vip_rule(data)
    } else {
        MISSING.to_string()
    }
}

/// `reengage_new`: one-time buyers past the typical second-order gap.
fn reengage_rule(targets: &TargetSection, list: &TargetList) -> String {
    let gap = finite_opt(list.typical_gap_days)
        .or(targets.reengage_after_days)
        .map_or_else(|| MISSING.to_string(), format::plain);
    let source = if targets.reengage_after_days.is_some() {
        "[targets] reengage_after_days"
    } else {
        "the median days from first to second order"
    };
    format!("Active, exactly one order, and more than {gap} days since it ({source}).")
}

/// `vip`: the top tier, or CLV in the top share (whichever the run has).
fn vip_rule(data: &ReportData) -> String {
    let (top, q) = top_share(data.targets.vip_clv_quantile);
    let by_clv = format!("CLV in the top {top}% (clv_quantile ≥ {q})");
    match (data.tiers.is_some(), data.clv.is_some()) {
        (true, true) => format!("Active, and in the top tier or with {by_clv}."),
        (true, false) => "Active, and in the top tier.".to_string(),
        (false, _) => format!("Active, with {by_clv}."),
    }
}

/// Rows of the top-customers table of a list.
fn top_rows(list: &TargetList) -> Vec<Vec<Cell>> {
    list.top
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![
                Cell::Num((i + 1).to_string()),
                Cell::Text(c.customer_id.clone()),
            ];
            if list.by_clv {
                row.push(Cell::Num(format::money_opt(c.clv)));
            }
            row.push(Cell::Num(format::money_opt(c.revenue)));
            row
        })
        .collect()
}

/// A list's customers of highest value (CLV when it has it, else revenue).
fn top_customers(list: &TargetList) -> String {
    if list.top.is_empty() {
        return format!(
            "<h3>{}</h3><p class=\"note\">No customer is on this list.</p>",
            escape(&list.name)
        );
    }
    let by = if list.by_clv { "CLV" } else { "revenue" };
    let mut headers = vec![("#", true), ("Customer", false)];
    if list.by_clv {
        headers.push(("CLV", true));
    }
    headers.push(("Revenue", true));
    format!(
        "<h3>{}: top {} by {by}</h3>{}",
        escape(&list.name),
        list.top.len(),
        table_with_class(&headers, &top_rows(list), None, "compact")
    )
}
