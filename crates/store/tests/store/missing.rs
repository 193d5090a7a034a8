//! The missing-files summary: counts and the newest request per name, kept by the schema's
//! trigger from the not-found transfers; names with an alias are left out.

use std::net::IpAddr;

use lifeboat_store::{MissingFile, Store, TransferOutcome, TransferRecord};

use crate::support::{bounded, on_both_engines, transfer};

fn not_found(name: &str, ended_at: i64, client: [u8; 4], mac: Option<&str>) -> TransferRecord {
    let mut record = transfer(3);
    assert_eq!(record.outcome, TransferOutcome::NotFound);
    record.requested = name.to_owned();
    record.ended_at = ended_at;
    record.client.set_ip(IpAddr::from(client));
    record.mac = mac.map(str::to_owned);
    record
}

async fn missing(store: &Store, limit: u32) -> Vec<MissingFile> {
    bounded("missing files", store.missing_files(limit)).await.expect("missing files")
}

async fn names_are_counted_with_their_newest_request_first(store: Store) {
    let found = transfer(1);
    assert_eq!(found.outcome, TransferOutcome::Complete);
    let records = [
        not_found("pxelinux.cfg/default", 5_000, [10, 0, 0, 5], Some("52:54:00:00:00:05")),
        not_found("pxelinux.cfg/default", 6_000, [10, 0, 0, 6], None),
        not_found("boot.ipxe", 3_000, [10, 0, 0, 3], Some("52:54:00:00:00:03")),
        // Inserted last but ended earlier: not the newest.
        not_found("pxelinux.cfg/default", 4_000, [10, 0, 0, 4], Some("52:54:00:00:00:04")),
        found,
    ];
    bounded("insert", store.insert_transfers(&records)).await.expect("insert");

    assert_eq!(
        missing(&store, 10).await,
        vec![
            MissingFile {
                requested: "pxelinux.cfg/default".to_owned(),
                count: 3,
                last_at: 6_000,
                last_client: IpAddr::from([10, 0, 0, 6]),
                last_mac: None,
            },
            MissingFile {
                requested: "boot.ipxe".to_owned(),
                count: 1,
                last_at: 3_000,
                last_client: IpAddr::from([10, 0, 0, 3]),
                last_mac: Some("52:54:00:00:00:03".to_owned()),
            },
        ]
    );
    assert_eq!(missing(&store, 1).await.len(), 1);
}

async fn a_name_with_an_alias_is_left_out_until_the_alias_is_deleted(store: Store) {
    let records = [not_found("a.efi", 1_000, [10, 0, 0, 1], None), not_found("b.efi", 2_000, [10, 0, 0, 1], None)];
    bounded("insert", store.insert_transfers(&records)).await.expect("insert");

    bounded("alias", store.set_alias("b.efi", "images/b.efi")).await.expect("alias");
    let names: Vec<String> = missing(&store, 10).await.into_iter().map(|m| m.requested).collect();
    assert_eq!(names, ["a.efi"]);

    bounded("delete alias", store.delete_alias("b.efi")).await.expect("delete alias");
    let names: Vec<String> = missing(&store, 10).await.into_iter().map(|m| m.requested).collect();
    assert_eq!(names, ["b.efi", "a.efi"]);
}

on_both_engines!(
    names_are_counted_with_their_newest_request_first,
    a_name_with_an_alias_is_left_out_until_the_alias_is_deleted,
);
