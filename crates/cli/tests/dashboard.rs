//! `lossgp dashboard` in a real browser: headless Chromium, driven through its DevTools
//! protocol, opens the dashboard of a search that is running (its candidates scored by a shell
//! command that takes a moment), sees the hall of fame with rendered formulas, and sees the page
//! update itself when a generation ends; a screenshot is kept. Skipped, saying so, where no
//! Chromium is installed; failed there where `LOSSGP_REQUIRE_BROWSER=1` (set by `scripts/setup`,
//! which installs Debian's `chromium`).
//!
//! And without a browser: the refusals of a path outside the run directories and of a bind
//! beyond the loopback without a token, over real HTTP.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
    })
}

/// A search whose every training is a shell command that sleeps, so that it is still running
/// while the page is open: fitness grows with the loss's text, so the hall of fame has an order.
fn slow_search(dir: &Path, generations: usize) -> PathBuf {
    let config = dir.join("slow.toml");
    std::fs::write(
        &config,
        format!(
            r#"[task]
fitness = "command"
command = ["sh", "-c", "sleep {SLEEP}; n=$(wc -c < \"$1/loss.txt\"); printf '{{\"fitness\": 0.%02d}}' $((n % 90 + 10)) > \"$1/result.json\"", "sh", "{{out}}"]
timeout_minutes = 1

[search]
seed = 3
population = 6
generations = {generations}
hall_of_fame = 3
confirm_seeds = 2

[run]
workers = 2
baselines = ["ce", "ngl"]
"#
        ),
    )
    .unwrap();
    config
}

const SLEEP: &str = "1";

