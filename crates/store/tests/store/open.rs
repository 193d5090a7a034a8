//! Opening a database file: a fresh file gets the schema, a reopened file keeps its leases, the
//! journal is WAL, and the files lifeboat cannot use give errors that say which file and why.

use lifeboat_store::{LeaseChange, Store, StoreError};

use crate::support::{bounded, db_path, execute, lease, open, side_connection};

#[tokio::test]
async fn fresh_file_is_created_and_migrated() {
    let (_dir, path) = db_path();
    assert!(!path.exists());

    let store = open(&path).await;

    assert!(path.is_file(), "the database file was not created");
    assert_eq!(store.location(), &lifeboat_store::DatabaseLocation::File(path.clone()));
    assert_eq!(bounded("load", store.load_leases()).await.expect("load"), vec![]);
    let mut side = side_connection(&path).await;
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut side)
        .await
        .expect("read migrations");
    assert_eq!(applied, vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true)]);
}

#[tokio::test]
async fn journal_mode_of_the_file_is_wal() {
    let (_dir, path) = db_path();
    let _store = open(&path).await;

    // The journal mode is a property of the file: a connection that did not ask for WAL sees it.
    let mut side = side_connection(&path).await;
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut side).await.expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn leases_survive_closing_and_reopening() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    let mut infinite = lease(2);
    infinite.hostname = None;
    infinite.expires = None;
    let changes = [LeaseChange::Upsert(lease(1)), LeaseChange::Upsert(infinite.clone()), LeaseChange::Upsert(lease(3))];
    bounded("apply", store.apply(&changes)).await.expect("apply");
    bounded("close", store.close()).await;
    drop(store);

    let reopened = open(&path).await;

    assert_eq!(bounded("load", reopened.load_leases()).await.expect("load"), vec![lease(1), infinite, lease(3)]);
}

#[tokio::test]
async fn reopening_twice_does_not_migrate_again() {
    let (_dir, path) = db_path();
    bounded("close", open(&path).await.close()).await;
    bounded("close", open(&path).await.close()).await;

    let mut side = side_connection(&path).await;
    let (count,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM _sqlx_migrations").fetch_one(&mut side).await.expect("count");
    assert_eq!(count, 6);
}

#[tokio::test]
async fn missing_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("no-such-dir");
    let path = missing.join("lifeboat.db");

    let error = bounded("open", Store::open(&path)).await.expect_err("opened a file in a missing directory");

    assert!(matches!(error, StoreError::MissingDirectory { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("the directory {} does not exist", missing.display())), "{message}");
    assert!(message.contains("create it"), "{message}");
    assert!(!missing.exists(), "opening must not create the directory");
}

#[tokio::test]
async fn file_that_is_not_a_database_is_reported_and_left_alone() {
    let (_dir, path) = db_path();
    let text = "this is a dnsmasq lease file, not SQLite\n".repeat(200);
    std::fs::write(&path, &text).expect("write");

    let error = bounded("open", Store::open(&path)).await.expect_err("opened a text file");

    assert!(matches!(error, StoreError::NotADatabase { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("is not a SQLite database"), "{message}");
    assert!(message.contains("move it aside"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text, "the file was changed");
}

#[tokio::test]
async fn directory_given_as_the_file_is_reported() {
    let dir = tempfile::tempdir().expect("temporary directory");

    let error = bounded("open", Store::open(dir.path())).await.expect_err("opened a directory");

    assert!(matches!(error, StoreError::IsDirectory { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(message.contains("it is a directory"), "{message}");
}

#[tokio::test]
async fn database_from_a_newer_lifeboat_is_refused() {
    let (_dir, path) = db_path();
    bounded("close", open(&path).await.close()).await;
    // What a newer lifeboat would leave behind: a migration this build has never heard of.
    execute(
        &path,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .await;

    let error = bounded("open", Store::open(&path)).await.expect_err("opened a newer schema");

    assert!(matches!(error, StoreError::NewerSchema { version: 9999, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("written by a newer lifeboat"), "{message}");
    assert!(message.contains("migration 9999"), "{message}");
}
