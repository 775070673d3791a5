//! The monthly in/out chart, drawn as inline SVG on the server so the page
//! needs no script and no outside library to show it. Floats appear only as
//! drawing coordinates; the amounts in labels and titles are exact.

use maud::{Markup, html};

use super::model::MonthView;
use super::public::cny;
use super::render::Lang;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const MARGIN_LEFT: f64 = 8.0;
const MARGIN_TOP: f64 = 28.0;
const MARGIN_BOTTOM: f64 = 30.0;
/// A chart wider than this many months shows only the latest ones; the
/// figures themselves are in the tables and exports.
pub const CHART_MONTHS_MAX: usize = 36;

pub fn monthly_chart(months: &[MonthView], lang: Lang) -> Markup {
    let shown = &months[months.len().saturating_sub(CHART_MONTHS_MAX)..];
    let peak_fen = shown
        .iter()
        .map(|month| month.in_fen.max(month.out_fen))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let slot = (WIDTH - MARGIN_LEFT * 2.0) / shown.len().max(1) as f64;
    let bar = (slot * 0.38).max(1.0);
    let height_of = |fen: i64| plot_height * (fen.max(0) as f64) / (peak_fen as f64);
    let baseline = MARGIN_TOP + plot_height;
    let label = lang.t("每月收入与支出（元）", "Money in and out per month (CNY)");
    html! {
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            text x=(MARGIN_LEFT) y="14" class="chart-note" {
                (lang.t("最高", "Peak")) " " (cny(peak_fen))
            }
            rect x=(WIDTH - 200.0) y="4" width="10" height="10" class="in" {}
            text x=(WIDTH - 186.0) y="13" class="chart-note" { (lang.t("收入", "In")) }
            rect x=(WIDTH - 120.0) y="4" width="10" height="10" class="out" {}
            text x=(WIDTH - 106.0) y="13" class="chart-note" { (lang.t("支出", "Out")) }
            line x1=(MARGIN_LEFT) x2=(WIDTH - MARGIN_LEFT) y1=(baseline) y2=(baseline) class="axis" {}
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
                    text class="chart-note" x=(format!("{x:.1}")) y=(HEIGHT - 10.0) { (month.month) }
                }
            }
        }
    }
}
