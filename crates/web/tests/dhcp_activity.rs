//! DHCP activity on the dashboard: the last request beside the last TFTP one, the recent
//! requests with what became of each (why one was ignored, which rule chose a boot file), and
//! the kind of each lease, when its client was last heard and the boot file it was given, and
//! releasing a lease from the page and through the API.

mod common;

use axum::http::{Method, StatusCode};
use common::{App, now_ms};
use lifeboat_web::{ConfiguredReservation, DhcpExchange, LeaseView};

fn ignored_bootp() -> DhcpExchange {
    DhcpExchange {
        at: now_ms() - 3_000,
        client: "02:00:00:00:00:31".into(),
        request: "BOOTREQUEST".into(),
        class: "plain BOOTP".into(),
        outcome:
            "ignored: plain BOOTP from a MAC without --dhcp-reservation; add one, or allow it with --dhcp-bootp-dynamic"
                .into(),
        boot_file: None,
        boot_rule: None,
    }
}

fn offer() -> DhcpExchange {
    DhcpExchange {
        at: now_ms() - 60_000,
        client: "02:00:00:00:00:32".into(),
        request: "DHCPDISCOVER".into(),
        class: "UEFI x64 PXE".into(),
        outcome: "DHCPOFFER 10.9.0.120".into(),
        boot_file: Some("snponly.efi".into()),
        boot_rule: Some("--dhcp-boot-rule efi-x64".into()),
    }
}

#[tokio::test]
async fn the_last_dhcp_request_and_the_recent_ones_say_what_became_of_them() {
    let app = App::local().await;
    app.control.lock().dhcp_exchanges = vec![ignored_bootp(), offer()];
    app.get("/").await.assert_contains(&[
        "Last DHCP request",
        "02:00:00:00:00:31",
        "add one, or allow it with --dhcp-bootp-dynamic",
    ]);
    app.get("/leases").await.assert_contains(&[
        "Recent DHCP and BOOTP requests",
        "DHCPOFFER 10.9.0.120",
        "snponly.efi (by --dhcp-boot-rule efi-x64)",
        "UEFI x64 PXE",
    ]);
    let api = app.api(Method::GET, "/api/v1/dhcp/requests", None).await.json();
    assert_eq!(api[0]["request"], "BOOTREQUEST");
    assert_eq!(api[1]["boot_rule"], "--dhcp-boot-rule efi-x64");
}

#[tokio::test]
async fn each_lease_says_its_kind() {
    let app = App::local().await;
    {
        let mut fake = app.control.lock();
        fake.leases = vec![
            LeaseView {
                mac: "02:00:00:00:00:41".into(),
                address: "10.9.0.101".parse().unwrap(),
                hostname: None,
                expires_at: Some(now_ms() + 60_000),
                last_seen: None,
                boot_file: None,
            },
            LeaseView {
                mac: "02:00:00:00:00:42".into(),
                address: "10.9.0.102".parse().unwrap(),
                hostname: None,
                expires_at: None,
                last_seen: None,
                boot_file: None,
            },
            LeaseView {
                mac: "02:00:00:00:00:43".into(),
                address: "10.9.0.7".parse().unwrap(),
                hostname: None,
                expires_at: None,
                last_seen: None,
                boot_file: None,
            },
        ];
        fake.configured_reservations = vec![ConfiguredReservation {
            mac: "02:00:00:00:00:43".into(),
            address: "10.9.0.7".parse().unwrap(),
            name: Some("bench-router".into()),
        }];
    }
    let page = app.get("/leases").await;
    page.assert_contains(&["<td>DHCP</td>", "<td>BOOTP</td>", "<td>reserved (bench-router)</td>"]);
}

fn heard_lease(last: u8, seen_ms_ago: i64, boot_file: Option<&str>) -> LeaseView {
    LeaseView {
        mac: format!("02:00:00:00:00:{last:02x}"),
        address: format!("10.9.0.{last}").parse().unwrap(),
        hostname: None,
        expires_at: Some(now_ms() + 600_000),
        last_seen: (seen_ms_ago >= 0).then(|| now_ms() - seen_ms_ago),
        boot_file: boot_file.map(str::to_owned),
    }
}

#[tokio::test]
async fn each_lease_says_when_its_client_was_last_heard_and_what_it_boots() {
    let app = App::local().await;
    app.control.lock().leases = vec![heard_lease(51, 180_000, Some("snponly.efi")), heard_lease(52, -1, None)];
    let page = app.get("/leases").await;
    page.assert_contains(&["<th>Last seen</th>", "<th>Boot file</th>", "3 min ago", "snponly.efi", "not recently"]);
    page.assert_contains(&["action=\"/leases/10.9.0.51/release\"", "action=\"/leases/10.9.0.52/release\""]);
    let api = app.api(Method::GET, "/api/v1/leases", None).await.json();
    assert_eq!(api[0]["boot_file"], "snponly.efi");
    assert!(api[0]["last_seen"].as_i64().unwrap() < now_ms() - 170_000);
    assert!(api[1]["last_seen"].is_null() && api[1]["boot_file"].is_null(), "{api}");
}

#[tokio::test]
async fn a_lease_is_released_from_the_page_or_the_api_once() {
    let app = App::local().await;
    app.control.lock().leases = vec![heard_lease(51, 0, None), heard_lease(52, 0, None)];

    let released = app.form("/leases/10.9.0.51/release", &[]).await;
    assert_eq!(released.status, StatusCode::SEE_OTHER);
    let page = app.get("/leases").await;
    page.assert_contains(&["The lease on 10.9.0.51 was released", "until it next renews"]);
    assert!(!page.body.contains("02:00:00:00:00:33"), "the released lease is still listed");
    let again = app.form("/leases/10.9.0.51/release", &[]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    app.get("/leases").await.assert_contains(&["no lease on 10.9.0.51"]);

    let api = app.api(Method::DELETE, "/api/v1/leases/10.9.0.52", None).await;
    assert_eq!(api.status, StatusCode::NO_CONTENT, "{}", api.body);
    let gone = app.api(Method::DELETE, "/api/v1/leases/10.9.0.52", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.json()["error"], "no lease on 10.9.0.52");
    let not_an_address = app.api(Method::DELETE, "/api/v1/leases/10.9.0.999", None).await;
    assert_eq!(not_an_address.status, StatusCode::NOT_FOUND, "{}", not_an_address.body);
    let released: Vec<String> = app.control.lock().released.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(released, ["10.9.0.51", "10.9.0.51", "10.9.0.52", "10.9.0.52"]);
}
