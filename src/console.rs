//! `--console`: console-subscriber served next to tokmon, so `tokio-console` can attach to the
//! measured runtime for per-task drill-down while tokmon shows the workers and the stalls.
//!
//! Nothing here runs unless `--console` is given: without it no tracing subscriber is
//! installed, and tokio's instrumentation (compiled in with the `console` feature) finds no
//! subscriber interested in it.
//!
//! With it, [`serve`] binds the address itself (so a bad address or a port in use is an error
//! of the command line, at once), installs one global subscriber that carries only the console
//! layer (no log output on the terminal the dashboard draws on), and serves the console's gRPC
//! API from a thread of its own with a one-thread runtime, untraced itself. The subscriber is
//! global: every task spawned from then on is seen, the measured runtime's and also the echo
//! workload's clients on the load generator's runtime (spawned from `src/workload/echo.rs`
//! too) and tokmon's lag canary (spawned from `src/source/monitor.rs`).

use std::net::{SocketAddr, ToSocketAddrs as _};

/// Where the console is served unless `--console-addr` says otherwise: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6669";

/// How long the console keeps a finished task for a client that attaches later: as long as
/// tokio-console itself shows one (its `--retain` default). console-subscriber's default, an
/// hour, keeps tens of KB (two histograms) for every task finished in that hour.
#[cfg(feature = "console")]
const RETENTION: std::time::Duration = std::time::Duration::from_secs(6);

/// Why the console could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "--console: this tokmon was built without the `console` feature (it is on by default; \
         rebuild without `--no-default-features`, or with `--features console`)"
    )]
    NotBuiltIn,
    #[error("--console-addr {addr}: cannot listen there: {reason}")]
    Bind {
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error("--console: a tracing subscriber is already installed in this process")]
    AlreadyInstalled,
    #[error("--console: starting the console server: {0}")]
    Start(std::io::Error),
}

/// Parses `--console-addr`: `IP:PORT`, or `HOST:PORT` resolved now (its first address). Port 0
/// lets the system pick one; the status says which.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let hint = "write an address with a port, e.g. 127.0.0.1:6669";
    match text.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{text}` resolves to no address ({hint})")),
        Err(e) => Err(format!("`{text}`: {e} ({hint})")),
    }
}

/// True if any tracing subscriber was ever installed in this process (always false in a build
/// without the `console` feature, which has no tracing at all).
pub fn subscriber_installed() -> bool {
    #[cfg(feature = "console")]
    {
        tracing::dispatcher::has_been_set()
    }
    #[cfg(not(feature = "console"))]
    {
        false
    }
}

/// Serves console-subscriber at `addr` for the rest of the process, and returns the address it
/// listens on (the port the system picked, for port 0). Call it before the measured runtime
/// starts: tasks spawned earlier are not seen. Only once per process.
#[cfg(feature = "console")]
pub fn serve(addr: SocketAddr) -> Result<SocketAddr, ConsoleError> {
    use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

    let listener =
        std::net::TcpListener::bind(addr).map_err(|reason| ConsoleError::Bind { addr, reason })?;
    let local = listener
        .local_addr()
        .and_then(|local| listener.set_nonblocking(true).map(|()| local))
        .map_err(|reason| ConsoleError::Bind { addr, reason })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ConsoleError::Start)?;
    let (layer, server) = console_subscriber::ConsoleLayer::builder()
        .server_addr(local)
        .retention(RETENTION)
        .build();
    // What console-subscriber's own `spawn` filters its layer with: the runtime's spans and
    // events, nothing else.
    let layer = layer.with_filter(tracing_subscriber::filter::FilterFn::new(console_filter));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| ConsoleError::AlreadyInstalled)?;
    std::thread::Builder::new()
        .name("tokmon-console".into())
        .spawn(move || {
            // The console's own runtime is not what anyone wants to watch.
            let _untraced =
                tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            if let Err(error) = runtime.block_on(run_server(listener, server)) {
                eprintln!("tokmon: --console: the console server at {local} stopped: {error}");
            }
        })
        .map_err(ConsoleError::Start)?;
    // Only the first call gets this far: the global subscriber can be set once.
    Ok(local)
}

/// Without the `console` feature there is nothing to serve.
#[cfg(not(feature = "console"))]
pub fn serve(_addr: SocketAddr) -> Result<SocketAddr, ConsoleError> {
    Err(ConsoleError::NotBuiltIn)
}

#[cfg(feature = "console")]
fn console_filter(meta: &tracing::Metadata<'_>) -> bool {
    if meta.is_event() {
        return meta.target().starts_with("runtime") || meta.target().starts_with("tokio");
    }
    meta.name().starts_with("runtime.") || meta.target().starts_with("tokio")
}

/// The aggregator and the gRPC service on the listener bound by [`serve`].
#[cfg(feature = "console")]
async fn run_server(
    listener: std::net::TcpListener,
    server: console_subscriber::Server,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let console_subscriber::ServerParts {
        instrument_server,
        aggregator,
        ..
    } = server.into_parts();
    let aggregate = tokio::spawn(aggregator.run());
    let served = tonic::transport::Server::builder()
        .add_service(instrument_server)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await;
    aggregate.abort();
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_a_port_and_say_how_when_not() {
        assert_eq!(
            parse_addr("127.0.0.1:6669"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 6669)))
        );
        assert_eq!(
            parse_addr("[::1]:7000"),
            Ok(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7000)))
        );
        for bad in ["127.0.0.1", "6669", "127.0.0.1:port", ""] {
            let error = parse_addr(bad).expect_err(bad);
            assert!(error.contains("e.g. 127.0.0.1:6669"), "{bad}: {error}");
        }
        assert_eq!(parse_addr(DEFAULT_ADDR).map(|a| a.port()), Ok(6669));
    }

    #[cfg(not(feature = "console"))]
    #[test]
    fn without_the_feature_the_flag_says_so() {
        let error = serve(SocketAddr::from(([127, 0, 0, 1], 0))).expect_err("not built in");
        assert!(error.to_string().contains("without the `console` feature"));
    }
}
