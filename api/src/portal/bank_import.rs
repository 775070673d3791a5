//! `/console/bank-import`: an operator uploads a bank statement of incoming
//! transfers (docs/bank-import.md has the format); the dry run shows each
//! row as the donation it would record, or refused and why, and writes
//! nothing; confirming records the accepted rows with one batch through
//! `AppState::submit_many`, the JSON API's path.
//!
//! Idempotent by bank reference: a row's donation id and idempotency key
//! both derive from its reference (`donation_id_of_reference`), so a row
//! imported before is refused by the dry run as already recorded, and a
//! second confirm of one file (by any operator: the donation id is taken)
//! writes nothing new. Each donation recorded gets its receipt link, as
//! through the API.

use std::collections::{HashMap, HashSet};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use mingzhang_projections::Projections;
use sha2::{Digest, Sha256};

use super::{Refusal, portal_html, yuan};
use crate::auth::Principal;
use crate::error::AppError;
use crate::http::commands::{ChannelJson, CommandBody, ReceiveDonation};
use crate::money::parse_amount_fen;
use crate::session::{self, CSRF_FIELD, SignedIn, constant_time_eq};
use crate::state::AppState;

/// Rows one statement holds at most (a month of a busy giving day's
/// transfers); a longer statement is split.
pub const STATEMENT_ROWS_MAX: usize = 10_000;
/// Longest upload read: 10,000 rows of long Chinese payer names, percent-
/// encoded by a form, fit with room to spare.
pub const STATEMENT_BODY_LEN_MAX: usize = 16 * 1024 * 1024;
/// The header row, in this order.
pub const STATEMENT_COLUMNS: [&str; 4] = ["date", "amount", "payer", "reference"];
/// Longest bank reference: the ledger's name length.
pub const REFERENCE_LEN_MAX: usize = mingzhang_ledger::decide::NAME_LEN_MAX;
const DONATION_ID_PREFIX: &str = "bank-";
const IDEMPOTENCY_KEY_PREFIX: &str = "bank-import:";
const ALREADY_RECORDED: &str = "reference_already_recorded";

/// One data row of a statement, as written (fields trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    /// 1-based line of the file the row starts on (the header is line 1).
    pub line: usize,
    pub date: String,
    pub amount: String,
    pub payer: String,
    pub reference: String,
}

/// A statement that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("statement: statement_not_utf8: the file is not UTF-8 text")]
    NotUtf8,
    #[error("statement: header_invalid: the first row must be exactly date,amount,payer,reference")]
    HeaderInvalid,
    #[error("statement: rows_too_many: at most {STATEMENT_ROWS_MAX} rows, this has {rows}")]
    RowsTooMany { rows: usize },
    #[error("statement: quote_unclosed: the quoted field opened on line {line} never closes")]
    QuoteUnclosed { line: usize },
    #[error("statement: columns_wrong: line {line} has {columns} fields, not 4")]
    ColumnsWrong { line: usize, columns: usize },
}

impl StatementError {
    fn rule(&self) -> &'static str {
        match self {
            StatementError::NotUtf8 => "statement_not_utf8",
            StatementError::HeaderInvalid => "header_invalid",
            StatementError::RowsTooMany { .. } => "rows_too_many",
            StatementError::QuoteUnclosed { .. } => "quote_unclosed",
            StatementError::ColumnsWrong { .. } => "columns_wrong",
        }
    }
}

