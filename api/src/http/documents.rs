//! Documents (docs/documents.md): `PUT /v1/documents/{sha256}` uploads a
//! report or invoice named by its SHA-256, `GET /v1/documents/{sha256}` is
//! its metadata and the records that reference it, `GET /documents/{sha256}`
//! its bytes, for public documents only.
//!
//! An upload is checked in the order every write is: the token (401), the
//! role (403: operators; an organisation only for a report its own grant's
//! self-assessment names, after waiting for `min_seq` if given), then the
//! path's hash (400), the query (400), the body's size (413), that it
//! hashes to the path's name (422), its type (415); then it is stored. A
//! refused upload writes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::StreamExt;
use mingzhang_projections::{Projections, ReportKind};
use serde::Serialize;

use super::Caller;
use crate::auth::Principal;
use crate::documents::{
    DOCUMENT_LEN_MAX, DocumentHash, DocumentMeta, DocumentStore, DocumentType, PutRefusal, Stored,
    UPLOADS_IN_FLIGHT_MAX,
};
use crate::error::AppError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    // One `.route` per method: the OpenAPI route test reads them so.
    Router::new()
        .route("/v1/documents/{sha256}", put(upload))
        .route("/v1/documents/{sha256}", get(metadata))
        .route("/documents/{sha256}", get(download))
}

/// Served with every document: the bytes are the uploader's, so the browser
/// must neither guess another type nor run anything in them.
const DOCUMENT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; sandbox";

/// A record that names a document by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentReference {
    /// The record's sequence number in the log.
    pub seq: u64,
    /// `grant_self_assessment` or `project_completion`.
    pub kind: &'static str,
    /// The grant's or the project's id.
    pub id: String,
    /// The self-assessment's quarter, or the day the project was completed.
    pub period: String,
    /// The public page showing it.
    pub page: String,
    #[serde(skip)]
    organisation_id: Option<String>,
}

/// The records (grant self-assessments, project completions: the events
/// whose `report_sha256` names a report) that name `hash`, in log order:
/// one lookup in the projections' report index.
pub fn references(projections: &Projections, hash: DocumentHash) -> Vec<DocumentReference> {
    projections
        .report_references(hash.bytes())
        .into_iter()
        .map(|reference| DocumentReference {
            seq: reference.seq,
            kind: reference.kind.name(),
            page: match reference.kind {
                ReportKind::GrantSelfAssessment => format!("/grants/{}", reference.id),
                ReportKind::ProjectCompletion => format!("/projects/{}", reference.id),
            },
            id: reference.id,
            period: reference.period,
            organisation_id: reference.organisation_id,
        })
        .collect()
}

/// What `GET /v1/documents/{sha256}` and an upload answer.
#[derive(Debug, Serialize)]
pub struct DocumentAnswer {
    pub sha256: String,
    /// `application/pdf`, `image/jpeg`, `image/png` or `text/plain`.
    pub media_type: DocumentType,
    pub size_bytes: u64,
    pub public: bool,
    /// Where the bytes are served; absent for a document that is not public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub references: Vec<DocumentReference>,
}

fn answer(
    hash: DocumentHash,
    meta: DocumentMeta,
    references: Vec<DocumentReference>,
) -> DocumentAnswer {
    DocumentAnswer {
        sha256: hash.to_hex(),
        media_type: meta.media_type,
        size_bytes: meta.size_bytes,
        public: meta.public,
        url: meta.public.then(|| format!("/documents/{}", hash.to_hex())),
        references,
    }
}

fn store_of(state: &AppState) -> Result<&Arc<DocumentStore>, AppError> {
    state
        .documents
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("this server keeps no documents".into()))
}

type PathText = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn path_text(path: PathText) -> Result<String, AppError> {
    path.map(|Path(text)| text)
        .map_err(|error| AppError::malformed("sha256", "bad_path", error.body_text()))
}

fn parse_hash(text: &str) -> Result<DocumentHash, AppError> {
    DocumentHash::parse(text).ok_or_else(|| {
        AppError::malformed(
            "sha256",
            "sha256_invalid",
            format!("{text:?} is not a SHA-256: 64 lowercase hex digits"),
        )
    })
}

