//! The public transparency page (信息公开): server-rendered HTML in Chinese
//! first (English with `?lang=en`), the "check it yourself" receipt checker,
//! and CSV / 360Giving exports.
//!
//! **Architecture invariant:** the page renders from the projections and
//! never reads the log; it holds the projections' read lock only while
//! rendering one response. It needs nothing from the internet: styles, the
//! chart and the checker script are compiled into the binary.

pub mod accounts;
pub mod chart;
pub mod disclosures;
pub mod documents;
pub mod exports;
pub mod flows;
pub mod index;
pub mod model;
pub mod outflows;
pub mod public;
pub mod receipt;
pub mod render;
pub mod transport;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod accounts_tests;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mingzhang_projections::{Day, Projections};
use parking_lot::RwLock;

use model::{AsOfSource, CheckpointSummary, Directory, Provenance, PublicOverview};

use crate::error::AppError;
use render::Lang;

const VERIFY_SCRIPT: &str = include_str!("../../static/verify.js");

/// Gives the latest signed checkpoint (a C2SP signed note), when the log has one.
pub type CheckpointFn = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Everything the page reads. Cheap to clone.
#[derive(Clone)]
pub struct PageSource {
    pub projections: Arc<RwLock<Projections>>,
    /// Called once per page view; should be cheap (e.g. read a cached string).
    pub latest_checkpoint: CheckpointFn,
    /// The log's public verifier key, as a note verifier key
    /// ("name+hash+base64") or a bare base64 Ed25519 key.
    pub verifier_key: Option<String>,
    /// The date overdue pledges are judged against; `None`: the day of the
    /// newest record, or today in China if that is earlier.
    pub as_of: Option<String>,
    /// What receipt links (`/r/<code>`) open; `None`: every link is 404.
    pub linked_receipts: Option<receipt::LinkedReceipts>,
    /// The reports and invoices the pages link (`None`: hashes only).
    pub documents: Option<Arc<crate::documents::DocumentStore>>,
    /// The witnesses the server submits checkpoints to: the page names
    /// those whose cosignature on the latest checkpoint verifies.
    pub witness_keys: Vec<mingzhang_ledger::checkpoint::CosignatureKey>,
}

impl PageSource {
    pub fn new(projections: Arc<RwLock<Projections>>) -> PageSource {
        PageSource {
            projections,
            latest_checkpoint: Arc::new(|| None),
            verifier_key: None,
            as_of: None,
            linked_receipts: None,
            documents: None,
            witness_keys: Vec::new(),
        }
    }

    pub fn with_witness_keys(
        mut self,
        witness_keys: Vec<mingzhang_ledger::checkpoint::CosignatureKey>,
    ) -> PageSource {
        self.witness_keys = witness_keys;
        self
    }

    pub fn with_linked_receipts(mut self, linked: receipt::LinkedReceipts) -> PageSource {
        self.linked_receipts = Some(linked);
        self
    }

    pub fn with_documents(
        mut self,
        documents: Option<Arc<crate::documents::DocumentStore>>,
    ) -> PageSource {
        self.documents = documents;
        self
    }

    pub fn with_checkpoint(mut self, latest_checkpoint: CheckpointFn) -> PageSource {
        self.latest_checkpoint = latest_checkpoint;
        self
    }

    pub fn with_verifier_key(mut self, verifier_key: Option<String>) -> PageSource {
        self.verifier_key = verifier_key;
        self
    }

    pub fn with_as_of(mut self, as_of: Option<String>) -> PageSource {
        self.as_of = as_of;
        self
    }
}

struct PageState {
    source: PageSource,
    /// The directory of the projection version last rendered; rebuilt when
    /// new records were applied since.
    directory: Mutex<Option<Arc<Directory>>>,
    /// The home page's data (which the index pages read too) of the last
    /// provenance asked: rebuilt only when records were applied since, or
    /// another date or checkpoint is asked for.
    overview: Mutex<Option<Arc<PublicOverview>>>,
}

impl PageState {
    fn directory(&self, projections: &Projections) -> Arc<Directory> {
        let records = projections.applied_len();
        if let Some(cached) = self.directory.lock().expect("directory lock").as_ref()
            && cached.records == records
        {
            return Arc::clone(cached);
        }
        let previous = self.directory.lock().expect("directory lock").clone();
        let fresh = Arc::new(match previous {
            Some(previous) if previous.records < records => previous.refreshed(projections),
            _ => Directory::build(projections),
        });
        *self.directory.lock().expect("directory lock") = Some(Arc::clone(&fresh));
        fresh
    }

