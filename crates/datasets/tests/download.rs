//! The download path against a local HTTP server that the test starts: a whole transfer, a
//! transfer that breaks off and resumes, a corrupted file, a missing one, and archives whose
//! entries try to escape the target folder. The server is written out here (a few dozen lines
//! over `TcpListener`) so that it can break a transfer exactly as a dropped connection does.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use lossgp_core::data::Split;
use lossgp_datasets::fetch::{FetchError, FetchOptions, download, fetch, unpack};
use lossgp_datasets::registry::{Info, Remote, Source, Unpack};
use lossgp_datasets::{DataDir, locate};
use md5::{Digest, Md5};

/// How the server treats a path.
#[derive(Clone, Debug)]
enum Behaviour {
    /// Serves the bytes, honouring range requests.
    Whole(Vec<u8>),
    /// Like `Whole`, but the first response promises every byte and the connection closes
    /// after `cut` of them.
    BreaksOnce { bytes: Vec<u8>, cut: usize },
}

/// A request as the server saw it: its path and its `Range` header.
type Logged = (String, Option<String>);

/// A minimal HTTP/1.1 server on a local port: GET by path, `Range: bytes=N-`, one connection
/// at a time, each closed after its response. It records every request's path and range.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Logged>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(files: HashMap<String, Behaviour>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut broken: Vec<String> = Vec::new();
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("range")
                    {
                        range = Some(value.trim().to_owned());
                    }
                }
                log.lock().expect("lock").push((path.clone(), range.clone()));
                let respond = |stream: &mut std::net::TcpStream, status: &str, headers: &[String], body: &[u8]| {
                    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
                    headers.iter().for_each(|h| head.push_str(&format!("{h}\r\n")));
                    let _ = stream.write_all(format!("{head}\r\n").as_bytes());
                    let _ = stream.write_all(body);
                };
                let Some(behaviour) = files.get(&path).cloned() else {
                    respond(&mut stream, "404 Not Found", &["Content-Length: 0".into()], &[]);
                    continue;
                };
                let (bytes, cut) = match behaviour {
                    Behaviour::Whole(bytes) => (bytes, None),
                    Behaviour::BreaksOnce { bytes, cut } if !broken.contains(&path) => {
                        broken.push(path.clone());
                        (bytes, Some(cut))
                    }
                    Behaviour::BreaksOnce { bytes, .. } => (bytes, None),
                };
                let start: usize = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.trim_end_matches('-').parse().ok())
                    .unwrap_or(0);
                if start > 0 && start >= bytes.len() {
                    respond(&mut stream, "416 Range Not Satisfiable", &["Content-Length: 0".into()], &[]);
                    continue;
                }
                let body = &bytes[start..];
                let mut headers = vec![format!("Content-Length: {}", body.len())];
                let status = if start > 0 {
                    headers.push(format!("Content-Range: bytes {start}-{}/{}", bytes.len() - 1, bytes.len()));
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                // A broken transfer: every byte promised, fewer sent, then the connection closes.
                respond(&mut stream, status, &headers, &body[..cut.unwrap_or(body.len()).min(body.len())]);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Server { url, requests, stop, thread: Some(thread) }
    }

    fn requests(&self) -> Vec<Logged> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn md5_hex(bytes: &[u8]) -> &'static str {
    let hex: String = Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    Box::leak(hex.into_boxed_str())
}

