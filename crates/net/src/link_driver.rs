//! Which driver runs a network interface (`veth`, `macvlan`, `ipvlan`, `bridge`, `e1000e`), as
//! `ethtool -i` shows it: how lifeboat tells that it sits behind a container bridge (its
//! interface is one end of a veth pair) rather than on macvlan or the host's network.
//!
//! The ethtool ioctl is the only interface for this short of a netlink stack; sysfs does not
//! show a virtual interface's kind.

use std::ffi::CStr;
use std::io;
use std::os::fd::AsRawFd as _;

use socket2::{Domain, Socket, Type};

/// `ETHTOOL_GDRVINFO` from `<linux/ethtool.h>`: get driver information.
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// `struct ethtool_drvinfo` from `<linux/ethtool.h>` (the `libc` crate does not have it).
#[repr(C)]
struct DriverInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// The driver of the interface `name`, in the caller's network namespace.
pub fn link_driver(name: &str) -> io::Result<String> {
    let mut request: libc::ifreq = zeroed_ifreq();
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= request.ifr_name.len() || bytes.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is no interface name")));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    let mut info = DriverInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        version: [0; 32],
        fw_version: [0; 32],
        bus_info: [0; 32],
        erom_version: [0; 32],
        reserved2: [0; 12],
        n_priv_flags: 0,
        n_stats: 0,
        testinfo_len: 0,
        eedump_len: 0,
        regdump_len: 0,
    };
    request.ifr_ifru.ifru_data = (&raw mut info).cast::<libc::c_char>();
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    // SAFETY: `request` is a zero-initialised `ifreq` naming the interface (NUL-terminated, as
    // checked above) whose data pointer points at `info`, an `ethtool_drvinfo` with `cmd` set,
    // which outlives the call; SIOCETHTOOL with ETHTOOL_GDRVINFO writes at most that struct.
    #[allow(unsafe_code)]
    let result = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &raw mut request) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    let driver = CStr::from_bytes_until_nul(&info.driver)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the driver's name is not terminated"))?;
    Ok(driver.to_string_lossy().into_owned())
}

fn zeroed_ifreq() -> libc::ifreq {
    libc::ifreq {
        ifr_name: [0; libc::IFNAMSIZ],
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_data: std::ptr::null_mut() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_no_driver_information_and_bad_names_are_refused() {
        // Loopback implements no ethtool driver information: an error, not a made-up name.
        assert!(link_driver("lo").is_err());
        assert_eq!(link_driver("").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(link_driver("a-name-far-too-long").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
