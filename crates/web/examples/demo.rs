//! Serve the dashboard with made-up data (a fake TFTP/DHCP, a seeded in-memory store, a
//! temporary TFTP root) on loopback, for looking at the pages and taking screenshots.
//!
//! `cargo run -p lifeboat-web --example demo -- [PORT] [SECONDS]` (defaults 8099, 120); it
//! stops by itself after SECONDS.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{App, now_ms, transfer};
use lifeboat_store::{Direction, HostEntry, TransferOutcome};
use lifeboat_web::{LeaseView, LiveTransfer};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8099);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(120);
    let app = App::local().await;
    seed(&app).await;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("dashboard on http://127.0.0.1:{port}/ for {seconds} s");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.cancel();
    });
    let control = app.control.clone();
    tokio::spawn(async move {
        // Move the live transfer along.
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut state = control.lock();
            for t in &mut state.live {
                let size = t.size.unwrap_or(0);
                t.bytes = (t.bytes + t.rate / 2).min(size);
                if t.bytes == size {
                    t.outcome = Some(TransferOutcome::Complete);
                }
            }
        }
    });
    lifeboat_web::serve(listener, app.router.clone(), shutdown).await
}

async fn seed(app: &App) {
    let root = app.root.path();
    std::fs::write(root.join("openwrt-23.05-ath79-archer-c7-v5-squashfs-factory.bin"), vec![0x27; 15 << 20]).unwrap();
    std::fs::write(root.join("undionly.kpxe"), vec![1; 70_000]).unwrap();
    std::fs::create_dir_all(root.join("efi")).unwrap();
    std::fs::write(root.join("efi/snponly.efi"), vec![2; 200_000]).unwrap();
    let now = now_ms();
    let mut records = Vec::new();
    for i in 0..40 {
        let at = now - 3_600_000 + i * 60_000;
        let (mac, name, outcome) = match i % 5 {
            0 => ("52:54:00:12:34:56", "undionly.kpxe", TransferOutcome::Complete),
            1 => ("52:54:00:ab:cd:ef", "efi/snponly.efi", TransferOutcome::Complete),
            2 => ("52:54:00:ab:cd:ef", "boot.ipxe", TransferOutcome::NotFound),
            3 => {
                ("3c:84:6a:12:34:56", "openwrt-23.05-ath79-archer-c7-v5-squashfs-factory.bin", TransferOutcome::Failed)
            }
            _ => ("52:54:00:12:34:56", "pxelinux.cfg/default", TransferOutcome::NotFound),
        };
        let mut record = transfer(at, Some(mac), name, outcome);
        if outcome == TransferOutcome::Failed {
            record.bytes = 3 << 20;
            record.error = Some("timed out waiting for ACK of block 2143".into());
        }
        records.push(record);
    }
    records.push(transfer(
        now - 20_000,
        Some("3c:84:6a:12:34:56"),
        "ArcherC7v5_tp_recovery.bin",
        TransferOutcome::NotFound,
    ));
    app.store.insert_transfers(&records).await.unwrap();
    app.store
        .insert_host(&HostEntry {
            mac: "52:54:00:12:34:56".into(),
            name: Some("lab-node-1".into()),
            address: Some(Ipv4Addr::new(10, 9, 0, 21)),
            image: Some("undionly.kpxe".into()),
            names: vec![],
            boot_profile: None,
            notes: "rack 2, bottom".into(),
        })
        .await
        .unwrap();
    app.form("/services/tftp/start", &[]).await;
    app.get("/").await;
    let mut state = app.control.lock();
    state.live = vec![LiveTransfer {
        protocol: lifeboat_store::TransferProtocol::Tftp,
        id: 1,
        client: "10.9.0.21:2070".parse().unwrap(),
        mac: Some("52:54:00:12:34:56".into()),
        requested: "/openwrt-23.05-ath79-archer-c7-v5-squashfs-factory.bin".into(),
        file: Some("openwrt-23.05-ath79-archer-c7-v5-squashfs-factory.bin".into()),
        direction: Direction::Read,
        bytes: 5 << 20,
        size: Some(15 << 20),
        started_at: now - 4000,
        rate: 1_300_000,
        outcome: None,
    }];
    state.leases = vec![
        LeaseView {
            mac: "52:54:00:12:34:56".into(),
            address: Ipv4Addr::new(10, 9, 0, 21),
            hostname: Some("lab-node-1".into()),
            expires_at: Some(now + 11 * 3_600_000),
            last_seen: None,
            boot_file: None,
        },
        LeaseView {
            mac: "00:0c:42:aa:bb:cc".into(),
            address: Ipv4Addr::new(10, 9, 0, 150),
            hostname: None,
            expires_at: None,
            last_seen: None,
            boot_file: None,
        },
    ];
}
