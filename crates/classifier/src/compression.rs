//! A compression-based classifier: one adaptive byte model per class (PPM-D, order 6, as Bratko
//! et al., "Spam filtering using statistical data compression models", JMLR 2006, found best on
//! the TREC spam tracks), over the first 2,500 bytes of what the reader sees: the subject and
//! the visible text of the view (decoded, HTML rendered). A message is spam-like when the spam
//! model codes it in fewer bits than the ham model.
//!
//! Why beside the token model: it reads what tokenisation throws away (punctuation runs, word
//! fragments, spelling, obfuscated words, the shape of the text) and needs no feature design.
//! The two disagree on different messages, which is what makes their blend
//! ([`crate::Stacker`]) stronger than either. Why the visible text and not the raw message, as
//! the TREC filters read it: raw headers let it memorise relays, dates and mailers, which helps
//! when every label comes back at once but fails on a site's newer mail (BENCHMARKS.md,
//! "Session 20").
//!
//! Counts live in fixed-size hashed tables with a fingerprint per slot (no per-context
//! allocation), so memory is set once by `bits`; when a bucket is full its rarest key is
//! forgotten. Without the fingerprints, colliding keys lent each other counts: on the replay,
//! the first (raw-bytes) design scored (1-ROCA)% 0.79 alone instead of 0.42 at 22 bits. No
//! exclusions are applied: each
//! order's estimate is PPM-D's `(2c − 1) / 2T`, an escape `d / 2T` goes one order down, order −1
//! is uniform.

use std::io::{Read, Write};
use std::path::Path;

use mailmoat_mime::MessageView;

use crate::{ModelError, Stacker};

const MAGIC: &[u8; 8] = b"MMCLPPMD";
const VERSION: u32 = 1;

/// The context length, in bytes, of the highest order.
pub const DEFAULT_ORDER: usize = 6;
/// How much of the text is read: its start carries nearly all the signal, and the cost stays
/// bounded on large mail.
pub const DEFAULT_PREFIX: usize = 2_500;
/// The score's bound, in bits per byte. A larger gap means one class never saw the alphabet
/// (a script or charset only the spam so far used), which is not evidence about this message:
/// unbounded, two such ham newsletters outranked 99 % of spam on the time split.
pub const SCORE_LIMIT: f64 = 3.0;
/// log2 of each class's symbol slots (8 bytes each; half as many context slots): 2 × 12 MiB at
/// 20. On the SpamAssassin replay and time split 20 to 24 score alike (BENCHMARKS.md, "Session
/// 20"): a full bucket forgets its rarest context.
pub const DEFAULT_BITS: u32 = 20;
/// Counts are halved when one reaches this, so they never overflow and old mail fades slowly.
const HALVE_AT: u32 = 1 << 30;

/// Slots per bucket: a key lives in one of the 4 slots of its bucket (32 bytes, one cache line's
/// half), and a new key takes an empty slot or the one with the smallest count.
const WAYS: usize = 4;

/// A hashed table of counts with a fingerprint per slot, so a lookup tells a key it never saw
/// from a colliding one (which would otherwise lend its counts), and a full bucket forgets its
/// rarest key first: memory stays fixed and the frequent contexts keep their statistics.
#[derive(Clone)]
struct Table {
    /// Each slot: fingerprint in the high `64 - value_bits` bits (0 = empty), value below.
    slots: Vec<u64>,
    buckets_mask: usize,
    value_bits: u32,
}

impl Table {
    fn new(bits: u32, value_bits: u32) -> Table {
        Table {
            slots: vec![0; 1 << bits],
            buckets_mask: (1usize << bits) / WAYS - 1,
            value_bits,
        }
    }

    fn bucket_and_check(&self, key: u64) -> (usize, u64) {
        let h = mix(key);
        let check_bits = 64 - self.value_bits;
        let check = (h >> self.value_bits) | 1;
        (
            (h as usize & self.buckets_mask) * WAYS,
            check & ((1 << check_bits) - 1),
        )
    }

    /// The value stored for `key`, or 0.
    fn get(&self, key: u64) -> u64 {
        let (at, check) = self.bucket_and_check(key);
        self.slots[at..at + WAYS]
            .iter()
            .find(|&&slot| slot >> self.value_bits == check)
            .map_or(0, |&slot| slot & self.value_mask())
    }

    fn value_mask(&self) -> u64 {
        (1 << self.value_bits) - 1
    }