/// The role's right to upload, before anything of the request is read.
fn authorize_upload_role(principal: &Principal) -> Result<(), AppError> {
    match principal {
        Principal::Operator { .. } | Principal::Organisation { .. } => Ok(()),
        Principal::Public => Err(AppError::Unauthenticated(
            "uploading a document needs an operator or organisation token".into(),
        )),
        other => Err(AppError::Forbidden {
            rule: "role_may_not_upload",
            detail: format!(
                "a {} token may not upload documents; operators may, and an organisation its \
                 own self-assessment reports",
                other.role_name()
            ),
        }),
    }
}

/// An organisation uploads only a report that a self-assessment of one of
/// its own grants names, so it files the self-assessment first.
fn authorize_upload_of(
    principal: &Principal,
    references: &[DocumentReference],
) -> Result<(), AppError> {
    let Principal::Organisation {
        organisation_id, ..
    } = principal
    else {
        return Ok(());
    };
    let own = references
        .iter()
        .any(|reference| reference.organisation_id.as_deref() == Some(organisation_id.as_str()));
    if own {
        return Ok(());
    }
    Err(AppError::Forbidden {
        rule: "not_own_report",
        detail: format!(
            "organisation {organisation_id} may upload only a report named by a self-assessment \
             of its own grant; file the self-assessment first"
        ),
    })
}

/// What an upload's query may say.
#[derive(Debug, PartialEq, Eq)]
struct UploadQuery {
    /// `?public=false` marks a document that holds personal data; `true` is the default.
    public: bool,
    /// The seq of the self-assessment an organisation just filed: waited for,
    /// as a read waits, before its ownership is checked.
    min_seq: Option<u64>,
}

/// `?public=true|false` and `?min_seq=N`, each at most once; any other
/// parameter or value is refused, naming it.
fn parse_upload_query(pairs: &[(String, String)]) -> Result<UploadQuery, AppError> {
    let mut public = None;
    let mut min_seq = None;
    for (name, value) in pairs {
        match (name.as_str(), value.as_str()) {
            ("public", _) if public.is_some() => {
                return Err(AppError::malformed(
                    "public",
                    "public_repeated",
                    "give public once",
                ));
            }
            ("public", "true") => public = Some(true),
            ("public", "false") => public = Some(false),
            ("public", other) => {
                return Err(AppError::malformed(
                    "public",
                    "public_invalid",
                    format!("{other:?}: public is true or false"),
                ));
            }
            ("min_seq", _) if min_seq.is_some() => {
                return Err(AppError::malformed(
                    "min_seq",
                    "min_seq_repeated",
                    "give min_seq once",
                ));
            }
            ("min_seq", text) => {
                min_seq = Some(text.parse::<u64>().map_err(|_| {
                    AppError::malformed(
                        "min_seq",
                        "min_seq_invalid",
                        format!("{text:?} is not a record's sequence number"),
                    )
                })?);
            }
            (other, _) => {
                return Err(AppError::malformed(
                    other,
                    "unknown_parameter",
                    "an upload takes only ?public=true|false and ?min_seq=N",
                ));
            }
        }
    }
    Ok(UploadQuery {
        public: public.unwrap_or(true),
        min_seq,
    })
}

/// A slot to hold one more body in memory, or 503 while
/// `UPLOADS_IN_FLIGHT_MAX` uploads are being read.
fn upload_slot(store: &DocumentStore) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
    store.upload_slot().ok_or_else(|| {
        AppError::Unavailable(format!(
            "{UPLOADS_IN_FLIGHT_MAX} uploads are being read; retry in a moment"
        ))
    })
}

