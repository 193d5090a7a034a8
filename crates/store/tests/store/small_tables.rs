//! The small tables of the dashboard: image digests, aliases, settings, events, and the text
//! names of the stored enums.

use lifeboat_store::{
    Direction, Event, EventKind, ImageDigest, Page, Store, StoreError, StoredEvent, TransferOutcome, UnknownName,
};

use sqlx::SqlitePool;

use crate::support::{bounded, on_both_engines, store_on};

fn digest(file: &str, size: u64) -> ImageDigest {
    ImageDigest {
        file: file.to_owned(),
        size,
        modified_ns: 1_700_000_000_123_456_789,
        sha256: "ab".repeat(32),
        added_at: 1_700_000_000_000,
    }
}

async fn image_digests_are_saved_replaced_and_forgotten(store: Store) {
    bounded("save", store.save_image_digest(&digest("z.efi", 1))).await.expect("save");
    bounded("save", store.save_image_digest(&digest("a/b.img", 2))).await.expect("save");
    bounded("save", store.save_image_digest(&digest("z.efi", 3))).await.expect("replace");

    assert_eq!(
        bounded("read", store.image_digests()).await.expect("read"),
        vec![digest("a/b.img", 2), digest("z.efi", 3)]
    );

    bounded("forget", store.forget_image("z.efi")).await.expect("forget");
    bounded("forget", store.forget_image("never-hashed")).await.expect("forget unknown");
    assert_eq!(bounded("read", store.image_digests()).await.expect("read"), vec![digest("a/b.img", 2)]);
}

async fn aliases_are_set_replaced_and_deleted(store: Store) {
    bounded("set", store.set_alias("pxelinux.0", "images/old.0")).await.expect("set");
    bounded("set", store.set_alias("boot.ipxe", "images/boot.ipxe")).await.expect("set");
    bounded("set", store.set_alias("pxelinux.0", "images/new.0")).await.expect("replace");

    let aliases = bounded("read", store.aliases()).await.expect("read");
    let pairs: Vec<(&str, &str)> = aliases.iter().map(|a| (a.name.as_str(), a.file.as_str())).collect();
    assert_eq!(pairs, [("boot.ipxe", "images/boot.ipxe"), ("pxelinux.0", "images/new.0")]);
    assert!(aliases.iter().all(|a| a.created_at > 1_600_000_000_000));

    assert!(bounded("delete", store.delete_alias("pxelinux.0")).await.expect("delete"));
    assert!(!bounded("delete", store.delete_alias("pxelinux.0")).await.expect("delete again"));
    assert_eq!(bounded("read", store.aliases()).await.expect("read").len(), 1);
}

async fn settings_are_absent_until_set_and_replaced_when_set_again(store: Store) {
    assert_eq!(bounded("get", store.setting("web_password_hash")).await.expect("get"), None);

    bounded("set", store.set_setting("web_password_hash", "$argon2id$one")).await.expect("set");
    bounded("set", store.set_setting("web_password_hash", "$argon2id$two")).await.expect("set again");

    assert_eq!(
        bounded("get", store.setting("web_password_hash")).await.expect("get"),
        Some("$argon2id$two".to_owned())
    );
    assert!(bounded("remove", store.remove_setting("web_password_hash")).await.expect("remove"));
    assert!(!bounded("remove", store.remove_setting("web_password_hash")).await.expect("remove again"));
    assert_eq!(bounded("get", store.setting("web_password_hash")).await.expect("get"), None);
}

async fn events_of_every_kind_page_newest_first_without_gaps(store: Store) {
    let events: Vec<Event> = (0..30)
        .map(|n| Event {
            at: 1_700_000_000_000 + n,
            kind: EventKind::ALL[n as usize % EventKind::ALL.len()],
            origin: format!("web 10.0.0.{n} (admin)"),
            detail: format!("event {n}"),
        })
        .collect();
    bounded("insert", store.insert_events(&events[..10])).await.expect("insert");
    bounded("insert", store.insert_events(&events[10..])).await.expect("insert");

    let mut read: Vec<StoredEvent> = Vec::new();
    let mut before = None;
    loop {
        let page = bounded("page", store.events_page(before, None, 7)).await.expect("page");
        read.extend(page.items);
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }

    let mut newest_first = events.clone();
    newest_first.reverse();
    assert_eq!(read.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), newest_first);
    assert!(read.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(
        bounded("page", store.events_page(Some(read[29].id), None, 7)).await.expect("page"),
        Page { items: vec![], next_before: None }
    );
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn an_event_of_a_kind_this_build_does_not_know_is_an_error(pool: SqlitePool) {
    let store = store_on(pool.clone()).await;
    sqlx::query("INSERT INTO events (at, kind, origin, detail) VALUES (0, 'exploded', 'test', '')")
        .execute(&pool)
        .await
        .expect("insert");

    let error = bounded("page", store.events_page(None, None, 10)).await.expect_err("read a bad row");

    assert!(matches!(error, StoreError::InvalidRow { table: "events", .. }), "{error:?}");
    assert!(error.to_string().contains("unknown event kind \"exploded\""), "{error}");
}

#[test]
fn stored_names_parse_back_and_unknown_names_list_the_valid_ones() {
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>(), Ok(*kind));
    }
    for outcome in TransferOutcome::ALL {
        assert_eq!(outcome.to_string().parse::<TransferOutcome>(), Ok(*outcome));
    }
    assert_eq!("write".parse::<Direction>(), Ok(Direction::Write));

    let error: UnknownName = "Complete".parse::<TransferOutcome>().expect_err("names are case-sensitive");
    assert_eq!(
        error.to_string(),
        "unknown transfer outcome \"Complete\"; expected one of: complete, failed, refused, not_found, options_declined"
    );
}

on_both_engines!(
    image_digests_are_saved_replaced_and_forgotten,
    aliases_are_set_replaced_and_deleted,
    settings_are_absent_until_set_and_replaced_when_set_again,
    events_of_every_kind_page_newest_first_without_gaps,
);
