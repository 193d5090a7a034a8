//! The boot_profiles table: round trips, replacing a profile, and the link from hosts: a host
//! names only a profile that exists, and a profile a host boots is not deleted.

use lifeboat_store::{BootProfileEntry, HostEntry, Store, StoreError};

use crate::support::{bounded, on_both_engines};

fn debian() -> BootProfileEntry {
    BootProfileEntry {
        name: "debian".to_owned(),
        kernel: Some("debian/vmlinuz".to_owned()),
        initrds: vec!["debian/initrd.gz".to_owned(), "extra/ünïcode.cpio".to_owned()],
        cmdline: "console=ttyS0 ip={{ ip }}".to_owned(),
        script: None,
        notes: "rack 2".to_owned(),
    }
}

async fn save(store: &Store, entry: &BootProfileEntry) -> lifeboat_store::BootProfile {
    bounded("save profile", store.save_boot_profile(entry)).await.expect("save profile")
}

async fn a_profile_reads_back_as_saved_and_a_second_save_replaces_it(store: Store) {
    let first = save(&store, &debian()).await;
    assert_eq!(bounded("profile", store.boot_profile("debian")).await.unwrap(), Some(first.clone()));

    let scripted = BootProfileEntry { script: Some("#!ipxe\nexit\n".to_owned()), initrds: vec![], ..debian() };
    let second = save(&store, &scripted).await;
    assert_eq!(second.created_at, first.created_at, "a replaced profile keeps its creation time");
    assert_eq!(bounded("profiles", store.boot_profiles()).await.unwrap(), vec![second]);
    assert_eq!(bounded("missing", store.boot_profile("nope")).await.unwrap(), None);
}

async fn a_host_names_only_an_existing_profile_and_keeps_it_from_deletion(store: Store) {
    let host = HostEntry {
        mac: "52:54:00:00:00:01".to_owned(),
        boot_profile: Some("debian".to_owned()),
        ..HostEntry::default()
    };
    match bounded("insert", store.insert_host(&host)).await {
        Err(StoreError::Conflict { what }) => assert!(what.contains("no boot profile \"debian\""), "{what}"),
        other => panic!("a host with a missing profile was stored: {other:?}"),
    }

    save(&store, &debian()).await;
    let stored = bounded("insert", store.insert_host(&host)).await.expect("insert with the profile");
    assert_eq!(stored.entry.boot_profile.as_deref(), Some("debian"));
    match bounded("delete", store.delete_boot_profile("debian")).await {
        Err(StoreError::Conflict { what }) => assert!(what.contains("52:54:00:00:00:01"), "{what}"),
        other => panic!("a profile in use was deleted: {other:?}"),
    }
    assert!(bounded("profile", store.boot_profile("debian")).await.unwrap().is_some());

    let without = HostEntry { boot_profile: None, ..host };
    bounded("update", store.update_host(stored.id, &without)).await.expect("update").expect("the host");
    assert!(bounded("delete", store.delete_boot_profile("debian")).await.expect("delete"));
    assert!(!bounded("delete again", store.delete_boot_profile("debian")).await.expect("delete again"));
}

on_both_engines!(
    a_profile_reads_back_as_saved_and_a_second_save_replaces_it,
    a_host_names_only_an_existing_profile_and_keeps_it_from_deletion,
);
