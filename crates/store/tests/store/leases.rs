//! The lease table through `Store::apply` and `Store::load_leases`.

use std::net::Ipv4Addr;

use lifeboat_store::{ClientKey, Lease, LeaseChange, Store, StoreError};

use crate::support::{bounded, db_path, execute, lease, on_both_engines, open};

async fn apply(store: &Store, changes: &[LeaseChange]) {
    bounded("apply", store.apply(changes)).await.expect("apply");
}

async fn load(store: &Store) -> Vec<Lease> {
    bounded("load", store.load_leases()).await.expect("load")
}

async fn upsert_of_a_known_client_updates_its_row(store: Store) {
    apply(&store, &[LeaseChange::Upsert(lease(1))]).await;
    let mut renewed = lease(1);
    renewed.expires = Some(1_800_000_000);
    renewed.hostname = Some("renamed".into());

    apply(&store, &[LeaseChange::Upsert(renewed.clone())]).await;

    assert_eq!(load(&store).await, vec![renewed]);
}

async fn upsert_for_an_address_another_client_holds_replaces_that_client(store: Store) {
    apply(&store, &[LeaseChange::Upsert(lease(1)), LeaseChange::Upsert(lease(2))]).await;
    let mut newcomer = lease(3);
    newcomer.address = lease(1).address;

    apply(&store, &[LeaseChange::Upsert(newcomer.clone())]).await;

    assert_eq!(load(&store).await, vec![lease(2), newcomer]);
}

async fn client_moving_to_another_address_frees_its_old_one(store: Store) {
    apply(&store, &[LeaseChange::Upsert(lease(1))]).await;
    let mut moved = lease(1);
    moved.address = Ipv4Addr::new(10, 9, 9, 9);
    apply(&store, &[LeaseChange::Upsert(moved.clone())]).await;

    // The old address is free: another client may take it without displacing anyone.
    apply(&store, &[LeaseChange::Upsert(lease(2)), LeaseChange::Upsert(lease(1).with_key(&[7]))]).await;

    let mut expected = vec![moved, lease(2), lease(1).with_key(&[7])];
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(load(&store).await, expected);
}

async fn remove_deletes_only_that_client_and_unknown_keys_are_fine(store: Store) {
    apply(&store, &[LeaseChange::Upsert(lease(1)), LeaseChange::Upsert(lease(2))]).await;

    apply(
        &store,
        &[
            LeaseChange::Remove { key: lease(1).key, address: lease(1).address },
            LeaseChange::Remove { key: ClientKey(vec![9, 9, 9]), address: lease(9).address },
        ],
    )
    .await;

    assert_eq!(load(&store).await, vec![lease(2)]);
}

async fn changes_of_one_batch_apply_in_order(store: Store) {
    apply(
        &store,
        &[
            LeaseChange::Upsert(lease(1)),
            LeaseChange::Remove { key: lease(1).key, address: lease(1).address },
            LeaseChange::Upsert(lease(2)),
        ],
    )
    .await;

    assert_eq!(load(&store).await, vec![lease(2)]);
}

/// A mixed sequence over few clients and few addresses, so that clients move, take each other's
/// addresses, and are removed and come back, inside single statements and across them.
fn churn(steps: u32) -> Vec<LeaseChange> {
    let mut state = 0x2545_f491_u32;
    let mut next = |n: u32| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state % n
    };
    (0..steps)
        .map(|_| {
            let mut l = lease(1 + next(6) as u16);
            if next(4) == 0 {
                LeaseChange::Remove { key: l.key, address: l.address }
            } else {
                l.address = Ipv4Addr::new(10, 0, 0, 1 + next(4) as u8);
                l.expires = Some(1_800_000_000 + u64::from(next(1000)));
                LeaseChange::Upsert(l)
            }
        })
        .collect()
}

async fn a_batch_ends_as_if_its_changes_were_applied_one_at_a_time(store: Store) {
    // 700 changes: runs of upserts longer than one statement's rows, and many short runs.
    let changes = churn(700);
    for change in &changes {
        apply(&store, std::slice::from_ref(change)).await;
    }
    let want = load(&store).await;
    assert!(!want.is_empty());
    let clear: Vec<LeaseChange> =
        want.iter().map(|l| LeaseChange::Remove { key: l.key.clone(), address: l.address }).collect();
    apply(&store, &clear).await;
    assert_eq!(load(&store).await, vec![]);

    apply(&store, &changes).await;

    assert_eq!(load(&store).await, want);
    let mut addresses: Vec<Ipv4Addr> = want.iter().map(|l| l.address).collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), want.len(), "an address is held once");
}

#[tokio::test]
async fn a_failing_change_leaves_the_whole_batch_unapplied() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    apply(&store, &[LeaseChange::Upsert(lease(1))]).await;
    execute(
        &path,
        "CREATE TRIGGER refuse BEFORE INSERT ON leases WHEN NEW.hostname = 'refuse' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END",
    )
    .await;
    let mut refused = lease(3);
    refused.hostname = Some("refuse".into());

    let error = bounded(
        "apply",
        store.apply(&[
            LeaseChange::Remove { key: lease(1).key, address: lease(1).address },
            LeaseChange::Upsert(lease(2)),
            LeaseChange::Upsert(refused),
        ]),
    )
    .await
    .expect_err("the trigger did not refuse");

    assert!(error.to_string().contains("refused by the test trigger"), "{error}");
    assert_eq!(load(&store).await, vec![lease(1)]);
}

#[tokio::test]
async fn a_row_with_a_bad_address_is_an_error_not_a_panic() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    execute(
        &path,
        "INSERT INTO leases (client_key, mac, address, hostname, expires_at, updated_at) \
         VALUES (x'01', x'02', 'not-an-address', NULL, NULL, 0)",
    )
    .await;

    let error = bounded("load", store.load_leases()).await.expect_err("loaded a bad row");

    assert!(matches!(error, StoreError::InvalidRow { table: "leases", .. }), "{error:?}");
    assert!(error.to_string().contains("\"not-an-address\" is not a dotted IPv4 address"), "{error}");
}

#[tokio::test]
async fn a_hand_edited_negative_end_loads_as_long_expired() {
    let (_dir, path) = db_path();
    let store = open(&path).await;
    execute(
        &path,
        "INSERT INTO leases (client_key, mac, address, hostname, expires_at, updated_at) \
         VALUES (x'01', x'02', '10.1.0.9', NULL, -5, 0)",
    )
    .await;

    let loaded = load(&store).await;

    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].expires, Some(0), "{loaded:?}");
}

trait WithKey {
    fn with_key(self, key: &[u8]) -> Self;
}

impl WithKey for Lease {
    fn with_key(mut self, key: &[u8]) -> Lease {
        self.key = ClientKey(key.to_vec());
        self
    }
}

on_both_engines!(
    upsert_of_a_known_client_updates_its_row,
    upsert_for_an_address_another_client_holds_replaces_that_client,
    client_moving_to_another_address_frees_its_old_one,
    remove_deletes_only_that_client_and_unknown_keys_are_fine,
    changes_of_one_batch_apply_in_order,
    a_batch_ends_as_if_its_changes_were_applied_one_at_a_time,
);
