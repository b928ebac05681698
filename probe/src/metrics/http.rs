//! The exporter's HTTP side: one std thread of its own that answers `GET /metrics`, one
//! connection at a time, with read and write timeouts, so a slow or silent scraper delays only
//! other scrapes, never the probe's monitor, and never runs on the app's runtime.
//!
//! Requests are parsed with `httparse`. An HTTP server crate was not taken: tiny_http, the
//! small one, starts a thread for every connection open at once, without bound, and sets no
//! timeouts; a scrape endpoint needs neither more threads nor keep-alive.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::registry::Registry;

use super::encode::{self, Format, Target};
use crate::Probe;

/// How long a scraper may take to send its request, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the thread rests after an accept that failed (out of file descriptors and the
/// like), rather than spin.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How long dropping the exporter waits to wake its thread before leaving it be.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest request head read: a scraper's request is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// A running exporter; dropping it stops its thread and closes its socket.
#[derive(Debug)]
pub struct Exporter {
    addr: SocketAddr,
    target: Target,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Serves `probe`'s counters at `http://ADDR/metrics` from a thread of its own. Port 0
    /// picks a free port: [`local_addr`](Self::local_addr) says which. The counters are the
    /// ones the probe's monitor keeps: a probe whose monitor does not run serves zeros.
    pub fn start(probe: Arc<Probe>, addr: SocketAddr) -> io::Result<Exporter> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let target = Target::new(probe);
        let registry = encode::registry(target.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("tokmon-probe-metrics".into())
            .spawn({
                let stop = stop.clone();
                move || run(&listener, &registry, &stop)
            })?;
        Ok(Exporter {
            addr,
            target,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves another probe's counters from the next scrape on (a new runtime in place of the
    /// old one); its counters start from zero, which Prometheus takes as a reset.
    pub fn follow(&self, probe: Arc<Probe>) {
        self.target.set(probe);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // The thread waits in `accept`, answering at once when a scrape comes: a connection of
        // our own wakes it to see the flag. Unwoken, it is left to end with the process rather
        // than hold up whoever drops it.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let woken = TcpStream::connect_timeout(&wake, WAKE_TIMEOUT).is_ok();
        if let Some(thread) = self.thread.take().filter(|_| woken) {
            // It ends within a scrape's timeouts; its panic is no concern of the app's.
            let _ = thread.join();
        }
    }
}

fn run(listener: &TcpListener, registry: &Registry, stop: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            // A scraper that misbehaves loses its own answer, nothing else.
            Ok((stream, _)) => drop(answer(stream, registry)),
            Err(_) => std::thread::sleep(RETRY_AFTER),
        }
    }
}

/// Reads one request and answers it, then closes the connection.
fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let Some(request) = read_head(&mut stream)? else {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
        );
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    if !matches!(parsed.parse(&request), Ok(httparse::Status::Complete(_))) {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
        );
    }
    let path = parsed.path.unwrap_or("/");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match (parsed.method, path) {
        (Some("GET" | "HEAD"), "/metrics") => {
            let accept = parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("accept"))
                .and_then(|h| std::str::from_utf8(h.value).ok());
            let format = Format::from_accept(accept);
            match encode::expose(registry, format) {
                Ok(body) if parsed.method == Some("HEAD") => {
                    respond_head(&mut stream, format.content_type(), body.len())
                }
                Ok(body) => respond(
                    &mut stream,
                    "200 OK",
                    format.content_type(),
                    body.as_bytes(),
                ),
                Err(_) => respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    b"the exposition could not be encoded\n",
                ),
            }
        }
        (Some("GET" | "HEAD"), _) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"tokmon-probe serves its metrics at /metrics\n",
        ),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET /metrics\n",
        ),
    }
}

/// The request's head (up to the blank line), `None` if it is too long or never ends.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn respond_head(stream: &mut TcpStream, content_type: &str, len: usize) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("sends");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reads");
        answer
    }

    #[test]
    fn serves_metrics_and_nothing_else() {
        let probe = Probe::builder().serve(false).build();
        let exporter = Exporter::start(probe, "127.0.0.1:0".parse().expect("addr")).expect("binds");
        let addr = exporter.local_addr();
        let om = get(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
        );
        assert!(om.starts_with("HTTP/1.1 200 OK\r\n"), "{om}");
        assert!(
            om.contains("Content-Type: application/openmetrics-text"),
            "{om}"
        );
        assert!(
            om.contains("# TYPE tokmon_poll_running_seconds gauge"),
            "{om}"
        );
        assert!(om.trim_end().ends_with("# EOF"), "{om}");
        let plain = get(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(
            plain.contains("Content-Type: text/plain; version=0.0.4"),
            "{plain}"
        );
        assert!(get(addr, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(get(addr, "nonsense\r\n\r\n").starts_with("HTTP/1.1 400"));
    }

    #[test]
    fn a_silent_scraper_is_cut_off_and_the_next_one_served() {
        let probe = Probe::builder().serve(false).build();
        let exporter = Exporter::start(probe, "127.0.0.1:0".parse().expect("addr")).expect("binds");
        let addr = exporter.local_addr();
        // Connects and says nothing: the thread waits for it at most the read timeout.
        let _silent = TcpStream::connect(addr).expect("connects");
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let answer = get(addr, "GET /metrics HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Wide margin for a loaded machine; without the timeout it would never come.
        assert!(
            started.elapsed() < IO_TIMEOUT * 10,
            "{:?}",
            started.elapsed()
        );
        drop(exporter);
        assert!(
            TcpStream::connect(addr).is_err(),
            "the socket closes with the exporter"
        );
    }
}
