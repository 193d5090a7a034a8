//! Many TFTP downloads at once from one process without a thread each: a lock-step read client
//! on tokio's sockets, small enough to run hundreds of as tasks of a two-thread runtime. It
//! keeps only the sha256 of what it received, so hundreds of downloads cost little memory.
//! The thread count of the process (`/proc/self/status`) then says what the server costs.

use std::net::SocketAddr;
use std::time::Duration;

use lifeboat_tftp::{ErrorCode, Packet};
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;

/// How long the client waits for the server's next packet before it repeats its last one.
const RESEND_AFTER: Duration = Duration::from_secs(1);
/// Repeats without an answer before the client gives up.
const MAX_RESENDS: u32 = 10;

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Every block arrived: the byte count and the sha256 in hex.
    Whole { len: u64, sha256: String },
    /// The server sent an ERROR (after `len` bytes).
    ServerError { code: ErrorCode, message: String, len: u64 },
    /// No answer after every repeat.
    Silent { len: u64 },
}

/// Downloads `name` from `server`, asking for `blksize` and `tsize`; calls `on_first_data` once
/// the first block arrived.
pub async fn download(server: SocketAddr, name: &str, blksize: u16, on_first_data: impl FnOnce()) -> Fetched {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("a client socket");
    let mut request = vec![0, 1];
    for field in [name, "octet", "blksize", &blksize.to_string(), "tsize", "0"] {
        request.extend_from_slice(field.as_bytes());
        request.push(0);
    }
    let mut last_sent = request;
    let mut to = server;
    let mut transfer: Option<SocketAddr> = None;
    let mut blksize = 512usize;
    let mut next_block: u16 = 1;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut on_first_data = Some(on_first_data);
    let mut buf = vec![0u8; 65_536];
    let mut resends = 0;
    socket.send_to(&last_sent, to).await.expect("send the request");
    loop {
        let (n, from) = match tokio::time::timeout(RESEND_AFTER, socket.recv_from(&mut buf)).await {
            Ok(received) => received.expect("receive"),
            Err(_) => {
                resends += 1;
                if resends > MAX_RESENDS {
                    return Fetched::Silent { len };
                }
                socket.send_to(&last_sent, to).await.expect("send again");
                continue;
            }
        };
        if transfer.is_some_and(|tid| tid != from) {
            continue;
        }
        let Ok(packet) = Packet::parse(&buf[..n]) else { continue };
        match packet {
            Packet::OptionAck(options) if transfer.is_none() => {
                transfer = Some(from);
                to = from;
                if let Some(option) = options.iter().find(|o| o.name.eq_ignore_ascii_case("blksize")) {
                    blksize = option.value.parse().expect("a numeric blksize");
                }
                last_sent = Packet::Ack { block: 0 }.to_bytes();
            }
            Packet::Data { block, data } if block == next_block => {
                transfer = Some(from);
                to = from;
                if let Some(first) = on_first_data.take() {
                    first();
                }
                hasher.update(&data);
                len += data.len() as u64;
                last_sent = Packet::Ack { block }.to_bytes();
                next_block = next_block.wrapping_add(1);
                if data.len() < blksize {
                    socket.send_to(&last_sent, to).await.expect("send the last ACK");
                    return Fetched::Whole { len, sha256: hex::encode(hasher.finalize()) };
                }
            }
            Packet::Error { code, message } => {
                return Fetched::ServerError { code, message: message.into_owned(), len };
            }
            // A repeat of a block already acknowledged: our ACK went missing; send it again.
            _ => {}
        }
        resends = 0;
        socket.send_to(&last_sent, to).await.expect("send");
    }
}

/// Threads of this process now.
pub fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("a Threads: line")
}

/// The sha256 of `bytes` in hex.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
