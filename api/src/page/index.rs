//! The index pages `/projects`, `/sponsors`, `/grants` and `/rounds`: every
//! row of one kind, narrowed by a plain GET form (search words, community,
//! need kind, status, year), in the spirit of 360Giving's GrantNav. They
//! show the overview's rows, so the one masking rule of `public.rs` holds:
//! a sponsor appears only as the overview credits it.

use maud::{Markup, html};

use super::model::{
    GrantRowView, ProjectRowView, ProjectStatusView, Provenance, PublicOverview, RoundView,
    SponsorView,
};
use super::public::cny;
use super::render::{
    Lang, grant_table, layout, none_yet, project_status, project_table, recorded, sponsor_table,
};
use crate::error::AppError;

/// Which index page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Projects,
    Sponsors,
    Grants,
    Rounds,
}

impl IndexKind {
    pub fn path(self) -> &'static str {
        match self {
            IndexKind::Projects => "/projects",
            IndexKind::Sponsors => "/sponsors",
            IndexKind::Grants => "/grants",
            IndexKind::Rounds => "/rounds",
        }
    }

    fn title(self, lang: Lang) -> &'static str {
        match self {
            IndexKind::Projects => lang.t("全部项目", "All projects"),
            IndexKind::Sponsors => lang.t("全部爱心单位与捐赠人", "All sponsors and donors"),
            IndexKind::Grants => lang.t("全部微创投资助", "All grants"),
            IndexKind::Rounds => lang.t("全部微创投轮次", "All grant rounds"),
        }
    }
}

/// The longest search text kept; a longer one is the caller's error.
const SEARCH_CHARS_MAX: usize = 100;

/// What narrows an index page. Empty strings count as "not asked".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexFilter {
    pub search: String,
    pub community: String,
    pub need_kind: String,
    pub status: String,
    pub year: Option<i32>,
}

const PROJECT_STATUSES: [&str; 4] = ["published", "claimed", "funded", "completed"];
const GRANT_STATUSES: [&str; 2] = ["open", "closed"];

impl IndexFilter {
    /// Reads `q`, `community`, `need_kind`, `status` and `year` from the
    /// query's pairs (the first of a repeated one); a bad value is an error
    /// naming its field and rule.
    pub fn parse(kind: IndexKind, pairs: &[(String, String)]) -> Result<IndexFilter, AppError> {
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let search = first("q");
        if search.chars().count() > SEARCH_CHARS_MAX {
            return Err(AppError::malformed(
                "q",
                "search_too_long",
                format!("the search text may hold at most {SEARCH_CHARS_MAX} characters"),
            ));
        }
        let status = first("status");
        let statuses: &[&str] = match kind {
            IndexKind::Projects => &PROJECT_STATUSES,
            IndexKind::Grants => &GRANT_STATUSES,
            IndexKind::Sponsors | IndexKind::Rounds => &[],
        };
        if !status.is_empty() && !statuses.contains(&status.as_str()) {
            return Err(AppError::malformed(
                "status",
                "status_unknown",
                format!("{status:?} is not one of {statuses:?}"),
            ));
        }
        let year_text = first("year");
        let year = if year_text.is_empty() {
            None
        } else {
            match year_text.parse::<i32>() {
                Ok(year)
                    if year_text.len() == 4 && year_text.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Some(year)
                }
                _ => {
                    return Err(AppError::malformed(
                        "year",
                        "year_invalid",
                        format!("{year_text:?} is not a four-digit year"),
                    ));
                }
            }
        };
        Ok(IndexFilter {
            search: search.trim().to_owned(),
            community: first("community"),
            need_kind: first("need_kind"),
            status,
            year,
        })
    }

    fn matches_search(&self, texts: &[&str]) -> bool {
        if self.search.is_empty() {
            return true;
        }
        let wanted = self.search.to_lowercase();
        texts
            .iter()
            .any(|text| text.to_lowercase().contains(&wanted))
    }

    fn matches_year(&self, date_or_period: &str) -> bool {
        match self.year {
            None => true,
            Some(year) => date_or_period.starts_with(&year.to_string()),
        }
    }

    pub fn keeps_project(&self, project: &ProjectRowView) -> bool {
        self.matches_search(&[&project.title, &project.community, &project.survey])
            && (self.community.is_empty() || project.community == self.community)
            && (self.need_kind.is_empty() || project.need_kind == self.need_kind)
            && (self.status.is_empty() || project_status_key(project.status) == self.status)
            && self.matches_year(&project.survey)
    }

    pub fn keeps_sponsor(&self, sponsor: &SponsorView) -> bool {
        self.matches_search(&[&sponsor.name])
    }

    /// A grant's year is its round's: the year its applications opened.
    pub fn keeps_grant(&self, grant: &GrantRowView, round_opened_on: &str) -> bool {
        self.matches_search(&[&grant.title, &grant.organisation_name])
            && (self.status.is_empty() || (self.status == "closed") == grant.closed)
            && self.matches_year(round_opened_on)
    }

    pub fn keeps_round(&self, round: &RoundView) -> bool {
        self.matches_search(&[&round.name]) && self.matches_year(&round.applications_open_on)
    }
}

