//! `lossgp dashboard RUN_DIR...`: a web page that follows search and transfer runs as they
//! write, finished or not, and updates itself without a reload.
//!
//! It reads the run directories only (never writes to them), serves one page with its script
//! and style built in (no CDN: it works offline), and answers on 127.0.0.1 unless told
//! otherwise, under the rules of [`access`]. Routes:
//!
//! | route | what |
//! |---|---|
//! | `/` | the page |
//! | `/api/runs` | the runs followed: number, name, kind, path |
//! | `/api/runs/N` | run N as it stands (a search's [`view`](super::search::view), a transfer grid's report) |
//! | `/api/runs/N/version` | a fingerprint of run N's files: the page polls it and reloads run N when it changes |
//! | `/runs/N/PATH` | a file inside run N's directory (its logs, plots, JSON) |

mod access;
mod routes;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

pub use access::Access;
use routes::Runs;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Run directories of searches and transfer grids, running or finished.
    #[arg(required = true, value_name = "RUN_DIR")]
    dirs: Vec<PathBuf>,
    /// The address to listen on. Anything but the loopback (127.0.0.1, ::1) needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port (0: any free one, printed at the start).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// A secret every request must carry (in the address as ?token=..., which the page keeps as
    /// a cookie), at least 16 characters; required beyond the loopback [default:
    /// $LOSSGP_DASHBOARD_TOKEN].
    #[arg(long)]
    token: Option<String>,
}

/// Serves the dashboard until the process is stopped.
pub fn run(args: DashboardArgs) -> Result<()> {
    let token = args.token.clone().or_else(|| std::env::var("LOSSGP_DASHBOARD_TOKEN").ok());
    let access = Access::new(args.host, token)?;
    let runs = Runs::open(&args.dirs)?;
    let address = SocketAddr::new(args.host, args.port);
    let server = tiny_http::Server::http(address)
        .map_err(|e| anyhow!("cannot listen on {address}: {e} (choose another --port, or 0 for any free one)"))?;
    let bound = server.server_addr().to_ip().context("the server's address")?;
    let shown = if args.host.is_loopback() { format!("127.0.0.1:{}", bound.port()) } else { bound.to_string() };
    let query = access.token().map(|t| format!("?token={t}")).unwrap_or_default();
    eprintln!("dashboard of {} run(s) on http://{shown}/{query} (Ctrl-C stops it)", runs.len());
    for (i, run) in runs.iter().enumerate() {
        eprintln!("  run {i}: {} ({})", run.path.display(), run.kind.name());
    }
    let shared = Arc::new((runs, access));
    for request in server.incoming_requests() {
        let shared = Arc::clone(&shared);
        // One thread per request: a page that loads a large run does not hold up the others.
        std::thread::spawn(move || {
            let (runs, access) = &*shared;
            let response = routes::answer(runs, access, &routes::Request::from(&request));
            let _ = request.respond(response.into_http());
        });
    }
    bail!("the server stopped accepting connections")
}
