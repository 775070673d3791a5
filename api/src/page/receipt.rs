//! A donor's receipt link, `/r/<code>`: the receipt of one donation, checked
//! in the donor's browser by the same script as `/verify`, and said in plain
//! words. The code is the whole permission (`receipt_links`), so an unknown,
//! revoked or malformed code all answer the same 404: nobody learns whether
//! a code ever existed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{PreEscaped, html};
use mingzhang_ledger::receipt::Receipt;
use mingzhang_ledger::record::StoredRecord;
use mingzhang_projections::Day;
use mingzhang_proto::Message;
use mingzhang_proto::v1::EventEnvelope;
use mingzhang_proto::v1::event_envelope::Event;

use super::model::{Directory, Provenance};
use super::public::{Credit, cny};
use super::render::{Lang, credit, layout, recorded};
use super::{LangQuery, PageState, html as html_response};
use crate::error::AppError;
use crate::proof_calls::ProofCalls;
use crate::receipt_links::{ReceiptCode, ReceiptLinks};

/// What `/r/<code>` reads: the codes, and the receipts they open.
#[derive(Clone)]
pub struct LinkedReceipts {
    pub links: Arc<ReceiptLinks>,
    pub proof_calls: Arc<ProofCalls>,
}

/// A donation as the public may read about it: masked by the one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonationSummary {
    pub amount: String,
    pub fund_name: String,
    pub received_on: String,
    pub credit: Credit,
}

/// What the record in `receipt` is, if it is a donation, named and masked
/// as on every public surface.
pub fn donation_summary(receipt: &Receipt, directory: &Directory) -> Option<DonationSummary> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&receipt.record)
        .ok()?;
    let record = StoredRecord::decode(&bytes).ok()?;
    let envelope = EventEnvelope::decode(record.payload()).ok()?;
    let Some(Event::DonationReceived(donation)) = envelope.event else {
        return None;
    };
    let credit = directory
        .donors
        .get(&donation.donor_id)
        .map_or(Credit::Anonymous, |donor| donor.credit(donation.anonymous));
    Some(DonationSummary {
        amount: cny(donation.amount_fen),
        fund_name: directory
            .fund_names
            .get(&donation.fund_id)
            .cloned()
            .unwrap_or(donation.fund_id),
        received_on: Day::parse(&donation.received_on)
            .map(|day| day.render())
            .unwrap_or(donation.received_on),
        credit,
    })
}

/// The record a live code opens, and where to get its receipt.
fn linked(state: &PageState, code: &str) -> Option<(u64, Arc<ProofCalls>)> {
    let linked = state.source.linked_receipts.as_ref()?;
    let seq = linked.links.seq_of(ReceiptCode::parse(code)?)?;
    Some((seq, linked.proof_calls.clone()))
}

/// Nothing in it may tell a revoked code from one never issued.
fn no_such_receipt(lang: Lang) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"{}\"><meta charset=\"utf-8\"><title>404</title><p>{} <a href=\"{}\">{}</a></p></html>",
        lang.t("zh-CN", "en"),
        lang.t(
            "没有这张收据：链接可能有误，或已被机构撤销。请联系给您链接的机构。",
            "No such receipt: the link may be mistyped, or the organisation revoked it. Please ask the organisation that gave you the link."
        ),
        lang.href("/verify"),
        lang.t("如何核验收据", "How to check a receipt"),
    );
    let mut response = private(html_response(body));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// A receipt link's answers name one donor's gift: kept out of shared
/// caches, search engines and the Referer header of any link followed.
fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

