//! Downloading datasets: resumable transfers, checksum verification, safe unpacking.
//!
//! A file downloads to `NAME.part` beside its destination. A transfer that breaks off resumes
//! from where it stopped with an HTTP range request, and only a file whose size and published
//! MD5 check out is renamed into place. Archives unpack entry by entry; an entry whose path
//! would leave the target folder (absolute, or through `..`) or that is a link stops the
//! unpacking with an error, so a hostile archive cannot write anywhere else.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lossgp_core::data::DataError;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::location::DataDir;
use crate::registry::{FETCHED_STAMP, Info, Remote, Source, UNPACKING_MARKER, Unpack, locate};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The dataset cannot be downloaded automatically.
    #[error("{dataset} cannot be downloaded automatically: {instructions}")]
    Manual {
        /// The dataset.
        dataset: String,
        /// What to do instead.
        instructions: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}; check the address, or use --mirror")]
    Http {
        /// The address.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The transfer failed and kept failing.
    #[error("downloading {url} failed after {attempts} attempts: {message}; run the fetch again to resume")]
    Network {
        /// The address.
        url: String,
        /// How often it was tried.
        attempts: usize,
        /// The last error.
        message: String,
    },
    /// The downloaded file is not the published one.
    #[error(
        "{}: {what} mismatch: expected {expected}, got {actual}; the download is corrupt or the file changed upstream, so it was deleted; run the fetch again",
        path.display()
    )]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// `size` or `MD5`.
        what: &'static str,
        /// The published value.
        expected: String,
        /// The downloaded file's.
        actual: String,
    },
    /// An archive entry that would be written outside the target folder, or a link. Nothing
    /// of it is written; the archive is left where it is, for inspection.
    #[error(
        "{}: refusing to unpack entry `{entry}`: {reason}. This is not the archive the dataset publishes (a \
         download is never cut short into such an entry): check the address it came from (--mirror), delete \
         it, and fetch again from the official source",
        archive.display()
    )]
    Unsafe {
        /// The archive.
        archive: PathBuf,
        /// The entry's path as stored.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An archive that cannot be read.
    #[error("{}: {message}", archive.display())]
    Archive {
        /// The archive.
        archive: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |e| FetchError::Data(DataError::io(path, e))
}

/// Options of a fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Download every file from `MIRROR/<file name>` instead of its official address.
    pub mirror: Option<String>,
    /// Keep archives after unpacking them.
    pub keep_archives: bool,
    /// Show progress bars on stderr (only drawn on a terminal).
    pub progress: bool,
    /// How often a broken transfer is resumed before giving up.
    pub attempts: usize,
    /// How long the server may stay silent: to answer a request, or between two reads of the
    /// body. A transfer may take as long as it needs while data keeps coming.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            keep_archives: false,
            progress: true,
            attempts: 5,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What a fetch did.
#[derive(Clone, Debug, Serialize)]
pub struct FetchReport {
    /// The dataset.
    pub dataset: String,
    /// Its folder.
    pub path: PathBuf,
    /// Whether it was already there (nothing was downloaded).
    pub already_present: bool,
    /// The files downloaded.
    pub files: Vec<FileReport>,
}

/// One downloaded file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Its name.
    pub file: String,
    /// Where it came from.
    pub url: String,
    /// Its size.
    pub bytes: u64,
    /// Its MD5 digest.
    pub md5: String,
    /// Its SHA-256 digest.
    pub sha256: String,
    /// Whether a published checksum confirmed it (false where none is published).
    pub verified: bool,
}

