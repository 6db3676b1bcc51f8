use std::io::{Read, Write};
use std::path::Path;

/// File magic and version: a model from another version is refused, not misread.
const MAGIC: &[u8; 8] = b"MMCLFTRL";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a mailmoat model (or is damaged): {why}")]
    Format { path: String, why: String },
}

/// FTRL-Proximal logistic regression over hashed binary features (McMahan et al. 2013).
#[derive(Debug, Clone)]
pub struct Model {
    bits: u32,
    alpha: f32,
    beta: f32,
    l1: f32,
    l2: f32,
    z: Vec<f32>,
    n: Vec<f32>,
    /// Messages learned from, by class (ham, spam).
    pub trained: [u64; 2],
}

/// A classification: the probability of spam and the raw score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub spam_probability: f64,
    pub score: f64,
}

impl Prediction {
    fn from_score(raw: f64) -> Prediction {
        let score = raw.clamp(-35.0, 35.0);
        Prediction {
            spam_probability: 1.0 / (1.0 + (-score).exp()),
            score,
        }
    }
}

impl Model {
    /// A fresh model with `2^bits` weights and the default learning parameters.
    pub fn new(bits: u32) -> Model {
        Model::with_params(bits, 0.3, 1.0, 1.0, 1.0)
    }

    /// A fresh model with explicit FTRL parameters (learning rate alpha and beta, L1, L2).
    pub fn with_params(bits: u32, alpha: f32, beta: f32, l1: f32, l2: f32) -> Model {
        let size = 1usize << bits;
        Model {
            bits,
            alpha,
            beta,
            l1,
            l2,
            z: vec![0.0; size],
            n: vec![0.0; size],
            trained: [0, 0],
        }
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    fn weight(&self, i: usize) -> f32 {
        ftrl_weight(
            self.z[i],
            self.n[i],
            [self.alpha, self.beta, self.l1, self.l2],
        )
    }

    fn raw(&self, features: &[u32]) -> f64 {
        features
            .iter()
            .filter_map(|&f| {
                self.z
                    .get(f as usize)
                    .map(|_| self.weight(f as usize) as f64)
            })
            .sum::<f64>()
    }

    /// The spam probability of a message's features (from [`crate::features`]).
    pub fn predict(&self, features: &[u32]) -> Prediction {
        let score = self.raw(features).clamp(-35.0, 35.0);
        Prediction {
            spam_probability: 1.0 / (1.0 + (-score).exp()),
            score,
        }
    }

    /// The current weights as a read-only table for classification: one lookup per feature,
    /// half the memory of the learning state.
    pub fn weights(&self) -> Weights {
        let learned = (0..self.z.len())
            .map(|i| (i as u32, self.weight(i)))
            .filter(|&(_, w)| w != 0.0)
            .collect();
        Weights::from_nonzero(self.bits, self.trained, learned)
    }

    /// Learns one message (`spam` true or false). Returns the probability before the update.
    pub fn learn(&mut self, features: &[u32], spam: bool) -> f64 {
        let p = self.predict(features).spam_probability;
        let g = (p - if spam { 1.0 } else { 0.0 }) as f32;
        for &f in features {
            let i = f as usize;
            if i >= self.z.len() {
                continue;
            }
            let w = self.weight(i);
            let n = self.n[i];
            let sigma = ((n + g * g).sqrt() - n.sqrt()) / self.alpha;
            self.z[i] += g - sigma * w;
            self.n[i] = n + g * g;
        }
        self.trained[spam as usize] += 1;
        p
    }

    /// Forgets the learning state of every feature whose weight is zero (most of them, thanks to
    /// L1): the file shrinks from megabytes to kilobytes and classifies identically; later
    /// learning treats those features as new.
    pub fn prune(&mut self) {
        for i in 0..self.z.len() {
            if self.weight(i) == 0.0 {
                self.z[i] = 0.0;
                self.n[i] = 0.0;
            }
        }
    }

    /// Saves sparsely: only the weights that were ever updated.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        for v in [self.alpha, self.beta, self.l1, self.l2] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in self.trained {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let touched: Vec<usize> = (0..self.n.len()).filter(|&i| self.n[i] != 0.0).collect();
        out.extend_from_slice(&(touched.len() as u32).to_le_bytes());
        for i in touched {
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&self.z[i].to_le_bytes());
            out.extend_from_slice(&self.n[i].to_le_bytes());
        }
        // Write beside, then rename: a crash never leaves a half-written model in place.
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&out).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| ModelError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Model::from_bytes(&bytes).map_err(|why| ModelError::Format {
            path: path.display().to_string(),
            why,
        })
    }

    /// Reads a model from its file bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let file = ModelFile::parse(bytes)?;
        let [alpha, beta, l1, l2] = file.params;
        let mut m = Model::with_params(file.bits, alpha, beta, l1, l2);
        m.trained = file.trained;
        for (i, z, n) in file.entries {
            m.z[i as usize] = z;
            m.n[i as usize] = n;
        }
        Ok(m)
    }
}

