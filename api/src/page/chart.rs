//! The page's charts, drawn as inline SVG on the server so the page needs
//! no script and no outside library to show them: money in and out by
//! month, a campaign's target, raised and pledged by year, and where the
//! money went. Floats appear only as drawing coordinates; the amounts in
//! labels, titles and the table under each chart are exact.
//!
//! The time axes are true: a month or year without money keeps its place
//! with no bars (and 0 in the table), so evenly spaced bars are evenly
//! spaced months or years. Legends are HTML under the heading, so they wrap
//! on a phone instead of running off the drawing.

use maud::{Markup, html};

use super::model::{CampaignView, CampaignYearView, MonthView};
use super::outflows::{OutflowView, SpentOn};
use super::public::{cny, percent_bp, share_bp};
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

/// Every year from the first to the last of `years`, a year without a
/// target or money filled in with zeros.
pub fn continuous_years(years: &[CampaignYearView]) -> Vec<CampaignYearView> {
    let mut filled: Vec<CampaignYearView> = Vec::with_capacity(years.len());
    for year in years {
        if let Some(previous) = filled.last().map(|last| last.year) {
            // Bounded: a gap is at most the years between two listed ones.
            for missing in previous + 1..year.year {
                filled.push(CampaignYearView {
                    year: missing,
                    target_fen: 0,
                    raised_fen: 0,
                    pledged_fen: 0,
                    pledge_payments_fen: 0,
                    reached_bp: 0,
                });
            }
        }
        filled.push(year.clone());
    }
    filled
}

/// A legend entry: the CSS class its bars share, and its label.
type Series = (&'static str, &'static str);

/// The series' colours, then the unit: in HTML above the drawing, where
/// it wraps on a narrow screen and collides with no tick.
fn legend(entries: &[Series], lang: Lang) -> Markup {
    html! {
        ul.chart-legend {
            @for (class, label) in entries {
                li { span class={"swatch " (class)} {} (label) }
            }
            li.unit { (lang.t("单位：元", "in CNY")) }
        }
    }
}

/// A campaign's yearly target, what it raised and the pledged instalments
/// falling due, as grouped bars per year, with the figures in a table.
pub fn campaign_chart(campaign: &CampaignView, lang: Lang) -> Markup {
    let years = continuous_years(&campaign.years);
    let series: [Series; 3] = [
        ("target", lang.t("年度目标", "Target")),
        ("raised", lang.t("已筹", "Raised")),
        ("pledged", lang.t("当年到期认捐", "Pledged instalments due")),
    ];
    let figures = |year: &CampaignYearView| [year.target_fen, year.raised_fen, year.pledged_fen];
    let peak_fen = years.iter().flat_map(figures).max().unwrap_or(0).max(1);
    let step_fen = tick_step_fen(peak_fen);
    let top_fen = step_fen * ((peak_fen + step_fen - 1) / step_fen).max(1);
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let slot = plot_width / years.len().max(1) as f64;
    let bar = slot * 0.8 / series.len() as f64;
    let height_of = |fen: i64| plot_height * (fen.max(0) as f64) / (top_fen as f64);
    let baseline = MARGIN_TOP + plot_height;
    let label = lang.t(
        "各年度目标、已筹与到期认捐（元）",
        "Target, raised and pledged by year (CNY)",
    );
    let ticks: Vec<i64> = (0..=top_fen / step_fen).map(|n| n * step_fen).collect();
    html! {
        figure.chart-figure.campaign-chart {
        (legend(&series, lang))
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            @for tick in &ticks {
                @let y = baseline - height_of(*tick);
                line x1=(MARGIN_LEFT) x2=(WIDTH - MARGIN_RIGHT) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) class="axis tick" {}
                text class="tick-label" x=(MARGIN_LEFT - 4.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (yuan_label(*tick)) }
            }
            @for (position, year) in years.iter().enumerate() {
                @let left = MARGIN_LEFT + slot * position as f64 + slot * 0.1;
                @for (index, ((class, name), fen)) in series.iter().zip(figures(year)).enumerate() {
                    @let height = height_of(fen);
                    rect class=(class) x=(format!("{:.1}", left + bar * index as f64)) y=(format!("{:.1}", baseline - height))
                        width=(format!("{bar:.1}")) height=(format!("{height:.1}")) {
                        title { (year.year) " " (name) " " (cny(fen)) }
                    }
                }
                text class="chart-note" x=(format!("{:.1}", left + bar * 1.5)) y=(HEIGHT - 10.0) text-anchor="middle" { (year.year) }
            }
        }
        details.chart-data {
            summary { (lang.t("逐年数字", "The figures, year by year")) }
            @let year_label = lang.t("年度", "Year");
            table.campaign-chart-table {
                thead { tr { th { (year_label) } @for (_, name) in &series { th.num { (name) } } } }
                tbody { @for year in &years {
                    tr {
                        td data-label=(year_label) { (year.year) }
                        @for ((_, name), fen) in series.iter().zip(figures(year)) {
                            td.num data-label=(name) { (cny(fen)) }
                        }
                    }
                } }
            }
        }
        }
    }
}

