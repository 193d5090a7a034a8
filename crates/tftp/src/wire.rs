//! TFTP packets on the wire (RFC 1350, RFC 2347 OACK).
//!
//! [`Packet::parse`] reads untrusted bytes and never panics: anything malformed is a
//! [`ParseError`] value. [`Packet::emit`] writes a packet into a buffer. Strings borrow from
//! the datagram when parsed and are owned when a packet is built to be sent.

use std::borrow::Cow;
use std::fmt;

/// Opcodes (RFC 1350 §5, RFC 2347).
mod opcode {
    pub(super) const RRQ: u16 = 1;
    pub(super) const WRQ: u16 = 2;
    pub(super) const DATA: u16 = 3;
    pub(super) const ACK: u16 = 4;
    pub(super) const ERROR: u16 = 5;
    pub(super) const OACK: u16 = 6;
}

/// Bytes before the payload of a DATA packet: opcode and block number.
pub const DATA_HEADER_LEN: usize = 4;

/// The transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes as they are.
    Octet,
    /// Text with CR LF line ends on the wire (RFC 764).
    Netascii,
    /// Obsolete mail mode; parsed so it can be refused clearly.
    Mail,
}

impl Mode {
    fn parse(bytes: &[u8]) -> Option<Mode> {
        if bytes.eq_ignore_ascii_case(b"octet") {
            Some(Mode::Octet)
        } else if bytes.eq_ignore_ascii_case(b"netascii") {
            Some(Mode::Netascii)
        } else if bytes.eq_ignore_ascii_case(b"mail") {
            Some(Mode::Mail)
        } else {
            None
        }
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// TFTP error codes (RFC 1350 §5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined,
    FileNotFound,
    AccessViolation,
    DiskFull,
    IllegalOperation,
    UnknownTransferId,
    FileExists,
    NoSuchUser,
    OptionsRefused,
    /// A code this implementation does not know; kept so it can be reported.
    Other(u16),
}

impl ErrorCode {
    pub fn from_u16(code: u16) -> ErrorCode {
        match code {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionsRefused,
            other => ErrorCode::Other(other),
        }
    }

    pub fn as_u16(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionsRefused => 8,
            ErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::NotDefined => "error",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full or allocation exceeded",
            ErrorCode::IllegalOperation => "illegal TFTP operation",
            ErrorCode::UnknownTransferId => "unknown transfer ID",
            ErrorCode::FileExists => "file already exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionsRefused => "options refused",
            ErrorCode::Other(code) => return write!(f, "error code {code}"),
        };
        f.write_str(name)
    }
}

/// One `name=value` pair of an option extension (RFC 2347). Names compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpOption<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

impl<'a> TftpOption<'a> {
    pub fn new(name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Self {
        TftpOption { name: name.into(), value: value.into() }
    }

    fn into_owned(self) -> TftpOption<'static> {
        TftpOption { name: Cow::Owned(self.name.into_owned()), value: Cow::Owned(self.value.into_owned()) }
    }
}

/// A read or write request. The filename stays raw bytes: the path policy decides what to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub filename: Cow<'a, [u8]>,
    pub mode: Mode,
    pub options: Vec<TftpOption<'a>>,
}

