//! Socket creation by plain syscalls (socket, setsockopt) and the stable sockaddr a connect
//! operation points at. Owns nothing after it returns; must not touch the ring.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};

/// A C socket address for IPv4 or IPv6, boxed by the caller so its address is stable until the
/// connect operation's final completion.
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) union SockAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl SockAddr {
    /// Converts `addr`, returning the C address and its length.
    pub(super) fn new(addr: &SocketAddr) -> (SockAddr, libc::socklen_t) {
        match addr {
            SocketAddr::V4(a) => (
                SockAddr {
                    v4: libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: a.port().to_be(),
                        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                        sin_zero: [0; 8],
                    },
                },
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            SocketAddr::V6(a) => (
                SockAddr {
                    v6: libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as libc::sa_family_t,
                        sin6_port: a.port().to_be(),
                        sin6_flowinfo: a.flowinfo(),
                        sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                        sin6_scope_id: a.scope_id(),
                    },
                },
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }

    /// Pointer for the kernel; valid as long as `self` is not moved or dropped.
    pub(super) fn as_ptr(&self) -> *const libc::sockaddr {
        (self as *const SockAddr).cast()
    }
}

/// Socket buffer sizes to ask the kernel for (`SO_SNDBUF`, `SO_RCVBUF`); `None` leaves the
/// kernel's default, with its autotuning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketBuffers {
    pub send: Option<usize>,
    pub receive: Option<usize>,
}

/// Sets an int-valued socket option.
fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a live local c_int and its exact size; the fd is open (the
    // caller owns it for the duration of the call).
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            level,
            name,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads an int-valued socket option (for tests).
#[cfg(test)]
pub(super) fn get_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; `len` holds the exact size of `value`, which
    // the kernel writes at most; the fd is open for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            level,
            name,
            (&mut value as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Creates a blocking-mode TCP socket (io_uring never blocks the thread on it) with
/// `SOCK_CLOEXEC`, `TCP_NODELAY` and the buffer sizes asked for.
pub(super) fn tcp_socket(addr: &SocketAddr, buffers: SocketBuffers) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket takes no pointers; the arguments are valid constants.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(), is open, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(&fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    let clamp = |n: usize| n.min(libc::c_int::MAX as usize) as libc::c_int;
    if let Some(n) = buffers.send {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, clamp(n))?;
    }
    if let Some(n) = buffers.receive {
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, clamp(n))?;
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes_are_asked_for_only_when_set() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let default = tcp_socket(&addr, SocketBuffers::default()).unwrap();
        let sized = tcp_socket(&addr, SocketBuffers { send: Some(200_000), receive: Some(50_000) }).unwrap();
        let get = |fd: &OwnedFd, name| get_int(fd, libc::SOL_SOCKET, name).unwrap() as usize;
        // Linux doubles what it is given (for its own bookkeeping) and reports that.
        assert_eq!(get(&sized, libc::SO_SNDBUF), 400_000);
        assert_eq!(get(&sized, libc::SO_RCVBUF), 100_000);
        assert_ne!(get(&default, libc::SO_SNDBUF), 400_000);
        assert_eq!(get_int(&sized, libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap(), 1);
    }
}
