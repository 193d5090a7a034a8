//! Several lifeboats on one PostgreSQL database: each writes as its own instance, sees the
//! others' leases and changes, and the database decides which of two instances gets an address.
//! Most tests need the tests' PostgreSQL server (`LIFEBOAT_TEST_POSTGRES`); the heartbeats,
//! commands, events and saved leases by instance run on both engines.

use std::sync::Arc;

use lifeboat_store::{
    Change, Event, EventKind, Heartbeat, HostEntry, Lease, LeaseChange, LeaseWriter, SavedLease, Store, StoreError,
    StoredEvent, WriteError,
};

use crate::support::{TestDatabase, bounded, lease, on_both_engines};

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

async fn instances_beat_and_are_listed_by_name(store: Store) {
    let b = store.clone().for_instance("b");
    let a = store.for_instance("a");
    let mut beat = Heartbeat {
        started_at: 1_000,
        at: 2_000,
        version: "0.1.0".to_owned(),
        dashboard: "0.0.0.0:8080".to_owned(),
        services: [("tftp".to_owned(), "running".to_owned())].into(),
        dhcp_ranges: vec!["10.7.0.100-10.7.0.200".to_owned(), "10.8.0.10-10.8.0.20".to_owned()],
        addresses: vec![std::net::Ipv4Addr::new(10, 7, 0, 1), std::net::Ipv4Addr::new(10, 8, 0, 1)],
    };
    bounded("b beats", b.beat(&beat)).await.expect("beat");
    bounded("a beats", a.beat(&Heartbeat { dashboard: String::new(), ..beat.clone() })).await.expect("beat");
    beat.at = 3_000;
    beat.services.insert("dhcp".to_owned(), "stopped".to_owned());
    bounded("b beats again", b.beat(&beat)).await.expect("beat");

    let listed = bounded("instances", a.instances()).await.expect("instances");

    let names: Vec<&str> = listed.iter().map(|instance| instance.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(listed[1].beat, beat);
    assert_eq!(listed[0].beat.dashboard, "");
}

async fn a_command_is_taken_once_by_its_instance_and_its_outcome_reaches_the_asker(store: Store) {
    let asker = store.clone().for_instance("a");
    let target = store.for_instance("b");
    let id = bounded("issue", asker.issue_command("b", "tftp", "stop", "web 10.0.0.5 (admin) on a", 10))
        .await
        .expect("issue");
    bounded("issue", asker.issue_command("c", "dhcp", "start", "web", 11)).await.expect("issue");

    assert_eq!(bounded("a takes", asker.take_commands(12)).await.expect("take"), vec![], "not a's");
    let taken = bounded("b takes", target.take_commands(12)).await.expect("take");
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].id, taken[0].service.as_str(), taken[0].action.as_str()), (id, "tftp", "stop"));
    assert_eq!(bounded("b takes again", target.take_commands(13)).await.expect("take"), vec![]);
    let pending = bounded("command", asker.command(id)).await.expect("command").expect("exists");
    assert!(!pending.is_finished());

    bounded("finish", target.finish_command(id, "", 14)).await.expect("finish");

    let done = bounded("command", asker.command(id)).await.expect("command").expect("exists");
    assert!(done.is_finished());
    assert_eq!((done.done_at, done.outcome.as_deref()), (Some(14), Some("")));
    assert_eq!(bounded("unknown", asker.command(id + 100)).await.expect("command"), None);
}

/// Event number `n`, at `n` ms.
fn event(n: i64) -> Event {
    Event { at: n, kind: EventKind::HostAdded, origin: "web".to_owned(), detail: format!("event {n}") }
}

/// Every page of the events of `instance` (all when `None`), `limit` at a time, newest first.
async fn all_events(store: &Store, instance: Option<&str>, limit: u32) -> Vec<StoredEvent> {
    let mut read = Vec::new();
    let mut before = None;
    loop {
        let page = bounded("page", store.events_page(before, instance, limit)).await.expect("page");
        read.extend(page.items);
        match page.next_before {
            Some(next) => before = Some(next),
            None => return read,
        }
    }
}

