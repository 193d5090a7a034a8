//! Property tests of the wire format: arbitrary bytes never panic the parser, and every packet
//! the core can build reads back as itself.

use lifeboat_tftp::{ErrorCode, Mode, Packet, Request, TftpOption};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/-]{0,20}"
}

fn option() -> impl Strategy<Value = TftpOption<'static>> {
    ("[a-z]{1,10}", "[0-9]{1,6}").prop_map(|(n, v)| TftpOption::new(n, v))
}

fn request() -> impl Strategy<Value = Request<'static>> {
    (
        "[a-zA-Z0-9._/-]{1,40}",
        prop_oneof![Just(Mode::Octet), Just(Mode::Netascii)],
        proptest::collection::vec(option(), 0..5),
    )
        .prop_map(|(name, mode, options)| Request { filename: name.into_bytes().into(), mode, options })
}

fn packet() -> impl Strategy<Value = Packet<'static>> {
    prop_oneof![
        request().prop_map(Packet::ReadRequest),
        request().prop_map(Packet::WriteRequest),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..600))
            .prop_map(|(block, data)| { Packet::Data { block, data: data.into() } }),
        any::<u16>().prop_map(|block| Packet::Ack { block }),
        (0u16..20, text()).prop_map(|(code, message)| Packet::error(ErrorCode::from_u16(code), message)),
        proptest::collection::vec(option(), 1..5).prop_map(Packet::OptionAck),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = Packet::parse(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_opcode_never_panic(op in 0u8..8, bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let mut datagram = vec![0, op];
        datagram.extend_from_slice(&bytes);
        if let Ok(packet) = Packet::parse(&datagram) {
            // Whatever parses must emit and parse again to the same packet.
            let emitted = packet.to_bytes();
            prop_assert_eq!(Packet::parse(&emitted).map(Packet::into_owned), Ok(packet.into_owned()));
        }
    }

    #[test]
    fn emitted_packets_parse_back(packet in packet()) {
        let bytes = packet.to_bytes();
        prop_assert_eq!(bytes.len(), packet.buffer_len());
        prop_assert_eq!(Packet::parse(&bytes), Ok(packet));
    }
}
