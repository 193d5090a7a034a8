//! The load generator of `tests/bench/hostile-bench.sh` (issue 11): DHCP clients that renew
//! their leases, and the hostile floods that run beside them (refused TFTP requests, DISCOVERs
//! from made-up MACs, wrong dashboard passwords).
//!
//! ```text
//! cargo build --release -p lifeboat-e2e --example hostile_load
//! ip netns exec NS target/release/examples/hostile_load SUBCOMMAND [--KEY VALUE]...
//! ```
//!
//! | subcommand | what it does |
//! |---|---|
//! | `dora --server IP --clients N --leases FILE [--seconds S]` | N clients (MACs 02:93:00:00:HH:LL) get a lease each: DISCOVER and REQUEST broadcast from port 68, broadcast replies; writes `MAC IP` lines to FILE |
//! | `renew --server IP --leases FILE --seconds S --latencies FILE [--interval-ms MS] [--timeout-ms MS]` | every client of FILE sends a renewing REQUEST (ciaddr set, unicast to the server) every MS; writes each REQUEST→ACK time in ms to the latencies FILE |
//! | `tftp-flood --from IP --server IP[:PORT] --rate N --seconds S [--sockets K]` | N read requests a second from IP (random names, K source ports) and counts any answer |
//! | `dhcp-flood [--to IP] --rate N --seconds S` | N DISCOVERs a second to IP (default 255.255.255.255), each from a new random MAC, from port 68 through a raw socket |
//! | `login-flood --server IP:PORT --from IP[,IP...] --rate N --workers W --seconds S` | W workers post wrong passwords to `/login` (N HTTP requests a second in all), each with a session cookie and CSRF token from `GET /login` |
//!
//! Each subcommand prints one line of `key=value` results on stdout when it ends, and its
//! complaints on stderr.
//!
//! **Invariant:** it runs only inside a named network namespace (it checks `/run/netns`), sends
//! only to the addresses it is given, every loop ends by a deadline and every socket operation
//! has a timeout.
//!
//! The tests of its packet code run with `cargo test -p lifeboat-e2e --example hostile_load`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeboat_e2e::TestRng;
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, bind, connect, sendto, setsockopt, socket,
    sockopt,
};
use nix::sys::time::TimeVal;

const USAGE: &str = "usage: hostile_load dora|renew|tftp-flood|dhcp-flood|login-flood --KEY VALUE... (see the top of tests/examples/hostile_load.rs)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = Options::parse(rest).and_then(|mut options| {
        inside_a_namespace()?;
        let line = match command.as_str() {
            "dora" => dora(&mut options),
            "renew" => renew(&mut options),
            "tftp-flood" => tftp_flood(&mut options),
            "dhcp-flood" => dhcp_flood(&mut options),
            "login-flood" => login_flood(&mut options),
            other => Err(format!("unknown subcommand {other:?}; {USAGE}")),
        }?;
        println!("{line}");
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hostile_load {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Refuses to run outside a named network namespace (one of `/run/netns`, where `ip netns add`
/// puts them): the floods are meant for the namespaces the benchmark creates, never for the
/// machine's own network.
fn inside_a_namespace() -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/net").map_err(|e| format!("cannot stat /proc/self/ns/net: {e}"))?;
    let named = std::fs::read_dir("/run/netns").map_err(|e| format!("cannot list /run/netns: {e}"))?;
    let inside = named
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::metadata(entry.path()).ok())
        .any(|ns| ns.dev() == own.dev() && ns.ino() == own.ino());
    if !inside {
        return Err("run me inside a network namespace the benchmark made (ip netns exec NS ...)".into());
    }
    Ok(())
}

// ---------------------------------------------------------------- options

/// `--key value` pairs; each subcommand takes what it knows, and anything left is an error.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let key = arg.strip_prefix("--").ok_or_else(|| format!("expected --KEY, got {arg:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            if map.insert(key.to_owned(), value.clone()).is_some() {
                return Err(format!("--{key} given twice"));
            }
        }
        Ok(Options(map))
    }

    fn take<T: FromStr>(&mut self, key: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let value = self.0.remove(key).ok_or_else(|| format!("--{key} is required"))?;
        value.parse().map_err(|e| format!("--{key} {value:?}: {e}"))
    }

    fn take_or<T: FromStr>(&mut self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        if self.0.contains_key(key) { self.take(key) } else { Ok(default) }
    }

    /// Fails on options nobody took.
    fn done(&self) -> Result<(), String> {
        match self.0.keys().next() {
            Some(key) => Err(format!("unknown option --{key}")),
            None => Ok(()),
        }
    }
}

