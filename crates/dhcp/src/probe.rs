//! The probe for other DHCP servers: lifeboat acts as a client before it hands out addresses on
//! a segment, and refuses to if someone answers; while it serves, it keeps probing now and then
//! and looks at every reply on the segment ([`foreign_reply`]).
//!
//! **Invariant:** only an OFFER (or ACK) for the probe's own transaction id and hardware address
//! counts as an answer to the probe; a reply seen on the segment counts as another server's only
//! when it is an OFFER or ACK that names a server identifier other than lifeboat's own.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::config::Mac;

/// Another DHCP server that answered the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignServer {
    /// Its option 54, if it sent one.
    pub server_id: Option<Ipv4Addr>,
    /// The address it offered.
    pub offered: Ipv4Addr,
}

/// A DISCOVER from `mac` with transaction id `xid`, asking for a broadcast answer (we have no
/// address) and naming itself in the vendor class so it is easy to spot in other servers' logs.
pub fn probe_discover(mac: Mac, xid: u32) -> Vec<u8> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(xid, unspecified, unspecified, unspecified, unspecified, &mac.0);
    m.set_opcode(Opcode::BootRequest).set_flags(Flags::default().set_broadcast());
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(MessageType::Discover));
    opts.insert(DhcpOption::ClassIdentifier(b"lifeboat-probe".to_vec()));
    opts.insert(DhcpOption::ParameterRequestList(vec![OptionCode::SubnetMask, OptionCode::ServerIdentifier]));
    // Encoding a message built from constants cannot fail; an empty probe would just go
    // unanswered, which is the safe direction anyway.
    m.to_vec().unwrap_or_default()
}

/// If `bytes` is an OFFER or ACK that another DHCP server sent (its server identifier is not one
/// of `own` addresses), who sent it. For replies seen on the segment, to anyone.
pub fn foreign_reply(bytes: &[u8], own: &[Ipv4Addr]) -> Option<ForeignServer> {
    let server = offer_or_ack(bytes)?.1;
    if server.server_id.is_some_and(|id| own.contains(&id)) {
        return None;
    }
    Some(server)
}

/// The message and who sent it, if `bytes` is a DHCPOFFER or DHCPACK.
fn offer_or_ack(bytes: &[u8]) -> Option<(Message, ForeignServer)> {
    if bytes.len() < 240 || bytes[0] != 2 || bytes[236..240] != crate::wire::MAGIC_COOKIE {
        return None;
    }
    let m = Message::decode(&mut Decoder::new(bytes)).ok()?;
    match m.opts().get(OptionCode::MessageType) {
        Some(DhcpOption::MessageType(MessageType::Offer | MessageType::Ack)) => {}
        _ => return None,
    }
    let server_id = match m.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(id)) => Some(*id),
        _ => None,
    };
    let offered = m.yiaddr();
    Some((m, ForeignServer { server_id, offered }))
}

/// If `bytes` answers the probe (`mac`, `xid`), who answered.
pub fn probe_answer(bytes: &[u8], mac: Mac, xid: u32) -> Option<ForeignServer> {
    let (m, server) = offer_or_ack(bytes)?;
    (m.xid() == xid && m.chaddr().get(..6) == Some(&mac.0[..])).then_some(server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Kind, MessageType, decode};

    const MAC: Mac = Mac([2, 0, 0, 0, 0, 1]);

    fn offer(xid: u32, mac: Mac, kind: MessageType) -> Vec<u8> {
        let mut m = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 0, 0, 9),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &mac.0,
        );
        m.set_opcode(Opcode::BootReply);
        m.opts_mut().insert(DhcpOption::MessageType(kind));
        m.opts_mut().insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)));
        m.to_vec().unwrap()
    }

    #[test]
    fn the_probe_is_a_broadcast_discover() {
        let req = decode(&probe_discover(MAC, 7)).unwrap();
        assert_eq!(req.kind, Kind::Dhcp(MessageType::Discover));
        assert!(req.message.flags().broadcast());
        assert_eq!(req.message.chaddr(), MAC.0);
    }

    #[test]
    fn only_answers_to_this_probe_count() {
        let want = ForeignServer { server_id: Some(Ipv4Addr::new(10, 0, 0, 1)), offered: Ipv4Addr::new(10, 0, 0, 9) };
        assert_eq!(probe_answer(&offer(7, MAC, MessageType::Offer), MAC, 7), Some(want));
        assert_eq!(probe_answer(&offer(8, MAC, MessageType::Offer), MAC, 7), None, "other transaction");
        assert_eq!(probe_answer(&offer(7, Mac([9; 6]), MessageType::Offer), MAC, 7), None, "other client");
        assert_eq!(probe_answer(&offer(7, MAC, MessageType::Nak), MAC, 7), None, "not an offer");
        assert_eq!(probe_answer(&probe_discover(MAC, 7), MAC, 7), None, "our own broadcast echoed back");
        assert_eq!(probe_answer(&[2; 100], MAC, 7), None);
    }

    #[test]
    fn a_reply_to_anyone_counts_unless_it_names_one_of_our_addresses() {
        let other = offer(99, Mac([7; 6]), MessageType::Offer);
        let from = ForeignServer { server_id: Some(Ipv4Addr::new(10, 0, 0, 1)), offered: Ipv4Addr::new(10, 0, 0, 9) };
        assert_eq!(foreign_reply(&other, &[Ipv4Addr::new(10, 0, 0, 50)]), Some(from));
        assert_eq!(foreign_reply(&other, &[Ipv4Addr::new(10, 0, 0, 1)]), None, "our own OFFER");
        assert_eq!(foreign_reply(&offer(99, Mac([7; 6]), MessageType::Nak), &[]), None);
        assert_eq!(foreign_reply(&probe_discover(MAC, 7), &[]), None, "a request, not a reply");
    }
}
