//! Where a database is: a SQLite file, or a PostgreSQL database named by URL.
//!
//! **Invariant:** a location shown to a person (its `Display`: logs, errors, the dashboard) never
//! contains the password of a PostgreSQL URL.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A database: a SQLite file (`/var/lib/lifeboat/lifeboat.db`), or a PostgreSQL database
/// (`postgres://lifeboat@db/lifeboat`, or over a Unix socket:
/// `postgres://lifeboat@localhost/lifeboat?host=/run/postgresql`).
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    File(PathBuf),
    Postgres(url::Url),
}

/// The URL schemes that name a PostgreSQL database, as libpq and sqlx spell them.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

/// A `postgres://` text that is not a URL.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a PostgreSQL URL ({source}); write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")]
pub struct BadDatabaseUrl {
    text: String,
    #[source]
    source: url::ParseError,
}

impl FromStr for DatabaseLocation {
    type Err = BadDatabaseUrl;

    /// A text that starts with `postgres://` or `postgresql://` is a PostgreSQL URL; anything
    /// else is the path of a SQLite file.
    fn from_str(text: &str) -> Result<DatabaseLocation, BadDatabaseUrl> {
        let is_postgres = POSTGRES_SCHEMES.iter().any(|scheme| {
            text.len() > scheme.len()
                && text[..scheme.len()].eq_ignore_ascii_case(scheme)
                && text[scheme.len()..].starts_with("://")
        });
        if !is_postgres {
            return Ok(DatabaseLocation::File(PathBuf::from(text)));
        }
        // The password is left out of the error: the text may hold one.
        let redacted = redact_text(text);
        url::Url::parse(text)
            .map(DatabaseLocation::Postgres)
            .map_err(|source| BadDatabaseUrl { text: redacted, source })
    }
}

impl DatabaseLocation {
    /// Whether this names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseLocation::Postgres(_))
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::File(path) => write!(f, "{}", path.display()),
            DatabaseLocation::Postgres(url) => {
                let mut shown = url.clone();
                if shown.password().is_some() {
                    // Fails only for URLs that cannot have a password, which this one has.
                    let _ = shown.set_password(Some("***"));
                }
                // A password may also be given as a query parameter.
                if shown.query_pairs().any(|(key, _)| key == "password") {
                    let pairs: Vec<(String, String)> = shown
                        .query_pairs()
                        .map(|(key, value)| {
                            let value = if key == "password" { "***".to_owned() } else { value.into_owned() };
                            (key.into_owned(), value)
                        })
                        .collect();
                    shown.query_pairs_mut().clear().extend_pairs(pairs);
                }
                write!(f, "{shown}")
            }
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    /// As `Display`: a location in a debug dump keeps its password to itself too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseLocation({self})")
    }
}

/// `text` with whatever sits between `://user:` and `@` replaced, for an error about a URL that
/// did not parse.
fn redact_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return text.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(text: &str) -> DatabaseLocation {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn paths_are_files_and_postgres_urls_are_postgres() {
        assert_eq!(
            location("/var/lib/lifeboat/lifeboat.db"),
            DatabaseLocation::File("/var/lib/lifeboat/lifeboat.db".into())
        );
        assert_eq!(location("postgres.db"), DatabaseLocation::File("postgres.db".into()));
        assert!(location("postgres://lifeboat@db/lifeboat").is_postgres());
        assert!(location("PostgreSQL://lifeboat@localhost/lifeboat?host=/run/postgresql").is_postgres());
    }

    #[test]
    fn a_shown_location_never_holds_the_password() {
        let shown = location("postgres://lifeboat:s3cret@db:5432/lifeboat?sslmode=disable").to_string();
        assert_eq!(shown, "postgres://lifeboat:***@db:5432/lifeboat?sslmode=disable");
        let shown = location("postgres://lifeboat@db/lifeboat?password=s3cret&host=/run/postgresql").to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!format!("{:?}", location("postgres://a:s3cret@db/x")).contains("s3cret"));
        let error = "postgres://a:s3cret@[bad/x".parse::<DatabaseLocation>().expect_err("not a URL").to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }
}
