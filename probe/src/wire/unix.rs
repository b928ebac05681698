//! The Unix socket: its private directory, its path for a pid, who may connect, and stale
//! sockets left by killed apps (recognised, listed and removed).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::WireError;
use super::hello::{Notice, NoticeCode};

/// The directory a server of this user listens in by default: `$XDG_RUNTIME_DIR/tokmon`, or
/// `$TMPDIR/tokmon-<uid>` where `XDG_RUNTIME_DIR` is unset (or not absolute).
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime.join("tokmon"),
        _ => tmp_dir(&std::env::temp_dir(), uid()),
    }
}

/// Every directory this user's servers may listen in by default, for listing them: the one of
/// [`default_dir`] and the temporary directory's, since a service without a login session has
/// no `XDG_RUNTIME_DIR` while a program started from a shell has one.
pub fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![default_dir()];
    let tmp = tmp_dir(&std::env::temp_dir(), uid());
    if !dirs.contains(&tmp) {
        dirs.push(tmp);
    }
    dirs
}

/// The per-user directory under a temporary directory.
pub fn tmp_dir(tmp: &Path, uid: u32) -> PathBuf {
    tmp.join(format!("tokmon-{uid}"))
}

/// The socket path of the server of process `pid` in `dir`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

/// A socket path inside process `pid`'s view of the file system, as seen from outside through
/// `/proc/<pid>/root`: a service with a private `/tmp` is reachable this way by its user or root.
pub fn path_from_outside(pid: u32, inside: &Path) -> PathBuf {
    let relative = inside.strip_prefix("/").unwrap_or(inside);
    PathBuf::from(format!("/proc/{pid}/root")).join(relative)
}

/// Where process `pid`'s server may listen, seen from here: the runtime directory of its user,
/// then its `/tmp/tokmon-<uid>` through `/proc/<pid>/root` (its own `TMPDIR` is not known here;
/// `/tmp` is the default). Candidates only: try them in order.
pub fn candidate_paths(pid: u32) -> Vec<PathBuf> {
    let owner = fs::metadata(format!("/proc/{pid}")).map_or_else(|_| uid(), |m| m.uid());
    let mut paths = Vec::new();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && owner == uid()
    {
        paths.push(socket_path(&runtime.join("tokmon"), pid));
    }
    paths.push(socket_path(
        &PathBuf::from(format!("/run/user/{owner}/tokmon")),
        pid,
    ));
    let tmp = tmp_dir(Path::new("/tmp"), owner);
    paths.push(path_from_outside(pid, &socket_path(&tmp, pid)));
    paths.dedup();
    paths
}

/// This process's effective uid.
pub(crate) fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Creates `dir` with mode 0700 if it does not exist, or checks that it is a directory (not a
/// symbolic link) of this user with no permission for anyone else.
///
/// # Errors
///
/// [`WireError::UnsafeDir`] saying what is wrong, or the file system's error.
pub fn prepare_dir(dir: &Path) -> Result<(), WireError> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(WireError::UnsafeDir {
                dir: dir.to_owned(),
                problem: format!("cannot create it: {e}"),
            });
        }
    }
    check_dir(dir)
}

/// Checks that `dir` is a directory of this user, mode 0700 or stricter.
///
/// # Errors
///
/// [`WireError::UnsafeDir`] saying what is wrong.
pub fn check_dir(dir: &Path) -> Result<(), WireError> {
    let unsafe_dir = |problem: String| WireError::UnsafeDir {
        dir: dir.to_owned(),
        problem,
    };
    let meta = fs::symlink_metadata(dir).map_err(|e| unsafe_dir(format!("cannot read it: {e}")))?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("it is a symbolic link; remove it".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory; remove it".into()));
    }
    let me = uid();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "it is owned by uid {}, not by this process's uid {me}; remove it or choose another \
             directory",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "its mode {mode:04o} lets other users in; it must be 0700 (chmod 700 it)"
        )));
    }
    Ok(())
}

