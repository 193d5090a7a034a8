//! Why a server turns a request down before any data moves, and what the client is told: the
//! RFC 1350 error code and the message. The driver finds out what is wrong (the file is
//! missing, uploads are off); which code that is, and which requests are refused whatever the
//! files say, is decided here.
//!
//! **Invariant:** a message is for the client: it names no server path and no command-line
//! flag (the driver's log says those).

use crate::options::Negotiation;
use crate::wire::{ErrorCode, Mode};

/// A request refused before any data moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Mode `mail`: obsolete since RFC 1350 and never served.
    MailMode,
    /// No such file, or not a regular file.
    NotFound(String),
    /// The request may not be served: outside the served folder, unreadable, a reserved name,
    /// uploads turned off.
    Denied(String),
    /// An upload of a file that exists, and replacing is off.
    Exists(String),
    /// An upload announced (`tsize`) as larger than the limit.
    TooLarge { limit: u64 },
}

impl Refusal {
    /// The ERROR packet's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::MailMode => ErrorCode::IllegalOperation,
            Refusal::NotFound(_) => ErrorCode::FileNotFound,
            Refusal::Denied(_) => ErrorCode::AccessViolation,
            Refusal::Exists(_) => ErrorCode::FileExists,
            Refusal::TooLarge { .. } => ErrorCode::DiskFull,
        }
    }

    /// The ERROR packet's message.
    pub fn message(&self) -> String {
        match self {
            Refusal::MailMode => "mail mode is not supported".to_owned(),
            Refusal::NotFound(why) | Refusal::Denied(why) | Refusal::Exists(why) => why.clone(),
            Refusal::TooLarge { limit } => format!("the file is larger than the upload limit of {limit} bytes"),
        }
    }
}

/// A request in a mode no server serves.
pub fn refuse_mode(mode: Mode) -> Option<Refusal> {
    (mode == Mode::Mail).then_some(Refusal::MailMode)
}

/// A write whose announced size (`tsize`, in `negotiation`) is over `limit`: refused at once,
/// rather than after the limit's worth of data.
pub fn refuse_upload_size(negotiation: &Negotiation, limit: u64) -> Option<Refusal> {
    negotiation.announced_size.filter(|size| *size > limit).map(|_| Refusal::TooLarge { limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_rfc_1350_code() {
        let cases = [
            (Refusal::MailMode, ErrorCode::IllegalOperation),
            (Refusal::NotFound("no such file".into()), ErrorCode::FileNotFound),
            (Refusal::Denied("uploads are disabled".into()), ErrorCode::AccessViolation),
            (Refusal::Exists("a file of that name exists".into()), ErrorCode::FileExists),
            (Refusal::TooLarge { limit: 10 }, ErrorCode::DiskFull),
        ];
        for (refusal, code) in cases {
            assert_eq!(refusal.code(), code, "{refusal:?}");
            assert!(!refusal.message().contains("--"), "no flags on the wire: {}", refusal.message());
        }
    }

    #[test]
    fn mail_mode_and_oversized_uploads_are_refused_whatever_the_files_say() {
        assert_eq!(refuse_mode(Mode::Mail), Some(Refusal::MailMode));
        assert_eq!(refuse_mode(Mode::Octet), None);
        let announced = |size| Negotiation { announced_size: size, ..Negotiation::default() };
        assert_eq!(refuse_upload_size(&announced(Some(11)), 10), Some(Refusal::TooLarge { limit: 10 }));
        assert_eq!(refuse_upload_size(&announced(Some(10)), 10), None);
        assert_eq!(refuse_upload_size(&announced(None), 10), None, "an unannounced size is checked as it arrives");
    }
}
