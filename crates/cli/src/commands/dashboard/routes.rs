//! What the dashboard answers to a request: a function of the request and the runs, so that
//! every route and refusal is tested without a socket.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::access::{self, Access, Refusal};

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// What a run directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Search,
    Transfer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Search => "search",
            Kind::Transfer => "transfer grid",
        }
    }
}

/// A run followed.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Its number in the address (`/api/runs/N`).
    pub id: usize,
    /// Its directory's name.
    pub name: String,
    pub kind: Kind,
    /// Canonical: the root no served path may leave.
    pub path: PathBuf,
}

/// The runs given on the command line.
#[derive(Debug)]
pub struct Runs(Vec<Run>);

impl Runs {
    /// Checks each directory is a search's or a transfer grid's.
    pub fn open(dirs: &[PathBuf]) -> Result<Runs> {
        let mut runs = Vec::new();
        for (id, dir) in dirs.iter().enumerate() {
            let path = dir.canonicalize().with_context(|| format!("{} does not exist", dir.display()))?;
            let kind = if crate::commands::transfer::is_transfer_run(&path) {
                Kind::Transfer
            } else if path.join(crate::commands::search::CONFIG).is_file() {
                Kind::Search
            } else {
                bail!(
                    "{} is neither a search's nor a transfer grid's run directory (it has no {} or {})",
                    dir.display(),
                    crate::commands::search::CONFIG,
                    crate::commands::transfer::CONFIG
                );
            };
            let name =
                path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            runs.push(Run { id, name, kind, path });
        }
        Ok(Runs(runs))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Run> {
        self.0.iter()
    }

    fn get(&self, id: &str) -> Result<&Run, Refusal> {
        id.parse::<usize>().ok().and_then(|i| self.0.get(i)).ok_or_else(|| {
            Refusal::new(
                404,
                format!("there is no run `{id}`: this dashboard follows runs 0 to {}", self.0.len().saturating_sub(1)),
            )
        })
    }
}

/// The parts of a request the answer depends on.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path and query, as sent (`/api/runs/0?token=...`).
    pub url: String,
    pub host: Option<String>,
    pub authorization: Option<String>,
    pub cookie: Option<String>,
}

impl From<&tiny_http::Request> for Request {
    fn from(request: &tiny_http::Request) -> Request {
        let header = |name: &str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                .map(|h| h.value.as_str().to_owned())
        };
        Request {
            method: request.method().as_str().to_owned(),
            url: request.url().to_owned(),
            host: header("Host"),
            authorization: header("Authorization"),
            cookie: header("Cookie"),
        }
    }
}

/// An answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A cookie to set (the token, once the page was opened with it).
    pub cookie: Option<String>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response { status, content_type, body: body.into(), cookie: None }
    }

    fn json(value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(200, "application/json", body),
            Err(e) => Response::new(500, "text/plain; charset=utf-8", format!("cannot write JSON: {e}")),
        }
    }

    fn refused(refusal: Refusal) -> Response {
        Response::new(refusal.status, "text/plain; charset=utf-8", refusal.message + "\n")
    }

    /// As tiny_http sends it, with the headers every answer carries: no caching (the runs
    /// change), no sniffing, no framing, and scripts from this server only.
    pub fn into_http(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let header = |name: &str, value: &str| {
            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
        };
        let mut response = tiny_http::Response::from_data(self.body)
            .with_status_code(self.status)
            .with_header(header("Content-Type", self.content_type))
            .with_header(header("Cache-Control", "no-store"))
            .with_header(header("X-Content-Type-Options", "nosniff"))
            .with_header(header("Referrer-Policy", "no-referrer"))
            .with_header(header(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                 connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ));
        if let Some(cookie) = self.cookie {
            response = response.with_header(header("Set-Cookie", &cookie));
        }
        response
    }
}