/// The records of RFC 4180 text with their first lines: fields split on
/// commas, `"…"` quoting commas, line breaks and `""` for a quote; CRLF or
/// LF; blank lines skipped.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, StatementError> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut record_line = 1;
    let mut in_quotes = false;
    let mut quote_line = 0;
    let mut finish = |fields: &mut Vec<String>, current: &mut String, at: usize| {
        fields.push(std::mem::take(current));
        let record = std::mem::take(fields);
        if !(record.len() == 1 && record[0].trim().is_empty()) {
            records.push((at, record));
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    current.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    current.push('\n');
                }
                _ => current.push(c),
            }
            continue;
        }
        match c {
            '"' if current.trim().is_empty() => {
                current.clear();
                in_quotes = true;
                quote_line = line;
            }
            ',' => fields.push(std::mem::take(&mut current)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                finish(&mut fields, &mut current, record_line);
                line += 1;
                record_line = line;
            }
            _ => current.push(c),
        }
    }
    if in_quotes {
        return Err(StatementError::QuoteUnclosed { line: quote_line });
    }
    if !current.is_empty() || !fields.is_empty() {
        finish(&mut fields, &mut current, record_line);
    }
    Ok(records)
}

/// Reads a statement: UTF-8 (a BOM is skipped), a header row naming the
/// four columns in order, then at most `STATEMENT_ROWS_MAX` rows of four
/// fields.
pub fn parse_statement(bytes: &[u8]) -> Result<Vec<StatementRow>, StatementError> {
    let text = std::str::from_utf8(bytes).map_err(|_| StatementError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv_records(text)?.into_iter();
    let header = records.next().ok_or(StatementError::HeaderInvalid)?.1;
    let header_matches = header.len() == STATEMENT_COLUMNS.len()
        && header
            .iter()
            .zip(STATEMENT_COLUMNS)
            .all(|(name, column)| name.trim().eq_ignore_ascii_case(column));
    if !header_matches {
        return Err(StatementError::HeaderInvalid);
    }
    let records: Vec<(usize, Vec<String>)> = records.collect();
    if records.len() > STATEMENT_ROWS_MAX {
        return Err(StatementError::RowsTooMany {
            rows: records.len(),
        });
    }
    records
        .into_iter()
        .map(|(line, fields)| match <[String; 4]>::try_from(fields) {
            Ok([date, amount, payer, reference]) => Ok(StatementRow {
                line,
                date: date.trim().to_owned(),
                amount: amount.trim().to_owned(),
                payer: payer.trim().to_owned(),
                reference: reference.trim().to_owned(),
            }),
            Err(fields) => Err(StatementError::ColumnsWrong {
                line,
                columns: fields.len(),
            }),
        })
        .collect()
}

/// The donation id a bank reference is recorded under: `bank-<reference>`
/// when the reference is itself a short id (A-Z a-z 0-9 . _ : -, at most
/// 59 characters), else `bank-h` and the first 32 hex digits of its
/// SHA-256. One reference, one donation, whoever imports it.
pub fn donation_id_of_reference(reference: &str) -> String {
    let plain = reference.len() <= mingzhang_ledger::decide::ID_LEN_MAX - DONATION_ID_PREFIX.len()
        && !reference.is_empty()
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if plain {
        format!("{DONATION_ID_PREFIX}{reference}")
    } else {
        let digest = Sha256::digest(reference.as_bytes());
        format!("{DONATION_ID_PREFIX}h{}", &hex::encode(digest)[..32])
    }
}

/// Who gave, as matched by the payer's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Giver {
    /// The one registered donor of exactly this name.
    Registered { donor_id: String },
    /// No registered donor, or several, bear the name: an unregistered
    /// gift (the payer's name stays in the statement, not the log).
    Unregistered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    Accepted {
        donation_id: String,
        giver: Giver,
        amount_fen: i64,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRow {
    pub row: StatementRow,
    pub outcome: RowOutcome,
}

fn refusal(field: &str, rule: &str, detail: String) -> RowOutcome {
    RowOutcome::Refused(Refusal {
        field: field.to_owned(),
        rule: rule.to_owned(),
        detail,
    })
}

/// The dry run: what each row would record into `fund_id`, or why it is
/// refused. Reads projections only; writes nothing.
pub fn plan_import(projections: &Projections, rows: Vec<StatementRow>) -> Vec<PlannedRow> {
    let mut donors_by_name: HashMap<String, Vec<String>> = HashMap::new();
    for donor in projections.donors() {
        donors_by_name
            .entry(donor.name)
            .or_default()
            .push(donor.donor_id);
    }
    let mut references_seen: HashSet<String> = HashSet::with_capacity(rows.len());
    rows.into_iter()
        .map(|row| {
            let outcome = plan_row(projections, &donors_by_name, &mut references_seen, &row);
            PlannedRow { row, outcome }
        })
        .collect()
}

fn plan_row(
    projections: &Projections,
    donors_by_name: &HashMap<String, Vec<String>>,
    references_seen: &mut HashSet<String>,
    row: &StatementRow,
) -> RowOutcome {
    if row.reference.is_empty() {
        return refusal(
            "reference",
            "required",
            "每行须有银行流水号。 every row needs the bank's reference".into(),
        );
    }
    if row.reference.chars().count() > REFERENCE_LEN_MAX
        || row.reference.chars().any(char::is_control)
    {
        return refusal(
            "reference",
            "reference_invalid",
            format!("one line of at most {REFERENCE_LEN_MAX} characters"),
        );
    }
    if !references_seen.insert(row.reference.clone()) {
        return refusal(
            "reference",
            "reference_repeated_in_file",
            format!(
                "流水号 {} 在本文件中重复。 reference {:?} appears earlier in this file",
                row.reference, row.reference
            ),
        );
    }
    let donation_id = donation_id_of_reference(&row.reference);
    if projections.donation(&donation_id).is_some() {
        return refusal(
            "reference",
            "reference_already_recorded",
            format!(
                "流水号已记录为捐赠 {donation_id}。 reference already recorded as donation {donation_id}"
            ),
        );
    }
    // The ledger's own date rule, so the dry run refuses what confirming would.
    if let Err(rejection) = mingzhang_ledger::decide::check_date("date", &row.date) {
        return RowOutcome::Refused(Refusal::of(&AppError::from(rejection)));
    }
    let amount_fen = match parse_amount_fen("amount", &row.amount) {
        Ok(amount_fen) => amount_fen,
        Err(error) => return RowOutcome::Refused(Refusal::of(&error)),
    };
    if row.payer.is_empty() {
        return refusal(
            "payer",
            "required",
            "付款人不能为空。 the payer's name is empty".into(),
        );
    }
    let giver = match donors_by_name.get(&row.payer).map(Vec::as_slice) {
        Some([donor_id]) => Giver::Registered {
            donor_id: donor_id.clone(),
        },
        _ => Giver::Unregistered,
    };
    RowOutcome::Accepted {
        donation_id,
        giver,
        amount_fen,
    }
}

/// The command an accepted row records, and its idempotency key.
fn donation_command(
    row: &StatementRow,
    donation_id: &str,
    giver: &Giver,
    fund_id: &str,
) -> Result<(Option<String>, mingzhang_proto::v1::event_envelope::Event), AppError> {
    let body = ReceiveDonation {
        donation_id: donation_id.to_owned(),
        donor_id: match giver {
            Giver::Registered { donor_id } => donor_id.clone(),
            Giver::Unregistered => String::new(),
        },
        fund_id: fund_id.to_owned(),
        campaign_id: String::new(),
        project_id: String::new(),
        amount: row.amount.clone(),
        channel: ChannelJson::BankTransfer,
        bank_reference: row.reference.clone(),
        anonymous: false,
        received_on: row.date.clone(),
    };
    let key = format!("{IDEMPOTENCY_KEY_PREFIX}{donation_id}");
    Ok((Some(key), body.into_event(String::new())?))
}

/// What confirming did, row by row.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    pub written: usize,
    /// Rows an earlier import recorded (their donation id exists, or this
    /// operator's same key answered from the log).
    pub recorded_before: usize,
    /// Rows refused by the dry run's checks or by the ledger, by line.
    pub refused: Vec<(StatementRow, Refusal)>,
}

/// Confirms an import: plans it again against the ledger as it is now and
/// submits the accepted rows as one batch.
pub async fn confirm_import(
    state: &AppState,
    principal: &Principal,
    fund_id: &str,
    rows: Vec<StatementRow>,
) -> Result<ImportOutcome, AppError> {
    let planned = plan_import(&state.projections.read(), rows);
    let mut outcome = ImportOutcome::default();
    let mut submitted_rows = Vec::new();
    let mut commands = Vec::new();
    for PlannedRow {
        row,
        outcome: planned,
    } in planned
    {
        match planned {
            // Recorded by an earlier import: what a retried confirm must
            // say of it, not a refusal.
            RowOutcome::Refused(refusal) if refusal.rule == ALREADY_RECORDED => {
                outcome.recorded_before += 1
            }
            RowOutcome::Refused(refusal) => outcome.refused.push((row, refusal)),
            RowOutcome::Accepted {
                donation_id, giver, ..
            } => {
                commands.push(donation_command(&row, &donation_id, &giver, fund_id));
                submitted_rows.push(row);
            }
        }
    }
    if commands.is_empty() {
        return Ok(outcome);
    }
    let results = state.submit_many(principal, commands).await?;
    assert_eq!(results.len(), submitted_rows.len(), "one result per row");
    // As every donation written through the API: a receipt link for the
    // donor (its sponsor portal lists it).
    state
        .receipt_links_of(results.iter().map(|result| result.as_ref().ok()).collect())
        .await;
    for (row, result) in submitted_rows.into_iter().zip(results) {
        match result {
            Ok(committed) if committed.idempotent_replay => outcome.recorded_before += 1,
            Ok(_) => outcome.written += 1,
            Err(error) => {
                let refusal = Refusal::of(&error.with_json_field_names());
                outcome.refused.push((row, refusal));
            }
        }
    }
    outcome.refused.sort_by_key(|(row, _)| row.line);
    Ok(outcome)
}

fn fund_choices(projections: &Projections) -> Vec<(String, String)> {
    projections
        .fund_balances()
        .into_iter()
        .map(|fund| (fund.fund_id, fund.name))
        .collect()
}

fn upload_form(
    csrf: &str,
    funds: &[(String, String)],
    chosen: &str,
    problem: Option<&Refusal>,
) -> Markup {
    html! {
        form.command method="post" action="/console/bank-import" enctype="multipart/form-data" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="action" value="dry_run";
            @if let Some(problem) = problem { (problem.render("import-error")) }
            label for="fund_id" { "入账基金 " span lang="en" { "Into fund" } }
            select #fund_id name="fund_id" required {
                @for (fund_id, name) in funds {
                    option value=(fund_id) selected[fund_id == chosen] { (name) " (" (fund_id) ")" }
                }
            }
            label for="statement" { "银行流水 CSV " span lang="en" { "Bank statement (CSV)" } }
            input #statement type="file" name="statement" accept=".csv,text/csv" required
                aria-describedby="statement-hint";
            p.hint #statement-hint {
                "UTF-8，首行为 date,amount,payer,reference；最多 " (STATEMENT_ROWS_MAX) " 行。 "
                span lang="en" { "UTF-8 with the header row date,amount,payer,reference; at most " (STATEMENT_ROWS_MAX) " rows." }
            }
            button type="submit" { "预览（不写入） " span lang="en" { "Dry run (writes nothing)" } }
        }
    }
}