fn project_status_key(status: ProjectStatusView) -> &'static str {
    match status {
        ProjectStatusView::Published => "published",
        ProjectStatusView::Claimed => "claimed",
        ProjectStatusView::Funded => "funded",
        ProjectStatusView::Completed => "completed",
    }
}

fn need_kind_label(lang: Lang, need_kind: &str) -> &'static str {
    match need_kind {
        "micro_wish" => lang.t("微心愿", "small wish"),
        "micro_charity" => lang.t("微公益", "small charity project"),
        "service" => lang.t("服务项目", "service"),
        "livelihood" => lang.t("民生项目", "livelihood"),
        _ => lang.t("未分类", "not classified"),
    }
}

/// The distinct values of a column, sorted, for a filter's choices.
fn choices<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut values: Vec<&str> = values.filter(|value| !value.is_empty()).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// A filter's drop-down; the community choices are names as recorded, so
/// they are marked translate="no" like every recorded name.
fn select(
    name: &str,
    label: &str,
    any: &str,
    chosen: &str,
    options: &[(String, String)],
) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                option value="" { (any) }
                @for (value, text) in options {
                    option value=(value) selected[value == chosen] translate=[(name == "community").then_some("no")] { (text) }
                }
            }
        }
    }
}

fn filter_form(lang: Lang, kind: IndexKind, filter: &IndexFilter, view: &PublicOverview) -> Markup {
    let any = lang.t("全部", "any");
    let years: Vec<(String, String)> = {
        let mut years: Vec<String> = match kind {
            IndexKind::Projects => view
                .projects
                .iter()
                .map(|p| p.survey.chars().take(4).collect())
                .collect(),
            IndexKind::Grants | IndexKind::Rounds => view
                .rounds
                .iter()
                .map(|round| round.applications_open_on.chars().take(4).collect())
                .collect(),
            IndexKind::Sponsors => Vec::new(),
        };
        years.retain(|year: &String| year.len() == 4 && year.chars().all(|c| c.is_ascii_digit()));
        years.sort_unstable();
        years.dedup();
        years
            .into_iter()
            .rev()
            .map(|year| (year.clone(), year))
            .collect()
    };
    let chosen_year = filter.year.map(|year| year.to_string()).unwrap_or_default();
    html! {
        form.filters method="get" action=(kind.path()) role="search" {
            @if lang == Lang::En { input type="hidden" name="lang" value="en"; }
            label { (lang.t("搜索", "Search"))
                input type="search" name="q" value=(filter.search) maxlength=(SEARCH_CHARS_MAX);
            }
            @if kind == IndexKind::Projects {
                (select("community", lang.t("社区", "Community"), any, &filter.community,
                    &choices(view.projects.iter().map(|p| p.community.as_str()))
                        .into_iter().map(|c| (c.to_owned(), c.to_owned())).collect::<Vec<_>>()))
                (select("need_kind", lang.t("需求类别", "Need"), any, &filter.need_kind,
                    &choices(view.projects.iter().map(|p| p.need_kind.as_str()))
                        .into_iter().map(|k| (k.to_owned(), need_kind_label(lang, k).to_owned())).collect::<Vec<_>>()))
                (select("status", lang.t("状态", "Status"), any, &filter.status,
                    &[ProjectStatusView::Published, ProjectStatusView::Claimed, ProjectStatusView::Funded, ProjectStatusView::Completed]
                        .into_iter().map(|s| (project_status_key(s).to_owned(), project_status(lang, s).to_owned())).collect::<Vec<_>>()))
            }
            @if kind == IndexKind::Grants {
                (select("status", lang.t("状态", "Status"), any, &filter.status,
                    &[("open".to_owned(), lang.t("执行中", "open").to_owned()), ("closed".to_owned(), lang.t("已结项", "closed").to_owned())]))
            }
            @if !years.is_empty() {
                (select("year", lang.t("年度", "Year"), any, &chosen_year, &years))
            }
            button type="submit" { (lang.t("筛选", "Filter")) }
            " " a href=(lang.href(kind.path())) { (lang.t("清除", "Clear")) }
        }
    }
}

