//! Several lifeboats on one PostgreSQL database: each writes as its own instance, sees the
//! others' leases, and the database decides which of two instances gets an address. These tests
//! need the tests' PostgreSQL server (`LIFEBOAT_TEST_POSTGRES`).

use std::sync::Arc;

use lifeboat_store::{Lease, LeaseChange, LeaseWriter, Store, StoreError, WriteError};

use crate::support::{TestDatabase, bounded, lease};

/// Two stores on one new database, writing as instances `a` and `b`.
async fn pair(database: &TestDatabase) -> (Store, Store) {
    (database.store().await.for_instance("a"), database.store().await.for_instance("b"))
}

fn far_future(mut lease: Lease) -> Lease {
    lease.expires = Some(4_000_000_000);
    lease
}

fn expired(mut lease: Lease) -> Lease {
    lease.expires = Some(1_000);
    lease
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn an_address_held_by_another_instances_live_lease_is_refused_and_it_stays_with_its_holder() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let held = far_future(lease(1));
    bounded("a applies", a.apply(&[LeaseChange::Upsert(held.clone())])).await.expect("a's lease");

    // b's DHCP core did not know of a's lease and picked the same address for another client.
    let mut rival = far_future(lease(2));
    rival.address = held.address;
    let refused = bounded("b applies", b.apply(&[LeaseChange::Upsert(rival)])).await;

    match refused {
        Err(StoreError::Conflict { what }) => assert!(what.contains("another lifeboat"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(bounded("b loads", b.load_leases()).await.expect("load"), vec![held.clone()]);
    assert_eq!(bounded("a loads", a.load_leases()).await.expect("load"), vec![held]);
    database.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn an_address_whose_lease_ended_may_be_taken_by_the_other_instance() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let old = expired(lease(1));
    bounded("a applies", a.apply(&[LeaseChange::Upsert(old.clone())])).await.expect("a's lease");
    let mut newcomer = far_future(lease(2));
    newcomer.address = old.address;

    bounded("b applies", b.apply(&[LeaseChange::Upsert(newcomer.clone())])).await.expect("b takes the address");

    assert_eq!(bounded("a loads", a.load_leases()).await.expect("load"), vec![newcomer]);
    database.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn a_renewal_by_the_partner_keeps_the_address_and_records_who_renewed() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    bounded("a grants", a.apply(&[LeaseChange::Upsert(lease(1))])).await.expect("grant");
    // a is gone; b answers the client's renewal with the same address.
    let renewed = far_future(lease(1));

    bounded("b renews", b.apply(&[LeaseChange::Upsert(renewed.clone())])).await.expect("renewal");

    assert_eq!(bounded("load", a.load_leases()).await.expect("load"), vec![renewed]);
    let mut side = database.side_connection().await;
    let instance: String = sqlx::query_scalar("SELECT instance FROM leases").fetch_one(&mut side).await.expect("read");
    assert_eq!(instance, "b");
    database.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn in_a_batch_only_the_conflicting_change_fails_and_the_others_commit() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let held = far_future(lease(1));
    bounded("a applies", a.apply(&[LeaseChange::Upsert(held.clone())])).await.expect("a's lease");
    let writer = LeaseWriter::spawn(b.clone());
    let mut rival = far_future(lease(2));
    rival.address = held.address;

    // Submitted together, so that they are queued for one transaction.
    let pending: Vec<_> = [far_future(lease(3)), rival, far_future(lease(4))]
        .into_iter()
        .map(|lease| writer.submit(LeaseChange::Upsert(lease)))
        .collect();
    let mut outcomes = Vec::new();
    for committed in pending {
        outcomes.push(bounded("commit", committed).await);
    }

    assert!(outcomes[0].is_ok(), "{outcomes:?}");
    match &outcomes[1] {
        Err(WriteError::Commit(error)) => assert!(matches!(**error, StoreError::Conflict { .. }), "{error}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(outcomes[2].is_ok(), "{outcomes:?}");
    let loaded = bounded("load", b.load_leases()).await.expect("load");
    assert_eq!(loaded, vec![held, far_future(lease(3)), far_future(lease(4))]);
    let stats = writer.stats();
    assert_eq!((stats.committed, stats.failed), (2, 1), "{stats:?}");
    writer.shutdown().await;
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn two_instances_racing_for_the_same_addresses_never_both_get_one() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let writers = [LeaseWriter::spawn(a.clone()), LeaseWriter::spawn(b.clone())];
    let start = Arc::new(tokio::sync::Barrier::new(2));
    // Each instance gives the same 200 addresses to 200 clients of its own (keys differ).
    let mut tasks = Vec::new();
    for (side, writer) in writers.iter().enumerate() {
        let writer = writer.clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let pending: Vec<_> = (0..200u16)
                .map(|n| {
                    let mut lease = far_future(lease(n + 1000 * (side as u16 + 1)));
                    lease.address = std::net::Ipv4Addr::from(u32::from_be_bytes([10, 7, 0, 0]) | u32::from(n));
                    writer.submit(LeaseChange::Upsert(lease))
                })
                .collect();
            let mut won = 0u32;
            for committed in pending {
                if committed.await.is_ok() {
                    won += 1;
                }
            }
            won
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += bounded("racing instance", task).await.expect("task");
    }

    let leases = bounded("load", a.load_leases()).await.expect("load");
    assert_eq!(won as usize, leases.len(), "every committed change is a row, and nothing else is");
    assert_eq!(leases.len(), 200, "each address went to exactly one client");
    let mut addresses: Vec<_> = leases.iter().map(|lease| lease.address).collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 200);
    for writer in writers {
        writer.shutdown().await;
    }
    database.drop().await;
}
