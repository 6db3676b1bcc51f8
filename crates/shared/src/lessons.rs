//! Classifier lessons between nodes. Each node keeps its own copy of the learned model (a
//! file, as with one node); a lesson learnt on one node (a release, "spam"/"not spam", a
//! feedback report) is also appended to a Redis stream as the message's hashed features and
//! its label, and every other node applies it to its own copy.
//!
//! Consistency: every node applies every retained lesson once, in stream order, remembering the
//! last one applied in a file beside its model; a node that was stopped or cut off catches up
//! when it is back. Copies are not bit-identical (a node learns its own lessons first) but see
//! the same lessons. A lesson made while Redis is unreachable is learnt at once on its own node
//! and queued in memory (bounded) until Redis is back; the stream keeps the newest `max_len`
//! lessons, so a node away for longer misses the oldest (it says so in its log).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::streams::StreamReadReply;

use crate::link::RedisLink;

/// Lessons waiting for Redis at most; older ones are dropped first.
const MAX_WAITING: usize = 10_000;
/// How long one read waits for new lessons (the stop flag is checked in between).
const BLOCK: Duration = Duration::from_secs(1);

/// One labelled message, as the classifier sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    pub spam: bool,
    /// The feature space the indices are hashed into (the model's `bits`).
    pub bits: u32,
    /// Hashed feature indices (what `mailmoat_classifier::features` returns).
    pub features: Vec<u32>,
    /// Why it was learnt ("released", "feedback"), for the receiving node's change log.
    pub why: String,
}

/// A lesson as another node published it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub lesson: Lesson,
    pub node: String,
    /// The stream entry's id.
    pub id: String,
}

/// The lesson stream of one site.
pub struct LessonBus {
    link: Arc<RedisLink>,
    stream: String,
    node: String,
    max_len: usize,
    waiting: Mutex<VecDeque<Lesson>>,
}

impl LessonBus {
    pub fn new(link: Arc<RedisLink>, prefix: &str, node: &str, max_len: usize) -> LessonBus {
        LessonBus {
            link,
            stream: format!("{prefix}lessons"),
            node: node.to_string(),
            max_len: max_len.max(1),
            waiting: Mutex::new(VecDeque::new()),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Hands a lesson to the other nodes: appended now, or queued until Redis is back. Returns
    /// whether nothing is left waiting.
    pub fn publish(&self, lesson: Lesson) -> bool {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if waiting.len() >= MAX_WAITING {
                waiting.pop_front();
                tracing::warn!("shared lessons: queue full while redis is unreachable; the oldest waiting lesson is dropped");
            }
            waiting.push_back(lesson);
        }
        self.flush() == 0
    }

    /// Appends queued lessons in order, stopping at the first failure; returns how many wait.
    pub fn flush(&self) -> usize {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(lesson) = waiting.front() {
            let appended = self.link.with("lesson append", |c| {
                redis::cmd("XADD")
                    .arg(&self.stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.max_len)
                    .arg("*")
                    .arg("node")
                    .arg(&self.node)
                    .arg("label")
                    .arg(if lesson.spam { "spam" } else { "ham" })
                    .arg("bits")
                    .arg(lesson.bits)
                    .arg("features")
                    .arg(encode(&lesson.features))
                    .arg("why")
                    .arg(&lesson.why)
                    .query::<String>(c)
            });
            if appended.is_none() {
                break;
            }
            waiting.pop_front();
        }
        waiting.len()
    }

    /// Lessons made here and not yet appended.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Follows the stream on a thread of its own until `stop`: each batch of other nodes'
    /// lessons goes to `apply`, then the position is saved in `position` (a small file).
    /// Lessons queued here are appended whenever the link allows.
    pub fn follow(
        self: &Arc<Self>,
        position: PathBuf,
        stop: Arc<AtomicBool>,
        mut apply: impl FnMut(Vec<Received>) + Send + 'static,
    ) -> io::Result<JoinHandle<()>> {
        let bus = self.clone();
        std::thread::Builder::new()
            .name("shared-lessons".into())
            .spawn(move || {
                let mut last = read_position(&position);
                let mut conn: Option<redis::Connection> = None;
                while !stop.load(Ordering::Relaxed) {
                    bus.flush();
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match bus.link.connect(BLOCK + Duration::from_secs(2)) {
                            Ok(mut c) => {
                                bus.warn_if_missed(&mut c, &last);
                                conn.insert(c)
                            }
                            Err(e) => {
                                bus.link.failed("lesson read", &e);
                                pause(&stop);
                                continue;
                            }
                        },
                    };
                    let reply = redis::cmd("XREAD")
                        .arg("COUNT")
                        .arg(256)
                        .arg("BLOCK")
                        .arg(BLOCK.as_millis() as u64)
                        .arg("STREAMS")
                        .arg(&bus.stream)
                        .arg(&last)
                        .query::<Option<StreamReadReply>>(c);
                    let reply = match reply {
                        Ok(r) => {
                            bus.link.recovered();
                            r
                        }
                        Err(e) => {
                            if crate::link::is_link_failure(&e) {
                                bus.link.failed("lesson read", &e);
                            } else {
                                tracing::warn!(error = %e, "shared lessons: unreadable reply");
                            }
                            conn = None;
                            pause(&stop);
                            continue;
                        }
                    };
                    let Some(reply) = reply else { continue };
                    let mut batch = Vec::new();
                    for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                        last = entry.id.clone();
                        match decode(entry) {
                            Ok(r) if r.node == bus.node => {}
                            Ok(r) => batch.push(r),
                            Err((id, why)) => {
                                tracing::warn!(id, why, "shared lessons: entry skipped")
                            }
                        }
                    }
                    if !batch.is_empty() {
                        apply(batch);
                    }
                    if let Err(e) = write_position(&position, &last) {
                        tracing::error!(file = %position.display(), error = %e, "shared lessons: could not save the position; lessons may be learnt again after a restart");
                    }
                }
            })
    }

    /// Lessons older than the stream's first were trimmed before this node read them.
    fn warn_if_missed(&self, c: &mut redis::Connection, last: &str) {
        if last == "0-0" {
            return;
        }
        let first = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query::<redis::streams::StreamRangeReply>(c)
            .ok()
            .and_then(|r| r.ids.into_iter().next());
        if let Some(first) = first {
            if id_order(&first.id) > id_order(last) {
                tracing::warn!(
                    last_applied = last,
                    oldest_kept = %first.id,
                    "shared lessons: this node was away longer than the stream keeps lessons; some were missed"
                );
            }
        }
    }
}