/// A TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    ReadRequest(Request<'a>),
    WriteRequest(Request<'a>),
    Data { block: u16, data: Cow<'a, [u8]> },
    Ack { block: u16 },
    Error { code: ErrorCode, message: Cow<'a, str> },
    OptionAck(Vec<TftpOption<'a>>),
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram too short for a TFTP packet")]
    Truncated,
    #[error("unknown TFTP opcode {0}")]
    UnknownOpcode(u16),
    #[error("a string field is not terminated by NUL")]
    Unterminated,
    #[error("unknown transfer mode")]
    UnknownMode,
    #[error("an option has a name but no value")]
    DanglingOption,
    #[error("an option is not valid ASCII/UTF-8 text")]
    OptionNotText,
}

impl<'a> Packet<'a> {
    /// Reads a packet from an untrusted datagram.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let (opcode, body) = match bytes {
            [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
            _ => return Err(ParseError::Truncated),
        };
        match opcode {
            opcode::RRQ => Ok(Packet::ReadRequest(parse_request(body)?)),
            opcode::WRQ => Ok(Packet::WriteRequest(parse_request(body)?)),
            opcode::DATA => {
                let (block, data) = split_block(body)?;
                Ok(Packet::Data { block, data: Cow::Borrowed(data) })
            }
            opcode::ACK => {
                // Trailing bytes after an ACK are ignored, as every peer server does.
                let (block, _) = split_block(body)?;
                Ok(Packet::Ack { block })
            }
            opcode::ERROR => {
                let (code, rest) = split_block(body)?;
                // Many clients omit the final NUL of the message; accept that.
                let message = match rest.iter().position(|&b| b == 0) {
                    Some(end) => &rest[..end],
                    None => rest,
                };
                Ok(Packet::Error { code: ErrorCode::from_u16(code), message: String::from_utf8_lossy(message) })
            }
            opcode::OACK => Ok(Packet::OptionAck(parse_options(body)?)),
            other => Err(ParseError::UnknownOpcode(other)),
        }
    }

    /// How many bytes [`Packet::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        2 + match self {
            Packet::ReadRequest(r) | Packet::WriteRequest(r) => {
                r.filename.len() + 1 + r.mode.as_str().len() + 1 + options_len(&r.options)
            }
            Packet::Data { data, .. } => 2 + data.len(),
            Packet::Ack { .. } => 2,
            Packet::Error { message, .. } => 2 + message.bytes().filter(|&b| b != 0).count() + 1,
            Packet::OptionAck(options) => options_len(options),
        }
    }

    /// Appends the packet's bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.reserve(self.buffer_len());
        match self {
            Packet::ReadRequest(r) => emit_request(opcode::RRQ, r, out),
            Packet::WriteRequest(r) => emit_request(opcode::WRQ, r, out),
            Packet::Data { block, data } => {
                out.extend_from_slice(&data_header(*block));
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&opcode::ACK.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&opcode::ERROR.to_be_bytes());
                out.extend_from_slice(&code.as_u16().to_be_bytes());
                // A NUL inside the message would end it early on the peer; drop NULs.
                out.extend(message.bytes().filter(|&b| b != 0));
                out.push(0);
            }
            Packet::OptionAck(options) => {
                out.extend_from_slice(&opcode::OACK.to_be_bytes());
                emit_options(options, out);
            }
        }
    }

    /// The packet's bytes in a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }

    /// Copies every borrowed field so the packet outlives the datagram it came from.
    pub fn into_owned(self) -> Packet<'static> {
        match self {
            Packet::ReadRequest(r) => Packet::ReadRequest(r.into_owned()),
            Packet::WriteRequest(r) => Packet::WriteRequest(r.into_owned()),
            Packet::Data { block, data } => Packet::Data { block, data: Cow::Owned(data.into_owned()) },
            Packet::Ack { block } => Packet::Ack { block },
            Packet::Error { code, message } => Packet::Error { code, message: Cow::Owned(message.into_owned()) },
            Packet::OptionAck(options) => Packet::OptionAck(options.into_iter().map(TftpOption::into_owned).collect()),
        }
    }

    /// An ERROR packet with an owned message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Packet<'static> {
        Packet::Error { code, message: Cow::Owned(message.into()) }
    }
}

impl Request<'_> {
    pub fn into_owned(self) -> Request<'static> {
        Request {
            filename: Cow::Owned(self.filename.into_owned()),
            mode: self.mode,
            options: self.options.into_iter().map(TftpOption::into_owned).collect(),
        }
    }
}

/// The 4-byte header of a DATA packet; the driver writes the payload right after it.
pub fn data_header(block: u16) -> [u8; DATA_HEADER_LEN] {
    let [op_hi, op_lo] = opcode::DATA.to_be_bytes();
    let [b_hi, b_lo] = block.to_be_bytes();
    [op_hi, op_lo, b_hi, b_lo]
}

fn split_block(body: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    match body {
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(ParseError::Truncated),
    }
}

/// Splits off one NUL-terminated field.
fn take_field(bytes: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let end = bytes.iter().position(|&b| b == 0).ok_or(ParseError::Unterminated)?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, ParseError> {
    let (filename, rest) = take_field(body)?;
    let (mode, rest) = take_field(rest)?;
    let mode = Mode::parse(mode).ok_or(ParseError::UnknownMode)?;
    // Some clients pad requests with NULs or send a broken option list; RFC 2347 lets a
    // server ignore options it cannot read, so a bad option list never loses the request.
    let options = parse_options(rest).unwrap_or_default();
    Ok(Request { filename: Cow::Borrowed(filename), mode, options })
}

fn parse_options(mut bytes: &[u8]) -> Result<Vec<TftpOption<'_>>, ParseError> {
    let mut options = Vec::new();
    while !bytes.is_empty() {
        if bytes.iter().all(|&b| b == 0) {
            break;
        }
        let (name, rest) = take_field(bytes)?;
        if rest.is_empty() {
            return Err(ParseError::DanglingOption);
        }
        let (value, rest) = take_field(rest)?;
        let name = std::str::from_utf8(name).map_err(|_| ParseError::OptionNotText)?;
        let value = std::str::from_utf8(value).map_err(|_| ParseError::OptionNotText)?;
        options.push(TftpOption::new(name, value));
        bytes = rest;
    }
    Ok(options)
}