fn render_form_page(
    csrf: &str,
    funds: &[(String, String)],
    chosen: &str,
    problem: Option<&Refusal>,
) -> Markup {
    html! {
        h1 { "导入银行流水 " span lang="en" { "Import a bank statement" } }
        p {
            "每行一笔入账转账：按付款人名称匹配已登记的捐赠方，否则记为未登记捐赠；银行流水号决定捐赠编号，同一文件导入两次不会重复记录。 "
            span lang="en" { "One incoming transfer a row: the payer is matched by name to a registered donor, or the gift is recorded as unregistered; the bank reference names the donation, so importing a file twice records nothing twice." }
        }
        (upload_form(csrf, funds, chosen, problem))
    }
}

fn giver_text(giver: &Giver, payer: &str) -> Markup {
    match giver {
        Giver::Registered { donor_id } => html! { (payer) " → " code { (donor_id) } },
        Giver::Unregistered => {
            html! { (payer) " → " "未登记捐赠 " span lang="en" { "unregistered gift" } }
        }
    }
}

/// The dry run's page: every row with its outcome, and the confirm form.
pub fn render_dry_run(
    planned: &[PlannedRow],
    fund_id: &str,
    statement: &str,
    csrf: &str,
) -> Markup {
    let accepted: Vec<&PlannedRow> = planned
        .iter()
        .filter(|row| matches!(row.outcome, RowOutcome::Accepted { .. }))
        .collect();
    let accepted_fen: i64 = accepted
        .iter()
        .map(|row| match row.outcome {
            RowOutcome::Accepted { amount_fen, .. } => amount_fen,
            RowOutcome::Refused(_) => 0,
        })
        .sum();
    let refused = planned.len() - accepted.len();
    html! {
        h1 { "预览：尚未写入 " span lang="en" { "Dry run: nothing written yet" } }
        p #dry-run-summary role="status" data-accepted=(accepted.len()) data-refused=(refused) {
            "将记录 " (accepted.len()) " 笔，共 " (yuan(accepted_fen)) "，入基金 " code { (fund_id) } "；拒绝 " (refused) " 笔。 "
            span lang="en" { (accepted.len()) " rows would be recorded, " (yuan(accepted_fen)) " into fund " (fund_id) "; " (refused) " refused." }
        }
        @if refused > 0 {
            p.problem role="alert" { "有 " (refused) " 行被拒绝，见下表。 " span lang="en" { (refused) " rows are refused; see the table." } }
        }
        div.table-box {
            table.rows #dry-run {
                thead { tr {
                    th scope="col" { "行 " span lang="en" { "Line" } }
                    th scope="col" { "日期 " span lang="en" { "Date" } }
                    th scope="col" { "金额 " span lang="en" { "Amount" } }
                    th scope="col" { "付款人 → 捐赠方 " span lang="en" { "Payer → donor" } }
                    th scope="col" { "流水号 " span lang="en" { "Reference" } }
                    th scope="col" { "结果 " span lang="en" { "Outcome" } }
                } }
                tbody {
                    @for planned in planned {
                        @let row = &planned.row;
                        @match &planned.outcome {
                            RowOutcome::Accepted { donation_id, giver, amount_fen } => tr data-line=(row.line) data-outcome="accepted" {
                                td { (row.line) } td { (row.date) } td { (yuan(*amount_fen)) }
                                td { (giver_text(giver, &row.payer)) } td { (row.reference) }
                                td { "记为捐赠 " code { (donation_id) } }
                            },
                            RowOutcome::Refused(refusal) => tr.refused data-line=(row.line) data-outcome="refused" data-rule=(refusal.rule) {
                                td { (row.line) } td { (row.date) } td { (row.amount) }
                                td { (row.payer) } td { (row.reference) }
                                td { "拒绝 " span lang="en" { "refused" } ": " code { (refusal.field) } " " code { (refusal.rule) } " — " (refusal.detail) }
                            },
                        }
                    }
                }
            }
        }
        @if !accepted.is_empty() {
            form.command method="post" action="/console/bank-import" enctype="multipart/form-data" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                input type="hidden" name="action" value="confirm";
                input type="hidden" name="fund_id" value=(fund_id);
                input type="hidden" name="statement" value=(statement);
                p.review { "确认后记录以上 " (accepted.len()) " 笔。 " span lang="en" { "Confirming records the " (accepted.len()) " accepted rows above." } }
                button #confirm-import type="submit" { "确认写入 " span lang="en" { "Confirm and record" } }
            }
        }
        p { a href="/console/bank-import" { "重新上传 " span lang="en" { "Upload another" } } }
    }
}

