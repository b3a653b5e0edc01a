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

/// Creates a blocking-mode TCP socket (io_uring never blocks the thread on it) with
/// `SOCK_CLOEXEC` and `TCP_NODELAY`.
pub(super) fn tcp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
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
    let one: libc::c_int = 1;
    // SAFETY: passes a pointer to a live local c_int and its exact size; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