/// A tar.gz in CIFAR-10's binary layout, with two records per batch file.
fn cifar_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), data).expect("tar entry");
    };
    let names: String = (0..10).map(|c| format!("class{c}\n")).collect();
    add("batches.meta.txt", names.as_bytes());
    let records: Vec<u8> = (0..2u8).flat_map(|i| std::iter::once(i).chain(std::iter::repeat_n(i * 50, 3072))).collect();
    for f in [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        add(f, &records);
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

fn info(remotes: Vec<Remote>) -> Info {
    Info {
        name: "cifar10",
        title: "CIFAR-10 fixture",
        task: lossgp_core::data::Task::Classification,
        classes: 10,
        splits: &[Split::Train, Split::Test],
        source: Source::Download(Box::leak(remotes.into_boxed_slice())),
        note: "",
    }
}

fn quiet() -> FetchOptions {
    FetchOptions { progress: false, attempts: 3, ..FetchOptions::default() }
}

fn options(mirror: String) -> FetchOptions {
    FetchOptions { mirror: Some(mirror), ..quiet() }
}

#[test]
fn a_whole_download_is_verified_and_unpacked() {
    let archive = cifar_archive();
    let server =
        Server::start(HashMap::from([("/mirror/cifar-10-binary.tar.gz".into(), Behaviour::Whole(archive.clone()))]));
    let data = tempfile::TempDir::new().expect("a temporary directory");
    let dirs = DataDir::at(data.path());
    let remote = Remote {
        url: "https://example.invalid/cifar-10-binary.tar.gz",
        file: "cifar-10-binary.tar.gz",
        bytes: Some(archive.len() as u64),
        md5: Some(md5_hex(&archive)),
        unpack: Unpack::Archive { into: "", then: &[] },
    };
    let report =
        fetch(&info(vec![remote]), &dirs, &options(format!("{}/mirror", server.url))).expect("the fetch works");
    assert!(!report.already_present);
    assert!(report.files[0].verified);
    assert_eq!(report.files[0].bytes, archive.len() as u64);
    let root = locate("cifar10", &dirs).expect("the dataset is found after the fetch");
    let batch = std::fs::read(root.join("cifar-10-batches-bin/test_batch.bin")).expect("unpacked");
    assert_eq!(batch.len(), 2 * 3073);
    assert!(!root.join("cifar-10-binary.tar.gz").exists(), "the archive is deleted once unpacked");
    // A second fetch finds it and downloads nothing.
    let again = fetch(&info(vec![remote]), &dirs, &options(format!("{}/mirror", server.url))).expect("the fetch works");
    assert!(again.already_present);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_broken_transfer_resumes_where_it_stopped() {
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let server =
        Server::start(HashMap::from([("/f.bin".into(), Behaviour::BreaksOnce { bytes: bytes.clone(), cut: 70_000 })]));
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let remote = Remote {
        url: "",
        file: "f.bin",
        bytes: Some(bytes.len() as u64),
        md5: Some(md5_hex(&bytes)),
        unpack: Unpack::Keep,
    };
    let path = dir.path().join("f.bin");
    let report = download(&format!("{}/f.bin", server.url), &path, &remote, &quiet()).expect("the download resumes");
    assert!(report.verified);
    assert_eq!(std::fs::read(&path).expect("downloaded"), bytes);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].1, None);
    let resumed_at: usize = requests[1]
        .1
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .expect("a range request");
    assert!(resumed_at > 0 && resumed_at <= 70_000, "resumed at {resumed_at}");
    assert!(!dir.path().join("f.bin.part").exists());
}

#[test]
fn a_corrupted_file_is_refused_and_deleted() {
    let good: Vec<u8> = vec![7; 5000];
    let mut corrupted = good.clone();
    corrupted[1234] ^= 0xff;
    let server = Server::start(HashMap::from([("/x.bin".into(), Behaviour::Whole(corrupted))]));
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let remote = Remote { url: "", file: "x.bin", bytes: Some(5000), md5: Some(md5_hex(&good)), unpack: Unpack::Keep };
    let err = download(&format!("{}/x.bin", server.url), &dir.path().join("x.bin"), &remote, &quiet()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, FetchError::Mismatch { what: "MD5", .. }), "{message}");
    assert!(message.contains("x.bin: MD5 mismatch: expected") && message.contains("it was deleted"), "{message}");
    assert!(!dir.path().join("x.bin").exists() && !dir.path().join("x.bin.part").exists());
    let short = Remote { bytes: Some(6000), md5: None, ..remote };
    let err = download(&format!("{}/x.bin", server.url), &dir.path().join("x.bin"), &short, &quiet()).unwrap_err();
    assert!(err.to_string().contains("size mismatch: expected 6000 bytes, got 5000 bytes"), "{err}");
}

#[test]
fn missing_files_and_dead_servers_are_explained() {
    let server = Server::start(HashMap::new());
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let remote = Remote { url: "", file: "nope.bin", bytes: None, md5: None, unpack: Unpack::Keep };
    let err =
        download(&format!("{}/nope.bin", server.url), &dir.path().join("nope.bin"), &remote, &quiet()).unwrap_err();
    assert!(err.to_string().ends_with("nope.bin answered HTTP 404; check the address, or use --mirror"), "{err}");
    let options = FetchOptions { attempts: 2, ..quiet() };
    let err = download("http://127.0.0.1:9/nope.bin", &dir.path().join("nope.bin"), &remote, &options).unwrap_err();
    assert!(err.to_string().contains("failed after 2 attempts"), "{err}");
}

