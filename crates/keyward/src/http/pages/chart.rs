//! The key page's 30-day chart of allowed and denied requests: an inline
//! SVG drawn on the server (no script, no style attribute: the page's CSP
//! allows neither inline).

use std::fmt::Write;

use crate::usage::Day;

const WIDTH: u32 = 600;
const HEIGHT: u32 = 160;
const TOP: u32 = 10;
const BOTTOM: u32 = 20;

/// Bars per day, allowed and denied side by side, scaled to the busiest
/// day; the title says the totals for screen readers.
pub fn daily(days: &[Day]) -> String {
    let max = days.iter().map(|d| d.allowed.max(d.denied)).max().unwrap_or(0).max(1);
    let (allowed, denied) = days
        .iter()
        .fold((0u64, 0u64), |(a, d), day| (a + day.allowed, d + day.denied));
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = WIDTH as f64 / days.len().max(1) as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title"><title id="chart-title">Requests per day, last {} days: {allowed} allowed, {denied} denied</title>"#,
        days.len()
    );
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="0" y1="{base}" x2="{WIDTH}" y2="{base}"/>"#
    );
    for (i, day) in days.iter().enumerate() {
        let x = i as f64 * slot;
        for (offset, count, class) in [(0.0, day.allowed, "allowed"), (bar + 1.0, day.denied, "denied")] {
            if count == 0 {
                continue;
            }
            let h = ((count as f64 / max as f64) * plot as f64).max(1.0);
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}"><title>{}: {count} {class}</title></rect>"#,
                x + offset,
                base as f64 - h,
                day.date
            );
        }
    }
    // A date every week, counted back from today (the last bar's end).
    for (i, day) in days.iter().enumerate() {
        if (days.len() - 1 - i) % 7 == 0 {
            let x = (i as f64 + 1.0) * slot;
            let label = day.date.get(5..).unwrap_or(&day.date);
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="end">{label}</text>"#,
                HEIGHT - 6
            );
        }
    }
    let _ = write!(svg, r#"<text x="2" y="{}">{max}</text></svg>"#, TOP + 8);
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_the_title_says_the_totals() {
        let days = vec![
            Day {
                date: "2026-11-23".into(),
                allowed: 10,
                denied: 0,
            },
            Day {
                date: "2026-11-24".into(),
                allowed: 5,
                denied: 2,
            },
        ];
        let svg = daily(&days);
        assert!(svg.contains("15 allowed, 2 denied"), "{svg}");
        assert!(svg.contains(r#"height="130.0""#), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(!svg.contains("style=") && !svg.contains("<script"));
    }
}
