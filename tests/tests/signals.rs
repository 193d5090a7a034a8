//! SIGTERM and SIGINT stop `lifeboat serve` within two seconds, with its sockets closed, also
//! when whoever read its log has gone (`lifeboat serve 2>&1 | head -3`, or a container runtime
//! whose log collector died). As PID 1 in a container, a server that ignores SIGTERM can only
//! be killed. Runs on loopback on a free port: no root needed.

use std::io::{BufRead, BufReader, PipeReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lifeboat_e2e::lifeboat_bin;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long the server may take to start.
const START: Duration = Duration::from_secs(15);
/// How long it may take to stop after the signal.
const STOP: Duration = Duration::from_secs(2);

/// A `lifeboat serve` whose stdout and stderr go into one pipe, killed by PID if the test fails.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the server and reads its log until it listens; returns the reader of the log.
fn start() -> (Server, BufReader<PipeReader>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    let port = free_udp_port();
    let (reader, writer) = std::io::pipe().unwrap();
    let child = Command::new(lifeboat_bin())
        .args(["serve", "--tftp-root", "root", "--tftp-allow", "127.0.0.0/8", "--no-web", "--db", "lifeboat.db"])
        .args(["--tftp-listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .expect("start lifeboat serve");
    let server = Server { child, port, _dir: dir };
    let mut log = BufReader::new(reader);
    let (lines, listening) = mpsc::channel();
    // Read on a thread, so the wait for the line is bounded; the reader comes back through the
    // channel once the line is there.
    std::thread::spawn(move || {
        let mut line = String::new();
        while log.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line.contains("TFTP listening") {
                let _ = lines.send(log);
                return;
            }
            line.clear();
        }
    });
    let log = listening.recv_timeout(START).expect("lifeboat serve did not say it listens");
    (server, log)
}

fn wait_exit(server: &mut Server, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stops_within_two_seconds_after_its_log_reader_died(signal: Signal) {
    let (mut server, log) = start();
    // The reader goes away, as `head -3` does after three lines.
    drop(log);
    // Something to log into the closed pipe: a request for a file that is not there.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    client.send_to(b"\x00\x01missing.bin\x00octet\x00", ("127.0.0.1", server.port)).unwrap();
    let mut answer = [0u8; 600];
    let (len, _) = client.recv_from(&mut answer).expect("the server answers while its log is gone");
    assert_eq!(&answer[..4], b"\x00\x05\x00\x01", "ERROR 1 expected, got {:?}", &answer[..len]);

    let pid = Pid::from_raw(i32::try_from(server.child.id()).unwrap());
    let signalled = Instant::now();
    kill(pid, signal).expect("send the signal");
    let status = wait_exit(&mut server, STOP);
    let took = signalled.elapsed();
    let status = status.unwrap_or_else(|| panic!("lifeboat serve was still running {STOP:?} after {signal}"));
    assert!(status.success(), "lifeboat serve exited with {status} after {signal}");
    // Its socket is closed: the port can be bound again.
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    assert!(UdpSocket::bind(addr).is_ok(), "port {} is still taken after the exit", server.port);
    eprintln!("{signal}: exited after {took:?}");
}

#[test]
fn sigterm_stops_the_server_within_two_seconds_after_its_log_reader_died() {
    stops_within_two_seconds_after_its_log_reader_died(Signal::SIGTERM);
}

#[test]
fn sigint_stops_the_server_within_two_seconds_after_its_log_reader_died() {
    stops_within_two_seconds_after_its_log_reader_died(Signal::SIGINT);
}