/// The body, read up to `DOCUMENT_LEN_MAX` bytes and refused past it,
/// whatever `Content-Length` claims.
async fn read_body(body: Body) -> Result<Vec<u8>, AppError> {
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            AppError::malformed(
                "body",
                "body_unreadable",
                format!("reading the body: {error}"),
            )
        })?;
        if bytes.len() + chunk.len() > DOCUMENT_LEN_MAX {
            return Err(AppError::PayloadTooLarge {
                limit_bytes: DOCUMENT_LEN_MAX,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn upload(
    State(state): State<AppState>,
    Caller(principal): Caller,
    sha256: PathText,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, AppError> {
    authorize_upload_role(&principal)?;
    let hash = parse_hash(&path_text(sha256)?)?;
    let Query(pairs) =
        query.map_err(|error| AppError::malformed("query", "query_invalid", error.body_text()))?;
    let UploadQuery { public, min_seq } = parse_upload_query(&pairs)?;
    state.wait_for_projections(min_seq).await?;
    let references = references(&state.projections.read(), hash);
    authorize_upload_of(&principal, &references)?;
    let store = store_of(&state)?.clone();
    let _slot = upload_slot(&store)?;
    let bytes = read_body(body).await?;
    let stored = put_document(store, hash, bytes, public).await?;
    let status = match stored {
        Stored::Created(_) => StatusCode::CREATED,
        Stored::AlreadyStored(_) => StatusCode::OK,
    };
    let body = answer(hash, stored.meta(), references);
    Ok((status, axum::Json(body)).into_response())
}

/// Stores a document already read, refusing as an upload refuses. `bytes`
/// is at most `DOCUMENT_LEN_MAX` long.
async fn put_document(
    store: Arc<DocumentStore>,
    hash: DocumentHash,
    bytes: Vec<u8>,
    public: bool,
) -> Result<Stored, AppError> {
    assert!(
        bytes.len() <= DOCUMENT_LEN_MAX,
        "the caller bounds the body"
    );
    tokio::task::spawn_blocking(move || store.put(hash, &bytes, public))
        .await
        .map_err(|error| AppError::Internal(format!("storing a document: {error}")))?
        .map_err(|refusal| match refusal {
            PutRefusal::HashMismatch { .. } => {
                AppError::invalid("body", "sha256_mismatch", refusal.to_string())
            }
            PutRefusal::Type(sniffed) => AppError::Invalid {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                field: "body".to_owned(),
                rule: sniffed.rule(),
                detail: sniffed.to_string(),
            },
            PutRefusal::PublicFlagDiffers { .. } => AppError::Conflict {
                field: "public".to_owned(),
                rule: "public_flag_differs",
                detail: refusal.to_string(),
            },
            PutRefusal::Io(error) => AppError::Internal(format!("storing a document: {error}")),
        })
}

/// An upload from a form (the console's file inputs): the same checks in
/// the same order as `PUT /v1/documents/{sha256}`, with the hash computed
/// here, since a form sends no hash. `field` names the form's file input
/// in a refusal. Answers the document's hash.
pub async fn store_uploaded(
    state: &AppState,
    principal: &Principal,
    field: &str,
    bytes: Vec<u8>,
    public: bool,
) -> Result<DocumentHash, AppError> {
    let rename = |error: AppError| match error {
        AppError::Invalid {
            status,
            rule,
            detail,
            ..
        } => AppError::Invalid {
            status,
            field: field.to_owned(),
            rule,
            detail,
        },
        other => other,
    };
    authorize_upload_role(principal)?;
    if bytes.len() > DOCUMENT_LEN_MAX {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: DOCUMENT_LEN_MAX,
        });
    }
    let hash = DocumentHash::of(&bytes);
    let references = references(&state.projections.read(), hash);
    authorize_upload_of(principal, &references)?;
    let store = store_of(state)?.clone();
    let _slot = upload_slot(&store)?;
    put_document(store, hash, bytes, public)
        .await
        .map_err(rename)?;
    Ok(hash)
}

async fn metadata(
    State(state): State<AppState>,
    sha256: PathText,
) -> Result<axum::Json<DocumentAnswer>, AppError> {
    let hash = parse_hash(&path_text(sha256)?)?;
    let meta = store_of(&state)?
        .meta(hash)
        .ok_or_else(|| no_such_document(hash))?;
    let references = references(&state.projections.read(), hash);
    Ok(axum::Json(answer(hash, meta, references)))
}

fn no_such_document(hash: DocumentHash) -> AppError {
    AppError::NotFound {
        field: "sha256".to_owned(),
        rule: "no_such_document",
        detail: format!("no public document {} is stored", hash.to_hex()),
    }
}

/// The bytes as stored, for a public document; a document that is not
/// public answers as one never uploaded.
async fn download(State(state): State<AppState>, sha256: PathText) -> Result<Response, AppError> {
    let hash = parse_hash(&path_text(sha256)?)?;
    let store = store_of(&state)?;
    let meta = match store.meta(hash) {
        Some(meta) if meta.public => meta,
        _ => return Err(no_such_document(hash)),
    };
    let file = tokio::fs::File::open(store.path_of(hash))
        .await
        .map_err(|error| AppError::Internal(format!("opening a document: {error}")))?;
    let len_bytes = file
        .metadata()
        .await
        .map_err(|error| AppError::Internal(format!("reading a document: {error}")))?
        .len();
    let disposition = format!(
        "inline; filename=\"{}.{}\"",
        hash.to_hex(),
        meta.media_type.extension()
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, meta.media_type.content_type()),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        [(header::CONTENT_LENGTH, len_bytes.to_string())],
        streamed(file),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).expect("a hex name is a header value"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A PDF opens in the browser's viewer, which a sandbox would block; it
    // runs no script of the page's origin either way.
    if meta.media_type != DocumentType::Pdf {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCUMENT_CONTENT_SECURITY_POLICY),
        );
    }
    Ok(response)
}