/// The FTRL-Proximal weight of one coordinate from its state (z, n) and the parameters
/// [alpha, beta, l1, l2]: exactly zero while |z| ≤ l1, which is what keeps the model sparse.
fn ftrl_weight(z: f32, n: f32, [alpha, beta, l1, l2]: [f32; 4]) -> f32 {
    if z.abs() <= l1 {
        0.0
    } else {
        -(z - z.signum() * l1) / ((beta + n.sqrt()) / alpha + l2)
    }
}

/// A model file's contents: header and the (index, z, n) of every stored coordinate.
struct ModelFile {
    bits: u32,
    params: [f32; 4],
    trained: [u64; 2],
    entries: Vec<(u32, f32, f32)>,
}

impl ModelFile {
    fn parse(bytes: &[u8]) -> Result<ModelFile, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let s = bytes.get(at..at + n).ok_or("file ends early")?;
            at += n;
            Ok(s)
        };
        if take(8)? != MAGIC {
            return Err("wrong magic".into());
        }
        let u32_ = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let f32_ = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let version = u32_(take(4)?);
        if version != VERSION {
            return Err(format!(
                "model version {version}, this mailmoat reads version {VERSION}"
            ));
        }
        let bits = u32_(take(4)?);
        if !(10..=28).contains(&bits) {
            return Err(format!("table size 2^{bits} out of range"));
        }
        let mut params = [0f32; 4];
        for p in params.iter_mut() {
            *p = f32_(take(4)?);
        }
        let mut trained = [0u64; 2];
        for t in trained.iter_mut() {
            let b = take(8)?;
            *t = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        }
        let count = u32_(take(4)?) as usize;
        let mut entries = Vec::with_capacity(count.min(bytes.len() / 12));
        for _ in 0..count {
            let i = u32_(take(4)?);
            let z = f32_(take(4)?);
            let n = f32_(take(4)?);
            if (i as u64) >= 1u64 << bits {
                return Err(format!("weight index {i} outside the table"));
            }
            entries.push((i, z, n));
        }
        Ok(ModelFile {
            bits,
            params,
            trained,
            entries,
        })
    }
}

/// Bits in the filter of indices that may have a weight (32 KiB).
const FILTER_BITS: usize = 1 << 18;

/// An empty slot (feature indices are below 2^28).
const EMPTY: u32 = u32::MAX;

/// Multiplicative hashing of a feature index to a slot of a table of 2^`log2` slots.
fn slot_of(index: u32, log2: u32) -> usize {
    (index.wrapping_mul(0x9e37_79b1) >> (32 - log2.max(1))) as usize
}

/// A model's weights frozen for classification (what the scanner holds). L1 leaves only a few
/// percent of the table non-zero, so they are kept sparse: a small bit filter says whether a
/// feature may have a weight (most lookups stop there, in memory that stays in cache), and the
/// non-zero weights sit in a small hash table. A table of 2^22 entries costs ~0.5 MiB, not 16.
#[derive(Debug, Clone)]
pub struct Weights {
    bits: u32,
    nonzero: Vec<u64>,
    /// The non-zero weights in an open-addressing table keyed by feature index.
    slots_log2: u32,
    keys: Vec<u32>,
    values: Vec<f32>,
    /// Messages the model had learned from, by class (ham, spam).
    pub trained: [u64; 2],
}

impl Weights {
    /// Reads only what classification needs from a model file: no learning state, so even a
    /// large table loads in milliseconds.
    pub fn from_bytes(bytes: &[u8]) -> Result<Weights, String> {
        let file = ModelFile::parse(bytes)?;
        let learned = file
            .entries
            .into_iter()
            .map(|(i, z, n)| (i, ftrl_weight(z, n, file.params)))
            .filter(|&(_, w)| w != 0.0)
            .collect();
        Ok(Weights::from_nonzero(file.bits, file.trained, learned))
    }