fn options_len(options: &[TftpOption<'_>]) -> usize {
    options.iter().map(|o| o.name.len() + 1 + o.value.len() + 1).sum()
}

fn emit_options(options: &[TftpOption<'_>], out: &mut Vec<u8>) {
    for option in options {
        out.extend_from_slice(option.name.as_bytes());
        out.push(0);
        out.extend_from_slice(option.value.as_bytes());
        out.push(0);
    }
}

fn emit_request(op: u16, request: &Request<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&request.filename);
    out.push(0);
    out.extend_from_slice(request.mode.as_str().as_bytes());
    out.push(0);
    emit_options(&request.options, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_request_with_options_from_curl() {
        let bytes = b"\x00\x01firmware.bin\x00octet\x00tsize\x000\x00blksize\x001468\x00timeout\x006\x00";
        let packet = Packet::parse(bytes).unwrap();
        let Packet::ReadRequest(request) = &packet else { panic!("not an RRQ: {packet:?}") };
        assert_eq!(&*request.filename, b"firmware.bin");
        assert_eq!(request.mode, Mode::Octet);
        let names: Vec<_> = request.options.iter().map(|o| (&*o.name, &*o.value)).collect();
        assert_eq!(names, [("tsize", "0"), ("blksize", "1468"), ("timeout", "6")]);
        assert_eq!(packet.to_bytes(), bytes);
    }

    #[test]
    fn mode_is_case_insensitive() {
        let packet = Packet::parse(b"\x00\x02a\x00NetASCII\x00").unwrap();
        assert!(matches!(packet, Packet::WriteRequest(Request { mode: Mode::Netascii, .. })));
    }

    #[test]
    fn request_without_terminated_mode_is_refused() {
        assert_eq!(Packet::parse(b"\x00\x01a\x00octet"), Err(ParseError::Unterminated));
        assert_eq!(Packet::parse(b"\x00\x01a\x00binary\x00"), Err(ParseError::UnknownMode));
    }

    #[test]
    fn broken_option_list_keeps_the_request() {
        let packet = Packet::parse(b"\x00\x01a\x00octet\x00blksize\x00").unwrap();
        let Packet::ReadRequest(request) = packet else { panic!() };
        assert!(request.options.is_empty());
    }

    #[test]
    fn request_padded_with_nuls_is_accepted() {
        let packet = Packet::parse(b"\x00\x01a\x00octet\x00\x00\x00\x00").unwrap();
        assert!(matches!(packet, Packet::ReadRequest(_)));
    }

    #[test]
    fn data_ack_error_oack_fixtures() {
        let fixtures: [(&[u8], Packet<'_>); 4] = [
            (b"\x00\x03\xff\xfehello", Packet::Data { block: 0xfffe, data: Cow::Borrowed(b"hello") }),
            (b"\x00\x04\x00\x00", Packet::Ack { block: 0 }),
            (b"\x00\x05\x00\x01no such file\x00", Packet::error(ErrorCode::FileNotFound, "no such file")),
            (b"\x00\x06blksize\x001468\x00", Packet::OptionAck(vec![TftpOption::new("blksize", "1468")])),
        ];
        for (bytes, packet) in fixtures {
            assert_eq!(Packet::parse(bytes).as_ref(), Ok(&packet));
            assert_eq!(packet.to_bytes(), bytes);
            assert_eq!(packet.buffer_len(), bytes.len());
        }
    }

    #[test]
    fn error_without_final_nul_is_accepted() {
        let packet = Packet::parse(b"\x00\x05\x00\x08tsize only").unwrap();
        assert_eq!(packet, Packet::error(ErrorCode::OptionsRefused, "tsize only"));
    }

    #[test]
    fn short_and_unknown_packets_are_errors() {
        assert_eq!(Packet::parse(b""), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x03\x00"), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00\x09"), Err(ParseError::UnknownOpcode(9)));
    }

    #[test]
    fn data_header_matches_emitted_data() {
        let packet = Packet::Data { block: 258, data: Cow::Borrowed(b"x") };
        assert_eq!(&packet.to_bytes()[..DATA_HEADER_LEN], &data_header(258));
    }

    #[test]
    fn nul_in_error_message_is_dropped() {
        let bytes = Packet::error(ErrorCode::NotDefined, "a\0b").to_bytes();
        assert_eq!(bytes, b"\x00\x05\x00\x00ab\x00");
    }
}
