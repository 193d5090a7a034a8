//! Option negotiation: RFC 2347 (extension), 2348 (blksize), 2349 (timeout, tsize), 7440 (windowsize).
//!
//! The server side ([`negotiate`]) grants what the client asked for within the server's limits and
//! answers only options it understood; the client side ([`ClientOptions::accept_oack`]) checks that
//! a server's OACK stays within what was asked.

use std::time::Duration;

use crate::direction::Direction;
use crate::wire::TftpOption;

/// Block size when no option is negotiated (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// Smallest block size RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// Largest block size RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;
/// Largest window RFC 7440 allows.
pub const MAX_WINDOWSIZE: u16 = 65535;

const BLKSIZE: &str = "blksize";
const TSIZE: &str = "tsize";
const TIMEOUT: &str = "timeout";
const WINDOWSIZE: &str = "windowsize";

/// The parameters a transfer runs with once negotiation is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferParams {
    pub blksize: u16,
    pub windowsize: u16,
    /// The retransmission timeout the client asked for, if any.
    pub timeout: Option<Duration>,
}

impl Default for TransferParams {
    fn default() -> Self {
        TransferParams { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeout: None }
    }
}

/// What the server is willing to grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest block size granted; the default fits a 1500-byte Ethernet frame.
    pub max_blksize: u16,
    /// Largest window granted.
    pub max_windowsize: u16,
    /// When false every option is ignored, for bootloaders that break on an OACK.
    pub options_enabled: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits { max_blksize: 1468, max_windowsize: 64, options_enabled: true }
    }
}

/// The outcome of negotiating a request's options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Negotiation {
    pub params: TransferParams,
    /// The options to acknowledge, in the client's order. Empty means: send no OACK.
    pub acknowledged: Vec<TftpOption<'static>>,
    /// For a write request, the size the client announced with `tsize`.
    pub announced_size: Option<u64>,
}

impl Negotiation {
    /// The OACK packet to send, if any option was acknowledged.
    pub fn oack(&self) -> Option<crate::Packet<'static>> {
        (!self.acknowledged.is_empty()).then(|| crate::Packet::OptionAck(self.acknowledged.clone()))
    }
}

/// Decides which of the client's options the server grants.
///
/// Unknown options, values that do not parse and values outside the RFC ranges are ignored
/// (RFC 2347 lets a server leave out any option it does not accept). When an option appears
/// twice, the first one counts. `read_size` is the byte count a read will send, when known
/// (`tsize` is answered with it); a write's size is the one the client announces.
pub fn negotiate(
    requested: &[TftpOption<'_>],
    limits: &ServerLimits,
    direction: Direction,
    read_size: Option<u64>,
) -> Negotiation {
    let mut negotiation = Negotiation::default();
    if !limits.options_enabled {
        return negotiation;
    }
    let mut seen: Vec<&str> = Vec::new();
    for option in requested {
        let name = option.name.to_ascii_lowercase();
        let Some(name) = [BLKSIZE, TSIZE, TIMEOUT, WINDOWSIZE].into_iter().find(|known| *known == name) else {
            continue;
        };
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let granted = match name {
            BLKSIZE => parse_in(&option.value, MIN_BLKSIZE, u16::MAX).map(|asked| {
                let blksize = asked.min(MAX_BLKSIZE).min(limits.max_blksize.max(MIN_BLKSIZE));
                negotiation.params.blksize = blksize;
                blksize.to_string()
            }),
            WINDOWSIZE => parse_in(&option.value, 1, MAX_WINDOWSIZE).map(|asked| {
                let window = asked.min(limits.max_windowsize.max(1));
                negotiation.params.windowsize = window;
                window.to_string()
            }),
            TIMEOUT => parse_in(&option.value, 1u8, u8::MAX).map(|seconds| {
                negotiation.params.timeout = Some(Duration::from_secs(seconds.into()));
                seconds.to_string()
            }),
            TSIZE => match direction {
                // An empty file gets no tsize: curl (7.88) takes `tsize 0` for an error and
                // gives up, while the transfer itself works without it.
                Direction::Read => {
                    read_size.filter(|&size| size > 0 && option.value.trim() == "0").map(|size| size.to_string())
                }
                Direction::Write => option.value.trim().parse::<u64>().ok().map(|size| {
                    negotiation.announced_size = Some(size);
                    size.to_string()
                }),
            },
            _ => None,
        };
        if let Some(value) = granted {
            negotiation.acknowledged.push(TftpOption::new(option.name.clone().into_owned(), value));
        }
    }
    negotiation
}

fn parse_in<T: std::str::FromStr + PartialOrd>(value: &str, min: T, max: T) -> Option<T> {
    value.trim().parse::<T>().ok().filter(|v| *v >= min && *v <= max)
}

/// The options a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientOptions {
    pub blksize: Option<u16>,
    pub windowsize: Option<u16>,
    pub timeout: Option<u8>,
    /// Ask for (read, sends 0) or announce (write, sends the size) the transfer size.
    pub tsize: Option<u64>,
}