    pub fn load(path: &Path) -> Result<Weights, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Weights::from_bytes(&bytes).map_err(|why| ModelError::Format {
            path: path.display().to_string(),
            why,
        })
    }

    fn from_nonzero(bits: u32, trained: [u64; 2], learned: Vec<(u32, f32)>) -> Weights {
        let mut nonzero = vec![0u64; FILTER_BITS / 64];
        // Open addressing at most half full: a lookup is one or two probes.
        let slots_log2 = (learned.len().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros();
        let mut keys = vec![EMPTY; 1 << slots_log2];
        let mut values = vec![0.0; 1 << slots_log2];
        for (index, w) in learned {
            let i = index as usize & (FILTER_BITS - 1);
            nonzero[i >> 6] |= 1 << (i & 63);
            let mut slot = slot_of(index, slots_log2);
            while keys[slot] != EMPTY {
                slot = (slot + 1) & (keys.len() - 1);
            }
            keys[slot] = index;
            values[slot] = w;
        }
        Weights {
            bits,
            nonzero,
            slots_log2,
            keys,
            values,
            trained,
        }
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// False when the feature certainly has no weight (most features): a filter small enough
    /// to stay in the L1 cache answers before the weight table is touched.
    fn may_have_weight(&self, index: u32) -> bool {
        let i = index as usize & (FILTER_BITS - 1);
        self.nonzero[i >> 6] & (1 << (i & 63)) != 0
    }

    /// The weight of one feature index (0 outside the table or when not learned).
    pub fn weight(&self, index: u32) -> f32 {
        if !self.may_have_weight(index) {
            return 0.0;
        }
        self.slot(index).map(|s| self.values[s]).unwrap_or(0.0)
    }

    /// The slot holding a feature's weight, if it has one.
    fn slot(&self, index: u32) -> Option<usize> {
        let mut slot = slot_of(index, self.slots_log2);
        loop {
            match self.keys[slot] {
                k if k == index => return Some(slot),
                EMPTY => return None,
                _ => slot = (slot + 1) & (self.keys.len() - 1),
            }
        }
    }

    /// How many features have a non-zero weight.
    pub fn len(&self) -> usize {
        self.keys.iter().filter(|&&k| k != EMPTY).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The spam probability from features that may repeat (from
    /// [`crate::features_with_repeats`]). Each weighted feature owns one slot of the weight
    /// table, and a bit per slot marks it counted: linear time, and only the few features with
    /// a weight are looked at twice (deduplicating every feature first cost more).
    pub fn predict_repeated(&self, features: &[u32]) -> Prediction {
        let mut counted = vec![0u64; self.keys.len().div_ceil(64)];
        let mut raw = 0f32;
        for &f in features {
            if !self.may_have_weight(f) {
                continue;
            }
            if let Some(slot) = self.slot(f) {
                let (word, bit) = (slot >> 6, 1u64 << (slot & 63));
                if counted[word] & bit == 0 {
                    counted[word] |= bit;
                    raw += self.values[slot];
                }
            }
        }
        Prediction::from_score(raw as f64)
    }

    /// The spam probability of a message's features (from [`crate::features`]).
    pub fn predict(&self, features: &[u32]) -> Prediction {
        let raw: f32 = features.iter().map(|&f| self.weight(f)).sum();
        Prediction::from_score(raw as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem_and_round_trips() {
        let mut m = Model::new(12);
        let spam = [0u32, 10, 11, 12];
        let ham = [0u32, 20, 21, 22];
        for _ in 0..200 {
            m.learn(&spam, true);
            m.learn(&ham, false);
        }
        assert!(m.predict(&spam).spam_probability > 0.9);
        assert!(m.predict(&ham).spam_probability < 0.1);
        let path = std::env::temp_dir().join(format!("mailmoat-model-{}.bin", std::process::id()));
        m.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.predict(&spam), m.predict(&spam));
        assert_eq!(loaded.trained, [200, 200]);
        let frozen = loaded.weights();
        for f in [&spam[..], &ham[..]] {
            let (a, b) = (frozen.predict(f), m.predict(f));
            assert!((a.spam_probability - b.spam_probability).abs() < 1e-5);
        }
        std::fs::write(&path, b"MMCLFTRL\x09\x00\x00\x00").unwrap();
        assert!(Model::load(&path)
            .unwrap_err()
            .to_string()
            .contains("version 9"));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Model::load(&path).is_err());
        std::fs::remove_file(path).ok();
    }
}