/// A duration in whole seconds, at least 1 and at most a day.
fn seconds(options: &mut Options, key: &str, default: Option<u64>) -> Result<Duration, String> {
    let s: u64 = match default {
        Some(d) => options.take_or(key, d)?,
        None => options.take(key)?,
    };
    if !(1..=86_400).contains(&s) {
        return Err(format!("--{key} must be 1..86400 seconds"));
    }
    Ok(Duration::from_secs(s))
}

/// A positive count no larger than `max`.
fn count(options: &mut Options, key: &str, default: Option<u64>, max: u64) -> Result<u64, String> {
    let n: u64 = match default {
        Some(d) => options.take_or(key, d)?,
        None => options.take(key)?,
    };
    if !(1..=max).contains(&n) {
        return Err(format!("--{key} must be 1..{max}"));
    }
    Ok(n)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// An even `rate` per second from `start`: `due(now)` says how many should have gone by now.
struct Pace {
    start: Instant,
    rate: f64,
}

impl Pace {
    fn due(&self, now: Instant) -> u64 {
        (now.duration_since(self.start).as_secs_f64() * self.rate) as u64
    }
}

// ---------------------------------------------------------------- DHCP wire format

const COOKIE: [u8; 4] = [99, 130, 83, 99];
const DISCOVER: u8 = 1;
const OFFER: u8 = 2;
const REQUEST: u8 = 3;
const ACK: u8 = 5;
const NAK: u8 = 6;

/// A BOOTREQUEST from `mac` with the DHCP `options` (without the end option), padded to the
/// 300 bytes BOOTP asks for.
fn bootrequest(xid: u32, mac: [u8; 6], ciaddr: Ipv4Addr, broadcast: bool, options: &[u8]) -> Vec<u8> {
    let mut packet = vec![0u8; 236];
    packet[..3].copy_from_slice(&[1, 1, 6]);
    packet[4..8].copy_from_slice(&xid.to_be_bytes());
    if broadcast {
        packet[10] = 0x80;
    }
    packet[12..16].copy_from_slice(&ciaddr.octets());
    packet[28..34].copy_from_slice(&mac);
    packet.extend_from_slice(&COOKIE);
    packet.extend_from_slice(options);
    packet.push(255);
    if packet.len() < 300 {
        packet.resize(300, 0);
    }
    packet
}

/// The parameter request list a typical client sends: subnet mask, router, DNS, lease time.
const PARAMETERS: [u8; 6] = [55, 4, 1, 3, 6, 51];

fn discover(xid: u32, mac: [u8; 6], broadcast: bool) -> Vec<u8> {
    let mut options = vec![53, 1, DISCOVER];
    options.extend_from_slice(&PARAMETERS);
    bootrequest(xid, mac, Ipv4Addr::UNSPECIFIED, broadcast, &options)
}

/// The REQUEST of a client that chose `offered` from `server` (SELECTING).
fn request_selecting(xid: u32, mac: [u8; 6], offered: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    let mut options = vec![53, 1, REQUEST, 50, 4];
    options.extend_from_slice(&offered.octets());
    options.extend_from_slice(&[54, 4]);
    options.extend_from_slice(&server.octets());
    options.extend_from_slice(&PARAMETERS);
    bootrequest(xid, mac, Ipv4Addr::UNSPECIFIED, true, &options)
}

/// The REQUEST of a client renewing `address` (RENEWING: ciaddr, no server identifier).
fn request_renewing(xid: u32, mac: [u8; 6], address: Ipv4Addr) -> Vec<u8> {
    let mut options = vec![53, 1, REQUEST];
    options.extend_from_slice(&PARAMETERS);
    bootrequest(xid, mac, address, false, &options)
}

struct Reply {
    xid: u32,
    kind: u8,
    mac: [u8; 6],
    yiaddr: Ipv4Addr,
    server_id: Option<Ipv4Addr>,
}

/// A BOOTREPLY with a DHCP message type, or `None`.
fn parse_reply(b: &[u8]) -> Option<Reply> {
    if b.len() < 240 || b[0] != 2 || b[236..240] != COOKIE {
        return None;
    }
    let (mut kind, mut server_id) = (None, None);
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => break,
            code => {
                let len = usize::from(*b.get(i + 1)?);
                let value = b.get(i + 2..i + 2 + len)?;
                match (code, value) {
                    (53, [k]) => kind = Some(*k),
                    (54, [a, b, c, d]) => server_id = Some(Ipv4Addr::new(*a, *b, *c, *d)),
                    _ => {}
                }
                i += 2 + len;
            }
        }
    }
    Some(Reply {
        xid: u32::from_be_bytes(b[4..8].try_into().ok()?),
        kind: kind?,
        mac: b[28..34].try_into().ok()?,
        yiaddr: Ipv4Addr::new(b[16], b[17], b[18], b[19]),
        server_id,
    })
}