/// A bound socket file, removed when dropped if it is still the one this server bound.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Only the file this server bound: a successor with the same pid (after a fork, say) may
        // have replaced it.
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Binds `<dir>/<pid>.sock` in a checked directory, with mode 0600, after removing a stale
/// socket of the same name.
pub(crate) fn bind(dir: &Path, pid: u32) -> Result<(UnixListener, SocketFile), WireError> {
    prepare_dir(dir)?;
    let path = socket_path(dir, pid);
    if fs::symlink_metadata(&path).is_ok() {
        if !stale(&path) {
            return Err(WireError::InUse(path));
        }
        fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    // The directory already keeps others out; the mode is a second fence. Between bind and
    // chmod the socket has the umask's mode, inside that 0700 directory.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    let meta = fs::symlink_metadata(&path)?;
    let file = SocketFile {
        path,
        dev: meta.dev(),
        ino: meta.ino(),
    };
    Ok((listener, file))
}

/// Whether a peer may attach: the same uid as this process, or root.
pub(crate) fn check_peer(stream: &UnixStream) -> Result<String, Notice> {
    let cred = rustix::net::sockopt::socket_peercred(stream).map_err(|e| {
        Notice::new(
            NoticeCode::PeerNotAllowed,
            format!("the peer's credentials are unreadable: {e}"),
        )
    })?;
    let (peer, me) = (cred.uid.as_raw(), uid());
    if peer != me && peer != 0 {
        return Err(Notice::new(
            NoticeCode::PeerNotAllowed,
            format!(
                "uid {peer} may not attach to this process of uid {me} (only uid {me} or root)"
            ),
        ));
    }
    Ok(format!("pid {} uid {peer}", cred.pid.as_raw_nonzero()))
}

/// The pid in a socket's file name (`<pid>.sock`).
pub fn pid_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".sock")?.parse().ok()
}

/// Whether a socket file was left by a server that is gone: the pid in its name is dead, or
/// nothing listens on it (connecting is refused). A socket of a live server, or one this process
/// may not connect to, is not stale.
pub fn stale(path: &Path) -> bool {
    if let Some(pid) = pid_of(path)
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        return true;
    }
    connect_refused(path)
}

/// Tries a non-blocking connection: a live server whose backlog is full makes a blocking
/// connect wait, and listing sockets must not hang on one stuck app.
fn connect_refused(path: &Path) -> bool {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let Ok(addr) = SocketAddrUnix::new(path) else {
        return false;
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let Ok(socket) = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None)
    else {
        return false;
    };
    rustix::net::connect(&socket, &addr) == Err(rustix::io::Errno::CONNREFUSED)
}

/// A server socket found by [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachable {
    /// The process id in its name.
    pub pid: u32,
    /// The socket.
    pub path: PathBuf,
    /// Whether a server listens on it. A dead one has been removed (if this user could).
    pub alive: bool,
}

/// The server sockets in `dirs` (see [`default_dirs`]), by pid; stale ones are removed.
/// Missing or unreadable directories are skipped.
pub fn list(dirs: &[PathBuf]) -> Vec<Attachable> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(pid) = pid_of(&path) else {
                continue;
            };
            if !entry.file_type().is_ok_and(|t| t.is_socket()) {
                continue;
            }
            let alive = !stale(&path);
            if !alive {
                let _ = fs::remove_file(&path);
            }
            found.push(Attachable { pid, path, alive });
        }
    }
    found.sort_by(|a, b| (a.pid, &a.path).cmp(&(b.pid, &b.path)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_pid() {
        let path = socket_path(Path::new("/run/user/1000/tokmon"), 4242);
        assert_eq!(path, Path::new("/run/user/1000/tokmon/4242.sock"));
        assert_eq!(pid_of(&path), Some(4242));
        assert_eq!(pid_of(Path::new("/x/notes.txt")), None);
        assert_eq!(
            path_from_outside(7, Path::new("/tmp/tokmon-0/7.sock")),
            Path::new("/proc/7/root/tmp/tokmon-0/7.sock")
        );
        assert_eq!(
            tmp_dir(Path::new("/tmp"), 1000),
            Path::new("/tmp/tokmon-1000")
        );
    }
}