#[test]
fn archives_cannot_write_outside_their_folder() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let target = dir.path().join("target");

    // A tar whose entry climbs out with `..` (written raw: the tar crate refuses to build one).
    let mut header = tar::Header::new_old();
    let name = b"../escaped.txt";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut evil_tar = header.as_bytes().to_vec();
    evil_tar.extend_from_slice(b"evil");
    evil_tar.resize(1024 + 512, 0);
    let tar_path = dir.path().join("evil.tar");
    std::fs::write(&tar_path, &evil_tar).expect("write");
    let err = unpack(&tar_path, &target, false).unwrap_err().to_string();
    assert!(err.contains("refusing to unpack entry `../escaped.txt`: its path leaves the target folder"), "{err}");

    // A zip with an absolute path.
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("/tmp/escaped.txt", zip::write::SimpleFileOptions::default()).expect("zip entry");
    zip.write_all(b"evil").expect("zip data");
    let zip_path = dir.path().join("evil.zip");
    std::fs::write(&zip_path, zip.finish().expect("zip").into_inner()).expect("write");
    let err = unpack(&zip_path, &target, false).unwrap_err().to_string();
    assert!(err.contains("refusing to unpack entry `/tmp/escaped.txt`"), "{err}");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("data/../../escaped.txt", zip::write::SimpleFileOptions::default()).expect("zip entry");
    zip.write_all(b"evil").expect("zip data");
    std::fs::write(&zip_path, zip.finish().expect("zip").into_inner()).expect("write");
    let err = unpack(&zip_path, &target, false).unwrap_err().to_string();
    assert!(
        err.contains("refusing to unpack entry `data/../../escaped.txt`: its path leaves the target folder"),
        "{err}"
    );

    // A tar with a symbolic link.
    let mut tar = tar::Builder::new(Vec::new());
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    tar.append_link(&mut link, "innocent", "/etc/passwd").expect("a link entry");
    let link_path = dir.path().join("link.tar");
    std::fs::write(&link_path, tar.into_inner().expect("tar")).expect("write");
    let err = unpack(&link_path, &target, false).unwrap_err().to_string();
    assert!(err.contains("links are not unpacked"), "{err}");

    assert!(!dir.path().join("escaped.txt").exists());
    assert!(
        !Path::new("/tmp/escaped.txt").exists()
            || std::fs::read(Path::new("/tmp/escaped.txt")).ok() != Some(b"evil".to_vec())
    );
    let err = unpack(&dir.path().join("evil.rar"), &target, false).unwrap_err().to_string();
    assert!(err.contains("is not a .tar, .tar.gz or .zip archive"), "{err}");
}

#[test]
fn a_truncated_archive_is_reported() {
    let archive = cifar_archive();
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let path = dir.path().join("cut.tar.gz");
    std::fs::write(&path, &archive[..archive.len() / 3]).expect("write");
    let err = unpack(&path, &dir.path().join("out"), false).unwrap_err().to_string();
    assert!(err.contains("cut.tar.gz: cannot be read as tar"), "{err}");
}

#[test]
fn an_interrupted_multi_file_fetch_does_not_fetch_finished_files_again() {
    let archive = cifar_archive();
    let extra: Vec<u8> = vec![1; 100];
    let mut files = HashMap::from([("/m/cifar-10-binary.tar.gz".to_owned(), Behaviour::Whole(archive.clone()))]);
    let server = Server::start(files.clone());
    let data = tempfile::TempDir::new().expect("a temporary directory");
    let dirs = DataDir::at(data.path());
    let remotes = vec![
        Remote {
            url: "",
            file: "cifar-10-binary.tar.gz",
            bytes: None,
            md5: Some(md5_hex(&archive)),
            unpack: Unpack::Archive { into: "", then: &[] },
        },
        Remote { url: "", file: "extra.bin", bytes: None, md5: Some(md5_hex(&extra)), unpack: Unpack::Keep },
    ];
    // The second file is missing: the fetch fails after the first is in.
    let err = fetch(&info(remotes.clone()), &dirs, &options(format!("{}/m", server.url))).unwrap_err();
    assert!(matches!(err, FetchError::Http { status: 404, .. }), "{err}");
    drop(server);
    files.insert("/m/extra.bin".into(), Behaviour::Whole(extra));
    let server = Server::start(files);
    fetch(&info(remotes), &dirs, &options(format!("{}/m", server.url))).expect("the second run completes");
    let paths: Vec<String> = server.requests().into_iter().map(|(path, _)| path).collect();
    assert_eq!(paths, ["/m/extra.bin"], "the finished archive was fetched again");
    assert!(!data.path().join("cifar10/.lossgp-fetched-cifar-10-binary.tar.gz").exists(), "stamps are cleaned up");
}