/// The MAC of good client `i`: locally administered, 02:93:00:00:HH:LL.
/// Waits up to `wait` (at least 1 ms, at most `longest`) for a datagram; the BOOTREPLY it holds,
/// or `None` when the wait ran out or the datagram was something else.
fn receive_reply(
    socket: &UdpSocket,
    buf: &mut [u8],
    wait: Duration,
    longest: Duration,
) -> Result<Option<Reply>, String> {
    socket
        .set_read_timeout(Some(wait.clamp(Duration::from_millis(1), longest)))
        .map_err(|e| format!("set a receive timeout: {e}"))?;
    match socket.recv_from(buf) {
        Ok((len, _)) => Ok(parse_reply(&buf[..len])),
        Err(e) if is_timeout(&e) => Ok(None),
        Err(e) => Err(format!("receive: {e}")),
    }
}

fn good_mac(i: usize) -> [u8; 6] {
    let [_, _, hi, lo] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    [0x02, 0x93, 0, 0, hi, lo]
}

fn show_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{text}: {e}"))?;
    bytes.try_into().map_err(|_| format!("{text}: not a MAC"))
}

/// The socket of the DHCP clients: port 68 on every address of the namespace.
fn client_socket() -> Result<UdpSocket, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68)).map_err(|e| format!("bind 0.0.0.0:68: {e}"))?;
    socket.set_broadcast(true).map_err(|e| format!("SO_BROADCAST: {e}"))?;
    socket.set_write_timeout(Some(Duration::from_secs(1))).map_err(|e| format!("SO_SNDTIMEO: {e}"))?;
    Ok(socket)
}

// ---------------------------------------------------------------- dora

