//! Which URLs name a KurrentDB log, and which stream in it.
//!
//! The URL is the client's own connection string (`kurrentdb://`, `esdb://`,
//! ... with their `+discover` forms) plus one parameter of ours, `stream`,
//! taken out before the client sees the rest.

/// The stream the ledger is kept in when the URL names none.
pub const DEFAULT_STREAM: &str = "mingzhang-ledger";

/// The URL schemes the `kurrentdb` client accepts (its `+discover` forms too).
pub const SCHEMES: [&str; 4] = ["kurrentdb", "kurrent", "kdb", "esdb"];

/// Whether `url` names a KurrentDB cluster, by its scheme alone.
pub fn is_kurrentdb_url(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once("://") else {
        return false;
    };
    let scheme = scheme.strip_suffix("+discover").unwrap_or(scheme);
    SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error(
        "the store URL's scheme must be one of kurrentdb, kurrent, kdb, esdb (or their +discover forms)"
    )]
    Scheme,
    #[error(
        "the store URL's `stream` must be 1 to 255 characters and not start with `$` (the server's own streams)"
    )]
    Stream,
}

/// A KurrentDB log: the client's connection string and the one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    connection_string: String,
    stream: String,
}

impl Location {
    /// Splits `url` into the client's connection string and the stream
    /// (the `stream` parameter, or `DEFAULT_STREAM`).
    pub fn parse(url: &str) -> Result<Location, LocationError> {
        if !is_kurrentdb_url(url) {
            return Err(LocationError::Scheme);
        }
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut stream = None;
        let mut kept = Vec::new();
        for parameter in query.split('&').filter(|parameter| !parameter.is_empty()) {
            match parameter.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("stream") => {
                    stream = Some(value.to_owned());
                }
                _ => kept.push(parameter),
            }
        }
        let stream = stream.unwrap_or_else(|| DEFAULT_STREAM.to_owned());
        if stream.is_empty() || stream.len() > 255 || stream.starts_with('$') {
            return Err(LocationError::Stream);
        }
        let connection_string = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(Location {
            connection_string,
            stream,
        })
    }

    /// The URL as the `kurrentdb` client reads it, without `stream`.
    pub fn connection_string(&self) -> &str {
        &self.connection_string
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_STREAM, Location, LocationError, is_kurrentdb_url};

    #[test]
    fn every_scheme_of_the_client_is_a_kurrentdb_url_and_nothing_else_is() {
        for url in [
            "kurrentdb://admin:changeit@node1:2113,node2:2113,node3:2113?tls=false",
            "kurrentdb+discover://cluster.example:2113",
            "esdb://localhost:2113?tls=false",
            "ESDB+discover://localhost:2113",
            "kurrent://localhost:2113",
            "kdb://localhost:2113",
        ] {
            assert!(is_kurrentdb_url(url), "{url}");
        }
        for url in [
            "postgres://u@h/db",
            "kurrentdb:localhost",
            "http://localhost:2113",
            "/var/lib/mingzhang",
            "esdb+tls://h",
        ] {
            assert!(!is_kurrentdb_url(url), "{url}");
        }
    }

    #[test]
    fn the_stream_parameter_names_the_stream_and_is_not_passed_to_the_client() {
        let location = Location::parse(
            "kurrentdb://a:2113,b:2113?tls=false&stream=kaixuan-ledger&nodePreference=leader",
        )
        .unwrap();
        assert_eq!(location.stream(), "kaixuan-ledger");
        assert_eq!(
            location.connection_string(),
            "kurrentdb://a:2113,b:2113?tls=false&nodePreference=leader"
        );
        let location = Location::parse("esdb://admin:changeit@h:2113?stream=s").unwrap();
        assert_eq!(location.connection_string(), "esdb://admin:changeit@h:2113");
        assert_eq!(location.stream(), "s");
    }

    #[test]
    fn without_a_stream_parameter_the_ledger_is_the_default_stream() {
        let location = Location::parse("kurrentdb://h:2113?tls=false").unwrap();
        assert_eq!(location.stream(), DEFAULT_STREAM);
        assert_eq!(location.connection_string(), "kurrentdb://h:2113?tls=false");
    }

    #[test]
    fn system_empty_and_overlong_streams_and_other_schemes_are_refused_naming_the_rule() {
        for url in [
            "kurrentdb://h?stream=$all",
            "kurrentdb://h?stream=",
            &format!("kurrentdb://h?stream={}", "s".repeat(256)),
        ] {
            let error = Location::parse(url).unwrap_err();
            assert_eq!(error, LocationError::Stream, "{url}");
            assert!(error.to_string().contains("`stream`"));
        }
        let error = Location::parse("postgres://h/db").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("scheme must be one of kurrentdb")
        );
    }
}