/// Bytes read from a document at a time while it is served.
const DOWNLOAD_CHUNK_BYTES: usize = 64 * 1024;

/// A file's bytes as a response body, read a chunk at a time, so serving a
/// 10 MiB document to many readers at once holds 64 KiB each, not 10 MiB.
fn streamed(file: tokio::fs::File) -> Body {
    use tokio::io::AsyncReadExt;
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut chunk = vec![0u8; DOWNLOAD_CHUNK_BYTES];
        match file.read(&mut chunk).await {
            Ok(0) => None,
            Ok(read) => {
                chunk.truncate(read);
                Some((Ok(axum::body::Bytes::from(chunk)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn a_document_is_public_unless_marked_otherwise() {
        let query = |public, min_seq| UploadQuery { public, min_seq };
        assert_eq!(parse_upload_query(&[]).unwrap(), query(true, None));
        assert_eq!(
            parse_upload_query(&pairs(&[("public", "false")])).unwrap(),
            query(false, None)
        );
        assert_eq!(
            parse_upload_query(&pairs(&[("min_seq", "17"), ("public", "true")])).unwrap(),
            query(true, Some(17))
        );
        for (bad, rule) in [
            (pairs(&[("public", "no")]), "public_invalid"),
            (
                pairs(&[("public", "true"), ("public", "false")]),
                "public_repeated",
            ),
            (pairs(&[("min_seq", "-1")]), "min_seq_invalid"),
            (pairs(&[("private", "true")]), "unknown_parameter"),
        ] {
            let error = parse_upload_query(&bad).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(error.field_and_rule().1, Some(rule), "{bad:?}");
        }
    }

    #[test]
    fn an_organisation_uploads_only_reports_of_its_own_grants() {
        let organisation = Principal::Organisation {
            token_id: "t".into(),
            organisation_id: "org-01".into(),
        };
        let reference = |organisation_id: &str| DocumentReference {
            seq: 300,
            kind: "grant_self_assessment",
            id: "g1".into(),
            period: "2016-Q3".into(),
            page: "/grants/g1".into(),
            organisation_id: Some(organisation_id.into()),
        };
        assert!(authorize_upload_of(&organisation, &[reference("org-01")]).is_ok());
        for references in [vec![], vec![reference("org-02")]] {
            let error = authorize_upload_of(&organisation, &references).unwrap_err();
            assert_eq!(error.field_and_rule().1, Some("not_own_report"));
        }
        let operator = Principal::Operator {
            token_id: "t".into(),
        };
        assert!(authorize_upload_of(&operator, &[]).is_ok());
    }

    fn documented_statuses(method: &str, path: &str) -> Vec<String> {
        let document = crate::openapi::document();
        document["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is documented"))
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_document_route_lists_the_statuses_it_can_answer() {
        assert_eq!(
            documented_statuses("put", "/v1/documents/{sha256}"),
            [
                "200", "201", "400", "401", "403", "409", "413", "415", "422", "503"
            ]
        );
        assert_eq!(
            documented_statuses("get", "/v1/documents/{sha256}"),
            ["200", "400", "404", "503"]
        );
        assert_eq!(
            documented_statuses("get", "/documents/{sha256}"),
            ["200", "400", "404", "503"]
        );
    }

    #[test]
    fn a_fifth_upload_at_once_is_told_to_retry_and_a_slot_frees_when_one_ends() {
        let data_dir = tempfile::tempdir().unwrap();
        let store = DocumentStore::open(data_dir.path()).unwrap();
        let mut held: Vec<_> = (0..UPLOADS_IN_FLIGHT_MAX)
            .map(|_| upload_slot(&store).expect("a free slot"))
            .collect();
        let refused = upload_slot(&store).unwrap_err();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        held.pop();
        assert!(upload_slot(&store).is_ok());
    }
}
