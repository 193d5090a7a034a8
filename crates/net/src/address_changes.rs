//! Word from the kernel that an interface or an address of this network namespace changed: the
//! netlink multicast groups of links and of IPv4 and IPv6 addresses, as `ip monitor` hears them.
//!
//! It says only that something changed, not what: whoever listens lists the addresses again
//! (`interfaces`, `usable_ipv6_addresses`). An IPv6 address is reported when it is added and
//! again when duplicate address detection ends, so the second report finds it usable.
//!
//! **Invariant:** read-only: it subscribes and never sends a request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt as _};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK};
use rtnetlink::sys::{AsyncSocket as _, SocketAddr};
use tokio::task::JoinHandle;

/// A stream with an item for each notification of a changed link or address. It ends if the
/// kernel drops the subscription (its socket failed); a listener then has to look by itself.
pub struct AddressChanges {
    notifications: BoxStream<'static, ()>,
    /// The task reading the netlink socket, stopped with the stream.
    connection: JoinHandle<()>,
}

impl AddressChanges {
    /// Subscribe to the changes of this network namespace (the caller's when it is called).
    pub fn subscribe() -> io::Result<AddressChanges> {
        let (mut connection, _requests, notifications) = rtnetlink::new_connection()?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        connection.socket_mut().socket_mut().bind(&SocketAddr::new(0, groups))?;
        let notifications = notifications.map(drop).boxed();
        Ok(AddressChanges { notifications, connection: tokio::spawn(connection) })
    }
}

impl Stream for AddressChanges {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.notifications.poll_next_unpin(cx)
    }
}

impl std::fmt::Debug for AddressChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressChanges")
    }
}

impl Drop for AddressChanges {
    fn drop(&mut self) {
        self.connection.abort();
    }
}