/// The answer to `request`.
pub fn answer(runs: &Runs, access: &Access, request: &Request) -> Response {
    let (path, query) = request.url.split_once('?').unwrap_or((&request.url, ""));
    let query_token =
        query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == "token").map(|(_, v)| v);
    let query_token = query_token.map(decode).transpose().ok().flatten();
    if let Err(refusal) = access.check(
        request.host.as_deref(),
        query_token.as_deref(),
        request.authorization.as_deref(),
        request.cookie.as_deref(),
    ) {
        return Response::refused(refusal);
    }
    if request.method != "GET" && request.method != "HEAD" {
        return Response::refused(Refusal::new(
            405,
            format!("{} is not served: the dashboard only reads", request.method),
        ));
    }
    match route(runs, path) {
        Ok(mut response) => {
            // The page opened with ?token= keeps it, so that its requests need not repeat it.
            if path == "/"
                && let (Some(token), Some(_)) = (access.token(), &query_token)
            {
                response.cookie = Some(format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", access::COOKIE));
            }
            response
        }
        Err(refusal) => Response::refused(refusal),
    }
}

fn route(runs: &Runs, path: &str) -> Result<Response, Refusal> {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    match parts.as_slice() {
        [""] | ["index.html"] => Ok(Response::new(200, "text/html; charset=utf-8", PAGE)),
        ["app.js"] => Ok(Response::new(200, "text/javascript; charset=utf-8", SCRIPT)),
        ["style.css"] => Ok(Response::new(200, "text/css; charset=utf-8", STYLE)),
        ["api", "runs"] => Ok(Response::json(&runs.0)),
        ["api", "runs", id] => {
            let run = runs.get(id)?;
            view(run).map_err(|e| Refusal::new(500, format!("{}: {e:#}", run.path.display())))
        }
        ["api", "runs", id, "version"] => {
            let run = runs.get(id)?;
            Ok(Response::new(200, "text/plain; charset=utf-8", version(&run.path)))
        }
        ["runs", id, rest @ ..] if !rest.is_empty() => {
            let run = runs.get(id)?;
            let relative = decode(&rest.join("/"))
                .map_err(|_| Refusal::new(400, "the path is not valid percent-encoded UTF-8"))?;
            let file = access::confine(&run.path, &relative)?;
            let body = std::fs::read(&file).map_err(|e| Refusal::new(500, format!("cannot read {relative}: {e}")))?;
            Ok(Response::new(200, content_type(&file), body))
        }
        _ => Err(Refusal::new(404, format!("nothing is served at `{path}`"))),
    }
}

/// A run as it stands.
fn view(run: &Run) -> Result<Response> {
    #[derive(Serialize)]
    struct View<T: Serialize> {
        run: Run,
        version: String,
        #[serde(flatten)]
        body: T,
    }
    let version = version(&run.path);
    Ok(match run.kind {
        Kind::Search => Response::json(&View {
            run: run.clone(),
            version,
            body: Tagged { search: crate::commands::search::view::view(&run.path)? },
        }),
        Kind::Transfer => Response::json(&View {
            run: run.clone(),
            version,
            body: TaggedTransfer { transfer: crate::commands::transfer::snapshot(&run.path)? },
        }),
    })
}

#[derive(Serialize)]
struct Tagged<T: Serialize> {
    search: T,
}

#[derive(Serialize)]
struct TaggedTransfer<T: Serialize> {
    transfer: T,
}

/// A fingerprint of what a run directory holds: its files' sizes and times, and its queue's
/// folders (a job claimed or finished changes them). It changes whenever the run writes.
pub fn version(dir: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut visit = |path: &Path| {
        if let Ok(entries) = std::fs::read_dir(path) {
            let mut seen: Vec<(String, u64, u128)> = entries
                .flatten()
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    let time = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                    Some((e.file_name().to_string_lossy().into_owned(), meta.len(), time))
                })
                .collect();
            seen.sort();
            seen.hash(&mut hasher);
        }
    };
    visit(dir);
    for sub in ["queue/pending", "queue/claimed", "queue/done", "slurm"] {
        visit(&dir.join(sub));
    }
    format!("{:016x}", hasher.finish())
}

