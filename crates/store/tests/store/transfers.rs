//! The transfer history: records read back as written, and paging through every kind of filter
//! gives exactly the matching records, newest first, with no repeats and no gaps, also when new
//! records arrive between pages.

use lifeboat_store::{
    MAX_PAGE, Page, Store, StoreError, StoredTransfer, TransferFilter, TransferOutcome, TransferRecord,
};

use sqlx::SqlitePool;

use crate::support::{bounded, on_both_engines, store_on, transfer};

async fn insert(store: &Store, records: &[TransferRecord]) {
    bounded("insert transfers", store.insert_transfers(records)).await.expect("insert transfers");
}

async fn page(store: &Store, filter: &TransferFilter, before: Option<i64>, limit: u32) -> Page<StoredTransfer> {
    bounded("transfers page", store.transfers_page(filter, before, limit)).await.expect("transfers page")
}

/// Every page of `filter`, followed from `next_before` to the end.
async fn all_pages(store: &Store, filter: &TransferFilter, limit: u32) -> Vec<StoredTransfer> {
    let mut items = Vec::new();
    let mut before = None;
    for _ in 0..10_000 {
        let page = page(store, filter, before, limit).await;
        assert!(page.items.len() <= limit as usize, "page longer than its limit");
        assert!(page.next_before.is_none() || page.items.len() == limit as usize, "short page in the middle");
        items.extend(page.items);
        match page.next_before {
            Some(next) => before = Some(next),
            None => return items,
        }
    }
    panic!("paging did not end");
}

fn matches(filter: &TransferFilter, record: &TransferRecord) -> bool {
    let mac = filter.mac.as_ref().is_none_or(|mac| record.mac.as_deref() == Some(mac.to_ascii_lowercase().as_str()));
    let file = filter.file.as_ref().is_none_or(|file| &record.requested == file || record.file.as_ref() == Some(file));
    let outcome = filter.outcome.is_none_or(|outcome| record.outcome == outcome);
    let since = filter.since.is_none_or(|since| record.ended_at >= since);
    let until = filter.until.is_none_or(|until| record.ended_at < until);
    mac && file && outcome && since && until
}

/// What paging must return: the matching records, by end time then id, newest first.
fn expected(filter: &TransferFilter, stored: &[StoredTransfer]) -> Vec<i64> {
    let mut wanted: Vec<&StoredTransfer> = stored.iter().filter(|t| matches(filter, &t.record)).collect();
    wanted.sort_by_key(|t| std::cmp::Reverse((t.record.ended_at, t.id)));
    wanted.iter().map(|t| t.id).collect()
}

/// 600 records whose end times are out of id order and often equal (ties within a millisecond),
/// with every outcome, MACs in both cases, and some without a MAC or a served file.
fn mixed_records() -> Vec<TransferRecord> {
    (0..600u32)
        .map(|n| {
            let mut record = transfer(n);
            record.ended_at = 1_700_000_000_000 + i64::from((n * 37) % 150) * 1000;
            record.outcome = TransferOutcome::ALL[(n as usize * 7 / 3) % TransferOutcome::ALL.len()];
            if n % 11 == 0 {
                record.mac = None;
            }
            if n % 5 == 2 && record.file.is_some() {
                // Served under another name: an alias or a host's image.
                record.file = Some("images/file-0.efi".to_owned());
            }
            if n % 5 == 4 && record.file.is_some() {
                // Served under the name it was asked by: the row matches a file filter twice.
                record.file = Some(record.requested.clone());
            }
            record
        })
        .collect()
}

fn filters() -> Vec<TransferFilter> {
    let mac = || Some("52:54:00:00:00:03".to_owned());
    let t0 = 1_700_000_000_000;
    vec![
        TransferFilter::default(),
        TransferFilter { mac: mac(), ..Default::default() },
        TransferFilter { mac: Some("52:54:00:00:00:0A".to_owned()), ..Default::default() },
        TransferFilter { file: Some("file-2.efi".to_owned()), ..Default::default() },
        TransferFilter { file: Some("images/file-0.efi".to_owned()), ..Default::default() },
        TransferFilter { file: Some("file-4.efi".to_owned()), ..Default::default() },
        TransferFilter { outcome: Some(TransferOutcome::Failed), ..Default::default() },
        TransferFilter { since: Some(t0 + 40_000), until: Some(t0 + 90_000), ..Default::default() },
        TransferFilter { until: Some(t0 + 10_000), ..Default::default() },
        TransferFilter { mac: mac(), file: Some("images/file-0.efi".to_owned()), ..Default::default() },
        TransferFilter {
            mac: mac(),
            outcome: Some(TransferOutcome::Complete),
            since: Some(t0 + 20_000),
            ..Default::default()
        },
        TransferFilter {
            file: Some("file-0.efi".to_owned()),
            outcome: Some(TransferOutcome::NotFound),
            until: Some(t0 + 120_000),
            ..Default::default()
        },
        TransferFilter { file: Some("no-such-file".to_owned()), ..Default::default() },
    ]
}

/// Everything stored, through the unfiltered pages.
async fn stored(store: &Store) -> Vec<StoredTransfer> {
    all_pages(store, &TransferFilter::default(), MAX_PAGE).await
}