/// The colour class of what paid money out.
fn spent_on_class(kind: &SpentOn) -> &'static str {
    match kind {
        SpentOn::GrantTranches => "grant",
        SpentOn::ProjectSpending => "project",
        SpentOn::Category(_) => "spend",
        SpentOn::Refunds => "refund",
    }
}

/// What paid money out, in words; a category the page does not know is
/// named as recorded.
pub fn spent_on_label(kind: &SpentOn, lang: Lang) -> String {
    match kind {
        SpentOn::GrantTranches => lang
            .t("微创投资助拨付", "Micro-venture grant tranches")
            .into(),
        SpentOn::ProjectSpending => lang.t("认领项目支出", "Claimed projects' spending").into(),
        SpentOn::Refunds => lang.t("退还捐赠", "Gifts refunded").into(),
        SpentOn::Category(category) => match category.as_str() {
            "one_off_support" => lang.t("一次性扶持", "One-off support").into(),
            "purchase_of_services" => lang.t("购买服务", "Purchase of services").into(),
            "award_for_excellence" => lang.t("奖励优秀", "Awards for excellence").into(),
            "project_delivery" => lang.t("项目执行", "Project delivery").into(),
            "operations" => lang.t("日常运营", "Operations").into(),
            "unspecified" => lang.t("其他支出", "Other spending").into(),
            other => other.to_owned(),
        },
    }
}

const OUTFLOW_ROW_HEIGHT: f64 = 58.0;
const OUTFLOW_AXIS_HEIGHT: f64 = 34.0;