    /// The home page's data for `provenance`, from the cache when it was
    /// built for the same one.
    fn overview(&self, projections: &Projections, provenance: Provenance) -> Arc<PublicOverview> {
        if let Some(cached) = self.overview.lock().expect("overview lock").as_ref()
            && cached.provenance == provenance
        {
            return Arc::clone(cached);
        }
        let directory = self.directory(projections);
        let fresh = Arc::new(model::views_from(projections, &directory, provenance));
        *self.overview.lock().expect("overview lock") = Some(Arc::clone(&fresh));
        fresh
    }

    /// What the page reflects, judged as of `asked` (`?as_of=`) if given;
    /// a malformed date is the caller's error, naming `as_of`.
    fn provenance(
        &self,
        projections: &Projections,
        asked: Option<&str>,
    ) -> Result<Provenance, AppError> {
        let checkpoint_text = (self.source.latest_checkpoint)();
        let (as_of, as_of_source) = match (asked, &self.source.as_of) {
            (Some(asked), _) => {
                let day = Day::parse(asked).ok_or_else(|| {
                    AppError::malformed(
                        "as_of",
                        "date_invalid",
                        format!("{asked:?} is not a date of the form YYYY-MM-DD"),
                    )
                })?;
                (day, AsOfSource::Asked)
            }
            (None, Some(configured)) => (
                Day::parse(configured).expect("the configured as_of is a date"),
                AsOfSource::Configured,
            ),
            (None, None) => default_as_of(projections.newest_recorded_on(), today_in_china()),
        };
        Ok(Provenance {
            records: projections.applied_len(),
            checkpoint: checkpoint_text.as_deref().and_then(|note| {
                let mut summary = CheckpointSummary::parse(note)?;
                summary.cosigned_by = self
                    .source
                    .witness_keys
                    .iter()
                    .filter_map(|key| {
                        let time = key.verify_cosignature(note).ok()?;
                        Some((key.name().to_owned(), render_cst_minute(time)))
                    })
                    .collect();
                Some(summary)
            }),
            verifier_key: self.source.verifier_key.clone(),
            as_of: as_of.render(),
            as_of_source,
        })
    }
}

/// The ledger's own "now" when its data end before today: judging against
/// today would brand every pledger overdue for instalments due after the
/// newest record, which the ledger cannot know about.
fn default_as_of(newest_recorded_on: Day, today: Day) -> (Day, AsOfSource) {
    if newest_recorded_on.is_known() && newest_recorded_on < today {
        (newest_recorded_on, AsOfSource::NewestRecord)
    } else {
        (today, AsOfSource::Today)
    }
}

/// The day reads are judged on when none is asked (`?as_of=`): the page's
/// stated date, as the disclosure calendar's route judges it too.
pub fn default_judging_day(projections: &Projections) -> Day {
    default_as_of(projections.newest_recorded_on(), today_in_china()).0
}

/// POSIX seconds as "YYYY-MM-DD HH:MM" in China Standard Time (UTC+8).
fn render_cst_minute(unix_seconds: u64) -> String {
    let cst_seconds = unix_seconds.saturating_add(8 * 3600);
    format!(
        "{} {:02}:{:02}",
        Day::from_unix_ms_cst(unix_seconds.saturating_mul(1000) as i64).render(),
        cst_seconds % 86_400 / 3600,
        cst_seconds % 3600 / 60
    )
}

fn today_in_china() -> Day {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0);
    Day::from_unix_ms_cst(now_ms)
}

/// What every page takes: `?lang=en`, `?as_of=YYYY-MM-DD` and, on the fund
/// page, `?offset=`. Other parameters are ignored and a repeated one counts
/// once (its first value): a link passed around with extra parameters still
/// opens. A bad `offset` is a problem+json 400 naming it, as `as_of` is.
#[derive(Debug)]
struct LangQuery {
    lang: Option<String>,
    as_of: Option<String>,
    offset: Option<usize>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LangQuery {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                AppError::malformed("query", "query_invalid", rejection.body_text())
            })?;
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let offset = match first("offset") {
            None => None,
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                AppError::malformed(
                    "offset",
                    "offset_invalid",
                    format!("{text:?} is not a count of rows to skip"),
                )
            })?),
        };
        Ok(LangQuery {
            lang: first("lang"),
            as_of: first("as_of"),
            offset,
        })
    }
}