/// Every client gets a lease: DISCOVER (broadcast), OFFER, REQUEST (broadcast), ACK; clients
/// without an ACK start over every second until `--seconds` have passed.
fn dora(options: &mut Options) -> Result<String, String> {
    let server: Ipv4Addr = options.take("server")?;
    let clients = count(options, "clients", None, 60_000)? as usize;
    let leases: PathBuf = options.take("leases")?;
    let limit = seconds(options, "seconds", Some(30))?;
    options.done()?;
    let socket = client_socket()?;
    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);
    let mut rng = TestRng::from_entropy();
    let mut offered: Vec<Option<(Ipv4Addr, Ipv4Addr)>> = vec![None; clients];
    let mut bound: Vec<Option<Ipv4Addr>> = vec![None; clients];
    let mut xids: HashMap<u32, usize> = HashMap::new();
    let (mut sent, mut naks) = (0u64, 0u64);
    let started = Instant::now();
    let deadline = started + limit;
    let mut next_round = started;
    let mut buf = [0u8; 1500];
    let send = |packet: &[u8], sent: &mut u64| -> Result<(), String> {
        socket.send_to(packet, broadcast).map_err(|e| format!("send to {broadcast}: {e}"))?;
        *sent += 1;
        Ok(())
    };
    while bound.iter().any(Option::is_none) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_round {
            for i in (0..clients).filter(|&i| bound[i].is_none()) {
                let xid = rng.next_u64() as u32;
                xids.insert(xid, i);
                let packet = match offered[i] {
                    Some((address, server_id)) => request_selecting(xid, good_mac(i), address, server_id),
                    None => discover(xid, good_mac(i), true),
                };
                send(&packet, &mut sent)?;
                if i % 20 == 19 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            next_round = Instant::now() + Duration::from_secs(1);
        }
        let wait = next_round.min(deadline).saturating_duration_since(Instant::now());
        let Some(reply) = receive_reply(&socket, &mut buf, wait, Duration::from_millis(50))? else { continue };
        let Some(&i) = xids.get(&reply.xid) else { continue };
        if reply.mac != good_mac(i) || bound[i].is_some() {
            continue;
        }
        match reply.kind {
            OFFER if offered[i].is_none() => {
                let server_id = reply.server_id.unwrap_or(server);
                offered[i] = Some((reply.yiaddr, server_id));
                let xid = rng.next_u64() as u32;
                xids.insert(xid, i);
                send(&request_selecting(xid, good_mac(i), reply.yiaddr, server_id), &mut sent)?;
            }
            ACK => bound[i] = Some(reply.yiaddr),
            NAK => {
                naks += 1;
                offered[i] = None;
            }
            _ => {}
        }
    }
    let mut text = String::new();
    for (i, address) in bound.iter().enumerate() {
        if let Some(address) = address {
            text.push_str(&format!("{} {address}\n", show_mac(good_mac(i))));
        }
    }
    std::fs::write(&leases, text).map_err(|e| format!("write {}: {e}", leases.display()))?;
    let got = bound.iter().flatten().count();
    Ok(format!("clients={clients} bound={got} sent={sent} naks={naks} seconds={:.2}", started.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------- renew

/// Every client of the leases file renews once per interval, evenly spread over it, open loop
/// (the next REQUEST goes out when it is due, answered or not). A REQUEST unanswered after
/// `--timeout-ms` is lost; an ACK that comes later is counted as late, not timed.
fn renew(options: &mut Options) -> Result<String, String> {
    let server: Ipv4Addr = options.take("server")?;
    let leases: PathBuf = options.take("leases")?;
    let latencies: PathBuf = options.take("latencies")?;
    let limit = seconds(options, "seconds", None)?;
    let interval = Duration::from_millis(count(options, "interval-ms", Some(1000), 60_000)?);
    let timeout = Duration::from_millis(count(options, "timeout-ms", Some(2000), 60_000)?);
    options.done()?;
    let text = std::fs::read_to_string(&leases).map_err(|e| format!("read {}: {e}", leases.display()))?;
    let mut clients: Vec<([u8; 6], Ipv4Addr)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (mac, address) = line.split_once(' ').ok_or_else(|| format!("bad line {line:?}"))?;
        let address = address.trim().parse().map_err(|e| format!("{line:?}: {e}"))?;
        clients.push((parse_mac(mac)?, address));
    }
    if clients.is_empty() {
        return Err(format!("no leases in {}", leases.display()));
    }
    let socket = client_socket()?;
    let to = SocketAddrV4::new(server, 67);
    let mut rng = TestRng::from_entropy();
    let n = clients.len() as u32;
    let started = Instant::now();
    let deadline = started + limit;
    let mut due: Vec<Instant> = (0..n).map(|i| started + interval * i / n).collect();
    let mut outstanding: HashMap<u32, (usize, Instant)> = HashMap::new();
    let mut times: Vec<f64> = Vec::new();
    let (mut sent, mut naks, mut lost, mut late, mut behind) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline && (outstanding.is_empty() || now >= deadline + timeout) {
            break;
        }
        if now < deadline {
            for (i, (mac, address)) in clients.iter().enumerate() {
                if due[i] > now {
                    continue;
                }
                let xid = rng.next_u64() as u32;
                socket.send_to(&request_renewing(xid, *mac, *address), to).map_err(|e| format!("send to {to}: {e}"))?;
                outstanding.insert(xid, (i, Instant::now()));
                sent += 1;
                due[i] += interval;
                if due[i] <= now {
                    // This loop fell more than an interval behind (the machine is busy): skip
                    // the missed renewals rather than send them in a burst.
                    behind += 1;
                    due[i] = now + interval;
                }
            }
        }
        let before = outstanding.len();
        outstanding.retain(|_, (_, at)| now.duration_since(*at) < timeout);
        lost += (before - outstanding.len()) as u64;
        let next_due = due.iter().min().copied().unwrap_or(deadline).min(deadline);
        let wait = next_due.saturating_duration_since(Instant::now());
        let Some(reply) = receive_reply(&socket, &mut buf, wait, Duration::from_millis(20))? else { continue };
        match outstanding.get(&reply.xid) {
            Some(&(i, at)) if clients[i].0 == reply.mac => {
                outstanding.remove(&reply.xid);
                match reply.kind {
                    ACK => times.push(at.elapsed().as_secs_f64() * 1000.0),
                    NAK => naks += 1,
                    _ => {}
                }
            }
            _ if reply.kind == ACK => late += 1,
            _ => {}
        }
    }
    lost += outstanding.len() as u64;
    let mut text = String::with_capacity(times.len() * 8);
    for t in &times {
        text.push_str(&format!("{t:.3}\n"));
    }
    std::fs::write(&latencies, text).map_err(|e| format!("write {}: {e}", latencies.display()))?;
    times.sort_by(f64::total_cmp);
    Ok(format!(
        "clients={n} sent={sent} acked={} naks={naks} lost={lost} late={late} behind={behind} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        times.len(),
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or(f64::NAN)
    ))
}

