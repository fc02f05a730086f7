//! Reading a rendered report in tests: whether an SVG element draws data,
//! and one section's HTML. Shared by the report's unit tests and the
//! black-box report tests (`tests/it/report.rs` includes this file).

/// Whether an SVG element draws data: a line through points, a dot, or a
/// visible bar or cell; not a legend swatch (12 × 12), a grey or hatched
/// band behind the plot, a gradient or pattern, or a transparent tooltip
/// area.
pub fn is_mark(n: roxmltree::Node<'_, '_>) -> bool {
    // Patterns and gradients are paint, not marks.
    if n.ancestors().any(|a| a.has_tag_name("defs")) {
        return false;
    }
    match n.tag_name().name() {
        "polyline" | "circle" => true,
        "rect" => {
            let number = |a: &str| {
                n.attribute(a)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let (w, h) = (number("width"), number("height"));
            let fill = n.attribute("fill").unwrap_or("");
            w > 0.0
                && h > 0.0
                && !(w == 12.0 && h == 12.0)
                && n.attribute("fill-opacity") != Some("0")
                && fill != "#f3f4f7"
                && !fill.starts_with("url(")
        }
        _ => false,
    }
}

/// The HTML of the section with anchor `id`.
pub fn section_of<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").expect("the section ends")]
}