/// Downloads and unpacks a catalogued dataset into its folder of the data directory, unless it
/// is already there.
pub fn fetch(info: &Info, dirs: &DataDir, options: &FetchOptions) -> Result<FetchReport, FetchError> {
    let dataset_dir = dirs.dataset(info.name);
    if let Some(path) = locate(info.name, dirs) {
        return Ok(FetchReport { dataset: info.name.into(), path, already_present: true, files: Vec::new() });
    }
    let remotes = match info.source {
        Source::Download(remotes) => remotes,
        Source::Manual(how) => {
            let instructions = how.replace("DATA_DIR", &dirs.root().display().to_string());
            return Err(FetchError::Manual { dataset: info.name.into(), instructions });
        }
    };
    std::fs::create_dir_all(&dataset_dir).map_err(io(&dataset_dir))?;
    let mut files = Vec::new();
    for remote in remotes {
        // A file fetched and unpacked by an earlier, interrupted run is not fetched again.
        let stamp = dataset_dir.join(format!("{FETCHED_STAMP}{}", remote.file));
        if stamp.exists() {
            continue;
        }
        let url = match &options.mirror {
            Some(mirror) => format!("{}/{}", mirror.trim_end_matches('/'), remote.file),
            None => remote.url.to_owned(),
        };
        let path = dataset_dir.join(remote.file);
        files.push(download(&url, &path, remote, options)?);
        if let Unpack::Archive { into, then } = remote.unpack {
            let marker = dataset_dir.join(UNPACKING_MARKER);
            File::create(&marker).map_err(io(&marker))?;
            let target = dataset_dir.join(into);
            if let Err(e) = unpack(&path, &target, options.progress) {
                return Err(match e {
                    // Only an archive that cannot be read may be a download cut short, and only
                    // without a published checksum can such a download look whole: delete it, so
                    // that the next run downloads it again instead of failing the same way. A
                    // refused entry or a full disk is reported as it is.
                    FetchError::Archive { message, .. } if remote.md5.is_none() => {
                        let _ = std::fs::remove_file(&path);
                        FetchError::Archive {
                            archive: path,
                            message: format!(
                                "{message}; no checksum is published for it, so it may be an incomplete download: it was deleted, run the fetch again"
                            ),
                        }
                    }
                    other => other,
                });
            }
            for inner in then {
                let inner = dataset_dir.join(inner);
                unpack(&inner, &dataset_dir, options.progress)?;
                std::fs::remove_file(&inner).map_err(io(&inner))?;
            }
            if !options.keep_archives {
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
            std::fs::remove_file(&marker).map_err(io(&marker))?;
        }
        File::create(&stamp).map_err(io(&stamp))?;
    }
    // Every file is in: the stamps have served their purpose.
    for remote in remotes {
        let _ = std::fs::remove_file(dataset_dir.join(format!("{FETCHED_STAMP}{}", remote.file)));
    }
    Ok(FetchReport { dataset: info.name.into(), path: dataset_dir, already_present: false, files })
}

/// Downloads `url` to `path`, resuming a partial download left by an earlier attempt, and
/// checks the result against `remote`'s published size and MD5. A file already at `path` that
/// passes the checks is not downloaded again.
pub fn download(url: &str, path: &Path, remote: &Remote, options: &FetchOptions) -> Result<FileReport, FetchError> {
    if path.is_file() {
        if let Ok(report) = verify(path, url, remote) {
            return Ok(report);
        }
        std::fs::remove_file(path).map_err(io(path))?;
    }
    let part = PathBuf::from(format!("{}.part", path.display()));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(options.timeout))
        .timeout_recv_response(Some(options.timeout))
        .timeout_per_read(Some(options.timeout))
        .build()
        .into();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("download").to_owned();
    let bar = progress_bar(options.progress, &name);
    let mut last_error = String::new();
    let mut done = false;
    for attempt in 0..options.attempts.max(1) {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200 * (1 << attempt.min(5))));
        }
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        // Ask for the bytes as stored: a server compressing on the fly would change the checksum.
        let mut request = agent.get(url).header("Accept-Encoding", "identity");
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = match request.call() {
            Ok(response) => response,
            // A range past the end: the partial file is already whole.
            Err(ureq::Error::StatusCode(416)) if have > 0 => {
                done = true;
                break;
            }
            // Client errors will not go away by asking again, except "too many requests".
            Err(ureq::Error::StatusCode(status)) if status < 500 && status != 429 => {
                return Err(FetchError::Http { url: url.into(), status });
            }
            Err(e) => {
                last_error = e.to_string();
                continue;
            }
        };
        let resumed = response.status() == 206;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(&part)
            .map_err(io(&part))?;
        let start = if resumed { have } else { 0 };
        // Without a Content-Length (a chunked response), the published size tells a transfer
        // that ended early from a whole one.
        let expected = response.body().content_length().map(|len| start + len).or(remote.bytes);
        bar.set_length(expected.or(remote.bytes).unwrap_or(0));
        bar.set_position(start);
        let mut reader = response.body_mut().as_reader();
        let mut buffer = vec![0u8; 1 << 16];
        let mut written = start;
        let outcome = loop {
            match reader.read(&mut buffer) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    file.write_all(&buffer[..n]).map_err(io(&part))?;
                    written += n as u64;
                    bar.set_position(written);
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        file.flush().map_err(io(&part))?;
        match (outcome, expected) {
            (Err(message), _) => last_error = message,
            (Ok(()), Some(expected)) if written < expected => {
                last_error = format!("the connection closed after {written} of {expected} bytes");
            }
            (Ok(()), _) => {
                done = true;
                break;
            }
        }
    }
    bar.finish_and_clear();
    if !done {
        return Err(FetchError::Network { url: url.into(), attempts: options.attempts.max(1), message: last_error });
    }
    match verify(&part, url, remote) {
        Ok(report) => {
            std::fs::rename(&part, path).map_err(io(path))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(match e {
                FetchError::Mismatch { what, expected, actual, .. } => {
                    FetchError::Mismatch { path: path.to_owned(), what, expected, actual }
                }
                other => other,
            })
        }
    }
}

