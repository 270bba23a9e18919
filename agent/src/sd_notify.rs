//! Readiness for the service manager: systemd's sd_notify protocol, one datagram to the Unix
//! socket `$NOTIFY_SOCKET` names (a path, or an abstract name after `@`). Without
//! `$NOTIFY_SOCKET` (not started by systemd with `Type=notify`) nothing is sent.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// The variable systemd sets to the socket it listens on for a `Type=notify` service.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// What a daemon tells the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Started up and serving (or done reloading).
    Ready,
    /// Reloading its configuration (a `Ready` follows when done).
    Reloading,
    /// Shutting down.
    Stopping,
}

impl Notice {
    /// The protocol's message for this notice.
    pub fn message(self) -> &'static str {
        match self {
            Self::Ready => "READY=1",
            Self::Reloading => "RELOADING=1",
            Self::Stopping => "STOPPING=1",
        }
    }
}

/// Tells the service manager `notice` when `$NOTIFY_SOCKET` is set; a failure to send is
/// logged (the daemon runs on either way).
pub fn notify(notice: Notice) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    let socket = Path::new(&socket);
    if let Err(e) = send_to(socket, notice) {
        let message = notice.message();
        let socket = socket.display();
        tracing::warn!(error = %e, %socket, message, "cannot notify the service manager");
    }
}

/// Sends `notice` to the socket at `socket` (`@name`: the abstract name `name`).
fn send_to(socket: &Path, notice: Notice) -> io::Result<()> {
    let bytes = socket.as_os_str().as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(socket)?,
    };
    let sender = UnixDatagram::unbound()?;
    let sent = sender.send_to_addr(notice.message().as_bytes(), &addr)?;
    if sent != notice.message().len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the notification was cut short",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn a_socket_path_receives_each_notice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        for notice in [
            Notice::Ready,
            Notice::Reloading,
            Notice::Ready,
            Notice::Stopping,
        ] {
            send_to(&path, notice).unwrap();
            assert_eq!(received(&listener), notice.message());
        }
    }

    #[test]
    fn an_abstract_name_receives_ready() {
        let name = format!("cvlan-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(Path::new(&format!("@{name}")), Notice::Ready).unwrap();
        assert_eq!(received(&listener), "READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = send_to(&dir.path().join("absent.sock"), Notice::Ready).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