pub fn render_confirmed(outcome: &ImportOutcome, fund_id: &str) -> Markup {
    html! {
        h1 { "导入完成 " span lang="en" { "Import done" } }
        p.done #import-summary role="status" data-written=(outcome.written) data-recorded-before=(outcome.recorded_before) data-refused=(outcome.refused.len()) {
            "新记录 " (outcome.written) " 笔入基金 " code { (fund_id) } "；此前已记录 " (outcome.recorded_before) " 笔；拒绝 " (outcome.refused.len()) " 笔。 "
            span lang="en" { (outcome.written) " recorded now, " (outcome.recorded_before) " recorded before, " (outcome.refused.len()) " refused." }
        }
        @if !outcome.refused.is_empty() {
            ul role="alert" {
                @for (row, refusal) in &outcome.refused {
                    li data-line=(row.line) data-rule=(refusal.rule) {
                        "第 " (row.line) " 行 " span lang="en" { "line " (row.line) } ": "
                        code { (refusal.field) } " " code { (refusal.rule) } " — " (refusal.detail)
                    }
                }
            }
        }
        p { a href="/console/bank-import" { "再导入一份 " span lang="en" { "Import another" } } }
    }
}

/// `GET /console/bank-import`.
pub async fn form(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    if !matches!(signed_in.principal, Principal::Operator { .. }) {
        return session::wrong_role(&signed_in, "operator");
    }
    let funds = fund_choices(&state.projections.read());
    portal_html(
        StatusCode::OK,
        "导入银行流水 · Bank import",
        &signed_in,
        render_form_page(&signed_in.csrf, &funds, "", None),
    )
}