pub(super) async fn receipt_page(
    State(state): State<Arc<PageState>>,
    Path(code): Path<String>,
    query: LangQuery,
) -> Response {
    let lang = query.lang();
    let Some((seq, proof_calls)) = linked(&state, &code) else {
        return no_such_receipt(lang);
    };
    let receipt = match proof_calls.linked_receipt(seq).await {
        Ok(receipt) => receipt,
        Err(error) => return error.into_response(),
    };
    let projections = state.source.projections.read();
    let provenance = match state.provenance(&projections, query.as_of.as_deref()) {
        Ok(provenance) => provenance,
        Err(error) => return error.into_response(),
    };
    let directory = state.directory(&projections);
    drop(projections);
    let summary = donation_summary(&receipt, &directory);
    private(html_response(render_receipt_page(
        lang,
        &code,
        &receipt,
        summary.as_ref(),
        &directory.fund_names,
        &provenance,
    )))
}

pub(super) async fn receipt_file(
    State(state): State<Arc<PageState>>,
    Path(code): Path<String>,
) -> Response {
    let Some((seq, proof_calls)) = linked(&state, &code) else {
        return AppError::NotFound {
            field: "code".into(),
            rule: "no_such_receipt_link",
            detail: "no receipt opens with this link".into(),
        }
        .into_response();
    };
    match proof_calls.linked_receipt(seq).await {
        Ok(receipt) => {
            let mut response = axum::Json(receipt).into_response();
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"receipt.json\""),
            );
            private(response)
        }
        Err(error) => error.into_response(),
    }
}

/// What the page says the record is, in words: the same sentence the
/// checker writes after verifying the record's own bytes.
pub(super) fn summary_sentence(lang: Lang, summary: &DonationSummary) -> maud::Markup {
    html! {
        @match lang {
            Lang::Zh => {
                "一笔 " strong { (summary.amount) } " 元的捐赠，进入" (recorded(&summary.fund_name))
                "，日期 " (summary.received_on) "；捐赠人：" (credit(lang, &summary.credit)) "。"
            }
            Lang::En => {
                "A donation of CNY " strong { (summary.amount) } " to " (recorded(&summary.fund_name))
                " on " (summary.received_on) "; donor: " (credit(lang, &summary.credit)) "."
            }
        }
    }
}

fn render_receipt_page(
    lang: Lang,
    code: &str,
    receipt: &Receipt,
    summary: Option<&DonationSummary>,
    fund_names: &HashMap<String, String>,
    provenance: &Provenance,
) -> String {
    let receipt_json = serde_json::to_string_pretty(receipt).expect("a receipt serialises");
    let key = provenance.verifier_key.as_deref().unwrap_or("");
    let body = html! {
        h1 { (lang.t("您的捐赠收据", "Your donation receipt")) }
        @if let Some(summary) = summary {
            p #receipt-summary { (summary_sentence(lang, summary)) }
        }
        p { (lang.t(
            "下面是这笔捐赠在公开账本中的记录，以及它确实在账本里的证明。本页打开时，您的浏览器已在本机自动核验；结果见下方。",
            "Below is this donation's record in the public ledger, with the proof that it is in the ledger. When this page opened, your browser checked it on this device; the result is below.")) }
        p #receipt-result role="status" aria-live="polite" data-outcome="none" {}
        p #receipt-record-summary {}
        p { button #receipt-check type="button" { (lang.t("再次核验", "Check again")) } }
        p {
            a #receipt-download href=(format!("/r/{code}/receipt.json")) download="receipt.json" {
                (lang.t("下载收据文件（JSON）", "Download the receipt file (JSON)"))
            }
            (lang.t("：可保存下来，日后在", ": keep it, and check it again later on "))
            a href=(lang.href("/verify")) { (lang.t("核验页", "the checking page")) }
            (lang.t("或用 ", " or offline with "))
            code { "mingzhang verify receipt" }
            (lang.t(" 离线核验。", "."))
        }
        details {
            summary { (lang.t("收据原文", "The receipt itself")) }
            textarea #receipt-input rows="8" readonly { (receipt_json) }
        }
        p.small { (lang.t(
            "这个链接只给您本人：请不要公开转发。若链接泄露，请联系机构撤销并换发新链接。",
            "This link is for you alone: please do not share it publicly. If it leaks, ask the organisation to revoke it and give you a new one.")) }
        script #verify-config type="application/json" {
            (PreEscaped(super::render::checker_config_json(lang, key, fund_names, true)))
        }
        script src="/assets/verify.js" {}
    };
    layout(
        lang,
        &format!("/r/{code}"),
        lang.t("捐赠收据", "Donation receipt"),
        provenance,
        body,
    )
}