/// Percent-decoding (`%2F` is `/`; `+` stays `+`), refusing what is not UTF-8.
fn decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, ..) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "png" => "image/png",
        // Served as text: an SVG file from a run directory never runs script in the page's origin.
        "svg" | "json" | "jsonl" | "toml" | "log" | "txt" | "md" | "csv" | "tex" | "py" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> Request {
        Request { method: "GET".into(), url: url.into(), host: Some("127.0.0.1:8765".into()), ..Request::default() }
    }

    fn search_run(dir: &Path) -> PathBuf {
        let run = dir.join("quick");
        std::fs::create_dir_all(run.join("logs")).unwrap();
        std::fs::write(run.join(crate::commands::search::CONFIG), "").unwrap();
        std::fs::write(run.join("logs/worker-w0.log"), "evaluating").unwrap();
        run
    }

    #[test]
    fn files_inside_a_run_are_served_and_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let run = search_run(dir.path());
        std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        let runs = Runs::open(&[run]).unwrap();
        let access = Access::new("127.0.0.1".parse().unwrap(), None).unwrap();
        let ok = answer(&runs, &access, &get("/runs/0/logs/worker-w0.log"));
        assert_eq!((ok.status, ok.body.as_slice()), (200, b"evaluating".as_slice()));
        for bad in [
            "/runs/0/../secret.txt",
            "/runs/0/%2e%2e/secret.txt",
            "/runs/0/logs/%2E%2E%2F..%2Fsecret.txt",
            "/runs/0//etc/passwd",
        ] {
            let refused = answer(&runs, &access, &get(bad));
            assert_eq!(refused.status, 403, "{bad}: {}", String::from_utf8_lossy(&refused.body));
            assert!(!String::from_utf8_lossy(&refused.body).contains("secret\n"));
        }
        assert_eq!(answer(&runs, &access, &get("/runs/7/state.json")).status, 404);
        assert_eq!(answer(&runs, &access, &get("/api/runs/x")).status, 404);
        let mut post = get("/api/runs");
        post.method = "POST".into();
        assert_eq!(answer(&runs, &access, &post).status, 405);
    }

    #[test]
    fn a_token_opens_the_page_and_then_travels_as_a_cookie() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Runs::open(&[search_run(dir.path())]).unwrap();
        let token = "0123456789abcdef0123";
        let access = Access::new("0.0.0.0".parse().unwrap(), Some(token.into())).unwrap();
        let mut request = get("/");
        request.host = Some("lab-server:8765".into());
        assert_eq!(answer(&runs, &access, &request).status, 401);
        request.url = format!("/?token={token}");
        let page = answer(&runs, &access, &request);
        assert_eq!(page.status, 200);
        let cookie = page.cookie.expect("the token kept");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let mut api = get("/api/runs");
        api.host = Some("lab-server:8765".into());
        api.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        assert_eq!(answer(&runs, &access, &api).status, 200);
    }

    #[test]
    fn a_directory_that_is_no_run_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let error = Runs::open(&[dir.path().to_owned()]).unwrap_err().to_string();
        assert!(error.contains("neither a search's nor a transfer grid's run directory"), "{error}");
        let error = Runs::open(&[dir.path().join("missing")]).unwrap_err().to_string();
        assert!(error.contains("does not exist"), "{error}");
    }

    #[test]
    fn the_version_changes_when_the_run_writes() {
        let dir = tempfile::tempdir().unwrap();
        let run = search_run(dir.path());
        let before = version(&run);
        assert_eq!(before, version(&run));
        std::fs::write(run.join("evaluations.jsonl"), "{}\n").unwrap();
        assert_ne!(before, version(&run));
    }

    #[test]
    fn percent_decoding_is_exact() {
        assert_eq!(decode("a%2Fb%20c+d").unwrap(), "a/b c+d");
        assert_eq!(decode("%zz%4").unwrap(), "%zz%4");
        assert!(decode("%ff").is_err());
    }
}