fn count_line(lang: Lang, shown: usize, all: usize) -> Markup {
    html! {
        p.small #index-count {
            (lang.t("显示 ", "Showing ")) strong #index-shown { (shown) }
            (lang.t(" 条，共 ", " of ")) (all) (lang.t(" 条", ""))
        }
    }
}

fn rounds_table(lang: Lang, rounds: &[&RoundView]) -> Markup {
    let columns = [
        lang.t("轮次", "Round"),
        lang.t("申报开始", "Applications open"),
        lang.t("预算", "Budget"),
        lang.t("申报", "Applications"),
        lang.t("获资助", "Awarded"),
        lang.t("资助金额", "Amount awarded"),
        lang.t("已拨付", "Disbursed"),
    ];
    html! {
        @if rounds.is_empty() { (none_yet(lang)) } @else {
        div.scroll { table.rounds {
            thead { tr {
                th { (columns[0]) } th { (columns[1]) }
                @for column in &columns[2..] { th.num { (column) } }
            } }
            tbody { @for round in rounds {
                tr {
                    td data-label=(columns[0]) {
                        a href=(lang.href(&format!("/grants?round={}", round.round_id))) { (recorded(&round.name)) }
                    }
                    td.date data-label=(columns[1]) { (round.applications_open_on) }
                    td.num data-label=(columns[2]) { (cny(round.budget_fen)) }
                    td.num data-label=(columns[3]) { (round.applications) }
                    td.num data-label=(columns[4]) { (round.awarded) }
                    td.num data-label=(columns[5]) { (cny(round.awarded_fen)) }
                    td.num data-label=(columns[6]) { (cny(round.disbursed_fen)) }
                }
            } }
        } }
        }
    }
}

/// One index page over the overview's rows. `round` narrows the grants to
/// one round (the rounds page links there).
pub fn render_index(
    lang: Lang,
    kind: IndexKind,
    filter: &IndexFilter,
    round: Option<&str>,
    view: &PublicOverview,
    provenance: &Provenance,
) -> String {
    let table = match kind {
        IndexKind::Projects => {
            let rows: Vec<&ProjectRowView> = view
                .projects
                .iter()
                .filter(|p| filter.keeps_project(p))
                .collect();
            html! { (count_line(lang, rows.len(), view.projects.len())) (project_table(lang, &rows)) }
        }
        IndexKind::Sponsors => {
            // Government bodies are listed with the sponsors here, marked as
            // such, so that every named giver can be found.
            let rows: Vec<&SponsorView> = view
                .sponsors
                .iter()
                .filter(|s| filter.keeps_sponsor(s))
                .collect();
            html! { (count_line(lang, rows.len(), view.sponsors.len())) (sponsor_table(lang, &rows)) }
        }
        IndexKind::Grants => {
            let opened_on = |round_id: &str| {
                view.rounds
                    .iter()
                    .find(|round| round.round_id == round_id)
                    .map_or("", |round| round.applications_open_on.as_str())
            };
            let rows: Vec<&GrantRowView> = view
                .grants
                .iter()
                .filter(|grant| round.is_none_or(|round| grant.round_id == round))
                .filter(|grant| filter.keeps_grant(grant, opened_on(&grant.round_id)))
                .collect();
            html! { (count_line(lang, rows.len(), view.grants.len())) (grant_table(lang, &rows)) }
        }
        IndexKind::Rounds => {
            let rows: Vec<&RoundView> = view
                .rounds
                .iter()
                .filter(|r| filter.keeps_round(r))
                .collect();
            html! { (count_line(lang, rows.len(), view.rounds.len())) (rounds_table(lang, &rows)) }
        }
    };
    let others = [
        IndexKind::Projects,
        IndexKind::Sponsors,
        IndexKind::Grants,
        IndexKind::Rounds,
    ];
    let body = html! {
        p { a href=(lang.href("/")) { "← " (lang.t("返回总览", "Back to the overview")) } }
        nav.contents aria-label=(lang.t("索引", "Indexes")) {
            @for other in others {
                @if other == kind { strong { (other.title(lang)) } }
                @else { a href=(lang.href(other.path())) { (other.title(lang)) } }
            }
        }
        h1 { (kind.title(lang)) }
        (filter_form(lang, kind, filter, view))
        (table)
    };
    layout(lang, kind.path(), kind.title(lang), provenance, body)
}