/// Where the money went: a bar per kind of spending, on one value axis,
/// with each figure and its share of the whole in a table.
pub fn outflow_chart(outflows: &OutflowView, lang: Lang) -> Markup {
    let series: [Series; 4] = [
        ("grant", lang.t("微创投资助", "Grants")),
        ("project", lang.t("认领项目", "Claimed projects")),
        (
            "spend",
            lang.t("基金支出（按类别）", "Fund spending, by category"),
        ),
        ("refund", lang.t("退款", "Refunds")),
    ];
    let peak_fen = outflows
        .lines
        .iter()
        .map(|line| line.amount_fen)
        .max()
        .unwrap_or(0)
        .max(1);
    let step_fen = tick_step_fen(peak_fen);
    let top_fen = step_fen * ((peak_fen + step_fen - 1) / step_fen).max(1);
    let left = MARGIN_RIGHT;
    let plot_width = WIDTH - left - MARGIN_RIGHT * 2.0;
    let height = 8.0 + OUTFLOW_ROW_HEIGHT * outflows.lines.len() as f64 + OUTFLOW_AXIS_HEIGHT;
    let axis_y = height - OUTFLOW_AXIS_HEIGHT;
    let width_of = |fen: i64| plot_width * (fen.max(0) as f64) / (top_fen as f64);
    let label = lang.t("支出去向（元）", "Where the money went (CNY)");
    let ticks: Vec<i64> = (0..=top_fen / step_fen).map(|n| n * step_fen).collect();
    let last_tick = ticks.len() - 1;
    html! {
        figure.chart-figure.outflow-chart {
        (legend(&series, lang))
        svg class="chart" viewBox={"0 0 " (WIDTH) " " (height)} role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            @for (index, tick) in ticks.iter().enumerate() {
                @let x = left + width_of(*tick);
                @let anchor = if index == last_tick && index > 0 { "end" } else if index == 0 { "start" } else { "middle" };
                line x1=(format!("{x:.1}")) x2=(format!("{x:.1}")) y1="4" y2=(format!("{axis_y:.1}")) class="axis tick" {}
                text class="tick-label" x=(format!("{x:.1}")) y=(format!("{:.1}", height - 8.0)) text-anchor=(anchor) { (yuan_label(*tick)) }
            }
            @for (row, line) in outflows.lines.iter().enumerate() {
                @let top = 8.0 + OUTFLOW_ROW_HEIGHT * row as f64;
                @let name = spent_on_label(&line.kind, lang);
                text class="chart-note" x=(left) y=(format!("{:.1}", top + 20.0)) { (name) }
                text class="chart-note" x=(WIDTH - MARGIN_RIGHT) y=(format!("{:.1}", top + 20.0)) text-anchor="end" { (cny(line.amount_fen)) }
                rect class=(spent_on_class(&line.kind)) x=(left) y=(format!("{:.1}", top + 28.0))
                    width=(format!("{:.1}", width_of(line.amount_fen))) height="20" {
                    title { (name) " " (cny(line.amount_fen)) }
                }
            }
        }
        details.chart-data {
            summary { (lang.t("各项数字", "The figures")) }
            @let columns = [lang.t("用途", "Spent on"), lang.t("金额", "Amount"), lang.t("占比", "Share")];
            table.outflow-table {
                thead { tr { th { (columns[0]) } th.num { (columns[1]) } th.num { (columns[2]) } } }
                tbody {
                    @for line in &outflows.lines {
                        tr {
                            td data-label=(columns[0]) { (spent_on_label(&line.kind, lang)) }
                            td.num data-label=(columns[1]) { (cny(line.amount_fen)) }
                            td.num data-label=(columns[2]) { (percent_bp(share_bp(line.amount_fen, outflows.total_fen))) }
                        }
                    }
                    tr.total {
                        td data-label=(columns[0]) { (lang.t("合计", "Total")) }
                        td.num data-label=(columns[1]) { (cny(outflows.total_fen)) }
                        td.num data-label=(columns[2]) { (percent_bp(if outflows.total_fen > 0 { 10_000 } else { 0 })) }
                    }
                }
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

    fn year(year: i32, target_fen: i64, raised_fen: i64, pledged_fen: i64) -> CampaignYearView {
        CampaignYearView {
            year,
            target_fen,
            raised_fen,
            pledged_fen,
            pledge_payments_fen: 0,
            reached_bp: 0,
        }
    }

    fn campaign(years: Vec<CampaignYearView>) -> CampaignView {
        CampaignView {
            campaign_id: "c".into(),
            name: "c".into(),
            target_fen: 0,
            raised_fen: 0,
            donations_fen: 0,
            pledge_payments_fen: 0,
            pledged_fen: 0,
            reached_bp: 0,
            years,
        }
    }

    /// The chart's table row of a year, as the Chinese page writes it.
    fn year_row(year: i32, target_fen: i64, raised_fen: i64, pledged_fen: i64) -> String {
        format!(
            "<td data-label=\"年度\">{year}</td><td class=\"num\" data-label=\"年度目标\">{}</td>\
             <td class=\"num\" data-label=\"已筹\">{}</td><td class=\"num\" data-label=\"当年到期认捐\">{}</td>",
            cny(target_fen),
            cny(raised_fen),
            cny(pledged_fen)
        )
    }

    #[test]
    fn a_campaign_year_with_nothing_keeps_its_place_and_shows_zero() {
        let chart = campaign_chart(
            &campaign(vec![
                year(2015, 150_000_000, 160_000_000, 20_000_000),
                year(2017, 250_000_000, 0, 0),
            ]),
            Lang::Zh,
        )
        .into_string();
        assert!(chart.contains(&year_row(2016, 0, 0, 0)), "{chart}");
        assert!(chart.contains(&year_row(2015, 150_000_000, 160_000_000, 20_000_000)));
        // Three bars a year, 2016's of no height, and its label on the axis.
        assert_eq!(chart.matches("<rect class=\"raised\"").count(), 3);
        assert!(chart.contains(">2016</text>"));
        assert!(chart.contains("<li><span class=\"swatch pledged\"></span>当年到期认捐</li>"));
        for tick in [">0<", ">1,000,000<", ">2,000,000<"] {
            assert!(chart.contains(tick), "{tick}");
        }
    }

    fn kaixuan_overview() -> (
        mingzhang_projections::Projections,
        super::super::model::PublicOverview,
    ) {
        use super::super::model::{self, AsOfSource, Directory, Provenance};
        let projections = crate::test_support::kaixuan_projections();
        let directory = Directory::build(&projections);
        let provenance = Provenance {
            records: projections.applied_len(),
            checkpoint: None,
            verifier_key: None,
            as_of: "2016-12-31".into(),
            as_of_source: AsOfSource::Configured,
        };
        let view = model::views_from(&projections, &directory, provenance);
        (projections, view)
    }

    #[test]
    fn the_campaign_chart_shows_the_projections_figures_for_every_year_to_the_fen() {
        let (projections, view) = kaixuan_overview();
        let progress = &projections.campaigns()[0];
        assert_eq!(
            progress.total_target_fen, 1_000_000_000,
            "the 10,000,000 goal"
        );
        let chart = campaign_chart(&view.campaigns[0], Lang::Zh).into_string();
        assert_eq!(progress.years.len(), 5);
        for listed in &progress.years {
            let row = year_row(
                listed.year,
                listed.target_fen,
                listed.raised_fen,
                listed.pledged_fen,
            );
            assert!(chart.contains(&row), "{row} in {chart}");
        }
    }

    #[test]
    fn the_outflow_chart_shows_each_line_and_the_funds_total_out_to_the_fen() {
        let (projections, view) = kaixuan_overview();
        let total_out_fen: i64 = projections
            .fund_balances()
            .iter()
            .map(|fund| fund.total_out_fen)
            .sum();
        let chart = outflow_chart(&view.outflows, Lang::En).into_string();
        assert!(chart.contains(&format!(
            "<td data-label=\"Spent on\">Total</td><td class=\"num\" data-label=\"Amount\">{}</td>",
            cny(total_out_fen)
        )));
        let disbursed_fen: i64 = projections.grants().iter().map(|g| g.disbursed_fen).sum();
        assert!(chart.contains(&format!(
            "<td data-label=\"Spent on\">Micro-venture grant tranches</td><td class=\"num\" data-label=\"Amount\">{}</td>",
            cny(disbursed_fen)
        )));
        for line in &view.outflows.lines {
            assert!(chart.contains(&format!(
                "<title>{} {}</title>",
                spent_on_label(&line.kind, Lang::En),
                cny(line.amount_fen)
            )));
        }
    }
}