/// Checks a file's size and MD5 against the published ones, and reports its digests.
fn verify(path: &Path, url: &str, remote: &Remote) -> Result<FileReport, FetchError> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io(path))?);
    let (mut md5, mut sha256) = (Md5::new(), Sha256::new());
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buffer).map_err(io(path))?;
        if n == 0 {
            break;
        }
        md5.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        bytes += n as u64;
    }
    let hex = |digest: &[u8]| digest.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (md5, sha256) = (hex(&md5.finalize()), hex(&sha256.finalize()));
    let mismatch =
        |what, expected: String, actual: String| FetchError::Mismatch { path: path.to_owned(), what, expected, actual };
    if let Some(expected) = remote.bytes.filter(|&b| b != bytes) {
        return Err(mismatch("size", format!("{expected} bytes"), format!("{bytes} bytes")));
    }
    if let Some(expected) = remote.md5.filter(|m| !m.eq_ignore_ascii_case(&md5)) {
        return Err(mismatch("MD5", expected.to_owned(), md5));
    }
    Ok(FileReport { file: remote.file.into(), url: url.into(), bytes, md5, sha256, verified: remote.md5.is_some() })
}

fn progress_bar(show: bool, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg:30} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(name.to_owned());
    bar
}

/// Whether an archive entry's path stays inside the folder it is unpacked into.
fn is_contained(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && path.components().next().is_some()
}

/// Unpacks a tar, tar.gz or zip archive (by its name) into `into`; returns the number of files.
pub fn unpack(archive: &Path, into: &Path, progress: bool) -> Result<usize, FetchError> {
    let name = archive.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    std::fs::create_dir_all(into).map_err(io(into))?;
    let spinner = if progress { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    spinner.set_message(format!("unpacking {name}"));
    let count = if name.ends_with(".zip") {
        unpack_zip(archive, into, &spinner)?
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let file = File::open(archive).map_err(io(archive))?;
        unpack_tar(archive, flate2::read::MultiGzDecoder::new(BufReader::new(file)), into, &spinner)?
    } else if name.ends_with(".tar") {
        unpack_tar(archive, BufReader::new(File::open(archive).map_err(io(archive))?), into, &spinner)?
    } else {
        return Err(FetchError::Archive {
            archive: archive.to_owned(),
            message: "is not a .tar, .tar.gz or .zip archive".into(),
        });
    };
    spinner.finish_and_clear();
    Ok(count)
}

fn unpack_tar(archive: &Path, reader: impl Read, into: &Path, spinner: &ProgressBar) -> Result<usize, FetchError> {
    let broken = |e: std::io::Error| FetchError::Archive {
        archive: archive.to_owned(),
        message: format!("cannot be read as tar: {e}"),
    };
    let mut tar = tar::Archive::new(reader);
    let mut count = 0;
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        let unsafe_entry =
            |reason| FetchError::Unsafe { archive: archive.to_owned(), entry: path.display().to_string(), reason };
        if !is_contained(&path) {
            return Err(unsafe_entry("its path leaves the target folder"));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(unsafe_entry("links are not unpacked"));
        }
        let target = into.join(&path);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            entry.unpack(&target).map_err(|e| written_or_broken(e, &target, &broken))?;
            count += 1;
            spinner.set_position(count as u64);
        }
    }
    Ok(count)
}

/// An error while unpacking an entry: the archive's data is bad (`broken`), or writing
/// `target` failed (a full disk, no permission), which says nothing about the archive.
fn written_or_broken(e: std::io::Error, target: &Path, broken: &dyn Fn(std::io::Error) -> FetchError) -> FetchError {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    if matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) { broken(e) } else { io(target)(e) }
}

fn unpack_zip(archive: &Path, into: &Path, spinner: &ProgressBar) -> Result<usize, FetchError> {
    let broken = |e: zip::result::ZipError| FetchError::Archive {
        archive: archive.to_owned(),
        message: format!("cannot be read as zip: {e}"),
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(archive).map_err(io(archive))?)).map_err(broken)?;
    let mut count = 0;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(broken)?;
        let stored = file.name().map_err(broken)?.into_owned();
        let unsafe_entry = |reason| FetchError::Unsafe { archive: archive.to_owned(), entry: stored.clone(), reason };
        // The zip crate would quietly make an absolute path relative; refuse it like tar's.
        let Some(path) = file.enclosed_name().filter(|p| is_contained(p) && is_contained(Path::new(&stored))) else {
            return Err(unsafe_entry("its path leaves the target folder"));
        };
        if file.is_symlink() {
            return Err(unsafe_entry("links are not unpacked"));
        }
        // macOS resource forks that some archives carry.
        if path.starts_with("__MACOSX") {
            continue;
        }
        let target = into.join(&path);
        if file.is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = File::create(&target).map_err(io(&target))?;
        let entry_broken = |e: std::io::Error| FetchError::Archive {
            archive: archive.to_owned(),
            message: format!("entry `{stored}`: {e}"),
        };
        std::io::copy(&mut file, &mut out).map_err(|e| written_or_broken(e, &target, &entry_broken))?;
        count += 1;
        spinner.set_position(count as u64);
    }
    Ok(count)
}