/// The fields of a form posted as `multipart/form-data` (a file's content
/// as text) or `application/x-www-form-urlencoded`.
fn form_fields(content_type: &str, body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Some(
            session::form_urlencoded_pairs(body)
                .into_iter()
                .map(|(name, value)| (name, value.into_bytes()))
                .collect(),
        );
    }
    let boundary = content_type
        .strip_prefix("multipart/form-data")?
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    multipart_fields(body, boundary.as_bytes())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The named parts of a `multipart/form-data` body (RFC 7578): each part's
/// headers end at a blank line; its content at CRLF, `--`, the boundary.
fn multipart_fields(body: &[u8], boundary: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let delimiter = [b"--".as_slice(), boundary].concat();
    let next_delimiter = [b"\r\n--".as_slice(), boundary].concat();
    let mut rest = &body[find(body, &delimiter)? + delimiter.len()..];
    let mut fields = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content = &rest[headers_end + 4..];
        let content_end = find(content, &next_delimiter)?;
        let name = headers
            .lines()
            .find(|line| {
                line.to_ascii_lowercase()
                    .starts_with("content-disposition:")
            })?
            .split(';')
            .filter_map(|part| part.trim().strip_prefix("name="))
            .next()?
            .trim_matches('"')
            .to_owned();
        fields.push((name, content[..content_end].to_vec()));
        rest = &content[content_end + next_delimiter.len()..];
    }
    Some(fields)
}

