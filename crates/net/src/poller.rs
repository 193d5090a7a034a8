//! Readiness of many sockets for one thread: an epoll instance with a waker, so an event loop
//! can sleep until a socket has a datagram, a deadline passes, or another thread hands it work.
//!
//! **Level-triggered on purpose.** A descriptor with datagrams left is reported again by the
//! next wait, so a loop may take one datagram per socket and move on (fair to the others), and
//! never needs the extra receive that only says "nothing more" (`EAGAIN`), which
//! edge-triggered readiness (tokio's and mio's) costs on every event: one system call per
//! block of a lock-step transfer.
//!
//! Waits have the millisecond grain of `epoll_wait(2)`, rounded up: a loop never wakes before
//! the deadline it asked for, and at most a millisecond (and a kernel tick) after it.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

/// The token of the poller's own waker; never pass it to [`Poller::add`].
pub const WAKE_TOKEN: u64 = u64::MAX;

/// An epoll instance that reports readable descriptors by the token each was added with.
#[derive(Debug)]
pub struct Poller {
    epoll: Epoll,
    waker: Arc<EventFd>,
}

/// Wakes a [`Poller`]'s wait from any thread.
#[derive(Debug, Clone)]
pub struct Waker {
    waker: Arc<EventFd>,
}

impl Waker {
    /// Makes the current or the next wait return (with [`WAKE_TOKEN`] among the events).
    pub fn wake(&self) -> io::Result<()> {
        match self.waker.write(1) {
            // The counter is full: a wake is pending already.
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => Ok(()),
            Err(errno) => Err(errno.into()),
        }
    }
}

/// The tokens of the descriptors found ready by one wait.
#[derive(Debug)]
pub struct Events {
    events: Vec<EpollEvent>,
    len: usize,
}

impl Events {
    /// Room for up to `capacity` events per wait (more ready descriptors wait for the next one).
    pub fn with_capacity(capacity: usize) -> Events {
        Events { events: vec![EpollEvent::empty(); capacity.max(1)], len: 0 }
    }

    /// The tokens found ready, [`WAKE_TOKEN`] included when the poller was woken.
    pub fn tokens(&self) -> impl Iterator<Item = u64> + '_ {
        self.events[..self.len].iter().map(EpollEvent::data)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let waker = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(&waker, EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
        Ok(Poller { epoll, waker: Arc::new(waker) })
    }

    /// What another thread uses to wake this poller.
    pub fn waker(&self) -> Waker {
        Waker { waker: Arc::clone(&self.waker) }
    }

    /// Watches `fd` for datagrams to read, reported as `token`. Errors and hang-ups are
    /// reported too, so that the next receive can say what went wrong.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        debug_assert_ne!(token, WAKE_TOKEN, "the waker's token");
        Ok(self.epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))?)
    }

    /// Stops watching `fd` (closing it does too).
    pub fn remove(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(self.epoll.delete(fd)?)
    }

    /// Waits until a descriptor is ready, the poller is woken, or `timeout` has passed (`None`:
    /// no limit; zero: only looks). A wake is consumed here.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = match timeout {
            None => EpollTimeout::NONE,
            Some(wait) => {
                let millis = wait.as_nanos().div_ceil(1_000_000);
                EpollTimeout::try_from(millis).unwrap_or(EpollTimeout::MAX)
            }
        };
        events.len = 0;
        loop {
            match self.epoll.wait(&mut events.events, timeout) {
                Ok(len) => {
                    events.len = len;
                    break;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        if events.tokens().any(|token| token == WAKE_TOKEN) {
            // Non-blocking: a second thread that already read the count is no reason to wait.
            let _ = self.waker.read();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_readable_socket_is_reported_until_it_is_read() {
        let poller = Poller::new().unwrap();
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
        poller.add(&quiet, 1).unwrap();
        poller.add(&busy, 2).unwrap();
        let mut events = Events::with_capacity(8);
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty());
        quiet.send_to(b"x", busy.local_addr().unwrap()).unwrap();
        poller.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(events.tokens().collect::<Vec<_>>(), [2]);
        // Level-triggered: still there, still reported.
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.tokens().collect::<Vec<_>>(), [2]);
        busy.recv(&mut [0u8; 4]).unwrap();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty());
        poller.remove(&busy).unwrap();
    }

    #[test]
    fn a_wake_from_another_thread_ends_a_wait_and_wakes_pile_up_into_one() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(4);
        let waker = poller.waker();
        let other = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake().unwrap();
        });
        poller.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
        other.join().unwrap();
        assert_eq!(events.tokens().collect::<Vec<_>>(), [WAKE_TOKEN]);
        poller.waker().wake().unwrap();
        poller.waker().wake().unwrap();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.tokens().collect::<Vec<_>>(), [WAKE_TOKEN]);
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "both wakes were consumed by one wait");
    }

    #[test]
    fn a_timeout_is_never_cut_short() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(1);
        let start = Instant::now();
        poller.wait(&mut events, Some(Duration::from_micros(1_500))).unwrap();
        let waited = start.elapsed();
        assert!(events.is_empty());
        assert!(waited >= Duration::from_micros(1_500) && waited < Duration::from_secs(2), "{waited:?}");
    }
}
