//! Who holds a UDP port: the kernel's socket tables (`/proc/net/udp`, `/proc/net/udp6`) and the
//! process whose descriptor is that socket, read through the `procfs` crate.
//!
//! **Invariant:** read-only. Sockets of other users' processes are found only when the caller
//! may read their descriptors (root, or the same user); the socket is listed anyway, without
//! its process.

use std::io;
use std::net::SocketAddr;

use procfs::process::FDTarget;

/// A socket bound to the port, and the process holding it when that can be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    pub local: SocketAddr,
    /// The owner of the socket.
    pub uid: u32,
    pub pid: Option<i32>,
    /// The process's command name (`in.tftpd`, `dnsmasq`, `lifeboat`).
    pub command: Option<String>,
}

/// The sockets of this network namespace bound to UDP `port`.
pub fn udp_port_holders(port: u16) -> io::Result<Vec<PortHolder>> {
    let mut entries = procfs::net::udp().map_err(io::Error::other)?;
    // A machine without IPv6 has no udp6 table.
    entries.extend(procfs::net::udp6().unwrap_or_default());
    let mut holders: Vec<(u64, PortHolder)> = entries
        .into_iter()
        .filter(|e| e.local_address.port() == port)
        .map(|e| (e.inode, PortHolder { local: e.local_address, uid: e.uid, pid: None, command: None }))
        .collect();
    if holders.is_empty() {
        return Ok(Vec::new());
    }
    for process in procfs::process::all_processes().map_err(io::Error::other)?.flatten() {
        let Ok(fds) = process.fd() else { continue };
        for fd in fds.flatten() {
            let FDTarget::Socket(inode) = fd.target else { continue };
            if let Some((_, holder)) = holders.iter_mut().find(|(i, h)| *i == inode && h.pid.is_none()) {
                holder.pid = Some(process.pid);
                holder.command = process.stat().ok().map(|s| s.comm);
            }
        }
    }
    Ok(holders.into_iter().map(|(_, h)| h).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_socket_is_found_with_this_process() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let holders = udp_port_holders(port).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(holders.iter().any(|h| h.pid == Some(me) && h.local.port() == port), "{holders:?}");
        drop(socket);
        assert!(udp_port_holders(port).unwrap().is_empty());
    }
}