/// Starts `lossgp dashboard ARGS` and returns it with the address it printed.
fn dashboard(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lossgp"))
        .arg("dashboard")
        .args(args)
        .args(["--port", "0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("lossgp runs");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a line").expect("text");
    let address = first.split_whitespace().find(|w| w.starts_with("http://")).expect("an address").to_owned();
    // Keep reading, so that the pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    (Killed(child), address)
}

/// A plain HTTP/1.1 GET: status and body (by its length, chunks, or the connection's end).
fn get(address: &str, path: &str) -> (u16, String) {
    let host = address.trim_start_matches("http://").trim_end_matches('/').split('/').next().unwrap().to_owned();
    let mut stream = TcpStream::connect(&host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Chromium, headless, and a page of it under DevTools control.
struct Browser {
    _process: Killed,
    _profile: tempfile::TempDir,
    socket: tungstenite::WebSocket<TcpStream>,
    next: u64,
}

impl Browser {
    fn start(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
            .args(["--remote-debugging-port=0", "--window-size=1400,2200", "about:blank"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let endpoint = loop {
            let line = lines.next().expect("chromium printed its DevTools address").unwrap();
            if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let port = endpoint.trim_start_matches("ws://").split('/').next().unwrap().to_owned();
        let (_, list) = get(&format!("http://{port}"), "/json/list");
        let targets: Value = serde_json::from_str(&list).expect("a target list");
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let stream = TcpStream::connect(&port).unwrap();
        let (socket, _) = tungstenite::client(page.as_str(), stream).expect("DevTools accepts the connection");
        Browser { _process: Killed(child), _profile: profile, socket, next: 1 }
    }

    /// Sends a DevTools command and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(tungstenite::Message::text(message)).unwrap();
        loop {
            let reply = self.socket.read().expect("DevTools answers");
            if let Ok(text) = reply.to_text()
                && let Ok(value) = serde_json::from_str::<Value>(text)
                && value["id"] == id
            {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
        }
    }

    fn evaluate(&mut self, expression: &str) -> Value {
        self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}))["result"]["value"]
            .clone()
    }

    fn text(&mut self) -> String {
        self.evaluate("document.body ? document.body.innerText : ''").as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the page's text satisfies `ready`, and returns it.
    fn wait_for(&mut self, what: &str, limit: Duration, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.text();
            if ready(&text) {
                return text;
            }
            assert!(start.elapsed() < limit, "the page never showed {what} within {limit:?}; it shows:\n{text}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).map(value).collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len() - 1)
        })
        .collect()
}

#[test]
fn the_dashboard_follows_a_running_search_in_a_real_browser() {
    let Some(binary) = chromium() else {
        common::available(
            false,
            "the_dashboard_follows_a_running_search_in_a_real_browser: skipped: no Chromium (Debian's chromium)",
            "LOSSGP_REQUIRE_BROWSER",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("live");
    let run_text = run.to_str().unwrap();
    // Generation 0 first, so that the page has a hall of fame to show at once.
    let config = slow_search(dir.path(), 1);
    let out = common::lossgp(None, &["search", "--config", config.to_str().unwrap(), "--out", run_text]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_server, address) = dashboard(&[run_text]);

    let mut browser = Browser::start(&binary);
    browser.call("Page.enable", json!({}));
    browser.call("Page.navigate", json!({"url": address}));
    let first = browser
        .wait_for("the hall of fame", Duration::from_secs(30), |t| t.contains("Hall of fame") && t.contains("best-1"));
    assert!(first.contains("1 generation(s) done of 1"), "{first}");
    assert!(first.contains("The leader's genealogy") && first.contains("Evaluator"), "{first}");
    let formulas = browser.evaluate("document.querySelectorAll('section math').length").as_u64().unwrap_or(0);
    assert!(formulas >= 1, "the hall of fame's formulas are rendered as MathML");
    let plots = browser.evaluate("document.querySelectorAll('section svg').length").as_u64().unwrap_or(0);
    assert!(plots >= 3, "progress, intervals and front are drawn, found {plots}");

    // The search goes on while the page is open; the page follows it without a reload.
    let loads = browser.evaluate("performance.getEntriesByType('navigation').length");
    let mut search = Killed(
        Command::new(env!("CARGO_BIN_EXE_lossgp"))
            .args(["search", "--resume", run_text, "--generations", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let running = browser.wait_for("the search running", Duration::from_secs(60), |t| t.contains("running (pid"));
    assert!(running.contains("Hall of fame"), "{running}");
    let later =
        browser.wait_for("generation 1 done", Duration::from_secs(120), |t| t.contains("2 generation(s) done of 3"));
    assert!(later.contains("best-1"), "{later}");
    assert_eq!(browser.evaluate("performance.getEntriesByType('navigation').length"), loads, "no reload");

    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 2200, "deviceScaleFactor": 1, "mobile": false}),
    );
    let shot = browser.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
    let png = base64(shot["data"].as_str().expect("a screenshot"));
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("the dashboard, as Chromium drew it: {}", path.display());
    let status = search.0.wait().unwrap();
    assert!(status.success());
}

#[test]
fn the_dashboard_serves_nothing_outside_its_runs_and_nothing_beyond_the_loopback_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gm");
    std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
    let config = dir.path().join("gm.toml");
    std::fs::write(&config, "[task]\nfitness = \"gradient-match\"\n[search]\ngenerations = 1\npopulation = 6\n")
        .unwrap();
    let out = common::lossgp(None, &["search", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (_server, address) = dashboard(&[run.to_str().unwrap()]);
    assert_eq!(get(&address, "/runs/0/state.json").0, 200);
    for path in ["/runs/0/../secret.txt", "/runs/0/%2e%2e/secret.txt", "/runs/0/..%2F..%2Fetc%2Fpasswd"] {
        let (status, body) = get(&address, path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("not inside the run directory") && !body.contains("do not serve"), "{body}");
    }
    let view = get(&address, "/api/runs/0");
    assert_eq!(view.0, 200);
    let view: Value = serde_json::from_str(&view.1).unwrap();
    assert!(view["search"]["summary"]["best"].as_array().is_some_and(|b| !b.is_empty()), "{view}");

    let refused = common::lossgp(None, &["dashboard", run.to_str().unwrap(), "--host", "0.0.0.0", "--port", "0"]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("--token") && error.contains("0.0.0.0"), "{error}");
    let not_a_run = common::lossgp(None, &["dashboard", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&not_a_run.stderr).contains("neither a search's nor a transfer grid's"));
}
