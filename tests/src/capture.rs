//! A packet capture in a namespace, by tcpdump, read back as DHCP messages: what really went
//! over the wire, independent of what lifeboat logs.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};
use etherparse::{SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;

use crate::{Child, Netns};

/// How long tcpdump may take to start listening.
const START: Duration = Duration::from_secs(10);

/// tcpdump writing the DHCP traffic of one device to a file.
pub struct DhcpCapture {
    tcpdump: Child,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// One DHCP message seen on the wire.
#[derive(Debug, Clone)]
pub struct SeenDhcp {
    /// When it was captured.
    pub at: SystemTime,
    pub message: Message,
}

impl SeenDhcp {
    pub fn kind(&self) -> Option<MessageType> {
        match self.message.opts().get(OptionCode::MessageType) {
            Some(DhcpOption::MessageType(kind)) => Some(*kind),
            _ => None,
        }
    }

    /// Option 51, the lease time in seconds.
    pub fn lease_secs(&self) -> Option<u32> {
        match self.message.opts().get(OptionCode::AddressLeaseTime) {
            Some(DhcpOption::AddressLeaseTime(secs)) => Some(*secs),
            _ => None,
        }
    }

    /// The client's hardware address as `aa:bb:cc:dd:ee:ff`.
    pub fn mac(&self) -> String {
        let chaddr = self.message.chaddr();
        chaddr[..chaddr.len().min(6)].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
    }

    /// Unix seconds of the capture.
    pub fn unix_secs(&self) -> u64 {
        self.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

impl DhcpCapture {
    /// Start capturing UDP ports 67 and 68 on `dev` in `ns`; returns once tcpdump listens.
    pub fn start(ns: &Netns, dev: &str) -> DhcpCapture {
        let dir = tempfile::Builder::new().prefix("lbt-capture-").tempdir().expect("a folder for the capture");
        let file = dir.path().join("dhcp.pcap");
        let path = file.display().to_string();
        // -U writes each packet as it comes, so what was seen is in the file when tcpdump stops;
        // -Z root keeps it from switching to a user that cannot write the root-owned folder.
        let argv = ["tcpdump", "-Z", "root", "-U", "-n", "-i", dev, "-w", &path, "udp port 67 or udp port 68"];
        let mut tcpdump = ns.spawn(&argv);
        let deadline = Instant::now() + START;
        while !tcpdump.stderr().contains("listening on") {
            assert!(tcpdump.is_running(), "tcpdump stopped: {}", tcpdump.stderr());
            assert!(Instant::now() < deadline, "tcpdump did not start listening: {}", tcpdump.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        DhcpCapture { tcpdump, file, _dir: dir }
    }

    /// Stop capturing and read every DHCP message captured, in order.
    pub fn finish(mut self) -> Vec<SeenDhcp> {
        self.tcpdump.terminate(Duration::from_secs(5));
        let file = std::fs::File::open(&self.file).expect("the capture file");
        let mut reader = PcapReader::new(file).expect("a pcap file");
        let mut seen = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.expect("a readable packet");
            let Ok(sliced) = SlicedPacket::from_ethernet(&packet.data) else { continue };
            let Some(TransportSlice::Udp(udp)) = sliced.transport else { continue };
            if let Ok(message) = Message::decode(&mut Decoder::new(udp.payload())) {
                seen.push(SeenDhcp { at: UNIX_EPOCH + packet.timestamp, message });
            }
        }
        seen
    }
}