async fn events_are_paged_by_instance_without_gaps(store: Store) {
    let b = store.clone().for_instance("b");
    let a = store.for_instance("a");
    // Interleaved: a writes 0, 1, 2, then b 3, 4, then a 5, 6, 7, 8, then b 9.
    for (writer, range) in [(&a, 0..3), (&b, 3..5), (&a, 5..9), (&b, 9..10)] {
        let events: Vec<Event> = range.map(event).collect();
        bounded("insert", writer.insert_events(&events)).await.expect("insert");
    }

    let of_a = all_events(&b, Some("a"), 2).await;
    let of_b = all_events(&a, Some("b"), 2).await;
    let everyone = all_events(&a, None, 3).await;

    let ats = |events: &[StoredEvent]| events.iter().map(|e| e.event.at).collect::<Vec<_>>();
    assert_eq!(ats(&of_a), [8, 7, 6, 5, 2, 1, 0]);
    assert!(of_a.iter().all(|e| e.instance == "a"), "{of_a:?}");
    assert_eq!(ats(&of_b), [9, 4, 3]);
    assert!(of_b.iter().all(|e| e.instance == "b"), "{of_b:?}");
    assert_eq!(ats(&everyone), (0..10).rev().collect::<Vec<_>>());
    assert_eq!(all_events(&a, Some("c"), 5).await, vec![]);
    // A cursor from the unfiltered list continues the filtered one after it.
    let older = bounded("page", a.events_page(Some(everyone[2].id), Some("a"), 10)).await.expect("page");
    assert_eq!(ats(&older.items), [6, 5, 2, 1, 0]);
}

/// Lease `n` ending at `end` (Unix seconds; `None` never).
fn lease_ending(n: u16, end: Option<u64>) -> Lease {
    Lease { expires: end, ..lease(n) }
}

async fn saved_leases_are_the_active_ones_with_their_instance(store: Store) {
    let b = store.clone().for_instance("b");
    let a = store.for_instance("a");
    let changes = |leases: Vec<Lease>| leases.into_iter().map(LeaseChange::Upsert).collect::<Vec<_>>();
    let (a1, a2) = (lease_ending(1, Some(2_000)), lease_ending(2, Some(3_000)));
    let (b3, b4, b5) = (lease_ending(3, Some(2_500)), lease_ending(4, None), lease_ending(5, Some(500)));
    bounded("a applies", a.apply(&changes(vec![a1.clone(), a2.clone()]))).await.expect("apply");
    bounded("b applies", b.apply(&changes(vec![b3.clone(), b4.clone(), b5]))).await.expect("apply");
    let saved = |lease: &Lease, instance: &str| SavedLease { lease: lease.clone(), instance: instance.to_owned() };

    assert_eq!(
        bounded("all", a.saved_leases(None, 1_000)).await.expect("read"),
        vec![saved(&a1, "a"), saved(&a2, "a"), saved(&b3, "b"), saved(&b4, "b")],
        "lease 5 ended before"
    );
    assert_eq!(
        bounded("b's", a.saved_leases(Some("b"), 1_000)).await.expect("read"),
        vec![saved(&b3, "b"), saved(&b4, "b")]
    );
    assert_eq!(
        bounded("a's later", b.saved_leases(Some("a"), 2_000)).await.expect("read"),
        vec![saved(&a2, "a")],
        "a lease is over at its end"
    );
    assert_eq!(bounded("c's", a.saved_leases(Some("c"), 1_000)).await.expect("read"), vec![]);
}