    /// The slot of `key`, claimed (value 0) if absent: an empty slot, else the one whose
    /// `rank` is smallest.
    fn slot(&mut self, key: u64, rank: impl Fn(u64) -> u64) -> &mut u64 {
        let (at, check) = self.bucket_and_check(key);
        let value_bits = self.value_bits;
        let value_mask = self.value_mask();
        let bucket = &mut self.slots[at..at + WAYS];
        let index = match bucket.iter().position(|&slot| slot >> value_bits == check) {
            Some(i) => i,
            None => {
                let i = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &slot)| {
                        if slot == 0 {
                            0
                        } else {
                            1 + rank(slot & value_mask)
                        }
                    })
                    .map_or(0, |(i, _)| i);
                bucket[i] = check << value_bits;
                i
            }
        };
        &mut bucket[index]
    }
}

/// Context values: the total count in the low 31 bits, distinct symbols in the 9 above.
const TOTAL_MASK: u64 = (1 << 31) - 1;

fn context_value(total: u64, distinct: u64) -> u64 {
    total.min(TOTAL_MASK) | distinct.min(256) << 31
}

/// One class's counts.
#[derive(Clone)]
struct ByteModel {
    /// Per (context, symbol): how often the symbol followed the context (32-bit values).
    symbols: Table,
    /// Per context: total and distinct symbols (40-bit values), half as many slots.
    contexts: Table,
}

impl ByteModel {
    fn new(bits: u32) -> ByteModel {
        ByteModel {
            symbols: Table::new(bits, 32),
            contexts: Table::new(bits - 1, 40),
        }
    }

    fn symbol_key(context: u64, symbol: u8) -> u64 {
        context ^ (symbol as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// The bits needed to code `bytes` with this model.
    fn cost(&self, bytes: &[u8], order: usize) -> f64 {
        let mut bits = 0.0;
        let mut hashes = vec![0u64; order + 1];
        for (i, &symbol) in bytes.iter().enumerate() {
            context_hashes(bytes, i, order, &mut hashes);
            // Probability of `symbol`, walking down from the longest known context.
            let mut escape = 1.0f64;
            let mut p = None;
            for k in (0..=order.min(i)).rev() {
                let stats = self.contexts.get(hashes[k]);
                let (total, distinct) = (stats & TOTAL_MASK, stats >> 31);
                if total == 0 {
                    continue;
                }
                let count = self
                    .symbols
                    .get(Self::symbol_key(hashes[k], symbol))
                    .min(total);
                let twice_total = 2.0 * total as f64;
                if count > 0 {
                    p = Some(escape * (2.0 * count as f64 - 1.0) / twice_total);
                    break;
                }
                escape *= (distinct.max(1) as f64 / twice_total).min(1.0);
            }
            let p = p.unwrap_or(escape / 256.0).max(1e-12);
            bits -= p.log2();
        }
        bits
    }

    fn learn(&mut self, bytes: &[u8], order: usize) {
        let mut hashes = vec![0u64; order + 1];
        let mut halve = false;
        for (i, &symbol) in bytes.iter().enumerate() {
            context_hashes(bytes, i, order, &mut hashes);
            for &context in &hashes[..=order.min(i)] {
                let slot = self
                    .symbols
                    .slot(Self::symbol_key(context, symbol), |count| count);
                let count = (*slot & u32::MAX as u64) + 1;
                *slot = (*slot & !(u32::MAX as u64)) | count;
                let new = count == 1;
                let slot = self.contexts.slot(context, |stats| stats & TOTAL_MASK);
                let stats = *slot & ((1 << 40) - 1);
                let total = (stats & TOTAL_MASK) + 1;
                let distinct = (stats >> 31) + new as u64;
                *slot = (*slot & !((1 << 40) - 1)) | context_value(total, distinct);
                halve |= total >= HALVE_AT as u64 || count >= HALVE_AT as u64;
            }
        }
        if halve {
            self.halve();
        }
    }

    fn halve(&mut self) {
        for slot in &mut self.symbols.slots {
            let count = *slot & u32::MAX as u64;
            *slot = (*slot & !(u32::MAX as u64)) | count.div_ceil(2);
        }
        for slot in &mut self.contexts.slots {
            let stats = *slot & ((1 << 40) - 1);
            let (total, distinct) = (stats & TOTAL_MASK, stats >> 31);
            *slot = (*slot & !((1 << 40) - 1)) | context_value(total.div_ceil(2), distinct);
        }
    }
}

/// The hash of each context order 0..=order ending before `bytes[i]` (order k: the k bytes
/// before it), distinct per order.
fn context_hashes(bytes: &[u8], i: usize, order: usize, out: &mut [u64]) {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    out[0] = mix(h);
    for k in 1..=order.min(i) {
        h = (h ^ bytes[i - k] as u64).wrapping_mul(0x0000_0100_0000_01B3) ^ k as u64;
        out[k] = mix(h);
    }
}

/// A 64-bit finaliser (splitmix64): spreads every input bit over the slot index.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The two class models and how they read a message.
#[derive(Clone)]
pub struct CompressionModel {
    order: usize,
    prefix: usize,
    bits: u32,
    classes: [ByteModel; 2],
    /// How this model's score weighs against the token model's log-odds.
    stacker: Stacker,
    /// Messages learned from, by class (ham, spam).
    pub trained: [u64; 2],
}

impl std::fmt::Debug for CompressionModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressionModel")
            .field("order", &self.order)
            .field("prefix", &self.prefix)
            .field("bits", &self.bits)
            .field("trained", &self.trained)
            .finish()
    }
}