/// A server's OACK that the client cannot accept; the client answers with ERROR 8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OackError {
    #[error("the server acknowledged option `{0}`, which was not requested")]
    NotRequested(String),
    #[error("the server answered option `{name}` with `{value}`, which is not acceptable")]
    BadValue { name: String, value: String },
}

impl ClientOptions {
    /// The option list of the request, in a fixed order.
    pub fn to_request_options(&self) -> Vec<TftpOption<'static>> {
        let mut options = Vec::new();
        if let Some(size) = self.tsize {
            options.push(TftpOption::new(TSIZE, size.to_string()));
        }
        if let Some(blksize) = self.blksize {
            options.push(TftpOption::new(BLKSIZE, blksize.to_string()));
        }
        if let Some(timeout) = self.timeout {
            options.push(TftpOption::new(TIMEOUT, timeout.to_string()));
        }
        if let Some(window) = self.windowsize {
            options.push(TftpOption::new(WINDOWSIZE, window.to_string()));
        }
        options
    }

    /// Checks a server's OACK: every option must have been requested, a block size or window may
    /// only shrink, a timeout must be the one asked for. Returns the parameters and the `tsize`.
    pub fn accept_oack(&self, oack: &[TftpOption<'_>]) -> Result<(TransferParams, Option<u64>), OackError> {
        let mut params = TransferParams::default();
        let mut tsize = None;
        for option in oack {
            let name = option.name.to_ascii_lowercase();
            let bad = || OackError::BadValue { name: name.clone(), value: option.value.to_string() };
            match name.as_str() {
                BLKSIZE => {
                    let asked = self.blksize.ok_or_else(|| OackError::NotRequested(name.clone()))?;
                    params.blksize = parse_in(&option.value, MIN_BLKSIZE, asked).ok_or_else(bad)?;
                }
                WINDOWSIZE => {
                    let asked = self.windowsize.ok_or_else(|| OackError::NotRequested(name.clone()))?;
                    params.windowsize = parse_in(&option.value, 1, asked).ok_or_else(bad)?;
                }
                TIMEOUT => {
                    let asked = self.timeout.ok_or_else(|| OackError::NotRequested(name.clone()))?;
                    let granted = parse_in(&option.value, asked, asked).ok_or_else(bad)?;
                    params.timeout = Some(Duration::from_secs(granted.into()));
                }
                TSIZE => {
                    self.tsize.ok_or_else(|| OackError::NotRequested(name.clone()))?;
                    tsize = Some(option.value.trim().parse::<u64>().map_err(|_| bad())?);
                }
                _ => return Err(OackError::NotRequested(name)),
            }
        }
        Ok((params, tsize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&'static str, &'static str)]) -> Vec<TftpOption<'static>> {
        pairs.iter().map(|(n, v)| TftpOption::new(*n, *v)).collect()
    }

    fn acked(n: &Negotiation) -> Vec<(String, String)> {
        n.acknowledged.iter().map(|o| (o.name.to_string(), o.value.to_string())).collect()
    }

    #[test]
    fn curl_read_gets_size_blksize_and_timeout() {
        let n = negotiate(
            &opts(&[("tsize", "0"), ("blksize", "1468"), ("timeout", "6")]),
            &ServerLimits::default(),
            Direction::Read,
            Some(1234),
        );
        assert_eq!(
            acked(&n),
            [("tsize".into(), "1234".into()), ("blksize".into(), "1468".into()), ("timeout".into(), "6".into())]
        );
        assert_eq!(n.params, TransferParams { blksize: 1468, windowsize: 1, timeout: Some(Duration::from_secs(6)) });
    }

    #[test]
    fn blksize_is_capped_by_the_server_limit_and_the_rfc() {
        let limits = ServerLimits { max_blksize: 1468, ..ServerLimits::default() };
        let n = negotiate(&opts(&[("blksize", "8192")]), &limits, Direction::Write, None);
        assert_eq!(n.params.blksize, 1468);
        let limits = ServerLimits { max_blksize: u16::MAX, ..ServerLimits::default() };
        let n = negotiate(&opts(&[("BLKSIZE", "65535")]), &limits, Direction::Write, None);
        assert_eq!(acked(&n), [("BLKSIZE".into(), "65464".into())]);
    }

    #[test]
    fn out_of_range_and_garbage_values_are_ignored() {
        let asked =
            opts(&[("blksize", "7"), ("windowsize", "0"), ("timeout", "256"), ("tsize", "x"), ("blksize", "1024")]);
        let n = negotiate(&asked, &ServerLimits::default(), Direction::Write, None);
        assert!(n.acknowledged.is_empty(), "{:?}", n.acknowledged);
        assert_eq!(n.params, TransferParams::default());
        assert_eq!(n.oack(), None);
    }

    #[test]
    fn unknown_options_are_left_out_of_the_oack() {
        let n = negotiate(
            &opts(&[("multicast", ""), ("windowsize", "16")]),
            &ServerLimits::default(),
            Direction::Read,
            None,
        );
        assert_eq!(acked(&n), [("windowsize".into(), "16".into())]);
    }

    #[test]
    fn windowsize_is_capped() {
        let limits = ServerLimits { max_windowsize: 8, ..ServerLimits::default() };
        let n = negotiate(&opts(&[("windowsize", "64")]), &limits, Direction::Read, Some(1));
        assert_eq!(n.params.windowsize, 8);
    }

    #[test]
    fn read_tsize_needs_a_known_size_and_zero() {
        let n = negotiate(&opts(&[("tsize", "0")]), &ServerLimits::default(), Direction::Read, None);
        assert!(n.acknowledged.is_empty());
        let n = negotiate(&opts(&[("tsize", "5")]), &ServerLimits::default(), Direction::Read, Some(9));
        assert!(n.acknowledged.is_empty());
    }

    #[test]
    fn an_empty_file_gets_no_tsize() {
        let n = negotiate(
            &opts(&[("tsize", "0"), ("blksize", "1468")]),
            &ServerLimits::default(),
            Direction::Read,
            Some(0),
        );
        assert_eq!(acked(&n), [("blksize".into(), "1468".into())]);
    }

    #[test]
    fn write_tsize_is_echoed_and_remembered() {
        let n = negotiate(&opts(&[("tsize", "4294967296")]), &ServerLimits::default(), Direction::Write, None);
        assert_eq!(n.announced_size, Some(4_294_967_296));
        assert_eq!(acked(&n), [("tsize".into(), "4294967296".into())]);
    }

    #[test]
    fn no_options_switch_ignores_everything() {
        let limits = ServerLimits { options_enabled: false, ..ServerLimits::default() };
        let n = negotiate(&opts(&[("blksize", "1468"), ("tsize", "0")]), &limits, Direction::Read, Some(3));
        assert_eq!(n, Negotiation::default());
    }

    #[test]
    fn first_of_duplicate_options_counts() {
        let n = negotiate(
            &opts(&[("blksize", "1024"), ("blksize", "1400")]),
            &ServerLimits::default(),
            Direction::Write,
            None,
        );
        assert_eq!(n.params.blksize, 1024);
        assert_eq!(n.acknowledged.len(), 1);
    }

    #[test]
    fn client_accepts_a_smaller_blksize_and_reads_tsize() {
        let asked = ClientOptions { blksize: Some(8192), tsize: Some(0), windowsize: Some(16), timeout: None };
        let (params, size) =
            asked.accept_oack(&opts(&[("blksize", "1468"), ("tsize", "77"), ("windowsize", "4")])).unwrap();
        assert_eq!(params.blksize, 1468);
        assert_eq!(params.windowsize, 4);
        assert_eq!(size, Some(77));
    }

    #[test]
    fn client_refuses_options_it_did_not_ask_or_larger_values() {
        let asked = ClientOptions { blksize: Some(1468), ..ClientOptions::default() };
        assert_eq!(asked.accept_oack(&opts(&[("windowsize", "4")])), Err(OackError::NotRequested("windowsize".into())));
        assert!(matches!(asked.accept_oack(&opts(&[("blksize", "9000")])), Err(OackError::BadValue { .. })));
    }

    #[test]
    fn request_options_round_trip_through_server_negotiation() {
        let asked = ClientOptions { blksize: Some(1468), windowsize: Some(16), timeout: Some(3), tsize: Some(0) };
        let n = negotiate(&asked.to_request_options(), &ServerLimits::default(), Direction::Read, Some(10));
        let (params, size) = asked.accept_oack(&n.acknowledged).unwrap();
        assert_eq!(params, n.params);
        assert_eq!(size, Some(10));
    }
}
