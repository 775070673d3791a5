//! The JSON body extractor: its rejection is an `AppError`, so malformed JSON,
//! unknown fields, wrong types and oversized bodies answer as problem+json
//! naming the field and the rule.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Request bodies larger than this are refused with 413 before parsing.
pub const BODY_LEN_MAX: usize = 64 * 1024;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        require_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge {
                        limit_bytes: BODY_LEN_MAX,
                    }
                } else {
                    AppError::malformed("body", "body_unreadable", rejection.body_text())
                }
            })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// A body is read as JSON only when the client said it is JSON
/// (`application/json`, or any `+json` type, parameters allowed).
fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType { content_type })
    }
}

pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Tracking the path costs on every field; only a refused body needs it,
    // so it is parsed a second time, with the path, to say where it is wrong.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        classify(path, error.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|error| AppError::malformed("body", "malformed_json", error.to_string()))?;
    // The same parser refused it a moment ago: a bug, not bad input.
    drop::<T>(value);
    Err(AppError::Internal(
        "the JSON body parsed only with its path tracked".to_owned(),
    ))
}

fn classify(path: String, error: serde_json::Error) -> AppError {
    use serde_json::error::Category;
    let message = error.to_string();
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::malformed("body", "malformed_json", message)
        }
        Category::Data => {
            let named = between_backticks(&message);
            let field_at = |name: Option<&str>| match (path.as_str(), name) {
                (".", Some(name)) => name.to_owned(),
                (".", None) => "body".to_owned(),
                (parent, Some(name)) if !parent.ends_with(name) => format!("{parent}.{name}"),
                (parent, _) => parent.to_owned(),
            };
            let detail = strip_position(&message);
            if message.starts_with("unknown field") {
                AppError::invalid(&field_at(named), "unknown_field", detail)
            } else if message.starts_with("missing field") {
                AppError::invalid(&field_at(named), "missing_field", detail)
            } else if message.starts_with("invalid type") {
                AppError::invalid(&field_at(None), "wrong_type", detail)
            } else {
                AppError::invalid(&field_at(None), "invalid_value", detail)
            }
        }
    }
}

/// An integer field that also takes a JSON number with a zero fraction
/// (`3.0`): JSON Schema's `integer` is any number without a fractional part,
/// and the body follows the document (`#[serde(deserialize_with = "integral")]`).
pub fn integral<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    struct Integral<T>(std::marker::PhantomData<T>);

    impl<T: TryFrom<i64>> serde::de::Visitor<'_> for Integral<T> {
        type Value = T;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("an integer")
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
            T::try_from(value).map_err(|_| {
                E::invalid_value(serde::de::Unexpected::Signed(value), &"an integer in range")
            })
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
            i64::try_from(value)
                .ok()
                .and_then(|value| T::try_from(value).ok())
                .ok_or_else(|| {
                    E::invalid_value(
                        serde::de::Unexpected::Unsigned(value),
                        &"an integer in range",
                    )
                })
        }

        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<T, E> {
            // i64::MIN and 2^63 are exact in f64; every integral value between fits.
            let in_range = value >= i64::MIN as f64 && value < -(i64::MIN as f64);
            if value.fract() != 0.0 || !in_range {
                return Err(E::invalid_type(
                    serde::de::Unexpected::Float(value),
                    &"an integer",
                ));
            }
            self.visit_i64(value as i64)
        }
    }

    deserializer.deserialize_any(Integral(std::marker::PhantomData))
}

fn between_backticks(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        fund_id: String,
        amount: String,
    }

    fn field_rule(json: &str) -> (String, &'static str) {
        match parse_body::<Body>(json.as_bytes()) {
            Err(AppError::Invalid { field, rule, .. }) => (field, rule),
            other => panic!("expected invalid for {json}, got {other:?}"),
        }
    }

    #[test]
    fn body_errors_name_the_field_and_the_rule() {
        assert_eq!(
            field_rule(r#"{"fund_id":"f","amount":"1","colour":1}"#),
            ("colour".into(), "unknown_field")
        );
        assert_eq!(
            field_rule(r#"{"fund_id":"f"}"#),
            ("amount".into(), "missing_field")
        );
        assert_eq!(
            field_rule(r#"{"fund_id":"f","amount":5}"#),
            ("amount".into(), "wrong_type")
        );
        assert_eq!(
            field_rule(r#"{"fund_id":"f","#),
            ("body".into(), "malformed_json")
        );
        assert_eq!(
            field_rule(r#"{"fund_id":"f","amount":"1"} x"#),
            ("body".into(), "malformed_json")
        );
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Counted {
        #[serde(deserialize_with = "integral")]
        index: u32,
    }

    #[test]
    fn integer_fields_take_numbers_without_a_fraction_as_json_schema_does() {
        for (json, index) in [
            (r#"{"index":3}"#, 3),
            (r#"{"index":3.0}"#, 3),
            (r#"{"index":0e0}"#, 0),
        ] {
            assert_eq!(
                parse_body::<Counted>(json.as_bytes()).unwrap(),
                Counted { index },
                "{json}"
            );
        }
        for json in [
            r#"{"index":3.5}"#,
            r#"{"index":-1}"#,
            r#"{"index":-1.0}"#,
            r#"{"index":4294967296}"#,
            r#"{"index":1e300}"#,
            r#"{"index":"3"}"#,
        ] {
            let error = parse_body::<Counted>(json.as_bytes()).expect_err(json);
            assert!(
                matches!(error, AppError::Invalid { ref field, .. } if field == "index"),
                "{json}: {error:?}"
            );
        }
    }
}