impl Default for CompressionModel {
    fn default() -> Self {
        CompressionModel::new(DEFAULT_ORDER, DEFAULT_PREFIX, DEFAULT_BITS)
    }
}

impl CompressionModel {
    /// An empty model: contexts up to `order` bytes, the first `prefix` bytes of each message,
    /// `2^bits` slots per table (orders 1–12, prefixes from 64 bytes, bits 10–28).
    pub fn new(order: usize, prefix: usize, bits: u32) -> CompressionModel {
        let (order, prefix, bits) = (order.clamp(1, 12), prefix.max(64), bits.clamp(10, 28));
        CompressionModel {
            order,
            prefix,
            bits,
            classes: [ByteModel::new(bits), ByteModel::new(bits)],
            stacker: Stacker::default(),
            trained: [0, 0],
        }
    }

    /// The part of a message the model reads (its first `prefix` bytes).
    fn read_part<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[..raw.len().min(self.prefix)]
    }

    /// What the model reads of a message: the subject and the visible text, one line break
    /// between parts, cut at the prefix length.
    pub fn reading(&self, view: &MessageView) -> Vec<u8> {
        let mut text = Vec::with_capacity(self.prefix);
        text.extend_from_slice(view.subject.as_deref().unwrap_or("").as_bytes());
        for part in view.visible_text() {
            if text.len() >= self.prefix {
                break;
            }
            text.push(b'\n');
            text.extend_from_slice(part.as_bytes());
        }
        text.truncate(self.prefix);
        text
    }

    /// How much more cheaply the spam model codes `text` (from [`Self::reading`]) than the
    /// ham model, in bits per byte, within ±[`SCORE_LIMIT`]: above 0 it reads like spam seen
    /// before, below 0 like ham. 0 until both classes have been learned.
    pub fn score(&self, text: &[u8]) -> f64 {
        let bytes = self.read_part(text);
        if bytes.is_empty() || self.trained.contains(&0) {
            return 0.0;
        }
        let ham = self.classes[0].cost(bytes, self.order);
        let spam = self.classes[1].cost(bytes, self.order);
        ((ham - spam) / bytes.len() as f64).clamp(-SCORE_LIMIT, SCORE_LIMIT)
    }

    /// Learns one message's text (from [`Self::reading`]) as spam or ham.
    pub fn learn(&mut self, text: &[u8], spam: bool) {
        let bytes = self.read_part(text);
        self.classes[spam as usize].learn(bytes, self.order);
        self.trained[spam as usize] += 1;
    }

    /// The stacking of this model with the token model (see [`Stacker`]).
    pub fn stacker(&self) -> &Stacker {
        &self.stacker
    }

    pub fn set_stacker(&mut self, stacker: Stacker) {
        self.stacker = stacker;
    }

    pub fn stacker_mut(&mut self) -> &mut Stacker {
        &mut self.stacker
    }

    /// The stacked spam probability of a message whose token model gave `token_log_odds` and
    /// whose reading is `text`.
    pub fn stacked_probability(&self, token_log_odds: f64, text: &[u8]) -> f64 {
        self.stacker.probability(token_log_odds, self.score(text))
    }

    /// The memory the tables take, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.classes
            .iter()
            .map(|c| (c.symbols.slots.len() + c.contexts.slots.len()) * 8)
            .sum()
    }

    /// Writes the model: a header, then the tables as little-endian integers, through a
    /// temporary file so a reader never sees half of one.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("tmp");
        {
            let file = std::fs::File::create(&tmp).map_err(io)?;
            let mut out = std::io::BufWriter::new(file);
            let mut header = Vec::with_capacity(48);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&VERSION.to_le_bytes());
            header.extend_from_slice(&(self.order as u32).to_le_bytes());
            header.extend_from_slice(&(self.prefix as u32).to_le_bytes());
            header.extend_from_slice(&self.bits.to_le_bytes());
            header.extend_from_slice(&self.trained[0].to_le_bytes());
            header.extend_from_slice(&self.trained[1].to_le_bytes());
            out.write_all(&header).map_err(io)?;
            out.write_all(&self.stacker.to_bytes()).map_err(io)?;
            for class in &self.classes {
                for table in [&class.symbols, &class.contexts] {
                    for &slot in &table.slots {
                        out.write_all(&slot.to_le_bytes()).map_err(io)?;
                    }
                }
            }
            out.flush().map_err(io)?;
            out.get_ref().sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<CompressionModel, ModelError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| ModelError::Io {
            path: name.clone(),
            source,
        })?;
        CompressionModel::read(std::io::BufReader::new(file))
            .map_err(|why| ModelError::Format { path: name, why })
    }

    fn read(mut input: impl Read) -> Result<CompressionModel, String> {
        let mut header = [0u8; 40];
        input
            .read_exact(&mut header)
            .map_err(|e| format!("header: {e}"))?;
        if &header[..8] != MAGIC {
            return Err("not a compression model".into());
        }
        // Fixed offsets inside the 40-byte header: the slices always have the width asked for.
        let u32_at =
            |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
        let u64_at =
            |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
        if u32_at(8) != VERSION {
            return Err(format!(
                "version {} (this build reads {VERSION})",
                u32_at(8)
            ));
        }
        let (order, prefix, bits) = (u32_at(12) as usize, u32_at(16) as usize, u32_at(20));
        if !(1..=12).contains(&order) || prefix < 64 || !(10..=28).contains(&bits) {
            return Err(format!(
                "order {order}, prefix {prefix}, bits {bits} out of range"
            ));
        }
        let mut model = CompressionModel::new(order, prefix, bits);
        model.trained = [u64_at(24), u64_at(32)];
        let mut stacker = [0u8; 96];
        input
            .read_exact(&mut stacker)
            .map_err(|e| format!("stacking state: {e}"))?;
        model.stacker = Stacker::from_bytes(&stacker);
        let mut buf = vec![0u8; 1 << 16];
        for class in &mut model.classes {
            read_slots(&mut input, &mut buf, &mut class.symbols.slots)?;
            read_slots(&mut input, &mut buf, &mut class.contexts.slots)?;
        }
        if input.read(&mut [0u8; 1]).map_err(|e| e.to_string())? != 0 {
            return Err("trailing bytes after the tables".into());
        }
        Ok(model)
    }
}

