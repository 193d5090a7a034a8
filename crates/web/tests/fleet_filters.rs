//! Events, leases and transfers by lifeboat of a fleet (`?instance=`): the API filters by the
//! name and refuses a malformed one with a 400 that names the field; the pages show an Instance
//! column and filter only on a shared store, and their links keep the filter. The shared-store
//! tests need the tests' PostgreSQL server (`LIFEBOAT_TEST_POSTGRES`; `.ci/run` starts one).

mod common;

use std::net::Ipv4Addr;

use axum::http::StatusCode;
use common::{App, Reply, now_ms, transfer};
use lifeboat_store::{ClientKey, Event, EventKind, Lease, LeaseChange, ScratchDatabase, Store, TransferOutcome};
use lifeboat_web::{Auth, InstanceView, LeaseView};
use serde_json::{Value, json};

/// A host added, with `detail`.
fn event(detail: &str) -> Event {
    Event { at: now_ms(), kind: EventKind::HostAdded, origin: "web".into(), detail: detail.into() }
}

/// Record `details` as events of the lifeboat `instance`, in order, on `store`'s database.
async fn record(store: &Store, instance: &str, details: &[&str]) {
    let events: Vec<Event> = details.iter().map(|detail| event(detail)).collect();
    store.clone().for_instance(instance).insert_events(&events).await.expect("insert events");
}

