//! The netlink connection of `claimed_addresses.rs` and `ipv6_addresses.rs`, and its errors.

use std::io;

use rtnetlink::Handle;

/// A netlink connection, its driver spawned on the runtime; it ends with the last handle.
pub(crate) fn connect() -> io::Result<Handle> {
    let (connection, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(connection);
    Ok(handle)
}

/// A netlink error as the `io::Error` of its errno (EPERM reads "Operation not permitted").
pub(crate) fn netlink_error(error: rtnetlink::Error) -> io::Error {
    match error {
        rtnetlink::Error::NetlinkError(message) => message
            .code
            .map_or_else(|| io::Error::other("netlink error"), |code| io::Error::from_raw_os_error(-code.get())),
        other => io::Error::other(other.to_string()),
    }
}