fn forbidden_without_csrf() -> Response {
    session::message_page(
        StatusCode::FORBIDDEN,
        "表单已失效，未记录任何内容",
        "The form is no longer valid; nothing was recorded",
        "表单缺少或带有错误的防伪令牌（csrf）。请重新打开页面再提交。 The form's anti-forgery token (csrf) is missing or wrong. Open the page again and resubmit.",
    )
}

/// `POST /console/bank-import`: `action=dry_run` (the default) shows the
/// plan; `action=confirm` records it. Its own body reader, since a
/// statement outgrows the session forms' limit; the CSRF check is the
/// same, before anything is read into the ledger.
pub async fn submit(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let signed_in = match SignedIn::from_request_parts(&mut parts, &state).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Ok(bytes) = axum::body::to_bytes(body, STATEMENT_BODY_LEN_MAX).await else {
        return session::message_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "文件太大",
            "The file is too large",
            &format!(
                "上传最多 {STATEMENT_BODY_LEN_MAX} 字节。 An upload is at most {STATEMENT_BODY_LEN_MAX} bytes."
            ),
        );
    };
    let fields = form_fields(&content_type, &bytes).unwrap_or_default();
    let text = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    match text(CSRF_FIELD) {
        Some(sent) if constant_time_eq(&sent, &signed_in.csrf) => {}
        _ => return forbidden_without_csrf(),
    }
    if !matches!(signed_in.principal, Principal::Operator { .. }) {
        return session::wrong_role(&signed_in, "operator");
    }
    let fund_id = text("fund_id").unwrap_or_default();
    let funds = fund_choices(&state.projections.read());
    let refuse = |status: StatusCode, refusal: Refusal| {
        portal_html(
            status,
            "导入银行流水 · Bank import",
            &signed_in,
            render_form_page(&signed_in.csrf, &funds, &fund_id, Some(&refusal)),
        )
    };
    if !funds.iter().any(|(id, _)| *id == fund_id) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            Refusal {
                field: "fund_id".into(),
                rule: "fund_unknown".into(),
                detail: "请选择一个已开设的基金。 choose a fund that is open".into(),
            },
        );
    }
    let statement = fields
        .iter()
        .find(|(key, _)| key == "statement")
        .map(|(_, value)| value.as_slice())
        .unwrap_or_default();
    let rows = match parse_statement(statement) {
        Ok(rows) => rows,
        Err(error) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                Refusal {
                    field: "statement".into(),
                    rule: error.rule().into(),
                    detail: error.to_string(),
                },
            );
        }
    };
    // Valid UTF-8: `parse_statement` checked it.
    let statement = std::str::from_utf8(statement).expect("parsed as UTF-8");
    if text("action").as_deref() == Some("confirm") {
        match confirm_import(&state, &signed_in.principal, &fund_id, rows).await {
            Ok(outcome) => portal_html(
                StatusCode::OK,
                "导入完成 · Import done",
                &signed_in,
                render_confirmed(&outcome, &fund_id),
            ),
            Err(error) => refuse(error.status(), Refusal::of(&error)),
        }
    } else {
        let planned = plan_import(&state.projections.read(), rows);
        portal_html(
            StatusCode::OK,
            "预览 · Dry run",
            &signed_in,
            render_dry_run(&planned, &fund_id, statement, &signed_in.csrf),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kaixuan_projections;

    fn rows(text: &str) -> Vec<StatementRow> {
        parse_statement(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_statement_with_a_bom_crlf_and_quoted_commas_reads_row_by_row() {
        let parsed = rows(
            "\u{feff}date,amount,payer,reference\r\n2016-06-01,41000.00,\"杭州某某, 有限公司\",ICBC-1\r\n\r\n2016-06-02,5,\"He said \"\"hi\"\"\",ICBC-2\r\n",
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].payer, "杭州某某, 有限公司");
        assert_eq!(parsed[0].line, 2);
        assert_eq!(parsed[1].payer, "He said \"hi\"");
        assert_eq!(parsed[1].line, 4);
        assert_eq!(parsed[1].reference, "ICBC-2");
    }

    #[test]
    fn an_unreadable_statement_names_its_rule() {
        let rule = |bytes: &[u8]| parse_statement(bytes).unwrap_err().rule();
        assert_eq!(rule(b"\xff\xfe"), "statement_not_utf8");
        assert_eq!(rule(b"amount,date,payer,reference\n"), "header_invalid");
        assert_eq!(rule(b""), "header_invalid");
        assert_eq!(
            rule(b"date,amount,payer,reference\n2016-01-01,5,x\n"),
            "columns_wrong"
        );
        assert_eq!(
            rule(b"date,amount,payer,reference\n2016-01-01,5,\"x,r\n"),
            "quote_unclosed"
        );
        let too_long = format!(
            "date,amount,payer,reference\n{}",
            "2016-01-01,5,x,r\n".repeat(STATEMENT_ROWS_MAX + 1)
        );
        assert_eq!(rule(too_long.as_bytes()), "rows_too_many");
    }

    #[test]
    fn a_reference_names_one_donation_id_that_the_ledger_accepts() {
        assert_eq!(
            donation_id_of_reference("ICBC-2016-06-0001"),
            "bank-ICBC-2016-06-0001"
        );
        let hashed = donation_id_of_reference("工行 2016/06 第1笔");
        assert!(hashed.starts_with("bank-h") && hashed.len() == 6 + 32);
        assert_eq!(hashed, donation_id_of_reference("工行 2016/06 第1笔"));
        let long = "A".repeat(60);
        assert!(donation_id_of_reference(&long).starts_with("bank-h"));
        for id in [hashed, donation_id_of_reference(&"A".repeat(59))] {
            assert!(id.len() <= mingzhang_ledger::decide::ID_LEN_MAX, "{id}");
        }
    }

    #[test]
    fn the_dry_run_refuses_each_bad_row_naming_its_rule_and_matches_payers_by_name() {
        let projections = kaixuan_projections();
        let donor = projections.donors().into_iter().next().unwrap();
        let text = format!(
            "date,amount,payer,reference\n\
             2016-06-01,100.00,{name},NEW-1\n\
             2016-06-01,100.00,路人甲,NEW-2\n\
             2016-02-30,100.00,路人甲,NEW-3\n\
             2016-06-01,100.001,路人甲,NEW-4\n\
             2016-06-01,0,路人甲,NEW-5\n\
             2016-06-01,100,路人甲,NEW-1\n\
             2016-06-01,100,路人甲,\n",
            name = donor.name
        );
        let planned = plan_import(&projections, rows(&text));
        let rule_of = |index: usize| match &planned[index].outcome {
            RowOutcome::Refused(refusal) => (refusal.field.clone(), refusal.rule.clone()),
            RowOutcome::Accepted { .. } => ("".into(), "accepted".into()),
        };
        assert_eq!(
            planned[0].outcome,
            RowOutcome::Accepted {
                donation_id: "bank-NEW-1".into(),
                giver: Giver::Registered {
                    donor_id: donor.donor_id.clone()
                },
                amount_fen: 10_000,
            }
        );
        assert!(matches!(
            planned[1].outcome,
            RowOutcome::Accepted {
                giver: Giver::Unregistered,
                ..
            }
        ));
        assert_eq!(rule_of(2), ("date".into(), "date_format".into()));
        assert_eq!(rule_of(3).0, "amount");
        assert_eq!(rule_of(4).0, "amount");
        assert_eq!(
            rule_of(5),
            ("reference".into(), "reference_repeated_in_file".into())
        );
        assert_eq!(rule_of(6), ("reference".into(), "required".into()));
        let html = render_dry_run(&planned, "f", &text, "c").into_string();
        assert!(html.contains("data-rule=\"date_format\""));
        assert!(html.contains("role=\"alert\""));
    }

    #[test]
    fn multipart_and_urlencoded_forms_read_alike() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"statement\"; filename=\"s.csv\"\r\nContent-Type: text/csv\r\n\r\ndate,amount\r\nx\r\n--XyZ--\r\n";
        let fields = form_fields("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(fields[0], ("csrf".into(), b"abc".to_vec()));
        assert_eq!(
            fields[1],
            ("statement".into(), b"date,amount\r\nx".to_vec())
        );
        let fields = form_fields(
            "application/x-www-form-urlencoded",
            b"csrf=abc&statement=a%2Cb",
        )
        .unwrap();
        assert_eq!(fields[1], ("statement".into(), b"a,b".to_vec()));
        assert!(form_fields("multipart/form-data; boundary=XyZ", b"garbage").is_none());
    }
}
