//! TCP, only on request: the loopback check, the random token a client must present, and the
//! token's file.

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::WireError;

/// Bytes of randomness in a token (written as twice as many hex digits).
pub const TOKEN_BYTES: usize = 16;

/// A fresh token: 32 hex digits from the kernel's random source (getrandom(2)).
///
/// # Errors
///
/// [`WireError::Io`] if the random source fails.
pub fn new_token() -> Result<String, WireError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether a presented token is the server's, comparing every byte whatever the first
/// difference, so that the time taken says nothing about how much of it was right.
pub(crate) fn token_matches(expected: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a non-loopback address unless allowed.
pub(crate) fn check_addr(addr: SocketAddr, allow_non_loopback: bool) -> Result<(), WireError> {
    if addr.ip().is_loopback() || allow_non_loopback {
        Ok(())
    } else {
        Err(WireError::NotLoopback(addr))
    }
}

/// Writes the token to a new file of mode 0600 (replacing an older file of that name).
pub(crate) fn write_token_file(path: &Path, token: &str) -> Result<(), WireError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    // create_new: the mode applies to a file this call creates, never to one swapped in since.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{token}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_hex_digits_and_differ() {
        let (a, b) = (new_token().expect("random"), new_token().expect("random"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(token_matches(&a, Some(&a)));
        assert!(!token_matches(&a, Some(&b)));
        assert!(!token_matches(&a, Some(&a[..31])));
        assert!(!token_matches(&a, None));
    }

    #[test]
    fn only_loopback_unless_allowed() {
        let lan: SocketAddr = "192.168.1.2:7000".parse().expect("address");
        assert!(check_addr("127.0.0.1:0".parse().expect("address"), false).is_ok());
        assert!(check_addr("[::1]:0".parse().expect("address"), false).is_ok());
        assert!(matches!(
            check_addr(lan, false),
            Err(WireError::NotLoopback(_))
        ));
        assert!(check_addr(lan, true).is_ok());
    }
}
