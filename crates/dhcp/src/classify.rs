//! Classification of a request: which firmware or OS client sent it.
//!
//! **Invariant:** classification reads only the validated raw options of a [`Request`]; it never
//! fails and never panics — unknown or odd values simply leave a field empty.

use crate::wire::{Kind, Request};

/// What we learned about the client from its request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Client {
    /// Option 93, first architecture code, raw (11 = ARM64 UEFI, 16 = x64 UEFI HTTP, ...).
    pub arch: Option<u16>,
    /// Option 60, lossily decoded as UTF-8.
    pub vendor_class: Option<String>,
    /// Option 77 entries. iPXE's bare `iPXE` and RFC 3004 length-prefixed lists both land here.
    pub user_classes: Vec<Vec<u8>>,
    /// Option 175 is present (iPXE encapsulated options).
    pub has_ipxe_options: bool,
    /// No option 53: plain BOOTP.
    pub bootp: bool,
}

impl Client {
    /// iPXE is running: user class `iPXE` or option 175. Ends the chainload loop.
    pub fn is_ipxe(&self) -> bool {
        self.has_ipxe_options || self.user_classes.iter().any(|u| u.as_slice() == b"iPXE")
    }

    /// Option 60 starts with `PXEClient`.
    pub fn is_pxe(&self) -> bool {
        self.vendor_class.as_deref().is_some_and(|v| v.starts_with("PXEClient"))
    }

    /// Option 60 starts with `HTTPClient` (UEFI HTTP boot).
    pub fn is_http(&self) -> bool {
        self.vendor_class.as_deref().is_some_and(|v| v.starts_with("HTTPClient"))
    }
}

/// Split option 77. RFC 3004 says each entry is length-prefixed; iPXE sends bare bytes. If the
/// bytes do not parse exactly as a length-prefixed list, take them as one bare entry.
pub fn user_classes(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        match tail.get(..len) {
            Some(entry) if len > 0 => {
                out.push(entry.to_vec());
                rest = &tail[len..];
            }
            _ => return if data.is_empty() { Vec::new() } else { vec![data.to_vec()] },
        }
    }
    out
}

/// Classify a validated request.
pub fn classify(req: &Request) -> Client {
    Client {
        arch: req.option(93).and_then(|d| d.get(..2)).map(|b| u16::from_be_bytes([b[0], b[1]])),
        vendor_class: req.option(60).map(|d| String::from_utf8_lossy(d).into_owned()),
        user_classes: req.option(77).map(user_classes).unwrap_or_default(),
        has_ipxe_options: req.option(175).is_some(),
        bootp: matches!(req.kind, Kind::Bootp { .. }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_class_forms() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"iPXE", &[b"iPXE"]),
            (b"\x04iPXE", &[b"iPXE"]),
            (b"\x02ab\x01c", &[b"ab", b"c"]),
            (b"\x09ab", &[b"\x09ab"]),
            (b"", &[]),
        ];
        for (input, want) in cases {
            let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(user_classes(input), want, "{input:?}");
        }
    }

    fn req(opts: &[u8]) -> Request {
        let mut p = vec![0u8; crate::wire::HEADER_LEN];
        p[0] = 1;
        p[2] = 6;
        p.extend_from_slice(&crate::wire::MAGIC_COOKIE);
        p.extend_from_slice(opts);
        crate::wire::decode(&p).unwrap()
    }

    #[test]
    fn firmware_kinds() {
        let arm = classify(&req(&[53, 1, 1, 93, 2, 0, 11, 255]));
        assert_eq!(arm.arch, Some(11));
        let http = classify(&req(&[
            53, 1, 1, 93, 2, 0, 16, 60, 10, b'H', b'T', b'T', b'P', b'C', b'l', b'i', b'e', b'n', b't', 255,
        ]));
        assert_eq!(http.arch, Some(16));
        assert!(http.is_http() && !http.is_pxe());
        let ipxe = classify(&req(&[53, 1, 1, 77, 4, b'i', b'P', b'X', b'E', 255]));
        assert!(ipxe.is_ipxe());
        let ipxe175 = classify(&req(&[53, 1, 1, 175, 3, 1, 1, 1, 255]));
        assert!(ipxe175.is_ipxe());
        let plain = classify(&req(&[53, 1, 1, 255]));
        assert!(!plain.is_ipxe() && !plain.bootp && plain.arch.is_none());
        assert!(classify(&req(&[255])).bootp);
    }
}
