//! How the public page travels: conditional GET bound to the log size the
//! page reflects, short-lived caching, and the favicon. Compression is the
//! whole HTTP surface's (`http::router_with_transparency`).
//!
//! A page or export is a function of the records applied, the latest
//! signed checkpoint it shows, the date pledges are judged against, and the
//! request's path and query. Its entity tag binds exactly those, so a
//! client holding the tag of the current state gets 304 without the page
//! being rendered.
//!
//! The tag is weak (`W/"..."`): the compression layer sends the same page
//! gzip-, brotli- or un-encoded, and a strong tag would have to differ for
//! each encoding (RFC 9110 §8.8.1). Weak comparison is what `If-None-Match`
//! uses anyway (RFC 9110 §13.1.2).

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::PageState;

/// A page may be shown this long without asking again: a visitor reloading
/// within seconds of a write sees the write a few seconds late at worst;
/// after that the browser revalidates, which costs a 304.
pub const PAGE_CACHE_CONTROL: &str = "public, max-age=10";

/// The icon changes only with a release; a week keeps it off the wire.
pub const FAVICON_CACHE_CONTROL: &str = "public, max-age=604800";

/// The project's mark (ledger lines and a tick, in the page's colours), as
/// SVG so one small file serves every size.
pub const FAVICON_SVG: &str = include_str!("../../static/favicon.svg");

/// `If-None-Match` headers longer than this are not read: a client sends
/// one or a few tags, never a list this long.
const IF_NONE_MATCH_LEN_MAX: usize = 4_096;

/// The entity tag of what a GET of `path_and_query` answers now, or `None`
/// when the request is one the page refuses (a malformed `as_of`): its
/// error is the handler's to give.
fn entity_tag(
    state: &PageState,
    path_and_query: &str,
    as_of_asked: Option<&str>,
) -> Option<String> {
    let projections = state.source.projections.read();
    let provenance = state.provenance(&projections, as_of_asked).ok()?;
    let mut hasher = Sha256::new();
    hasher.update(path_and_query.as_bytes());
    hasher.update([0]);
    hasher.update(provenance.as_of.as_bytes());
    hasher.update([0]);
    if let Some(checkpoint) = &provenance.checkpoint {
        hasher.update(checkpoint.tree_size.to_string().as_bytes());
        hasher.update([0]);
        hasher.update(checkpoint.root_hash_base64.as_bytes());
    }
    let digest = hasher.finalize();
    // The record count leads, readable, so a tag says which log size it is.
    Some(format!(
        "W/\"{}-{}\"",
        provenance.records,
        hex::encode(&digest[..12])
    ))
}

/// Whether `If-None-Match` names `tag` (weak comparison) or is `*`.
fn if_none_match_names(headers: &HeaderMap, tag: &str) -> bool {
    let opaque = |candidate: &str| candidate.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(tag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter(|value| value.len() <= IF_NONE_MATCH_LEN_MAX)
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == wanted)
}

/// The first `as_of` of the query, as the page's own parameters read it; a
/// query that does not parse has none (the handler then refuses it).
fn as_of_asked(uri: &axum::http::Uri) -> Option<String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    pairs
        .into_iter()
        .find(|(key, _)| key == "as_of")
        .map(|(_, value)| value)
}

/// Conditional GET for the page's routes: 304 when the client holds the
/// current tag; otherwise the handler's answer, tagged when it is a 200
/// and the state did not move while it rendered.
pub(super) async fn conditional_get(
    State(state): State<Arc<PageState>>,
    request: Request,
    next: Next,
) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|path_and_query| path_and_query.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let as_of_asked = as_of_asked(request.uri());
    let Some(tag) = entity_tag(&state, &path_and_query, as_of_asked.as_deref()) else {
        return next.run(request).await;
    };
    if if_none_match_names(request.headers(), &tag) {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        cache_headers(not_modified.headers_mut(), &tag);
        return not_modified;
    }
    let mut response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    // A write applied while the page rendered: the page may show it, so
    // the tag read before would name the wrong state.
    if entity_tag(&state, &path_and_query, as_of_asked.as_deref()).as_deref() == Some(&tag) {
        cache_headers(response.headers_mut(), &tag);
    }
    response
}

fn cache_headers(headers: &mut HeaderMap, tag: &str) {
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(tag).expect("a tag is ASCII"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PAGE_CACHE_CONTROL),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}

pub(super) async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, FAVICON_CACHE_CONTROL),
        ],
        FAVICON_SVG,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_none_match: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(if_none_match).unwrap(),
        );
        headers
    }

    #[test]
    fn if_none_match_compares_weakly_and_reads_lists_and_star() {
        let tag = "W/\"7-abc\"";
        assert!(if_none_match_names(&headers("W/\"7-abc\""), tag));
        assert!(if_none_match_names(&headers("\"7-abc\""), tag));
        assert!(if_none_match_names(&headers("\"1-x\", W/\"7-abc\""), tag));
        assert!(if_none_match_names(&headers("*"), tag));
        assert!(!if_none_match_names(&headers("W/\"8-abc\""), tag));
        assert!(!if_none_match_names(&HeaderMap::new(), tag));
    }

    #[test]
    fn as_of_is_read_from_the_query_decoded_first_value_first() {
        let uri = |text: &str| text.parse::<axum::http::Uri>().unwrap();
        assert_eq!(
            as_of_asked(&uri("/?lang=en&as_of=2016-01-01")).as_deref(),
            Some("2016-01-01")
        );
        assert_eq!(
            as_of_asked(&uri("/?as_of=2016%2D01%2D01&as_of=x")).as_deref(),
            Some("2016-01-01")
        );
        assert_eq!(as_of_asked(&uri("/?lang=en")), None);
    }
}