on_both_engines!(
    instances_beat_and_are_listed_by_name,
    a_command_is_taken_once_by_its_instance_and_its_outcome_reaches_the_asker,
    events_are_paged_by_instance_without_gaps,
    saved_leases_are_the_active_ones_with_their_instance,
);

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn a_change_committed_by_one_instance_is_heard_by_the_other_at_once() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let mut changes = bounded("listen", b.changes()).await.expect("listen");

    bounded("insert host", a.insert_host(&HostEntry { mac: "52:54:00:00:00:01".to_owned(), ..HostEntry::default() }))
        .await
        .expect("insert");
    assert_eq!(bounded("hear hosts", changes.next()).await, Change::Table("hosts".to_owned()));

    bounded("a leases", a.apply(&[LeaseChange::Upsert(far_future(lease(1)))])).await.expect("apply");
    assert_eq!(bounded("hear leases", changes.next()).await, Change::Table("leases".to_owned()));
    let (learned, next) = bounded("learn", b.leases_written_by_others_since(0)).await.expect("read");
    assert!(next > 1_700_000_000, "the next `since` is a Unix time: {next}");
    assert_eq!(learned, vec![far_future(lease(1))]);
    assert_eq!(bounded("own", a.leases_written_by_others_since(0)).await.expect("read").0, vec![], "a's own");
    // From the `since` it was given, b learns what a writes next (and not the first again,
    // unless written in the same second).
    bounded("a leases", a.apply(&[LeaseChange::Upsert(far_future(lease(2)))])).await.expect("apply");
    let (later, _) = bounded("learn", b.leases_written_by_others_since(next)).await.expect("read");
    assert!(later.contains(&far_future(lease(2))), "{later:?}");
    database.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn a_listener_whose_connection_is_killed_listens_again_and_says_it_missed_changes() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let mut changes = bounded("listen", b.changes()).await.expect("listen");
    let mut side = database.side_connection().await;
    // The server ends every other session of this database: the listener's connection too.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut side)
    .await
    .expect("terminate");

    assert_eq!(bounded("hear the loss", changes.next()).await, Change::Missed);
    // Listening again, it hears what comes next.
    bounded("set", a.set_setting("k", "v")).await.expect("set");
    assert_eq!(bounded("hear settings", changes.next()).await, Change::Table("settings".to_owned()));
    database.drop().await;
}

/// A PostgreSQL server of this test's own (`tests/postgres/cluster.sh` in a temporary folder),
/// which the test stops and starts again; stopped and removed when dropped.
struct OwnServer {
    dir: tempfile::TempDir,
}

impl OwnServer {
    const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/postgres/cluster.sh");

    fn start() -> (OwnServer, String) {
        let dir = tempfile::Builder::new().prefix("lifeboat-own-pg-").tempdir().expect("temporary folder");
        // The server runs as the postgres user when the test runs as root: it must reach the folder.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let server = OwnServer { dir };
        let url = server.run("start");
        (server, url.trim().to_owned())
    }

