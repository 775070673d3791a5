//! The monthly in/out chart, drawn as inline SVG on the server so the page
//! needs no script and no outside library to show it. Floats appear only as
//! drawing coordinates; the amounts in labels, titles and the table under
//! the chart are exact.
//!
//! The time axis is true: a month without money in or out keeps its place
//! with no bars, so evenly spaced bars are evenly spaced months.

use maud::{Markup, html};

use super::model::MonthView;
use super::public::cny;
use super::render::Lang;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
/// Room for the value ticks ("2,000,000") left of the plot, at the larger
/// type a phone gets.
const MARGIN_LEFT: f64 = 118.0;
const MARGIN_RIGHT: f64 = 8.0;
const MARGIN_TOP: f64 = 28.0;
const MARGIN_BOTTOM: f64 = 30.0;
/// A chart wider than this many months shows only the latest ones; the
/// figures themselves are in the table under it and the exports.
pub const CHART_MONTHS_MAX: usize = 36;
/// At most this many value ticks above zero.
const TICKS_MAX: i64 = 4;

/// "YYYY-MM" as (year, month), or `None` if it is not such a month.
fn parse_month(text: &str) -> Option<(i32, u32)> {
    let (year, month) = text.split_once('-')?;
    let year: i32 = year.parse().ok()?;
    let month: u32 = month.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

/// Every month from the first to the last of `months`, those without a
/// record filled in with nothing in or out. Months that are not "YYYY-MM"
/// are kept as they are, in place.
pub fn continuous_months(months: &[MonthView]) -> Vec<MonthView> {
    let mut filled: Vec<MonthView> = Vec::with_capacity(months.len());
    for month in months {
        if let (Some(previous), Some(next)) = (
            filled.last().and_then(|last| parse_month(&last.month)),
            parse_month(&month.month),
        ) {
            let (mut year, mut number) = previous;
            // Bounded: a gap is at most the months between two recorded ones.
            loop {
                number += 1;
                if number > 12 {
                    number = 1;
                    year += 1;
                }
                if (year, number) >= next {
                    break;
                }
                filled.push(MonthView {
                    month: format!("{year:04}-{number:02}"),
                    in_fen: 0,
                    out_fen: 0,
                });
            }
        }
        filled.push(month.clone());
    }
    filled
}

/// A tick step of 1, 2 or 5 times a power of ten, so that at most
/// `TICKS_MAX` ticks reach `peak_fen`; in whole yuan (100 fen) at least.
fn tick_step_fen(peak_fen: i64) -> i64 {
    let mut power = 100_i64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * power;
            if step * TICKS_MAX >= peak_fen {
                return step;
            }
        }
        power = power.saturating_mul(10);
    }
}

/// Whole yuan with thousands separators: the ticks need no fen.
fn yuan_label(fen: i64) -> String {
    let text = cny(fen);
    text.strip_suffix(".00").unwrap_or(&text).to_owned()
}

