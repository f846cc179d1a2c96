//! Who may read the dashboard, and what: the rules every request passes before anything is
//! read.
//!
//! - **Where it listens.** On the loopback interface (127.0.0.1) by default. Any other address
//!   makes the runs readable by whoever reaches the machine, so it needs a token (`--token` or
//!   `LOSSGP_DASHBOARD_TOKEN`) of at least [`MIN_TOKEN`] characters; without one it is refused.
//! - **A token**, where there is one, comes with every request: `?token=` in the address (the
//!   page then keeps it in a cookie), an `Authorization: Bearer` header, or that cookie. It is
//!   compared in constant time.
//! - **The Host header** of a request to a loopback dashboard must name the loopback
//!   (`localhost`, `127.0.0.1`, `[::1]`), so that a web page elsewhere cannot reach it through
//!   a domain name it points at 127.0.0.1 (DNS rebinding).
//! - **Paths.** Only files inside the run directories given on the command line are served:
//!   a request names a run by its number and a path inside it; a path with `..`, a root, a
//!   drive or a NUL, or one that leaves the directory through a symbolic link, is refused.

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

/// The shortest token accepted.
pub const MIN_TOKEN: usize = 16;

/// The cookie the page keeps the token in.
pub const COOKIE: &str = "lossgp_token";

/// Why a request is refused, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into() }
    }
}

/// The access rules of one dashboard.
#[derive(Debug, Clone)]
pub struct Access {
    host: IpAddr,
    token: Option<String>,
}

impl Access {
    /// The rules for a dashboard listening on `host`: refused beyond the loopback without a
    /// token, or with one too short to resist guessing.
    pub fn new(host: IpAddr, token: Option<String>) -> Result<Access> {
        let token = token.filter(|t| !t.is_empty());
        if let Some(token) = &token
            && token.chars().count() < MIN_TOKEN
        {
            bail!(
                "the token is {} characters long; give one of at least {MIN_TOKEN} (e.g. `openssl rand -hex 16`)",
                token.chars().count()
            );
        }
        if !host.is_loopback() && token.is_none() {
            bail!(
                "serving on {host} makes the runs readable by anyone who can reach this machine: give a token \
                 with --token (or LOSSGP_DASHBOARD_TOKEN), at least {MIN_TOKEN} characters, e.g. \
                 --token $(openssl rand -hex 16); or leave --host out to serve on 127.0.0.1 only"
            );
        }
        Ok(Access { host, token })
    }

    /// Whether requests need the token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Checks a request: its `Host` header, and the token where there is one (from `query`'s
    /// `token`, an `Authorization: Bearer` header or the cookie).
    pub fn check(
        &self,
        host_header: Option<&str>,
        query_token: Option<&str>,
        authorization: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<(), Refusal> {
        if self.host.is_loopback() {
            let named = host_header.map(host_name).unwrap_or_default();
            if !matches!(named.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
                return Err(Refusal::new(
                    403,
                    format!(
                        "this dashboard serves the loopback only; open it as http://127.0.0.1 or http://localhost, not `{}`",
                        host_header.unwrap_or("")
                    ),
                ));
            }
        }
        let Some(expected) = &self.token else { return Ok(()) };
        let bearer = authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
        let from_cookie = cookie.and_then(|c| {
            c.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v)
        });
        let given = [query_token, bearer, from_cookie];
        if given.iter().flatten().any(|t| same(t.as_bytes(), expected.as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::new(
                401,
                "this dashboard needs its token: open the address it printed, which ends in ?token=...",
            ))
        }
    }
}

/// The host name of a `Host` header, its port left off (`[::1]:8765` is `[::1]`).
fn host_name(header: &str) -> String {
    let header = header.trim().to_ascii_lowercase();
    if header.starts_with('[') {
        return header.split_inclusive(']').next().unwrap_or_default().to_owned();
    }
    header.split(':').next().unwrap_or_default().to_owned()
}

/// Compares two byte strings in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The file `relative` names inside `root` (a canonical directory), refusing anything that
/// would leave it: `..`, an absolute path, a NUL, or a symbolic link that points outside.
pub fn confine(root: &Path, relative: &str) -> Result<PathBuf, Refusal> {
    let outside =
        || Refusal::new(403, format!("`{relative}` is not inside the run directory; only its files are served"));
    if relative.contains('\0') || relative.contains('\\') {
        return Err(outside());
    }
    let path = Path::new(relative);
    if !path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(outside());
    }
    let joined = root.join(path);
    let real = joined
        .canonicalize()
        .map_err(|_| Refusal::new(404, format!("`{relative}` does not exist in the run directory")))?;
    if !real.starts_with(root) {
        return Err(outside());
    }
    if !real.is_file() {
        return Err(Refusal::new(404, format!("`{relative}` is not a file")));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn beyond_the_loopback_a_token_is_required_and_checked() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let refused = Access::new(any, None).unwrap_err().to_string();
        assert!(refused.contains("--token") && refused.contains("0.0.0.0"), "{refused}");
        assert!(Access::new(any, Some("short".into())).unwrap_err().to_string().contains("at least 16"));
        let access = Access::new(any, Some(TOKEN.into())).unwrap();
        assert_eq!(access.check(Some("example.org"), None, None, None).unwrap_err().status, 401);
        assert_eq!(
            access.check(Some("example.org"), Some("wrong-token-wrong-token"), None, None).unwrap_err().status,
            401
        );
        assert!(access.check(Some("example.org"), Some(TOKEN), None, None).is_ok());
        assert!(access.check(None, None, Some(&format!("Bearer {TOKEN}")), None).is_ok());
        assert!(access.check(None, None, None, Some(&format!("theme=dark; {COOKIE}={TOKEN}"))).is_ok());
    }

    #[test]
    fn a_loopback_dashboard_answers_only_to_loopback_names() {
        let access = Access::new("127.0.0.1".parse().unwrap(), None).unwrap();
        for host in ["127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765"] {
            assert!(access.check(Some(host), None, None, None).is_ok(), "{host}");
        }
        // A rebinding attack's name, resolved to 127.0.0.1 by its own DNS.
        for host in ["attacker.example:8765", "127.0.0.1.nip.io", ""] {
            assert_eq!(access.check(Some(host), None, None, None).unwrap_err().status, 403, "{host}");
        }
        assert_eq!(access.check(None, None, None, None).unwrap_err().status, 403);
    }

    #[test]
    fn no_path_leaves_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        std::fs::create_dir_all(root.join("logs")).unwrap();
        std::fs::write(root.join("state.json"), "{}").unwrap();
        std::fs::write(root.join("logs/w0.log"), "log").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        let root = root.canonicalize().unwrap();
        assert!(confine(&root, "state.json").is_ok());
        assert!(confine(&root, "logs/w0.log").is_ok());
        for bad in ["../secret.txt", "logs/../../secret.txt", "/etc/passwd", "..", "logs/..\\..\\secret.txt", "a\0b"] {
            assert_eq!(confine(&root, bad).unwrap_err().status, 403, "{bad}");
        }
        assert_eq!(confine(&root, "logs").unwrap_err().status, 404, "a directory is not served");
        assert_eq!(confine(&root, "missing.json").unwrap_err().status, 404);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link")).unwrap();
            assert_eq!(confine(&root, "link").unwrap_err().status, 403, "a link that points outside");
        }
    }
}