/// The details of a page of events from the API, and the instance of each.
fn details(page: &Value) -> Vec<(String, String)> {
    let items = page["items"].as_array().unwrap_or_else(|| panic!("not a page: {page}"));
    items
        .iter()
        .map(|e| (e["detail"].as_str().unwrap().to_owned(), e["instance"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// A malformed instance name is a 400 whose error names the `instance` field.
fn assert_refused_instance(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["fields"][0]["field"], "instance", "{body}");
    assert!(body["error"].as_str().unwrap().contains("\"rack 1\""), "{body}");
}

fn lease_view(mac: &str, address: Ipv4Addr) -> LeaseView {
    LeaseView {
        mac: mac.into(),
        address,
        hostname: Some("archer".into()),
        expires_at: Some(1_900_000_000_000),
        last_seen: Some(1_800_000_000_000),
        boot_file: Some("ipxe.efi".into()),
    }
}

#[tokio::test]
async fn api_events_are_filtered_and_paged_by_instance() {
    let app = App::local().await;
    record(&app.store, "rack-1", &["one", "two"]).await;
    record(&app.store, "rack-2", &["three"]).await;
    record(&app.store, "rack-1", &["four"]).await;

    let of_rack_1 = app.get("/api/v1/events?instance=rack-1").await;
    let everyone = app.get("/api/v1/events").await;
    let nobody = app.get("/api/v1/events?instance=rack-9").await;

    assert_eq!(of_rack_1.status, StatusCode::OK, "{}", of_rack_1.body);
    assert_eq!(details(&of_rack_1.json()), pairs(&[("four", "rack-1"), ("two", "rack-1"), ("one", "rack-1")]));
    assert_eq!(details(&everyone.json()).len(), 4);
    assert_eq!(nobody.json(), json!({"items": [], "next_before": null}));
    let first = app.get("/api/v1/events?instance=rack-1&limit=2").await.json();
    assert_eq!(details(&first), pairs(&[("four", "rack-1"), ("two", "rack-1")]));
    let next = first["next_before"].as_i64().expect("an older page");
    let rest = app.get(&format!("/api/v1/events?instance=rack-1&limit=2&before={next}")).await.json();
    assert_eq!(rest, json!({"items": rest["items"].clone(), "next_before": null}));
    assert_eq!(details(&rest), pairs(&[("one", "rack-1")]));
}

#[tokio::test]
async fn api_events_and_leases_refuse_a_malformed_instance_naming_the_field() {
    let app = App::local().await;
    assert_refused_instance(&app.get("/api/v1/events?instance=rack%201").await);
    assert_refused_instance(&app.get("/api/v1/leases?instance=rack%201").await);
    assert_refused_instance(&app.get("/api/v1/transfers?instance=rack%201").await);
}

#[tokio::test]
async fn api_leases_of_a_store_of_its_own_are_this_lifeboats_under_its_name() {
    let store = Store::open_memory().await.expect("in-memory store").for_instance("rack-1");
    let app = App::on_store(Auth::LoopbackOnly, store).await;
    app.control.lock().leases = vec![lease_view("3c:84:6a:12:34:56", Ipv4Addr::new(10, 9, 0, 100))];
    let expected = json!([{
        "instance": "rack-1", "mac": "3c:84:6a:12:34:56", "address": "10.9.0.100", "hostname": "archer",
        "expires_at": 1_900_000_000_000_i64, "last_seen": 1_800_000_000_000_i64, "boot_file": "ipxe.efi"
    }]);

    assert_eq!(app.get("/api/v1/leases").await.json(), expected);
    assert_eq!(app.get("/api/v1/leases?instance=").await.json(), expected);
    assert_eq!(app.get("/api/v1/leases?instance=rack-1").await.json(), expected);
    let other = app.get("/api/v1/leases?instance=rack-2").await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.json(), json!([]), "a store of its own holds no other lifeboat's leases");
}

#[tokio::test]
async fn pages_of_a_store_of_its_own_show_no_instance_filter_or_column() {
    let app = App::local().await;
    record(&app.store, "", &["host 00:11:22:33:44:55 added"]).await;
    app.control.lock().leases = vec![lease_view("3c:84:6a:12:34:56", Ipv4Addr::new(10, 9, 0, 100))];
    app.store.insert_transfers(&[transfer(now_ms(), None, "pxelinux.0", TransferOutcome::Complete)]).await.unwrap();

    for (path, shown) in [("/events", "00:11:22:33:44:55"), ("/leases", "10.9.0.100"), ("/transfers", "pxelinux.0")] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        page.assert_contains(&[shown]);
        assert!(!page.body.contains("name=\"instance\""), "{path} offers an instance filter:\n{}", page.body);
        assert!(!page.body.contains("<th>Instance</th>"), "{path} shows an Instance column:\n{}", page.body);
    }
}

#[tokio::test]
async fn pages_show_a_malformed_instance_as_an_error() {
    let app = App::local().await;
    for path in ["/events", "/leases", "/transfers"] {
        let page = app.get(&format!("{path}?instance=rack%201")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}: {}", page.body);
        page.assert_contains(&["class=\"field-error\"", "use 1 to 63 letters, digits"]);
    }
}

#[tokio::test]
async fn the_events_pages_links_keep_the_instance() {
    let app = App::local().await;
    let details: Vec<String> = (0..101).map(|n| format!("event {n}")).collect();
    record(&app.store, "rack-1", &details.iter().map(String::as_str).collect::<Vec<_>>()).await;
    record(&app.store, "rack-2", &["not rack-1's"]).await;

    let first = app.get("/events?instance=rack-1").await;
    let older = first.body.split("href=\"/events?instance=rack-1&#38;before=").nth(1);
    let older =
        older.and_then(|rest| rest.split('"').next()).unwrap_or_else(|| panic!("no older link:\n{}", first.body));
    let second = app.get(&format!("/events?instance=rack-1&before={older}")).await;

    first.assert_contains(&["event 100", "event 1<"]);
    assert!(!first.body.contains("not rack-1") && !first.body.contains("event 0<"), "{}", first.body);
    second.assert_contains(&["event 0<", "href=\"/events?instance=rack-1\">« Newest"]);
    assert!(!second.body.contains("not rack-1") && !second.body.contains("Older »"), "{}", second.body);
}

/// The dashboard of lifeboat `a` on a new database of the tests' PostgreSQL server, the store
/// of lifeboat `b` on the same database, and the database (drop it at the end).
async fn fleet() -> (App, Store, ScratchDatabase) {
    let database = ScratchDatabase::for_test().await;
    let connect = || async { Store::connect(&database.location()).await.expect("connect") };
    let (a, b) = (connect().await.for_instance("a"), connect().await.for_instance("b"));
    let app = App::on_store(Auth::LoopbackOnly, a).await;
    app.control.lock().instances = ["a", "b"].map(instance).to_vec();
    (app, b, database)
}

fn instance(name: &str) -> InstanceView {
    InstanceView {
        name: name.into(),
        this: name == "a",
        up: true,
        version: "0.1.0".into(),
        dashboard: String::new(),
        started_at: 1_000,
        seen_at: now_ms(),
        services: Default::default(),
    }
}

/// A lease of `mac` (last byte) on `address` ending at `expires` (Unix seconds; `None` never).
fn lease(mac: u8, address: Ipv4Addr, expires: Option<u64>) -> Lease {
    Lease { key: ClientKey(vec![1, mac]), mac: vec![2, 0, 0, 0, 0, mac], address, hostname: None, expires }
}

async fn save(store: &Store, leases: Vec<Lease>) {
    let changes: Vec<LeaseChange> = leases.into_iter().map(LeaseChange::Upsert).collect();
    store.apply(&changes).await.expect("save leases");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn on_a_shared_store_the_api_lists_the_active_leases_of_every_instance() {
    let (app, b, database) = fleet().await;
    let in_an_hour = u64::try_from(now_ms() / 1000).unwrap() + 3600;
    let (on_100, on_7, on_8) = (Ipv4Addr::new(10, 9, 0, 100), Ipv4Addr::new(10, 9, 0, 7), Ipv4Addr::new(10, 9, 0, 8));
    save(&app.store, vec![lease(1, on_100, Some(in_an_hour))]).await;
    save(&b, vec![lease(2, on_7, None), lease(3, on_8, Some(1_000))]).await;
    // a's memory knows its own lease, and b's (an HA pair): only a's own gets what a saw.
    app.control.lock().leases = vec![lease_view("02:00:00:00:00:01", on_100), lease_view("02:00:00:00:00:02", on_7)];
    let of_b = json!({
        "instance": "b", "mac": "02:00:00:00:00:02", "address": "10.9.0.7", "hostname": null,
        "expires_at": null, "last_seen": null, "boot_file": null
    });
    let of_a = json!({
        "instance": "a", "mac": "02:00:00:00:00:01", "address": "10.9.0.100", "hostname": null,
        "expires_at": i64::try_from(in_an_hour * 1000).unwrap(), "last_seen": 1_800_000_000_000_i64,
        "boot_file": "ipxe.efi"
    });

    let everyone = app.get("/api/v1/leases").await;
    let only_b = app.get("/api/v1/leases?instance=b").await;
    let nobody = app.get("/api/v1/leases?instance=c").await;

    assert_eq!(everyone.status, StatusCode::OK, "{}", everyone.body);
    assert_eq!(everyone.json(), json!([of_b.clone(), of_a]), "ordered by address, the ended lease left out");
    assert_eq!(only_b.json(), json!([of_b]));
    assert_eq!(nobody.json(), json!([]));
    assert_refused_instance(&app.get("/api/v1/leases?instance=rack%201").await);
    database.drop().await.expect("drop the database");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set LIFEBOAT_TEST_POSTGRES (.ci/run starts a private server)"]
async fn on_a_shared_store_the_pages_filter_by_instance_and_show_it() {
    let (app, b, database) = fleet().await;
    record(&app.store, "a", &["event of a"]).await;
    record(&b, "b", &["event of b"]).await;
    let in_an_hour = u64::try_from(now_ms() / 1000).unwrap() + 3600;
    save(&app.store, vec![lease(1, Ipv4Addr::new(10, 9, 0, 100), Some(in_an_hour))]).await;
    save(&b, vec![lease(2, Ipv4Addr::new(10, 9, 0, 7), Some(in_an_hour))]).await;
    app.store.insert_transfers(&[transfer(now_ms(), None, "of-a.efi", TransferOutcome::Complete)]).await.unwrap();
    b.insert_transfers(&[transfer(now_ms(), None, "of-b.efi", TransferOutcome::Complete)]).await.unwrap();
    let filter = ["<select name=\"instance\">", "<option value=\"\">any</option>", "<option value=\"a\">a</option>"];

    for (path, of_a, of_b) in [
        ("/events", "event of a", "event of b"),
        ("/leases", "10.9.0.100", "10.9.0.7"),
        ("/transfers", "of-a.efi", "of-b.efi"),
    ] {
        let everyone = app.get(path).await;
        let only_b = app.get(&format!("{path}?instance=b")).await;

        assert_eq!(everyone.status, StatusCode::OK, "{path}: {}", everyone.body);
        everyone.assert_contains(&filter);
        everyone.assert_contains(&["<option value=\"b\">b</option>", "<th>Instance</th>", of_a, of_b]);
        assert_eq!(only_b.status, StatusCode::OK, "{path}?instance=b: {}", only_b.body);
        only_b.assert_contains(&filter);
        only_b.assert_contains(&["<option value=\"b\" selected>b</option>", "<td>b</td>", of_b]);
        assert!(!only_b.body.contains(of_a), "{path}?instance=b shows a's row:\n{}", only_b.body);
    }
    database.drop().await.expect("drop the database");
}