impl LangQuery {
    fn lang(&self) -> Lang {
        Lang::from_query(self.lang.as_deref())
    }
}

/// The page's routes: `/`, the index pages `/projects`, `/sponsors`,
/// `/grants`, `/rounds`, `/funds/{id}`, `/projects/{id}`, `/grants/{id}`, `/sponsors/{id}`,
/// `/verify`, `/assets/verify.js`, `/assets/documents.js`, `/favicon.svg`, a receipt link `/r/{code}` and its
/// `/r/{code}/receipt.json`, `/exports/donations.csv`,
/// `/exports/grants.csv`, `/exports/expenditures.csv`, `/exports/transactions.csv`,
/// `/exports/grants-360giving.json`. Every HTML route takes `?lang=en`.
pub fn page_router(source: PageSource) -> Router {
    let state = Arc::new(PageState {
        source,
        directory: Mutex::new(None),
        overview: Mutex::new(None),
    });
    Router::new()
        .route("/", get(overview))
        .route("/projects", get(projects_index))
        .route("/sponsors", get(sponsors_index))
        .route("/grants", get(grants_index))
        .route("/rounds", get(rounds_index))
        .route("/projects/{id}", get(project))
        .route("/grants/{id}", get(grant))
        .route("/funds/{id}", get(fund))
        .route("/sponsors/{id}", get(sponsor))
        .route("/verify", get(verify))
        .route("/exports/donations.csv", get(donations_csv))
        .route("/exports/grants.csv", get(grants_csv))
        .route("/exports/expenditures.csv", get(expenditures_csv))
        .route("/exports/transactions.csv", get(transactions_csv))
        .route("/exports/grants-360giving.json", get(grants_360giving))
        // Every route above reflects the log: tagged by its size. The
        // assets below do not.
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            transport::conditional_get,
        ))
        .route("/assets/verify.js", get(verify_script))
        .route("/favicon.svg", get(transport::favicon))
        // A receipt link can be revoked without the log moving: never tagged
        // by the log's size.
        .route("/r/{code}", get(receipt::receipt_page))
        .route("/r/{code}/receipt.json", get(receipt::receipt_file))
        .route("/assets/documents.js", get(document_check_script))
        .with_state(state)
}

/// Scripts only from this server, no frames, nothing fetched elsewhere; forms
/// (the index pages' filters) submit only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html(body: String) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

fn not_found(lang: Lang) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><title>404</title><p>{} <a href=\"{}\">{}</a></p></html>",
        lang.t("zh-CN", "en"),
        lang.t("没有这一页。", "No such page."),
        lang.href("/"),
        lang.t("返回总览", "Back to the overview"),
    );
    let mut response = html(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

fn download(content_type: &'static str, file_name: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_DISPOSITION,
                match file_name {
                    "donations.csv" => "attachment; filename=\"donations.csv\"",
                    "grants.csv" => "attachment; filename=\"grants.csv\"",
                    "expenditures.csv" => "attachment; filename=\"expenditures.csv\"",
                    "transactions.csv" => "attachment; filename=\"transactions.csv\"",
                    _ => "inline",
                },
            ),
        ],
        body,
    )
        .into_response()
}

async fn overview(State(state): State<Arc<PageState>>, query: LangQuery) -> Response {
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let view = state.overview(&projections, provenance);
    html(render::overview(query.lang(), &view))
}

async fn projects_index(
    state: State<Arc<PageState>>,
    query: LangQuery,
    pairs: Query<Vec<(String, String)>>,
) -> Response {
    index_page(state, query, pairs, index::IndexKind::Projects)
}

async fn sponsors_index(
    state: State<Arc<PageState>>,
    query: LangQuery,
    pairs: Query<Vec<(String, String)>>,
) -> Response {
    index_page(state, query, pairs, index::IndexKind::Sponsors)
}

async fn grants_index(
    state: State<Arc<PageState>>,
    query: LangQuery,
    pairs: Query<Vec<(String, String)>>,
) -> Response {
    index_page(state, query, pairs, index::IndexKind::Grants)
}

async fn rounds_index(
    state: State<Arc<PageState>>,
    query: LangQuery,
    pairs: Query<Vec<(String, String)>>,
) -> Response {
    index_page(state, query, pairs, index::IndexKind::Rounds)
}

