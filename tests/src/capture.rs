//! Packet captures in a namespace, by tcpdump, read back as DHCP messages or as address
//! announcements: what really went over the wire, independent of what lifeboat logs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};
use etherparse::{
    ArpOperation, ArpPacketSlice, EtherType, Ethernet2Slice, Icmpv6Slice, Icmpv6Type, Ipv6Slice, SlicedPacket,
    TransportSlice,
};
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
        let (tcpdump, file, dir) = start_tcpdump(ns, dev, "dhcp.pcap", "udp port 67 or udp port 68");
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

/// tcpdump writing `filter`'s packets on `dev` in `ns` to a file in a new folder; returns once it
/// listens.
fn start_tcpdump(ns: &Netns, dev: &str, name: &str, filter: &str) -> (Child, PathBuf, tempfile::TempDir) {
    let dir = tempfile::Builder::new().prefix("lbt-capture-").tempdir().expect("a folder for the capture");
    let file = dir.path().join(name);
    let path = file.display().to_string();
    // -U writes each packet as it comes, so what was seen is in the file when tcpdump stops;
    // -Z root keeps it from switching to a user that cannot write the root-owned folder.
    let argv = ["tcpdump", "-Z", "root", "-U", "-n", "-i", dev, "-w", &path, filter];
    let mut tcpdump = ns.spawn(&argv);
    let deadline = Instant::now() + START;
    while !tcpdump.stderr().contains("listening on") {
        assert!(tcpdump.is_running(), "tcpdump stopped: {}", tcpdump.stderr());
        assert!(Instant::now() < deadline, "tcpdump did not start listening: {}", tcpdump.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    (tcpdump, file, dir)
}

/// tcpdump writing the ARP and ICMPv6 traffic of one device to a file: the announcements of
/// addresses (gratuitous ARP, unsolicited neighbour advertisements).
pub struct NeighbourCapture {
    tcpdump: Child,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

/// One announcement of an address seen on the wire: an ARP packet whose sender and target
/// address are the same (RFC 5227), or an unsolicited Neighbor Advertisement that overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAnnouncement {
    pub at: SystemTime,
    /// The Ethernet source, as `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The address announced.
    pub address: IpAddr,
}

impl NeighbourCapture {
    /// Start capturing ARP and ICMPv6 on `dev` in `ns`; returns once tcpdump listens.
    pub fn start(ns: &Netns, dev: &str) -> NeighbourCapture {
        let (tcpdump, file, dir) = start_tcpdump(ns, dev, "neighbours.pcap", "arp or icmp6");
        NeighbourCapture { tcpdump, file, _dir: dir }
    }

    /// The announcements captured so far, in order (a packet tcpdump is still writing is left
    /// for the next look).
    pub fn seen(&self) -> Vec<SeenAnnouncement> {
        let Ok(file) = std::fs::File::open(&self.file) else { return Vec::new() };
        let Ok(mut reader) = PcapReader::new(file) else { return Vec::new() };
        let mut seen = Vec::new();
        while let Some(Ok(packet)) = reader.next_packet() {
            if let Some((mac, address)) = announcement(&packet.data) {
                seen.push(SeenAnnouncement { at: UNIX_EPOCH + packet.timestamp, mac, address });
            }
        }
        seen
    }

    /// Waits until `count` announcements of `address` from `mac` have been captured, for at
    /// most `timeout`; whether they were.
    pub fn wait_for(&self, mac: &str, address: IpAddr, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.seen().iter().filter(|s| s.mac == mac && s.address == address).count() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop capturing; print the capture as `tcpdump -e -r` reads it (into the test's log); every
    /// announcement seen, in order.
    pub fn finish(mut self) -> Vec<SeenAnnouncement> {
        self.tcpdump.terminate(Duration::from_secs(5));
        let path = self.file.display().to_string();
        let argv = ["tcpdump", "-n", "-e", "-tttt", "-r", &path];
        let text = crate::process::run(crate::process::command(&argv), Duration::from_secs(10));
        println!("--- tcpdump -n -e -r {path} (arp or icmp6)\n{}---", text.stdout);
        self.seen()
    }
}

/// The source MAC and the address of `frame`, if it announces one.
fn announcement(frame: &[u8]) -> Option<(String, IpAddr)> {
    let ethernet = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    let mac = ethernet.source().iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let payload = ethernet.payload().payload;
    let address = match ethernet.ether_type() {
        EtherType::ARP => {
            let arp = ArpPacketSlice::from_slice(payload).ok()?;
            let sender: [u8; 4] = arp.sender_protocol_addr().try_into().ok()?;
            let gratuitous = arp.sender_protocol_addr() == arp.target_protocol_addr();
            let kind = arp.operation() == ArpOperation::REQUEST || arp.operation() == ArpOperation::REPLY;
            (gratuitous && kind && sender != [0; 4]).then_some(IpAddr::V4(Ipv4Addr::from(sender)))?
        }
        EtherType::IPV6 => {
            let ip = Ipv6Slice::from_slice(payload).ok()?;
            let icmp = Icmpv6Slice::from_slice(ip.payload().payload).ok()?;
            let Icmpv6Type::NeighborAdvertisement(flags) = icmp.icmp_type() else { return None };
            let target: [u8; 16] = icmp.payload().get(..16)?.try_into().ok()?;
            (!flags.solicited && flags.r#override).then_some(IpAddr::V6(Ipv6Addr::from(target)))?
        }
        _ => return None,
    };
    Some((mac, address))
}
