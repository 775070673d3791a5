//! The documents a page's reports name (docs/documents.md): a link to each
//! public one (images also inline, as a thumbnail), and a check in the
//! reader's browser that the bytes it fetched hash to the SHA-256 on the
//! log (`static/documents.js`, WebCrypto). A document that is not public
//! shows its hash only.

use maud::{Markup, html};

use super::render::Lang;
use crate::documents::{DocumentHash, DocumentMeta, DocumentStore, DocumentType};

/// The script that checks each document shown; served at `/assets/documents.js`.
pub const DOCUMENT_CHECK_SCRIPT: &str = include_str!("../../static/documents.js");
const DOCUMENT_CHECK_SCRIPT_PATH: &str = "/assets/documents.js";

/// What a page knows of the document a report's hash names: `None` when
/// this server keeps no documents or none with that hash.
pub fn document_of(store: Option<&DocumentStore>, sha256_hex: &str) -> Option<DocumentMeta> {
    let hash = DocumentHash::parse(sha256_hex)?;
    store?.meta(hash)
}

fn type_label(lang: Lang, media_type: DocumentType) -> &'static str {
    match media_type {
        DocumentType::Pdf => "PDF",
        DocumentType::Jpeg => lang.t("JPEG 图片", "JPEG image"),
        DocumentType::Png => lang.t("PNG 图片", "PNG image"),
        DocumentType::Text => lang.t("文本", "text"),
    }
}

fn size_label(size_bytes: u64) -> String {
    if size_bytes < 1024 {
        format!("{size_bytes} B")
    } else if size_bytes < 1024 * 1024 {
        format!("{:.1} KiB", size_bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", size_bytes as f64 / (1024.0 * 1024.0))
    }
}

/// A report's hash and, when uploaded, its document: the hash always shows.
pub fn report_document(lang: Lang, sha256_hex: &str, document: Option<DocumentMeta>) -> Markup {
    let url = format!("/documents/{sha256_hex}");
    html! {
        div.document data-document-sha256=(sha256_hex) {
            span.small { (lang.t("报告 SHA-256：", "Report SHA-256: ")) }
            code.hash { (sha256_hex) }
            br;
            @match document {
                None => {
                    span.small.document-missing { (lang.t(
                        "报告原文尚未上传；用 sha256sum 计算原文的哈希，应与此值一致。",
                        "The report has not been uploaded; its sha256sum must equal this value.")) }
                }
                Some(document) if !document.public => {
                    span.document-not-public { (lang.t("不公开（含个人信息）", "not public (personal data)")) }
                    " · " span.small { (type_label(lang, document.media_type)) ", " (size_label(document.size_bytes)) }
                }
                Some(document) => {
                    @if document.media_type.is_image() {
                        a href=(url) { img.thumbnail src=(url) loading="lazy" alt=(lang.t("报告图片", "report image")); }
                        br;
                    }
                    a.document-link href=(url) { (lang.t("查看原文", "Open the document")) }
                    " · " span.small { (type_label(lang, document.media_type)) ", " (size_label(document.size_bytes)) }
                    " · "
                    span.document-check
                        data-document-check=(url)
                        data-sha256=(sha256_hex)
                        data-state="checking"
                        data-verified-text=(lang.t("✓ 已核对：原文哈希与账本一致", "✓ verified: its hash matches the ledger"))
                        data-mismatched-text=(lang.t("✗ 不一致：原文哈希与账本记录不符，实为", "✗ mismatched: its hash differs from the ledger's; it is"))
                        data-unavailable-text=(lang.t("无法核对（浏览器不支持或下载失败）", "could not check (no WebCrypto, or the download failed)"))
                        { (lang.t("正在核对哈希…", "checking its hash…")) }
                }
            }
        }
    }
}

/// The script tag a page with a public document needs, once.
pub fn check_script(any_public: bool) -> Markup {
    html! {
        @if any_public { script src=(DOCUMENT_CHECK_SCRIPT_PATH) defer {} }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(media_type: DocumentType, public: bool) -> Option<DocumentMeta> {
        Some(DocumentMeta {
            media_type,
            size_bytes: 2048,
            public,
        })
    }

    #[test]
    fn a_public_image_is_linked_shown_and_checked() {
        let hash = "ab".repeat(32);
        let html = report_document(Lang::Zh, &hash, meta(DocumentType::Png, true)).into_string();
        assert!(html.contains(&format!(
            "<img class=\"thumbnail\" src=\"/documents/{hash}\""
        )));
        assert!(html.contains(&format!("data-document-check=\"/documents/{hash}\"")));
        assert!(html.contains("查看原文"));
    }

    #[test]
    fn a_document_that_is_not_public_shows_its_hash_and_no_link() {
        let hash = "cd".repeat(32);
        for (lang, label) in [
            (Lang::Zh, "不公开（含个人信息）"),
            (Lang::En, "not public (personal data)"),
        ] {
            let html = report_document(lang, &hash, meta(DocumentType::Pdf, false)).into_string();
            assert!(html.contains(&hash));
            assert!(html.contains(label));
            assert!(!html.contains("/documents/"), "{html}");
        }
    }

    #[test]
    fn a_report_not_uploaded_shows_its_hash_and_says_so() {
        let hash = "ef".repeat(32);
        let html = report_document(Lang::En, &hash, None).into_string();
        assert!(html.contains(&hash));
        assert!(html.contains("not been uploaded"));
        assert!(!html.contains("/documents/"));
    }
}