#[test]
fn an_unverifiable_archive_that_does_not_unpack_is_deleted() {
    let archive = cifar_archive();
    let cut = archive[..archive.len() / 2].to_vec();
    let server = Server::start(HashMap::from([("/m/maps.zip".to_owned(), Behaviour::Whole(cut))]));
    let data = tempfile::TempDir::new().expect("a temporary directory");
    let remote =
        Remote { url: "", file: "maps.zip", bytes: None, md5: None, unpack: Unpack::Archive { into: "", then: &[] } };
    let err = fetch(&info(vec![remote]), &DataDir::at(data.path()), &options(format!("{}/m", server.url))).unwrap_err();
    assert!(
        err.to_string()
            .contains("no checksum is published for it, so it may be an incomplete download: it was deleted"),
        "{err}"
    );
    assert!(!data.path().join("cifar10/maps.zip").exists());
}

#[test]
fn an_unsafe_entry_is_reported_as_unsafe_not_as_a_broken_download() {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("../../../escaped.txt", zip::write::SimpleFileOptions::default()).expect("zip entry");
    zip.write_all(b"evil").expect("zip data");
    let server = Server::start(HashMap::from([(
        "/m/maps.zip".to_owned(),
        Behaviour::Whole(zip.finish().expect("zip").into_inner()),
    )]));
    let data = tempfile::TempDir::new().expect("a temporary directory");
    let remote =
        Remote { url: "", file: "maps.zip", bytes: None, md5: None, unpack: Unpack::Archive { into: "", then: &[] } };
    let err = fetch(&info(vec![remote]), &DataDir::at(data.path()), &options(format!("{}/m", server.url)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refusing to unpack entry `../../../escaped.txt`: its path leaves the target folder"),
        "{err}"
    );
    assert!(err.contains("not the archive the dataset publishes"), "{err}");
    assert!(!err.contains("incomplete download"), "the refusal blames the download: {err}");
    assert_eq!(err.matches("maps.zip").count(), 1, "the archive is named once: {err}");
    assert!(data.path().join("cifar10/maps.zip").exists(), "the refused archive is kept for inspection");
}

#[test]
fn a_multi_member_tar_gz_unpacks_whole() {
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let mut tar = tar::Builder::new(Vec::new());
    for name in ["a.txt", "b.txt"] {
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, &b"abc"[..]).expect("a tar entry");
    }
    let tar = tar.into_inner().expect("tar");
    // Two gzip members, split inside the second entry (as pigz or `cat a.gz b.gz` can leave it).
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).expect("gzip");
        encoder.finish().expect("gzip")
    };
    let path = dir.path().join("two.tar.gz");
    std::fs::write(&path, [gzip(&tar[..700]), gzip(&tar[700..])].concat()).expect("write");
    assert_eq!(unpack(&path, &dir.path().join("out"), false).expect("unpacks"), 2);
    assert_eq!(std::fs::read(dir.path().join("out/b.txt")).expect("b.txt"), b"abc");
}

/// The UCI digits as their catalogue entry downloads them (from a mirror here), opened by name:
/// 1,797 lines of 64 values and a class, split 80/20 by class.
#[test]
fn the_digits_download_from_their_catalogue_entry_and_open() {
    let lines: Vec<String> = (0..1_797)
        .map(|i| {
            (0..64).map(|p| ((i + p) % 17).to_string()).chain([(i % 10).to_string()]).collect::<Vec<_>>().join(",")
        })
        .collect();
    let file = (lines.join("\r\n") + "\r\n").into_bytes();
    let server = Server::start(HashMap::from([("/uci/optdigits.tes".into(), Behaviour::Whole(file.clone()))]));
    let data = tempfile::TempDir::new().expect("a temporary directory");
    let dirs = DataDir::at(data.path());
    let Source::Download([remote]) = lossgp_datasets::info("digits").expect("catalogued").source else {
        panic!("the digits are one file to download")
    };
    assert!(remote.url.starts_with("https://archive.ics.uci.edu/") && remote.url.ends_with("/optdigits.tes"));
    let target = dirs.dataset("digits").join(remote.file);
    std::fs::create_dir_all(target.parent().unwrap()).expect("mkdir");
    let report = download(&format!("{}/uci/{}", server.url, remote.file), &target, remote, &quiet()).expect("download");
    assert_eq!(report.bytes, file.len() as u64);
    // The data directory comes before Debian's copy, so this opens the file just downloaded.
    let train = lossgp_datasets::open("digits", Split::Train, &dirs).expect("the digits open");
    let test = lossgp_datasets::open("digits", Split::Test, &dirs).expect("the digits open");
    assert_eq!((train.len(), test.len()), (1_437, 360));
    assert_eq!(train.image_shape(), Some((8, 8, 1)));
    let sample = test.sample(0).expect("a sample");
    assert_eq!(sample.image.pixels().len(), 64);
}
