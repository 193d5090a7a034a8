//! The hosts table: round trips, and the conflicts on MAC and address that must name the host in
//! the way and leave the table as it was.

use std::net::Ipv4Addr;

use lifeboat_store::{HostEntry, Store, StoreError};

use sqlx::SqlitePool;

use crate::support::{bounded, on_both_engines, store_on};

fn entry(n: u8) -> HostEntry {
    HostEntry {
        mac: format!("52:54:00:12:34:{n:02x}"),
        name: Some(format!("pxe-{n}")),
        address: Some(Ipv4Addr::new(10, 0, 0, 100 + n)),
        image: Some(format!("images/node-{n}.efi")),
        names: vec!["pxelinux.0".to_owned(), format!("node-{n}/grubx64.efi")],
        boot_profile: None,
        notes: format!("rack {n}"),
    }
}

async fn insert(store: &Store, entry: &HostEntry) -> lifeboat_store::Host {
    bounded("insert host", store.insert_host(entry)).await.expect("insert host")
}

async fn hosts(store: &Store) -> Vec<lifeboat_store::Host> {
    bounded("hosts", store.hosts()).await.expect("hosts")
}

fn conflict(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict { what }) => what,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_host_reads_back_as_inserted_with_its_mac_in_lowercase(store: Store) {
    let mut shouting = entry(1);
    shouting.mac = "52:54:00:AB:CD:EF".to_owned();
    shouting.names = vec!["quote\"d name".to_owned(), "ünïcode/ø.efi".to_owned(), String::new()];

    let host = insert(&store, &shouting).await;

    assert_eq!(host.entry.mac, "52:54:00:ab:cd:ef");
    assert_eq!(host.entry.names, shouting.names);
    assert_eq!(host.created_at, host.updated_at);
    assert!(host.created_at > 1_600_000_000_000, "not Unix ms: {}", host.created_at);
    assert_eq!(bounded("host", store.host(host.id)).await.expect("host"), Some(host.clone()));
    assert_eq!(hosts(&store).await, vec![host]);
}

async fn hosts_without_name_address_or_image_are_fine_and_do_not_conflict(store: Store) {
    let bare = |n: u8| HostEntry { mac: format!("02:00:00:00:00:{n:02x}"), ..HostEntry::default() };

    let first = insert(&store, &bare(1)).await;
    let second = insert(&store, &bare(2)).await;

    assert_eq!(hosts(&store).await, vec![first, second]);
    assert_eq!(hosts(&store).await[0].entry.names, Vec::<String>::new());
}

async fn a_second_host_with_the_same_mac_in_other_case_is_refused_naming_the_first(store: Store) {
    let first = insert(&store, &entry(1)).await;
    let mut copy = entry(2);
    copy.mac = entry(1).mac.to_ascii_uppercase();

    let what = conflict(bounded("insert", store.insert_host(&copy)).await);

    assert_eq!(what, format!("MAC 52:54:00:12:34:01 is already used by host {} \"pxe-1\"", first.id));
    assert_eq!(hosts(&store).await, vec![first]);
}

async fn a_second_host_with_the_same_address_is_refused_naming_the_first(store: Store) {
    let first = insert(&store, &entry(1)).await;
    let mut copy = entry(2);
    copy.address = entry(1).address;

    let what = conflict(bounded("insert", store.insert_host(&copy)).await);

    assert_eq!(what, format!("address 10.0.0.101 is already used by host {} \"pxe-1\" (52:54:00:12:34:01)", first.id));
    assert_eq!(hosts(&store).await, vec![first]);
}

async fn mac_and_address_of_two_different_hosts_are_both_named(store: Store) {
    let one = insert(&store, &entry(1)).await;
    let mut two = entry(2);
    two.name = None;
    let two = insert(&store, &two).await;
    let mut both = entry(3);
    both.mac = entry(1).mac;
    both.address = entry(2).address;

    let what = conflict(bounded("insert", store.insert_host(&both)).await);

    assert_eq!(
        what,
        format!(
            "MAC 52:54:00:12:34:01 is already used by host {} \"pxe-1\"; address 10.0.0.102 is already used by \
             host {} (52:54:00:12:34:02)",
            one.id, two.id
        )
    );
}

