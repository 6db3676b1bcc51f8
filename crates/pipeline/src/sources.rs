//! Where messages come from when scanning stored mail: single files (.eml, or mbox with one or
//! many messages), Maildir folders, plain folders (walked recursively, sorted) and stdin (`-`).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mailmoat_mime::Envelope;

/// One message to scan.
#[derive(Debug, Clone)]
pub struct Item {
    /// The file, or `file#N` for the N-th message (1-based) of a multi-message mbox.
    pub label: String,
    pub raw: Vec<u8>,
    pub envelope: Envelope,
}

/// A file to read (or stdin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn label(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Files inside folders with these endings are not messages (the SpamAssassin npm package
/// keeps a .json beside each message); named files are always read.
const NOT_MAIL: &[&str] = &["json", "js", "md", "gz", "tgz", "zip"];

/// Expands command-line arguments to inputs: folders are walked (a Maildir's `cur` and `new`
/// only), files are kept as given. Arguments that cannot be read are returned as errors.
pub fn expand(args: &[String]) -> (Vec<Input>, Vec<(String, io::Error)>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(arg);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut visited = std::collections::HashSet::new();
                if let Err(e) = walk(path, &mut inputs, &mut visited) {
                    errors.push((arg.clone(), e));
                }
            }
            Ok(_) => inputs.push(Input::File(path.to_path_buf())),
            Err(e) => errors.push((arg.clone(), e)),
        }
    }
    (inputs, errors)
}

/// Walks a folder; `visited` holds canonical folders already walked, so a symlink loop (a
/// folder linking to its parent) ends instead of recursing forever.
fn walk(
    dir: &Path,
    out: &mut Vec<Input>,
    visited: &mut std::collections::HashSet<PathBuf>,
) -> io::Result<()> {
    if !visited.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    let is_maildir = dir.join("cur").is_dir() && dir.join("new").is_dir();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if is_maildir && name == "tmp" {
                continue; // messages still being written
            }
            walk(&path, out, visited)?;
        } else if !is_maildir {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !NOT_MAIL.contains(&ext.as_str()) {
                out.push(Input::File(path));
            }
        }
    }
    Ok(())
}

/// Every message under the paths (the first path that cannot be expanded is an error).
pub fn read_all(paths: &[String]) -> io::Result<Vec<Item>> {
    let (inputs, errors) = expand(paths);
    if let Some((path, e)) = errors.into_iter().next() {
        return Err(io::Error::new(e.kind(), format!("{path}: {e}")));
    }
    let mut out = Vec::new();
    for input in &inputs {
        out.extend(read(input)?);
    }
    Ok(out)
}

/// Reads an input into its messages (more than one only for mbox files).
pub fn read(input: &Input) -> io::Result<Vec<Item>> {
    let bytes = match input {
        Input::Stdin => {
            let mut buf = Vec::new();
            io::stdin().lock().read_to_end(&mut buf)?;
            buf
        }
        Input::File(path) => std::fs::read(path)?,
    };
    Ok(split(&input.label(), bytes))
}

/// Splits bytes into messages: an mbox when it starts with a `From ` line, else one message.
pub fn split(label: &str, bytes: Vec<u8>) -> Vec<Item> {
    if !bytes.starts_with(b"From ") {
        return vec![Item {
            label: label.to_string(),
            raw: bytes,
            envelope: Envelope::default(),
        }];
    }
    let mut starts = vec![0usize];
    let mut pos = 0;
    while let Some(i) = memchr::memmem::find(&bytes[pos..], b"\n\nFrom ") {
        starts.push(pos + i + 2);
        pos += i + 2;
    }
    // CRLF files
    if starts.len() == 1 {
        pos = 0;
        while let Some(i) = memchr::memmem::find(&bytes[pos..], b"\r\n\r\nFrom ") {
            starts.push(pos + i + 4);
            pos += i + 4;
        }
    }
    let many = starts.len() > 1;
    let mut items = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(bytes.len());
        let chunk = &bytes[start..end];
        let line_end = memchr::memchr(b'\n', chunk)
            .map(|i| i + 1)
            .unwrap_or(chunk.len());
        let envelope = from_line_envelope(&chunk[..line_end]);
        let raw = unescape_from(&chunk[line_end..]);
        items.push(Item {
            label: if many {
                format!("{label}#{}", n + 1)
            } else {
                label.to_string()
            },
            raw,
            envelope,
        });
    }
    items
}