/// Fills `slots` from little-endian u64s.
fn read_slots(input: &mut impl Read, buf: &mut [u8], slots: &mut [u64]) -> Result<(), String> {
    for chunk in slots.chunks_mut(buf.len() / 8) {
        let bytes = &mut buf[..chunk.len() * 8];
        input
            .read_exact(bytes)
            .map_err(|e| format!("tables cut short: {e}"))?;
        for (value, raw) in chunk.iter_mut().zip(bytes.chunks_exact(8)) {
            *value = u64::from_le_bytes(raw.try_into().unwrap_or_default());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ham(i: usize) -> Vec<u8> {
        format!(
            "From: alice@example.org\nSubject: minutes of meeting {i}\n\nHi Bob, the notes from \
             our meeting number {i} are attached; the build is green again. Regards, Alice\n"
        )
        .into_bytes()
    }

    fn spam(i: usize) -> Vec<u8> {
        format!(
            "From: deals{i}@cheap-pills.example\nSubject: !!! BEST PRICE {i} !!!\n\nBUY NOW \
             $$$ v1agra c1alis 90% OFF click http://cheap-pills.example/{i} !!!\n"
        )
        .into_bytes()
    }

    fn trained() -> CompressionModel {
        let mut model = CompressionModel::new(DEFAULT_ORDER, DEFAULT_PREFIX, 16);
        for i in 0..20 {
            model.learn(&ham(i), false);
            model.learn(&spam(i), true);
        }
        model
    }

    #[test]
    fn an_untrained_model_has_no_opinion() {
        let mut model = CompressionModel::new(DEFAULT_ORDER, DEFAULT_PREFIX, 16);
        assert_eq!(model.score(&spam(1)), 0.0);
        model.learn(&spam(1), true);
        assert_eq!(model.score(&spam(2)), 0.0, "one class alone says nothing");
    }

    #[test]
    fn unseen_messages_score_toward_the_class_they_resemble() {
        let model = trained();
        assert!(model.score(&spam(99)) > 1.0, "{}", model.score(&spam(99)));
        assert!(model.score(&ham(99)) < -1.0, "{}", model.score(&ham(99)));
        // Only the prefix is read: what follows it cannot move the score.
        let mut long = ham(98);
        let before = model.score(&long);
        long.resize(DEFAULT_PREFIX, b' ');
        let at_prefix = model.score(&long);
        long.extend_from_slice(&spam(97).repeat(50));
        assert_eq!(model.score(&long), at_prefix);
        assert!(before < 0.0);
    }

    #[test]
    fn it_reads_the_subject_and_the_visible_text_not_the_headers() {
        let raw = b"Received: from relay.example.net\r\nFrom: a@example.org\r\n\
            Subject: =?utf-8?q?Caf=C3=A9_menu?=\r\nContent-Type: text/html\r\n\r\n\
            <html><body><p>Soup of the <b>day</b></p></body></html>\r\n";
        let view = MessageView::build(raw.to_vec(), Default::default(), &Default::default());
        let model = CompressionModel::new(DEFAULT_ORDER, 64, 12);
        let text = String::from_utf8(model.reading(&view)).unwrap();
        assert!(text.starts_with("Café menu\n"), "{text:?}");
        assert!(text.contains("Soup of the day"), "{text:?}");
        assert!(!text.contains("relay") && !text.contains('<'), "{text:?}");
        let long = format!("Subject: x\r\n\r\n{}\r\n", "word ".repeat(100));
        let view = MessageView::build(long.into_bytes(), Default::default(), &Default::default());
        assert_eq!(model.reading(&view).len(), 64);
    }

    #[test]
    fn a_score_is_bounded() {
        let mut model = CompressionModel::new(DEFAULT_ORDER, DEFAULT_PREFIX, 16);
        model.learn(b"plain words in plain ascii letters", false);
        model.learn("광고 한국어 스팸 문자 광고 한국어".as_bytes(), true);
        // An alphabet only one class has seen gives a gap far beyond any text's evidence.
        assert_eq!(model.score("광고 한국어 광고".as_bytes()), SCORE_LIMIT);
    }

    #[test]
    fn saved_models_load_identically_and_damage_is_refused() {
        let mut model = trained();
        let mut stacker = Stacker::default();
        for i in 0..30 {
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            let wobble = (i % 7) as f64 * 0.1;
            stacker.learn(sign * 4.0 + wobble, sign * 0.5 + wobble / 10.0, i % 2 == 0);
        }
        model.set_stacker(stacker);
        let dir = std::env::temp_dir().join(format!("mailmoat-ppm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("site.ppm");
        model.save(&path).unwrap();
        let loaded = CompressionModel::load(&path).unwrap();
        assert_eq!(loaded.trained, [20, 20]);
        assert_eq!(loaded.score(&spam(50)), model.score(&spam(50)));
        assert_eq!(loaded.stacker().ratio(), model.stacker().ratio());
        assert_ne!(loaded.stacker().ratio(), Stacker::default().ratio());
        assert_eq!(
            loaded.stacked_probability(1.0, &ham(3)),
            model.stacked_probability(1.0, &ham(3))
        );
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = CompressionModel::load(&path).unwrap_err().to_string();
        assert!(e.contains("cut short"), "{e}");
        std::fs::write(&path, b"MMCLFTRL and more").unwrap();
        assert!(CompressionModel::load(&path).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn counts_are_halved_before_they_overflow() {
        let mut model = CompressionModel::new(2, 64, 10);
        let bytes = vec![b'a'; 64];
        model.learn(&bytes, true);
        let key = ByteModel::symbol_key(model_hash(&bytes, 2), b'a');
        let before = model.classes[1].symbols.get(key);
        assert!(before > 50, "{before}");
        let slot = model.classes[1].symbols.slot(key, |c| c);
        *slot = (*slot & !(u32::MAX as u64)) | (HALVE_AT as u64 - 1);
        model.learn(&bytes, true);
        let after = model.classes[1].symbols.get(key);
        assert!(after < HALVE_AT as u64 / 2 + 100, "{after}");
        let counts = model.classes[1]
            .symbols
            .slots
            .iter()
            .map(|s| s & u32::MAX as u64);
        assert!(counts.into_iter().all(|c| c < HALVE_AT as u64));
    }

    /// The order-`order` context hash before the last byte of `bytes`.
    fn model_hash(bytes: &[u8], order: usize) -> u64 {
        let mut hashes = vec![0; order + 1];
        context_hashes(bytes, bytes.len() - 1, order, &mut hashes);
        hashes[order]
    }
}
