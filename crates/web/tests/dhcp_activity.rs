//! DHCP activity on the dashboard: the last request beside the last TFTP one, the recent
//! requests with what became of each (why one was ignored, which rule chose a boot file), and
//! the kind of each lease.

mod common;

use axum::http::Method;
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
            },
            LeaseView {
                mac: "02:00:00:00:00:42".into(),
                address: "10.9.0.102".parse().unwrap(),
                hostname: None,
                expires_at: None,
            },
            LeaseView {
                mac: "02:00:00:00:00:43".into(),
                address: "10.9.0.7".parse().unwrap(),
                hostname: None,
                expires_at: None,
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
