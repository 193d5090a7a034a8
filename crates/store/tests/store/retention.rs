//! Retention: the history keeps a number of days and at most a number of rows per table, and
//! pruning deletes the rest, oldest first, in batches.

use lifeboat_store::{
    Event, EventKind, Heartbeat, ImageDigest, PRUNE_BATCH, Retention, Store, TransferFilter, TransferOutcome,
};

use crate::support::{bounded, on_both_engines, transfer};

const DAY_MS: i64 = 24 * 3600 * 1000;
const NOW: i64 = 1_800_000_000_000;

/// `count` transfers and events, one a minute, the last at `NOW`; every fourth transfer is a
/// missing file with a name of its own.
async fn history(store: &Store, count: u32) {
    let mut transfers = Vec::new();
    let mut events = Vec::new();
    for n in 0..count {
        let at = NOW - i64::from(count - 1 - n) * 60_000;
        let mut record = transfer(n);
        record.started_at = at - 100;
        record.ended_at = at;
        if record.outcome == TransferOutcome::NotFound {
            record.requested = format!("missing-{n}.bin");
        }
        transfers.push(record);
        events.push(Event { at, kind: EventKind::MissingFile, origin: "tftp".into(), detail: format!("{n}") });
    }
    bounded("insert transfers", store.insert_transfers(&transfers)).await.expect("insert transfers");
    bounded("insert events", store.insert_events(&events)).await.expect("insert events");
}

async fn counts(store: &Store) -> (usize, usize, usize) {
    let transfers = bounded("transfers", store.transfers_page(&TransferFilter::default(), None, 500)).await.unwrap();
    let mut all_transfers = transfers.items.len();
    let mut next = transfers.next_before;
    while let Some(before) = next {
        let page = bounded("transfers", store.transfers_page(&TransferFilter::default(), Some(before), 500)).await;
        let page = page.unwrap();
        all_transfers += page.items.len();
        next = page.next_before;
    }
    let mut all_events = 0;
    let mut before = None;
    loop {
        let page = bounded("events", store.events_page(before, None, 500)).await.unwrap();
        all_events += page.items.len();
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let missing = bounded("missing", store.missing_files(500)).await.unwrap().len();
    (all_transfers, all_events, missing)
}

async fn rows_older_than_the_days_kept_are_deleted(store: Store) {
    // Three days of history, one row a minute.
    history(&store, 3 * 24 * 60).await;
    let retention = Retention { days: 1, max_rows: 1_000_000 };
    let pruned = bounded("prune", store.prune_at(retention, NOW)).await.expect("prune");
    let day = 24 * 60;
    // Rows strictly older than a day go; the one exactly a day old stays.
    assert_eq!((pruned.transfers, pruned.events), (2 * day as u64 - 1, 2 * day as u64 - 1));
    assert_eq!(counts(&store).await.0, day + 1);
    let kept = bounded("missing", store.missing_files(500)).await.unwrap();
    assert!(kept.iter().all(|m| m.last_at >= NOW - DAY_MS), "an old missing file survived");
    let old_missing = (0..2 * day - 1).filter(|n| n % 4 == 3).count();
    assert_eq!(pruned.missing_files, old_missing as u64);
    assert_eq!(bounded("again", store.prune_at(retention, NOW)).await.unwrap().total(), 0, "nothing left to prune");
}

async fn each_table_keeps_at_most_its_newest_rows(store: Store) {
    let rows = 3 * PRUNE_BATCH + 321;
    history(&store, rows).await;
    let retention = Retention { days: 3650, max_rows: 1000 };
    let pruned = bounded("prune", store.prune_at(retention, NOW)).await.expect("prune");
    assert_eq!((pruned.transfers, pruned.events), (u64::from(rows) - 1000, u64::from(rows) - 1000));
    let (transfers, events, missing) = counts(&store).await;
    assert_eq!((transfers, events), (1000, 1000));
    assert!(missing <= 1000, "{missing} missing files kept");
    // The newest are the ones kept.
    let newest = bounded("newest", store.transfers_page(&TransferFilter::default(), None, 1)).await.unwrap();
    assert_eq!(newest.items[0].record.ended_at, NOW);
}

async fn missing_files_beyond_the_row_limit_go_oldest_first(store: Store) {
    history(&store, 1200).await;
    let before = bounded("missing", store.missing_files(500)).await.unwrap();
    assert_eq!(before.len(), 300);
    let retention = Retention { days: 3650, max_rows: 10_000 };
    assert_eq!(bounded("prune", store.prune_at(retention, NOW)).await.unwrap().total(), 0);
    let retention = Retention { days: 3650, max_rows: 120 };
    bounded("prune", store.prune_at(retention, NOW)).await.unwrap();
    let after = bounded("missing", store.missing_files(500)).await.unwrap();
    assert_eq!(after.len(), 120);
    assert_eq!(after, before[..120], "the 120 asked for last are kept");
}

async fn instances_gone_for_the_days_kept_go_with_their_images_and_old_commands(store: Store) {
    let here = store.clone().for_instance("here");
    let gone = store.clone().for_instance("gone");
    for (instance, seen) in [(&here, NOW), (&gone, NOW - 3 * DAY_MS)] {
        let beat = Heartbeat { started_at: seen, at: seen, ..Heartbeat::default() };
        bounded("beat", instance.beat(&beat)).await.expect("a heartbeat");
        let digest =
            ImageDigest { file: "openwrt.bin".into(), size: 7, modified_ns: 1, sha256: "ab".into(), added_at: seen };
        bounded("digest", instance.save_image_digest(&digest)).await.expect("an image");
    }
    let old = bounded("command", here.issue_command("gone", "tftp", "stop", "web", NOW - 2 * DAY_MS)).await.unwrap();
    let new = bounded("command", here.issue_command("here", "tftp", "stop", "web", NOW)).await.unwrap();

    let retention = Retention { days: 1, max_rows: 1_000_000 };
    let pruned = bounded("prune", here.prune_at(retention, NOW)).await.expect("prune");
    assert_eq!((pruned.instances, pruned.commands), (1, 1), "{pruned:?}");
    let names: Vec<String> =
        bounded("instances", here.instances()).await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["here"]);
    let copies = bounded("images", here.fleet_images()).await.unwrap();
    if here.is_shared() {
        assert_eq!(copies.iter().map(|c| c.instance.as_str()).collect::<Vec<_>>(), ["here"]);
    }
    assert!(bounded("command", here.command(old)).await.unwrap().is_none(), "the old command stayed");
    assert!(bounded("command", here.command(new)).await.unwrap().is_some(), "the new command was deleted");
    // An instance never prunes itself, however long since its row was written.
    let much_later = NOW + 10 * DAY_MS;
    assert_eq!(bounded("prune", here.prune_at(retention, much_later)).await.unwrap().instances, 0);
}

on_both_engines!(
    instances_gone_for_the_days_kept_go_with_their_images_and_old_commands,
    rows_older_than_the_days_kept_are_deleted,
    each_table_keeps_at_most_its_newest_rows,
    missing_files_beyond_the_row_limit_go_oldest_first,
);