fn pause(stop: &AtomicBool) {
    for _ in 0..10 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A stream id (`ms-seq`) as a pair that orders like the ids.
fn id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

fn encode(features: &[u32]) -> Vec<u8> {
    features.iter().flat_map(|f| f.to_le_bytes()).collect()
}

fn decode(entry: redis::streams::StreamId) -> Result<Received, (String, String)> {
    let id = entry.id;
    let field = |name: &str| -> Result<Vec<u8>, (String, String)> {
        let value = entry
            .map
            .get(name)
            .ok_or_else(|| (id.clone(), format!("no {name} field")))?;
        redis::from_redis_value_ref::<Vec<u8>>(value)
            .map_err(|e| (id.clone(), format!("{name}: {e}")))
    };
    let text = |name: &str| -> Result<String, (String, String)> {
        String::from_utf8(field(name)?).map_err(|_| (id.clone(), format!("{name} is not UTF-8")))
    };
    let spam = match text("label")?.as_str() {
        "spam" => true,
        "ham" => false,
        other => return Err((id.clone(), format!("label {other:?}"))),
    };
    let bits: u32 = text("bits")?
        .parse()
        .map_err(|_| (id.clone(), "bits is not a number".to_string()))?;
    let raw = field("features")?;
    if raw.len() % 4 != 0 {
        return Err((id.clone(), "features are not whole u32s".into()));
    }
    let features = raw
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Received {
        node: text("node")?,
        lesson: Lesson {
            spam,
            bits,
            features,
            why: text("why").unwrap_or_default(),
        },
        id: id.clone(),
    })
}

/// The last id applied, or the stream's start.
fn read_position(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| {
            s.split_once('-')
                .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok())
        })
        .unwrap_or_else(|| "0-0".to_string())
}

fn write_position(path: &Path, id: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, id)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip_through_bytes() {
        let f = vec![0, 1, 0xdead_beef, u32::MAX];
        let raw = encode(&f);
        let back: Vec<u32> = raw
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(back, f);
    }

    #[test]
    fn ids_order_numerically() {
        assert!(id_order("1700000000000-10") > id_order("1700000000000-9"));
        assert!(id_order("1700000000001-0") > id_order("1700000000000-99"));
    }

    #[test]
    fn a_damaged_position_file_starts_from_the_beginning() {
        let dir = std::env::temp_dir().join(format!("mm-lesson-pos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pos");
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(read_position(&p), "0-0");
        write_position(&p, "17-3").unwrap();
        assert_eq!(read_position(&p), "17-3");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
