//! Property tests: decoding never panics, and a packet with the cookie whose option area is
//! damaged is never classified as BOOTP.

use lifeboat_dhcp::{Kind, decode};
use proptest::prelude::*;

fn header() -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p.extend_from_slice(&[99, 130, 83, 99]);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn arbitrary_options_after_cookie_never_panic(opts in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut p = header();
        p.extend_from_slice(&opts);
        if let Ok(req) = decode(&p) {
            // Accepted: the walk reached END, so every option is well-formed and classification is safe.
            let _ = lifeboat_dhcp::classify(&req);
        }
    }

    #[test]
    fn truncated_dhcp_is_never_bootp(cut in 0usize..20, vendor in proptest::collection::vec(1u8..=254, 1..30)) {
        // A DISCOVER with a vendor class, no END, maybe cut short: must be rejected, not BOOTP.
        let mut p = header();
        p.extend_from_slice(&[53, 1, 1, 60, vendor.len() as u8]);
        p.extend_from_slice(&vendor);
        // Keep the cookie: without it the packet honestly is cookie-less BOOTP.
        let keep = p.len().saturating_sub(cut).max(240);
        p.truncate(keep);
        let got = decode(&p);
        prop_assert!(!matches!(got, Ok(ref r) if matches!(r.kind, Kind::Bootp { .. })), "{got:?}");
    }
}
