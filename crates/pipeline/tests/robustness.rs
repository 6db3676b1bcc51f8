//! Hostile and damaged input: every sample and case message, truncated at many points and with
//! bytes flipped, must get a verdict without a panic and keep its bytes.

use std::path::Path;

use mailmoat_mime::Envelope;
use mailmoat_pipeline::{Config, Scanner};

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    let mut dirs = vec![root.join("samples")];
    for d in std::fs::read_dir(root.join("crates/detectors/src")).unwrap() {
        dirs.push(d.unwrap().path().join("cases"));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            // Case files: the message follows the first blank line.
            let body = match bytes.windows(2).position(|w| w == b"\n\n") {
                Some(i) if dir.ends_with("cases") => bytes[i + 2..].to_vec(),
                _ => bytes,
            };
            out.push(body);
        }
    }
    out
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn mutated_messages_never_panic() {
    let scanner = Scanner::new(&Config::defaults()).unwrap();
    let mut rng = Lcg(0x6d61696c6d6f6174);
    let interesting = [
        0u8, b'\r', b'\n', b'-', b'=', b'?', b'<', b'>', b'"', b':', 0xff, 0x1b, 0x0e, b' ',
    ];
    let mut scanned = 0;
    for seed in seeds() {
        let len = seed.len().max(1);
        for cut in [1, len / 7, len / 3, len / 2, len * 2 / 3, len - 1] {
            let m = seed[..cut.min(seed.len())].to_vec();
            let r = scanner.scan(m.clone(), Envelope::default());
            assert_eq!(r.view.raw, m);
            scanned += 1;
        }
        for _ in 0..25 {
            let mut m = seed.clone();
            for _ in 0..(1 + rng.next() % 8) {
                if m.is_empty() {
                    break;
                }
                let at = (rng.next() as usize) % m.len();
                match rng.next() % 3 {
                    0 => m[at] = interesting[(rng.next() as usize) % interesting.len()],
                    1 => {
                        m.remove(at);
                    }
                    _ => {
                        let from = (rng.next() as usize) % m.len();
                        let chunk: Vec<u8> = m[from..(from + 40).min(m.len())].to_vec();
                        m.splice(at..at, chunk);
                    }
                }
            }
            let r = scanner.scan(m.clone(), Envelope::default());
            assert_eq!(r.view.raw, m);
            scanned += 1;
        }
    }
    assert!(scanned > 1000, "{scanned}");
}

/// A long run of one character between two letters (300,000 zero-width spaces were a minute of
/// CPU in the text-disguise detector, whose count of invisible characters looked both ways from
/// each of them). Each such message is scanned well within a bound a stuck worker would pass.
#[test]
fn long_runs_of_one_character_do_not_hold_the_scan() {
    let scanner = Scanner::new(&Config::defaults()).unwrap();
    for filler in ['\u{200B}', '\u{00AD}', '\u{200D}', 'а', ' '] {
        let body: String = std::iter::repeat_n(filler, 300_000).collect();
        let raw = format!(
            "From: a@sender.example\r\nTo: b@example.com\r\nSubject: run\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             x{body}y\r\n"
        );
        let start = std::time::Instant::now();
        let report = scanner.scan(raw.clone().into_bytes(), Envelope::default());
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(20),
            "{filler:?}: {took:?}"
        );
        assert_eq!(report.view.raw, raw.as_bytes(), "the message is kept whole");
    }
}
