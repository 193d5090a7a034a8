//! What a request needs before any data moves: the mode check, the file found (through the
//! observer's substitutes, aliases and the root's rules) or the upload begun, and the options
//! negotiated into a core state machine. A request that cannot run gets a [`Refused`]: the
//! error the client hears (no server paths in it) and the line the log shows.
//!
//! Blocking (it opens files; a netascii read scans its file once to learn the converted length).
//! The event loop that will run the transfer calls it: see `event_loop.rs` for why that is
//! acceptable.

use std::net::SocketAddr;
use std::path::PathBuf;

use lifeboat_tftp::{
    Direction, Mode, Packet, Receiver, Refusal, Request, SERVER_DALLY, Sender, negotiate, policy, refuse_mode,
    refuse_upload_size,
};

use crate::machine::Machine;
use crate::root::LookupError;
use crate::source::{NetasciiSource, Source};
use crate::tftp_server::Shared;
use crate::upload::{self, Upload, UploadError};

/// A request ready to run: its state machine, the file, and the size when known.
pub(crate) struct Prepared {
    pub(crate) machine: Machine,
    pub(crate) file: PathBuf,
    pub(crate) size: Option<u64>,
}

/// A request answered with an error before any data moved: what the core says to the client,
/// and what the log says.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) refusal: Refusal,
    /// What the log says (the client only hears the refusal's message, without server paths).
    pub(crate) detail: String,
}

impl Refused {
    fn new(refusal: Refusal, detail: impl Into<String>) -> Refused {
        Refused { refusal, detail: detail.into() }
    }

    /// A refusal whose log line is its message.
    fn plain(refusal: Refusal) -> Refused {
        let detail = refusal.message();
        Refused { refusal, detail }
    }

    pub(crate) fn log(&self, peer: SocketAddr, requested: &str, direction: Direction) {
        let what = direction;
        if matches!(self.refusal, Refusal::NotFound(_)) {
            tracing::warn!(%peer, "{what} of {requested:?}: file not found ({})", self.detail);
        } else {
            tracing::warn!(%peer, "{what} of {requested:?} refused: {}", self.detail);
        }
    }
}

/// Finds or creates the file and sets up the state machine. Blocking.
pub(crate) fn prepare(
    shared: &Shared,
    direction: Direction,
    peer: SocketAddr,
    request: &Request<'_>,
) -> Result<Prepared, Refused> {
    if let Some(refusal) = refuse_mode(request.mode) {
        return Err(Refused::plain(refusal));
    }
    let netascii = request.mode == Mode::Netascii;
    let config = &shared.config;
    match direction {
        Direction::Read => {
            let requested = String::from_utf8_lossy(&request.filename);
            let resolve = |path: &std::path::Path| shared.root.resolve(path.as_os_str().as_encoded_bytes());
            let path = match shared.observer.substitute(peer.ip(), &requested) {
                // Resolved like a requested name, so a substitute cannot leave the root either.
                Some(substitute) => resolve(&substitute),
                None => match shared.root.resolve(&request.filename) {
                    Err(LookupError::NotFound) if shared.root.may_stand_in(&request.filename) => {
                        match shared.observer.instead_of_missing(peer.ip(), &requested) {
                            Some(instead) => resolve(&instead),
                            None => Err(LookupError::NotFound),
                        }
                    }
                    found => found,
                },
            }
            .map_err(lookup_refusal)?;
            let unreadable = |e: std::io::Error| {
                Refused::new(Refusal::Denied("cannot read the file".into()), format!("{}: {e}", path.display()))
            };
            let file = shared.files.open(&path).map_err(unreadable)?;
            let source = if netascii {
                let window = config.limits.max_windowsize;
                Source::Netascii(NetasciiSource::new(file, window).map_err(unreadable)?)
            } else {
                Source::octet(file)
            };
            let negotiation = negotiate(&request.options, &config.limits, Direction::Read, Some(source.len()));
            let size = source.len();
            let sender = Sender::new(negotiation.params, size, negotiation.oack(), &config.timing);
            Ok(Prepared { machine: Machine::Send { sender, source }, file: path, size: Some(size) })
        }
        Direction::Write => {
            let Some(uploads) = &config.upload else {
                return Err(Refused::new(
                    Refusal::Denied("uploads are disabled".into()),
                    "uploads are disabled (start with --tftp-upload --tftp-upload-dir DIR)",
                ));
            };
            let relative =
                policy::normalize(&request.filename).map_err(|e| Refused::plain(Refusal::Denied(e.to_string())))?;
            if relative.components().iter().any(|part| upload::is_temp_name(part)) {
                let message = "names starting with .lifeboat-partial- are reserved for unfinished uploads";
                return Err(Refused::plain(Refusal::Denied(message.into())));
            }
            let negotiation = negotiate(&request.options, &config.limits, Direction::Write, None);
            if let Some(refusal) = refuse_upload_size(&negotiation, uploads.max_size) {
                return Err(Refused::plain(refusal));
            }
            let upload = Upload::begin(&uploads.dir, &relative, uploads.overwrite, netascii).map_err(|e| {
                let detail = e.to_string();
                match e {
                    UploadError::Exists => Refused::new(Refusal::Exists("a file of that name exists".into()), detail),
                    // I/O errors may name the path (tempfile's do): the log has them.
                    UploadError::Io(_) => Refused::new(Refusal::Denied("cannot write the file".into()), detail),
                    UploadError::NoSuchFolder | UploadError::OutsideDir => Refused::plain(Refusal::Denied(detail)),
                }
            })?;
            let target = upload.target().to_owned();
            let opening = negotiation.oack().unwrap_or(Packet::Ack { block: 0 });
            let receiver = Receiver::new(negotiation.params, Some(opening), Some(uploads.max_size), &config.timing)
                .dally(SERVER_DALLY);
            // An upload that announced its size must deliver exactly that (netascii sizes are
            // not exact: line ends change on the way).
            let receiver = match negotiation.announced_size {
                Some(size) if !netascii => receiver.expect_len(size),
                _ => receiver,
            };
            let size = negotiation.announced_size;
            Ok(Prepared { machine: Machine::Receive { receiver, sink: Some(upload) }, file: target, size })
        }
    }
}

fn lookup_refusal(error: LookupError) -> Refused {
    // The client hears the reason without any server path (dnsmasq leaks full paths here).
    let why = error.to_string();
    Refused::plain(match error {
        LookupError::NotFound | LookupError::NotAFile => Refusal::NotFound(why),
        _ => Refusal::Denied(why),
    })
}
