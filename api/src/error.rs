//! One error type for every HTTP handler, rendered as RFC 9457 problem+json,
//! and mapped to gRPC statuses in `grpc`. Server faults are logged in full and
//! answered with a generic body: 5xx responses never leak internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use mingzhang_ledger::store::StoreError;

use crate::backend::{Rejection, RejectionKind, SubmitError};

/// How Linux's ENOSPC reads in an `io::Error`, and so in the reason a
/// failed log gives.
const ENOSPC_TEXT: &str = "(os error 28)";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input: the request can never succeed as sent (422, or 400 for unparseable JSON).
    #[error("{field}: {rule}: {detail}")]
    Invalid {
        status: StatusCode,
        field: String,
        rule: &'static str,
        detail: String,
    },
    #[error("{field}: {rule}: {detail}")]
    NotFound {
        field: String,
        rule: &'static str,
        detail: String,
    },
    /// The ledger's state forbids it now (409).
    #[error("{field}: {rule}: {detail}")]
    Conflict {
        field: String,
        rule: &'static str,
        detail: String,
    },
    #[error("idempotency key {key:?} was already used with a different request")]
    IdempotencyKeyReused { key: String },
    /// A position past the end of the log (400; gRPC OUT_OF_RANGE).
    #[error("{field}: {rule}: {detail}")]
    OutOfRange {
        field: String,
        rule: &'static str,
        detail: String,
    },
    #[error("request body exceeds {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    /// The body is not declared as JSON (415).
    #[error("the body must be sent as application/json, not {content_type:?}")]
    UnsupportedMediaType { content_type: String },
    /// The route exists, not with this method (405).
    #[error("this route does not answer {method}")]
    MethodNotAllowed { method: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{detail}")]
    Forbidden { rule: &'static str, detail: String },
    /// Projections are behind the caller's `min_seq`.
    #[error("projections have applied {applied_len} records, {min_seq} requested")]
    Lagging { applied_len: u64, min_seq: u64 },
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The log failed after an I/O error and takes no write until the server
    /// restarts (crash-only, see `ledger::store`): 507 when the disk is full,
    /// 503 otherwise. `reason` names paths, so only the server log shows it.
    #[error("the log has failed: {reason}")]
    LogFailed { reason: String, disk_full: bool },
    /// This server follows the log; another holds the write role (503).
    /// `writer`: its advertised address, when known.
    #[error("not the writer")]
    NotTheWriter { writer: Option<String> },
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, rule: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: field.to_owned(),
            rule,
            detail: detail.into(),
        }
    }

    pub fn malformed(field: &str, rule: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Invalid {
            status: StatusCode::BAD_REQUEST,
            field: field.to_owned(),
            rule,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { status, .. } => *status,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } | AppError::IdempotencyKeyReused { .. } => {
                StatusCode::CONFLICT
            }
            AppError::OutOfRange { .. } => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::Lagging { .. } | AppError::Unavailable(_) | AppError::NotTheWriter { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::LogFailed {
                disk_full: true, ..
            } => StatusCode::INSUFFICIENT_STORAGE,
            AppError::LogFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// (field, rule) for errors about one part of the request.
    pub fn field_and_rule(&self) -> (Option<&str>, Option<&str>) {
        match self {
            AppError::Invalid { field, rule, .. }
            | AppError::NotFound { field, rule, .. }
            | AppError::OutOfRange { field, rule, .. }
            | AppError::Conflict { field, rule, .. } => (Some(field), Some(rule)),
            AppError::IdempotencyKeyReused { .. } => {
                (Some("Idempotency-Key"), Some("idempotency_key_reused"))
            }
            AppError::PayloadTooLarge { .. } => (None, Some("body_too_large")),
            AppError::UnsupportedMediaType { .. } => {
                (Some("Content-Type"), Some("unsupported_media_type"))
            }
            AppError::MethodNotAllowed { .. } => (Some("method"), Some("method_not_allowed")),
            AppError::Unauthenticated(_) => (Some("Authorization"), Some("unauthenticated")),
            AppError::Forbidden { rule, .. } => (None, Some(rule)),
            AppError::Lagging { .. } => (Some("min_seq"), Some("projections_lagging")),
            AppError::LogFailed {
                disk_full: true, ..
            } => (None, Some("insufficient_storage")),
            AppError::LogFailed { .. } => (None, Some("log_failed")),
            AppError::NotTheWriter { .. } => (None, Some("not_the_writer")),
            AppError::Unavailable(_) | AppError::Internal(_) => (None, None),
        }
    }

    /// What the client may read: everything except for server faults.
    pub fn public_detail(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error; the server log has the details".to_owned(),
            AppError::LogFailed { disk_full, .. } => format!(
                "the log has failed after {} and takes no writes until the server restarts; \
                 whether this request was recorded is known only then: retry it with the same \
                 Idempotency-Key",
                if *disk_full {
                    "running out of disk space"
                } else {
                    "an I/O error"
                }
            ),
            AppError::NotTheWriter {
                writer: Some(writer),
            } => format!(
                "this server follows the log and takes no writes; the server holding the write \
                 role is {writer}: send the write there (retrying with the same Idempotency-Key \
                 is safe)"
            ),
            AppError::NotTheWriter { writer: None } => "this server follows the log and takes \
                no writes, and no server holds the write role right now: retry shortly with the \
                same Idempotency-Key"
                .to_owned(),
            AppError::Invalid { detail, .. }
            | AppError::NotFound { detail, .. }
            | AppError::OutOfRange { detail, .. }
            | AppError::Conflict { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }
}

impl AppError {
    /// The same error naming the field as the HTTP JSON body names it: JSON
    /// amounts are decimal CNY, so the ledger's `amount_fen` is `amount`
    /// there (see `http::commands`).
    pub fn with_json_field_names(self) -> AppError {
        let rename = |field: String| match field.strip_suffix("_fen") {
            Some(json_name) => json_name.to_owned(),
            None => field,
        };
        match self {
            AppError::Invalid {
                status,
                field,
                rule,
                detail,
            } => AppError::Invalid {
                status,
                field: rename(field),
                rule,
                detail,
            },
            AppError::NotFound {
                field,
                rule,
                detail,
            } => AppError::NotFound {
                field: rename(field),
                rule,
                detail,
            },
            AppError::Conflict {
                field,
                rule,
                detail,
            } => AppError::Conflict {
                field: rename(field),
                rule,
                detail,
            },
            other => other,
        }
    }
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> AppError {
        let Rejection {
            field,
            rule,
            message,
            kind,
        } = rejection;
        match kind {
            RejectionKind::Invalid => AppError::Invalid {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                field,
                rule,
                detail: message,
            },
            RejectionKind::NotFound => AppError::NotFound {
                field,
                rule,
                detail: message,
            },
            RejectionKind::Conflict => AppError::Conflict {
                field,
                rule,
                detail: message,
            },
            RejectionKind::Forbidden => AppError::Forbidden {
                rule,
                detail: format!("{field}: {message}"),
            },
        }
    }
}

impl From<SubmitError> for AppError {
    fn from(error: SubmitError) -> AppError {
        let error_text = error.to_string();
        match error {
            SubmitError::Rejected(rejection) => rejection.into(),
            SubmitError::IdempotencyKeyReused { key } => AppError::IdempotencyKeyReused { key },
            SubmitError::IdempotencyKeyInvalid => {
                AppError::malformed("Idempotency-Key", "idempotency_key_invalid", error_text)
            }
            SubmitError::Store(StoreError::Failed(reason)) => AppError::LogFailed {
                disk_full: reason.contains(ENOSPC_TEXT),
                reason,
            },
            SubmitError::Store(store) => AppError::Internal(format!("store: {store}")),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_len: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        // A follower refusing a write is doing its job, not failing.
        if status.is_server_error()
            && !matches!(
                self,
                AppError::Lagging { .. } | AppError::NotTheWriter { .. }
            )
        {
            tracing::error!(error = %self, "request failed");
        }
        let (field, rule) = self.field_and_rule();
        let problem = Problem {
            kind: format!(
                "https://mingzhang.example/problems/{}",
                rule.unwrap_or(if status.is_server_error() {
                    "server_error"
                } else {
                    "error"
                })
            ),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.public_detail(),
            field,
            rule,
            applied_len: match &self {
                AppError::Lagging { applied_len, .. } => Some(*applied_len),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).expect("problem serialises");
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod log_failure_tests {
    use axum::http::StatusCode;
    use mingzhang_ledger::store::StoreError;

    use super::AppError;
    use crate::backend::SubmitError;

    fn answer(reason: &str) -> (StatusCode, Option<&'static str>, String) {
        let error = AppError::from(SubmitError::Store(StoreError::Failed(reason.into())));
        let rule = match error.field_and_rule() {
            (_, Some("insufficient_storage")) => Some("insufficient_storage"),
            (_, Some("log_failed")) => Some("log_failed"),
            _ => None,
        };
        (error.status(), rule, error.public_detail())
    }

    #[test]
    fn a_full_disk_is_507_and_any_other_log_failure_503_never_500() {
        let full = "writing to /srv/mz/log failed: No space left on device (os error 28)";
        let (status, rule, detail) = answer(full);
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(rule, Some("insufficient_storage"));
        assert!(
            !detail.contains("/srv/mz"),
            "paths stay in the server log: {detail}"
        );
        assert!(detail.contains("Idempotency-Key"), "{detail}");

        let (status, rule, detail) = answer("writing to /srv/mz/log failed: Input/output error");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rule, Some("log_failed"));
        assert!(!detail.contains("/srv/mz"), "{detail}");
    }
}