async fn records_read_back_as_inserted(store: Store) {
    let mut records: Vec<TransferRecord> = (0..4).map(transfer).collect();
    records[0].mac = Some("52:54:00:AA:BB:CC".to_owned());
    records[1].client = "[fe80::1]:50000".parse().expect("address");
    records[1].mac = None;
    records[2].bytes = u64::MAX;
    records[3].protocol = lifeboat_store::TransferProtocol::Http;
    (records[3].blksize, records[3].windowsize) = (0, 0);
    insert(&store, &records).await;

    let mut read: Vec<StoredTransfer> = stored(&store).await;
    read.reverse();

    let ids: Vec<i64> = read.iter().map(|t| t.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids follow insertion order: {ids:?}");
    records[0].mac = Some("52:54:00:aa:bb:cc".to_owned());
    records[2].bytes = i64::MAX as u64;
    assert_eq!(read.into_iter().map(|t| t.record).collect::<Vec<_>>(), records);
}

async fn paging_through_every_filter_gives_each_match_once_newest_first(store: Store) {
    insert(&store, &mixed_records()).await;
    let all = stored(&store).await;
    assert_eq!(all.len(), 600);

    for filter in filters() {
        let want = expected(&filter, &all);
        for limit in [1, 7, 50, MAX_PAGE] {
            let got: Vec<i64> = all_pages(&store, &filter, limit).await.iter().map(|t| t.id).collect();
            assert_eq!(got, want, "{filter:?}, limit {limit}");
        }
    }
}

async fn records_inserted_between_pages_neither_repeat_nor_hide_older_ones(store: Store) {
    insert(&store, &mixed_records()).await;
    let filter = TransferFilter { outcome: Some(TransferOutcome::Complete), ..Default::default() };
    let want = expected(&filter, &stored(&store).await);

    let mut got = Vec::new();
    let mut before = None;
    let mut newer = 1_800_000_000_000;
    loop {
        let page = page(&store, &filter, before, 9).await;
        got.extend(page.items.iter().map(|t| t.id));
        // Newer records, matching the filter, arrive while the person reads.
        let mut record = transfer(0);
        record.ended_at = newer;
        newer += 1;
        insert(&store, &[record]).await;
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }

    assert_eq!(got, want);
}

async fn the_limit_is_clamped_and_an_unknown_cursor_gives_an_empty_page(store: Store) {
    let records: Vec<TransferRecord> = (0..MAX_PAGE + 20).map(transfer).collect();
    insert(&store, &records).await;
    let everything = TransferFilter::default();

    let one = page(&store, &everything, None, 0).await;
    let most = page(&store, &everything, None, u32::MAX).await;
    let unknown = page(&store, &everything, Some(1_000_000), 10).await;

    assert_eq!(one.items.len(), 1);
    assert_eq!(one.next_before, Some(one.items[0].id));
    assert_eq!(most.items.len(), MAX_PAGE as usize);
    assert!(most.next_before.is_some());
    assert_eq!(unknown, Page { items: vec![], next_before: None });
}

async fn an_empty_table_has_one_empty_last_page(store: Store) {
    assert_eq!(page(&store, &TransferFilter::default(), None, 50).await, Page { items: vec![], next_before: None });
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_failing_insert_stores_none_of_the_batch(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON transfers WHEN NEW.requested = 'refuse' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let mut records: Vec<TransferRecord> = (0..1200).map(transfer).collect();
    records[1100].requested = "refuse".to_owned();

    let error = bounded("insert", store.insert_transfers(&records)).await.expect_err("the trigger did not refuse");

    assert!(error.to_string().contains("refused by the test trigger"), "{error}");
    assert_eq!(stored(&store).await, vec![]);
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn rows_of_unknown_outcomes_are_not_shown_and_unreadable_rows_are_errors(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    sqlx::query(
        "INSERT INTO transfers (started_at, ended_at, client_ip, client_port, requested, direction, bytes, blksize, \
         windowsize, retransmits, outcome) VALUES (0, 1, '10.0.0.1', 69, 'x', 'read', 0, 512, 1, 0, 'exploded')",
    )
    .execute(&pool)
    .await
    .expect("insert");

    // Only the ranges of known outcomes are read: the row is invisible to the pages...
    assert_eq!(stored(&store).await, vec![]);
    // ...but a bad known-outcome row is reported, not skipped.
    sqlx::query("UPDATE transfers SET outcome = 'failed', client_ip = 'not-an-ip'")
        .execute(&pool)
        .await
        .expect("update");
    let error =
        bounded("page", store.transfers_page(&TransferFilter::default(), None, 10)).await.expect_err("read a bad row");
    assert!(matches!(error, StoreError::InvalidRow { table: "transfers", .. }), "{error:?}");
    assert!(error.to_string().contains("\"not-an-ip\" is not an IP address"), "{error}");
}

on_both_engines!(
    records_read_back_as_inserted,
    paging_through_every_filter_gives_each_match_once_newest_first,
    records_inserted_between_pages_neither_repeat_nor_hide_older_ones,
    the_limit_is_clamped_and_an_unknown_cursor_gives_an_empty_page,
    an_empty_table_has_one_empty_last_page,
);