#[cfg(test)]
mod tests {
    use mingzhang_ledger::record::GENESIS_PREV_HASH;
    use mingzhang_ledger::scenario;
    use mingzhang_ledger::state::LedgerState;
    use mingzhang_proto::v1::DonationReceived;

    use super::*;
    use crate::test_support::kaixuan_projections;

    /// Every donation of the demo as a receipt holding its record (the
    /// proof and checkpoint play no part in what the page says).
    fn demo_donation_receipts() -> Vec<(DonationReceived, Receipt)> {
        let mut state = LedgerState::default();
        let mut receipts = Vec::new();
        for (seq, (command, meta)) in scenario::kaixuan().into_iter().enumerate() {
            let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
                .expect("the Kaixuan scenario is valid");
            state.apply(&event);
            let Event::DonationReceived(donation) = &event else {
                continue;
            };
            let envelope = EventEnvelope {
                event: Some(event.clone()),
                ..Default::default()
            };
            let record =
                StoredRecord::encode(seq as u64, &GENESIS_PREV_HASH, &envelope.encode_to_vec());
            receipts.push((
                donation.clone(),
                Receipt {
                    seq: seq as u64,
                    record: base64::engine::general_purpose::STANDARD.encode(record.bytes()),
                    tree_size: seq as u64 + 1,
                    inclusion_proof: Vec::new(),
                    checkpoint: String::new(),
                },
            ));
        }
        receipts
    }

    #[test]
    fn a_receipt_says_amount_fund_and_date_and_names_the_donor_only_by_the_one_rule() {
        let directory = Directory::build(&kaixuan_projections());
        let receipts = demo_donation_receipts();
        assert!(receipts.len() >= 10, "{}", receipts.len());
        let (mut named, mut masked) = (0, 0);
        for (donation, receipt) in &receipts {
            let summary = donation_summary(receipt, &directory).expect("a donation");
            assert_eq!(summary.amount, cny(donation.amount_fen));
            assert_eq!(summary.fund_name, directory.fund_names[&donation.fund_id]);
            assert_eq!(summary.received_on, donation.received_on);
            let expected = directory
                .donors
                .get(&donation.donor_id)
                .map_or(Credit::Anonymous, |donor| donor.credit(donation.anonymous));
            assert_eq!(summary.credit, expected, "{}", donation.donation_id);
            let said = summary_sentence(Lang::Zh, &summary).into_string();
            match (&summary.credit, directory.donors.get(&donation.donor_id)) {
                (Credit::Named { name, .. }, _) => {
                    named += 1;
                    assert!(said.contains(name.as_str()), "{said}");
                }
                (Credit::Anonymous, Some(donor)) => {
                    masked += 1;
                    assert!(!said.contains(donor.name.as_str()), "{said}");
                    assert!(said.contains("匿名"), "{said}");
                }
                (Credit::Anonymous, None) => assert!(said.contains("匿名"), "{said}"),
            }
        }
        assert!(named > 0 && masked > 0, "named {named}, masked {masked}");
    }

    #[tokio::test]
    async fn without_receipt_links_every_link_is_the_same_404() {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt;

        let source = super::super::PageSource::new(std::sync::Arc::new(parking_lot::RwLock::new(
            kaixuan_projections(),
        )));
        let router = super::super::page_router(source);
        let code = ReceiptLinks::open(tempfile::tempdir().expect("dir").path())
            .expect("opens")
            .issue_for(3)
            .expect("issued")
            .to_text();
        for path in [format!("/r/{code}"), "/r/not-a-code".to_owned()] {
            let response = router
                .clone()
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                response.headers()[header::CACHE_CONTROL],
                "private, no-store"
            );
        }
    }
}