    fn run(&self, action: &str) -> String {
        let output = std::process::Command::new(Self::SCRIPT)
            .args([action, &self.dir.path().display().to_string()])
            .output()
            .expect("run tests/postgres/cluster.sh");
        assert!(output.status.success(), "cluster.sh {action}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new(Self::SCRIPT).args(["stop", &self.dir.path().display().to_string()]).output();
    }
}

#[tokio::test]
#[ignore = "needs root and PostgreSQL's server programs (it runs a server of its own): .ci/run gives both"]
async fn while_the_server_is_down_no_lease_counts_as_saved_and_everything_resumes_when_it_is_back() {
    let (server, url) = OwnServer::start();
    let location: lifeboat_store::DatabaseLocation = url.parse().expect("the server's URL");
    let store = bounded("connect", Store::connect(&location)).await.expect("connect").for_instance("a");
    let leases = LeaseWriter::spawn(store.clone());
    let log = lifeboat_store::LogWriter::spawn(store.clone());
    bounded("a first lease", leases.submit(LeaseChange::Upsert(far_future(lease(1))))).await.expect("saved");

    server.run("stop");
    let refused =
        bounded("a lease while the server is down", leases.submit(LeaseChange::Upsert(far_future(lease(2))))).await;
    match refused {
        Err(WriteError::Commit(error)) => assert!(error.is_unreachable(), "{error}"),
        other => panic!("a lease counted as saved with the server down: {other:?}"),
    }
    log.transfer(crate::support::transfer(1));
    log.transfer(crate::support::transfer(2));

    server.run("start");
    // No restart of anything: the next lease is saved, and so is the history kept meanwhile.
    bounded("a lease once the server is back", async {
        loop {
            if leases.submit(LeaseChange::Upsert(far_future(lease(3)))).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
    let kept = bounded("the history kept in memory", async {
        loop {
            if let Ok(page) = store.transfers_page(&Default::default(), None, 10).await
                && page.items.len() == 2
            {
                return page.items;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(kept.iter().all(|t| t.instance == "a"));
    let saved = bounded("load", store.load_leases()).await.expect("load");
    assert_eq!(saved, vec![far_future(lease(1)), far_future(lease(3))], "lease 2 was never acknowledged as saved");
    assert_eq!(log.stats().failed, 0, "{:?}", log.stats());
    log.shutdown().await;
    leases.shutdown().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn a_postgres_database_from_a_newer_lifeboat_is_refused_and_named_without_its_password() {
    let database = TestDatabase::create().await;
    database.store().await.close().await;
    let mut side = database.side_connection().await;
    // What a newer lifeboat would leave behind: a migration this build has never heard of.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut side)
    .await
    .expect("insert");

    let error = bounded("connect", Store::connect(&database.location())).await.expect_err("opened a newer schema");

    assert!(matches!(error, StoreError::NewerSchema { version: 9999, .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("written by a newer lifeboat") && message.contains("postgres://"), "{message}");
    drop(side);
    database.drop().await;
}

#[tokio::test]
async fn a_postgres_server_that_is_not_there_is_said_so() {
    // A socket folder with no server in it: nothing listens, and nothing leaves the machine.
    let empty = tempfile::tempdir().expect("temporary folder");
    let url = format!("postgres://lifeboat:s3cret@localhost/lifeboat?host={}", empty.path().display());
    let location: lifeboat_store::DatabaseLocation = url.parse().expect("a URL");

    let error = bounded("connect", Store::connect(&location)).await.expect_err("connected to nothing");

    assert!(error.is_unreachable(), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("does not answer") && !message.contains("s3cret"), "{message}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn each_instance_keeps_its_own_image_digests_and_the_fleet_sees_every_copy() {
    let database = TestDatabase::create().await;
    let (a, b) = pair(&database).await;
    let digest = |file: &str, sha256: &str| lifeboat_store::ImageDigest {
        file: file.to_owned(),
        size: 10,
        modified_ns: 1,
        sha256: sha256.to_owned(),
        added_at: 5,
    };
    bounded("a saves", a.save_image_digest(&digest("openwrt.bin", "aa"))).await.expect("save");
    bounded("a saves", a.save_image_digest(&digest("only-a.efi", "cc"))).await.expect("save");
    bounded("b saves", b.save_image_digest(&digest("openwrt.bin", "bb"))).await.expect("save");
    // The same file on two roots: neither overwrites the other's digest.
    let a_sees: Vec<String> =
        bounded("a reads", a.image_digests()).await.expect("read").into_iter().map(|d| d.sha256).collect();
    assert_eq!(a_sees, ["cc", "aa"], "only-a.efi, then openwrt.bin");
    bounded("b forgets", b.forget_image("openwrt.bin")).await.expect("forget");
    bounded("b saves", b.save_image_digest(&digest("openwrt.bin", "bb"))).await.expect("save");

    let copies = bounded("fleet", a.fleet_images()).await.expect("read");
    let seen: Vec<(&str, &str, &str)> =
        copies.iter().map(|c| (c.file.as_str(), c.instance.as_str(), c.sha256.as_str())).collect();
    assert_eq!(seen, [("only-a.efi", "a", "cc"), ("openwrt.bin", "a", "aa"), ("openwrt.bin", "b", "bb")]);
    database.drop().await;
}