pub fn monthly_chart(months: &[MonthView], lang: Lang) -> Markup {
    let all = continuous_months(months);
    let shown = &all[all.len().saturating_sub(CHART_MONTHS_MAX)..];
    let peak_fen = shown
        .iter()
        .map(|month| month.in_fen.max(month.out_fen))
        .max()
        .unwrap_or(0)
        .max(1);
    let step_fen = tick_step_fen(peak_fen);
    let top_fen = step_fen * ((peak_fen + step_fen - 1) / step_fen).max(1);
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let slot = plot_width / shown.len().max(1) as f64;
    let bar = (slot * 0.38).max(1.0);
    let height_of = |fen: i64| plot_height * (fen.max(0) as f64) / (top_fen as f64);
    let baseline = MARGIN_TOP + plot_height;
    let label = lang.t("每月收入与支出（元）", "Money in and out per month (CNY)");
    let ticks: Vec<i64> = (0..=top_fen / step_fen).map(|n| n * step_fen).collect();
    html! {
        figure.chart-figure {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            text x="0" y="14" class="chart-note" { (lang.t("元", "CNY")) }
            rect x=(WIDTH - 200.0) y="4" width="10" height="10" class="in" {}
            text x=(WIDTH - 186.0) y="13" class="chart-note" { (lang.t("收入", "In")) }
            rect x=(WIDTH - 120.0) y="4" width="10" height="10" class="out" {}
            text x=(WIDTH - 106.0) y="13" class="chart-note" { (lang.t("支出", "Out")) }
            @for tick in &ticks {
                @let y = baseline - height_of(*tick);
                line x1=(MARGIN_LEFT) x2=(WIDTH - MARGIN_RIGHT) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) class="axis tick" {}
                text class="tick-label" x=(MARGIN_LEFT - 4.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (yuan_label(*tick)) }
            }
            @for (position, month) in shown.iter().enumerate() {
                @let x = MARGIN_LEFT + slot * position as f64 + slot * 0.1;
                @let in_height = height_of(month.in_fen);
                @let out_height = height_of(month.out_fen);
                rect class="in" x=(format!("{x:.1}")) y=(format!("{:.1}", baseline - in_height))
                    width=(format!("{bar:.1}")) height=(format!("{in_height:.1}")) {
                    title { (month.month) " " (lang.t("收入", "in")) " " (cny(month.in_fen)) }
                }
                rect class="out" x=(format!("{:.1}", x + bar)) y=(format!("{:.1}", baseline - out_height))
                    width=(format!("{bar:.1}")) height=(format!("{out_height:.1}")) {
                    title { (month.month) " " (lang.t("支出", "out")) " " (cny(month.out_fen)) }
                }
                @if position == 0 || month.month.ends_with("-01") || position + 1 == shown.len() {
                    @let anchor = if position + 1 == shown.len() && position > 0 { "end" } else { "start" };
                    @let label_x = if anchor == "end" { x + bar * 2.0 } else { x };
                    text class="chart-note" x=(format!("{label_x:.1}")) y=(HEIGHT - 10.0) text-anchor=(anchor) { (month.month) }
                }
            }
        }
        details.chart-data {
            summary { (lang.t("逐月数字", "The figures, month by month")) }
            @let columns = [lang.t("月份", "Month"), lang.t("收入", "In"), lang.t("支出", "Out")];
            table #monthly-table {
                thead { tr { th { (columns[0]) } th.num { (columns[1]) } th.num { (columns[2]) } } }
                tbody { @for month in all.iter().rev() {
                    tr {
                        td.date data-label=(columns[0]) { (month.month) }
                        td.num data-label=(columns[1]) { (cny(month.in_fen)) }
                        td.num data-label=(columns[2]) { (cny(month.out_fen)) }
                    }
                } }
            }
        }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(name: &str, in_fen: i64) -> MonthView {
        MonthView {
            month: name.into(),
            in_fen,
            out_fen: 0,
        }
    }

    #[test]
    fn empty_months_keep_their_place_on_the_axis() {
        let filled = continuous_months(&[month("2015-11", 5), month("2016-02", 7)]);
        let names: Vec<&str> = filled.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(names, ["2015-11", "2015-12", "2016-01", "2016-02"]);
        assert_eq!(filled[1].in_fen, 0);
        assert_eq!(filled[3].in_fen, 7);
        let chart =
            monthly_chart(&[month("2015-11", 5), month("2016-02", 7)], Lang::Zh).into_string();
        assert_eq!(chart.matches("<rect class=\"in\"").count(), 4);
        assert!(chart.contains("<td class=\"date\" data-label=\"月份\">2016-01</td>"));
    }

    #[test]
    fn ticks_are_round_values_up_to_the_peak() {
        assert_eq!(tick_step_fen(100_000_000), 50_000_000);
        assert_eq!(tick_step_fen(1), 100);
        assert_eq!(tick_step_fen(6_100_000), 2_000_000);
        let chart = monthly_chart(&[month("2015-01", 150_000_000)], Lang::En).into_string();
        for tick in [">0<", ">500,000<", ">1,000,000<", ">1,500,000<"] {
            assert!(chart.contains(tick), "{tick} in {chart}");
        }
    }
}