fn index_page(
    State(state): State<Arc<PageState>>,
    query: LangQuery,
    Query(pairs): Query<Vec<(String, String)>>,
    kind: index::IndexKind,
) -> Response {
    let filter = match index::IndexFilter::parse(kind, &pairs) {
        Ok(filter) => filter,
        Err(error) => return error.into_response(),
    };
    let round = pairs
        .iter()
        .find(|(key, _)| key == "round")
        .map(|(_, value)| value.as_str())
        .filter(|round| !round.is_empty());
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let view = state.overview(&projections, provenance.clone());
    html(index::render_index(
        query.lang(),
        kind,
        &filter,
        round,
        &view,
        &provenance,
    ))
}

async fn fund(
    State(state): State<Arc<PageState>>,
    Path(id): Path<String>,
    query: LangQuery,
) -> Response {
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let directory = state.directory(&projections);
    match accounts::fund_page(&projections, &directory, &id, query.offset.unwrap_or(0)) {
        Some(view) => html(accounts::render_fund_page(query.lang(), &view, &provenance)),
        None => not_found(query.lang()),
    }
}

async fn project(
    State(state): State<Arc<PageState>>,
    Path(id): Path<String>,
    query: LangQuery,
) -> Response {
    let projections = state.source.projections.read();
    let directory = state.directory(&projections);
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let as_of = Day::parse(&provenance.as_of).expect("the stated date is a date");
    match model::project_page(&projections, &directory, &id, as_of) {
        Some(mut view) => {
            if let Some(completion) = &mut view.row.completion {
                completion.document = documents::document_of(
                    state.source.documents.as_deref(),
                    &completion.report_sha256,
                );
            }
            html(render::project_page(query.lang(), &view, &provenance))
        }
        None => not_found(query.lang()),
    }
}

async fn grant(
    State(state): State<Arc<PageState>>,
    Path(id): Path<String>,
    query: LangQuery,
) -> Response {
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let as_of = Day::parse(&provenance.as_of).expect("the stated date is a date");
    match model::grant_page(&projections, &id, as_of) {
        Some(mut view) => {
            for report in &mut view.self_assessments {
                report.document = documents::document_of(
                    state.source.documents.as_deref(),
                    &report.report_sha256,
                );
            }
            html(render::grant_page(query.lang(), &view, &provenance))
        }
        None => not_found(query.lang()),
    }
}

async fn sponsor(
    State(state): State<Arc<PageState>>,
    Path(id): Path<String>,
    query: LangQuery,
) -> Response {
    let projections = state.source.projections.read();
    let directory = state.directory(&projections);
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    match model::sponsor_page(&projections, &directory, &id, &provenance.as_of) {
        Some(view) => html(render::sponsor_page(query.lang(), &view, &provenance)),
        None => not_found(query.lang()),
    }
}

async fn verify(State(state): State<Arc<PageState>>, query: LangQuery) -> Response {
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let directory = state.directory(&projections);
    html(render::verify_page(
        query.lang(),
        &provenance,
        &directory.fund_names,
    ))
}

async fn verify_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        VERIFY_SCRIPT,
    )
        .into_response()
}

async fn document_check_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        documents::DOCUMENT_CHECK_SCRIPT,
    )
        .into_response()
}

async fn donations_csv(State(state): State<Arc<PageState>>) -> Response {
    let projections = state.source.projections.read();
    let directory = state.directory(&projections);
    download(
        "text/csv; charset=utf-8",
        "donations.csv",
        exports::donations_csv(&projections, &directory),
    )
}

async fn grants_csv(State(state): State<Arc<PageState>>) -> Response {
    let projections = state.source.projections.read();
    download(
        "text/csv; charset=utf-8",
        "grants.csv",
        exports::grants_csv(&projections),
    )
}

async fn expenditures_csv(State(state): State<Arc<PageState>>) -> Response {
    let projections = state.source.projections.read();
    let directory = state.directory(&projections);
    download(
        "text/csv; charset=utf-8",
        "expenditures.csv",
        exports::expenditures_csv(&projections, &directory),
    )
}

async fn transactions_csv(State(state): State<Arc<PageState>>) -> Response {
    let projections = state.source.projections.read();
    download(
        "text/csv; charset=utf-8",
        "transactions.csv",
        exports::transactions_csv(&projections),
    )
}

async fn grants_360giving(State(state): State<Arc<PageState>>) -> Response {
    let projections = state.source.projections.read();
    let directory = state.directory(&projections);
    download(
        "application/json",
        "grants-360giving.json",
        exports::grants_360giving(&projections, &directory),
    )
}