/// `From sender@example.com  Thu Aug 22 13:17:22 2002`: the envelope sender and when the
/// message was delivered.
fn from_line_envelope(line: &[u8]) -> Envelope {
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace().skip(1);
    let sender = words
        .next()
        .filter(|s| *s != "MAILER-DAEMON")
        .map(|s| s.to_string());
    let rest: Vec<&str> = words.collect();
    Envelope {
        mail_from: sender,
        received_at: parse_asctime(&rest),
        ..Envelope::default()
    }
}

/// `Thu Aug 22 13:17:22 2002` (asctime, UTC assumed) to Unix seconds.
fn parse_asctime(words: &[&str]) -> Option<i64> {
    let [_, month, day, time, year, ..] = words else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| month.to_ascii_lowercase().starts_with(m))? as i64
        + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>());
    let (h, m, s) = (
        hms.next()?.ok()?,
        hms.next()?.ok()?,
        hms.next().unwrap_or(Ok(0)).ok()?,
    );
    if !(1..=31).contains(&day) || !(0..24).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// mboxrd: a body line `>From ` (any number of `>`) had one `>` added on the way in.
fn unescape_from(body: &[u8]) -> Vec<u8> {
    if memchr::memmem::find(body, b"\n>").is_none() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if quotes > 0 && line[quotes..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_eml_is_one_item() {
        let items = split("a.eml", b"Subject: x\n\nbody\n".to_vec());
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].label, "a.eml");
        assert_eq!(items[0].envelope, Envelope::default());
    }

    #[test]
    fn mbox_splits_and_reads_the_from_line() {
        let mbox = b"From alice@example.com  Thu Aug 22 13:17:22 2002\nSubject: one\n\nbody\n>From here\n\nFrom bob@example.com Fri Aug 23 00:00:00 2002\nSubject: two\n\nbody\n";
        let items = split("box", mbox.to_vec());
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].label, "box#1");
        assert_eq!(
            items[0].envelope.mail_from.as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(items[0].envelope.received_at, Some(1030022242));
        assert!(items[0].raw.starts_with(b"Subject: one"));
        assert!(
            items[0].raw.windows(11).any(|w| w == b"\nFrom here\n"),
            "mboxrd unescaped"
        );
        assert_eq!(
            items[1].envelope.mail_from.as_deref(),
            Some("bob@example.com")
        );
    }

    #[test]
    fn single_message_mbox_keeps_the_file_name() {
        let items = split(
            "00001.txt",
            b"From a@b  Thu Aug 22 13:17:22 2002\nSubject: x\n\nhi\n".to_vec(),
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].label, "00001.txt");
    }

    #[test]
    fn folders_maildirs_and_missing_paths() {
        let root = std::env::temp_dir().join(format!("mailmoat-sources-{}", std::process::id()));
        let md = root.join("Maildir");
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(md.join(d)).unwrap();
        }
        std::fs::write(md.join("cur/1"), b"Subject: a\n\n").unwrap();
        std::fs::write(md.join("new/2"), b"Subject: b\n\n").unwrap();
        std::fs::write(md.join("tmp/3"), b"Subject: c\n\n").unwrap();
        std::fs::create_dir_all(root.join("plain/sub")).unwrap();
        std::fs::write(root.join("plain/sub/x.eml"), b"Subject: d\n\n").unwrap();
        std::fs::write(root.join("plain/x.json"), b"{}").unwrap();
        std::fs::write(root.join("plain/.hidden"), b"").unwrap();
        let (inputs, errors) = expand(&[
            md.display().to_string(),
            root.join("plain").display().to_string(),
            root.join("missing").display().to_string(),
        ]);
        let names: Vec<String> = inputs
            .iter()
            .map(|i| {
                i.label()
                    .strip_prefix(&root.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            vec!["/Maildir/cur/1", "/Maildir/new/2", "/plain/sub/x.eml"]
        );
        assert_eq!(errors.len(), 1);

        // A symlink back to the parent folder is walked once, not forever.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("plain"), root.join("plain/sub/loop")).unwrap();
            let (inputs, errors) = expand(&[root.join("plain").display().to_string()]);
            assert_eq!(inputs.len(), 1, "{inputs:?}");
            assert!(errors.is_empty());
        }
        std::fs::remove_dir_all(&root).ok();
    }
}