async fn update_replaces_the_entry_keeps_created_at_and_may_keep_its_own_mac_and_address(store: Store) {
    let host = insert(&store, &entry(1)).await;
    let mut changed = entry(1);
    changed.image = Some("images/other.efi".to_owned());
    changed.names = vec![];
    changed.notes = String::new();

    let updated = bounded("update", store.update_host(host.id, &changed)).await.expect("update").expect("found");

    assert_eq!(updated.entry, changed);
    assert_eq!(updated.created_at, host.created_at);
    assert!(updated.updated_at >= host.updated_at);
    assert_eq!(bounded("host", store.host(host.id)).await.expect("host"), Some(updated));
}

async fn update_onto_another_hosts_mac_is_refused_and_changes_nothing(store: Store) {
    let one = insert(&store, &entry(1)).await;
    let two = insert(&store, &entry(2)).await;
    let mut stolen = entry(2);
    stolen.mac = entry(1).mac;

    let what = conflict(bounded("update", store.update_host(two.id, &stolen)).await);

    assert!(what.starts_with("MAC 52:54:00:12:34:01 is already used by host"), "{what}");
    assert_eq!(hosts(&store).await, vec![one, two]);
}

async fn update_and_delete_of_an_unknown_id_say_so(store: Store) {
    let host = insert(&store, &entry(1)).await;

    assert_eq!(bounded("update", store.update_host(host.id + 1, &entry(2))).await.expect("update"), None);
    assert!(bounded("delete", store.delete_host(host.id)).await.expect("delete"));
    assert!(!bounded("delete", store.delete_host(host.id)).await.expect("delete again"));
    assert_eq!(bounded("host", store.host(host.id)).await.expect("host"), None);
    assert_eq!(hosts(&store).await, vec![]);
}

async fn a_deleted_hosts_mac_and_address_are_free_again(store: Store) {
    let host = insert(&store, &entry(1)).await;
    bounded("delete", store.delete_host(host.id)).await.expect("delete");

    let again = insert(&store, &entry(1)).await;

    assert!(again.id > host.id, "the id of a deleted host was given again");
    assert_eq!(again.entry, entry(1));
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_row_with_names_that_are_not_a_json_array_is_an_error(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    // The CHECK constraint keeps invalid JSON out; an object is valid JSON but not an array.
    let refused = sqlx::query(
        "INSERT INTO hosts (mac, names, created_at, updated_at) VALUES ('02:00:00:00:00:01', '{\"a\": 1}', 0, 0)",
    )
    .execute(&pool)
    .await;
    assert!(refused.is_err(), "the schema accepted names that are not an array");
    sqlx::query("INSERT INTO hosts (mac, names, created_at, updated_at) VALUES ('02:00:00:00:00:01', '[1, 2]', 0, 0)")
        .execute(&pool)
        .await
        .expect("insert");

    let error = bounded("hosts", store.hosts()).await.expect_err("read a bad row");

    assert!(matches!(error, StoreError::InvalidRow { table: "hosts", .. }), "{error:?}");
    assert!(error.to_string().contains("not a JSON array of strings"), "{error}");
}

on_both_engines!(
    a_host_reads_back_as_inserted_with_its_mac_in_lowercase,
    hosts_without_name_address_or_image_are_fine_and_do_not_conflict,
    a_second_host_with_the_same_mac_in_other_case_is_refused_naming_the_first,
    a_second_host_with_the_same_address_is_refused_naming_the_first,
    mac_and_address_of_two_different_hosts_are_both_named,
    update_replaces_the_entry_keeps_created_at_and_may_keep_its_own_mac_and_address,
    update_onto_another_hosts_mac_is_refused_and_changes_nothing,
    update_and_delete_of_an_unknown_id_say_so,
    a_deleted_hosts_mac_and_address_are_free_again,
);