// ---------------------------------------------------------------- tftp-flood

/// Read requests from an address outside the server's allow-list, at an even rate, from
/// several source ports, each for a new name; any datagram that comes back is counted.
fn tftp_flood(options: &mut Options) -> Result<String, String> {
    let from: Ipv4Addr = options.take("from")?;
    let server: String = options.take("server")?;
    let server = match server.parse::<SocketAddrV4>() {
        Ok(addr) => addr,
        Err(_) => SocketAddrV4::new(server.parse().map_err(|e| format!("--server {server:?}: {e}"))?, 69),
    };
    let rate = count(options, "rate", None, 100_000)?;
    let limit = seconds(options, "seconds", None)?;
    let ports = count(options, "sockets", Some(16), 1024)? as usize;
    options.done()?;
    let mut sockets = Vec::with_capacity(ports);
    for _ in 0..ports {
        let socket = UdpSocket::bind((from, 0)).map_err(|e| format!("bind {from}:0: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| format!("O_NONBLOCK: {e}"))?;
        sockets.push(socket);
    }
    let mut rng = TestRng::from_entropy();
    let started = Instant::now();
    let pace = Pace { start: started, rate: rate as f64 };
    let deadline = started + limit;
    let (mut sent, mut not_sent, mut answered) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        while sent + not_sent < pace.due(now) {
            let n = sent + not_sent;
            // Mostly short names like a bootloader's, every 16th a long one (300 bytes).
            let name = if n % 16 == 15 {
                format!("flood/{}/{:016x}.bin", "x".repeat(270), rng.next_u64())
            } else {
                format!("flood/{:016x}.bin", rng.next_u64())
            };
            let mut request = b"\x00\x01".to_vec();
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b"\x00octet\x00blksize\x001468\x00tsize\x000\x00");
            match sockets[n as usize % ports].send_to(&request, server) {
                Ok(_) => sent += 1,
                Err(_) => not_sent += 1,
            }
        }
        for socket in &sockets {
            while socket.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Answers in flight.
    std::thread::sleep(Duration::from_millis(300));
    for socket in &sockets {
        while socket.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
    }
    Ok(format!("sent={sent} not_sent={not_sent} answered={answered} seconds={:.2}", started.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------- dhcp-flood

/// An IPv4 packet with one UDP datagram from port 68 to `to`:67. The source address is left
/// 0.0.0.0, which the kernel replaces with the namespace's own address (raw(7)); the UDP checksum
/// is left out (zero), which IPv4 allows.
fn ipv4_udp_from_68(to: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let total = udp_len.saturating_add(20);
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&Ipv4Addr::UNSPECIFIED.octets());
    packet.extend_from_slice(&to.octets());
    packet.extend_from_slice(&68u16.to_be_bytes());
    packet.extend_from_slice(&67u16.to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// DISCOVERs from made-up MACs at an even rate. They leave through a raw socket, so that they
/// come from port 68 while the renewing clients hold that port with an ordinary socket. Without
/// the broadcast flag the OFFERs go to the made-up MACs, which nothing here receives.
fn dhcp_flood(options: &mut Options) -> Result<String, String> {
    let to: Ipv4Addr = options.take_or("to", Ipv4Addr::BROADCAST)?;
    let rate = count(options, "rate", None, 100_000)?;
    let limit = seconds(options, "seconds", None)?;
    options.done()?;
    let fd = socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Raw)
        .map_err(|e| format!("a raw socket (needs root): {e}"))?;
    setsockopt(&fd, sockopt::Broadcast, &true).map_err(|e| format!("SO_BROADCAST: {e}"))?;
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(1, 0)).map_err(|e| format!("SO_SNDTIMEO: {e}"))?;
    let destination = SockaddrIn::from(SocketAddrV4::new(to, 67));
    let mut rng = TestRng::from_entropy();
    let started = Instant::now();
    let pace = Pace { start: started, rate: rate as f64 };
    let deadline = started + limit;
    let (mut sent, mut not_sent) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        while sent + not_sent < pace.due(now) {
            let [a, b, c, d, e, f, ..] = rng.next_u64().to_be_bytes();
            // Unicast and locally administered, like the MACs a flooding tool makes up.
            let mac = [(a & 0xfc) | 0x02, b, c, d, e, f];
            let packet = ipv4_udp_from_68(to, &discover(rng.next_u64() as u32, mac, false));
            match sendto(fd.as_raw_fd(), &packet, &destination, MsgFlags::empty()) {
                Ok(_) => sent += 1,
                Err(_) => not_sent += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(format!("sent={sent} not_sent={not_sent} seconds={:.2}", started.elapsed().as_secs_f64()))
}

// ---------------------------------------------------------------- login-flood

/// How long one HTTP exchange may take: the server delays a checked wrong password by up to
/// 10 s, then answers 1 s later.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP/1.1 exchange on a new connection from `from` (`Connection: close`, so the answer
/// ends where the connection does). Hand-written over `std::net::TcpStream` rather than with
/// hyper-util: the connection must start from a chosen source address (a bind before the
/// connect, which hyper-util's connector would need its own plumbing for), the requests are
/// two fixed forms, and it keeps the flood free of an async runtime.
fn http_exchange(server: SocketAddrV4, from: Ipv4Addr, request: &[u8]) -> Result<Vec<u8>, String> {
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| format!("a TCP socket: {e}"))?;
    // SO_SNDTIMEO also bounds connect(2).
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(10, 0)).map_err(|e| format!("SO_SNDTIMEO: {e}"))?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(from, 0))).map_err(|e| format!("bind {from}: {e}"))?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(server)).map_err(|e| format!("connect {server}: {e}"))?;
    let mut stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response).map_err(|e| format!("receive: {e}"))?;
    Ok(response)
}

fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\n').next()?;
    std::str::from_utf8(line).ok()?.split_whitespace().nth(1)?.parse().ok()
}

/// The session cookie and CSRF token of a fresh `GET /login`.
fn new_session(server: SocketAddrV4, from: Ipv4Addr) -> Result<(String, String), String> {
    let request = format!("GET /login HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    let response = http_exchange(server, from, request.as_bytes())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let cookie = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| value.trim().strip_prefix("lifeboat_session=")?.split(';').next())
        .ok_or("GET /login set no lifeboat_session cookie")?;
    let csrf = body
        .split_once(r#"<meta name="csrf-token" content=""#)
        .and_then(|(_, rest)| rest.split('"').next())
        .filter(|t| !t.is_empty())
        .ok_or("no csrf-token in the login page")?;
    Ok((cookie.to_owned(), csrf.to_owned()))
}

/// One shared schedule of request slots, `interval` apart, for all workers.
struct Slots {
    next: Mutex<Instant>,
    interval: Duration,
}

impl Slots {
    /// Waits for the next free slot; `false` when it would come after `deadline`.
    fn wait(&self, deadline: Instant) -> bool {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        if slot >= deadline {
            return false;
        }
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
        true
    }
}

#[derive(Default)]
struct LoginTally {
    sessions: AtomicU64,
    posts: AtomicU64,
    wrong: AtomicU64,
    too_many: AtomicU64,
    forbidden: AtomicU64,
    other: AtomicU64,
    errors: AtomicU64,
    slowest_ms: AtomicU64,
}

fn login_worker(
    server: SocketAddrV4,
    from: Ipv4Addr,
    worker: usize,
    slots: &Slots,
    tally: &LoginTally,
    deadline: Instant,
) {
    let mut session: Option<(String, String)> = None;
    let mut first_error = true;
    let mut n = 0u64;
    while Instant::now() < deadline {
        if !slots.wait(deadline) {
            break;
        }
        let Some((cookie, csrf)) = &session else {
            match new_session(server, from) {
                Ok(s) => {
                    tally.sessions.fetch_add(1, Ordering::Relaxed);
                    session = Some(s);
                }
                Err(e) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    if first_error {
                        eprintln!("login-flood worker {worker} ({from}): GET /login: {e}");
                        first_error = false;
                    }
                }
            }
            continue;
        };
        n += 1;
        let body = format!("csrf={csrf}&password=guess-{worker}-{n}&next=%2F");
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: {server}\r\nCookie: lifeboat_session={cookie}\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tally.posts.fetch_add(1, Ordering::Relaxed);
        let asked = Instant::now();
        let answer = http_exchange(server, from, request.as_bytes());
        let took = u64::try_from(asked.elapsed().as_millis()).unwrap_or(u64::MAX);
        tally.slowest_ms.fetch_max(took, Ordering::Relaxed);
        match answer.as_deref().map(status_of) {
            Ok(Some(401)) => tally.wrong.fetch_add(1, Ordering::Relaxed),
            Ok(Some(429)) => tally.too_many.fetch_add(1, Ordering::Relaxed),
            Ok(Some(403)) => {
                // The session ended (a failure during a lockout ends it): start another.
                session = None;
                tally.forbidden.fetch_add(1, Ordering::Relaxed)
            }
            Ok(_) => tally.other.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                if first_error {
                    eprintln!("login-flood worker {worker} ({from}): POST /login: {e}");
                    first_error = false;
                }
                session = None;
                tally.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Wrong passwords from several addresses by several workers, at most `--rate` HTTP requests
/// a second in all (the session fetches included).
fn login_flood(options: &mut Options) -> Result<String, String> {
    let server: SocketAddrV4 = options.take("server")?;
    let from: String = options.take("from")?;
    let from: Vec<Ipv4Addr> = from
        .split(',')
        .map(|a| a.trim().parse().map_err(|e| format!("--from {a:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let rate = count(options, "rate", None, 10_000)?;
    let workers = count(options, "workers", Some(8), 256)? as usize;
    let limit = seconds(options, "seconds", None)?;
    options.done()?;
    let started = Instant::now();
    let deadline = started + limit;
    let slots = Arc::new(Slots { next: Mutex::new(started), interval: Duration::from_secs(1) / rate as u32 });
    let tally = Arc::new(LoginTally::default());
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (slots, tally, source) = (Arc::clone(&slots), Arc::clone(&tally), from[w % from.len()]);
            std::thread::spawn(move || login_worker(server, source, w, &slots, &tally, deadline))
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| "a login worker panicked".to_owned())?;
    }
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    Ok(format!(
        "sources={} workers={workers} sessions={} posts={} status_401={} status_429={} status_403={} other={} errors={} slowest_ms={} seconds={:.2}",
        from.len(),
        get(&tally.sessions),
        get(&tally.posts),
        get(&tally.wrong),
        get(&tally.too_many),
        get(&tally.forbidden),
        get(&tally.other),
        get(&tally.errors),
        get(&tally.slowest_ms),
        started.elapsed().as_secs_f64()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_read_back() {
        let mut packet = discover(0x1234_5678, good_mac(7), true);
        packet[0] = 2;
        packet[16..20].copy_from_slice(&[10, 93, 1, 7]);
        let options = [53, 1, ACK, 54, 4, 10, 93, 0, 1, 255];
        packet.truncate(240);
        packet.extend_from_slice(&options);
        let reply = parse_reply(&packet).expect("a reply");
        assert_eq!(reply.xid, 0x1234_5678);
        assert_eq!(reply.kind, ACK);
        assert_eq!(reply.mac, good_mac(7));
        assert_eq!(reply.yiaddr, Ipv4Addr::new(10, 93, 1, 7));
        assert_eq!(reply.server_id, Some(Ipv4Addr::new(10, 93, 0, 1)));
        assert_eq!(parse_mac(&show_mac(good_mac(300))).unwrap(), good_mac(300));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 198.0);
        assert_eq!(percentile(&v, 50.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
    }
}
