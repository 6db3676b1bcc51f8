//! Stacking: the token model's log-odds and the compression model's score become one spam
//! log-odds, `tokens + r × compression`, where `r`, the compression score's worth in token
//! log-odds, is learned from the same labels as the models under it.
//!
//! `r` is the ratio of the two inputs' weights in Fisher's linear discriminant (per input, the
//! gap between the class means over the pooled variance), from running class statistics of the
//! inputs as they were scored before each lesson. Why not a logistic-regression stacker: on the
//! replay stream its steps chase the log-loss of the early, badly scaled scores and it settles
//! on the weights slowly; the discriminant's ratio is stable after a few hundred labels and
//! keeps the token model's calibrated scale (see BENCHMARKS.md, "Session 20").

use serde::{Deserialize, Serialize};

/// The weight of the compression score (bits per byte) in token log-odds until both classes
/// have enough labels to estimate it.
const PRIOR_RATIO: f64 = 1.0;
/// Labels of each class needed before the learned ratio replaces the prior.
const MIN_PER_CLASS: u64 = 10;

/// Running mean and sum of squared deviations of one input within one class (Welford).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Running {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Running {
    fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }
}

/// The stacking layer over (token log-odds, compression score).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stacker {
    /// Per class (ham, spam), per input (tokens, compression).
    classes: [[Running; 2]; 2],
}

impl Stacker {
    /// Labelled messages learned from.
    pub fn learned(&self) -> u64 {
        self.classes[0][0].n + self.classes[1][0].n
    }

    /// Fisher's weight of each input: class-mean gap over pooled variance.
    fn discriminant(&self, input: usize) -> Option<f64> {
        let [ham, spam] = [&self.classes[0][input], &self.classes[1][input]];
        if ham.n < MIN_PER_CLASS || spam.n < MIN_PER_CLASS {
            return None;
        }
        let variance = (ham.m2 + spam.m2) / (ham.n + spam.n - 2) as f64;
        (variance > 1e-12).then(|| (spam.mean - ham.mean) / variance)
    }

    /// The compression score's weight relative to the token log-odds.
    pub fn ratio(&self) -> f64 {
        match (self.discriminant(0), self.discriminant(1)) {
            // Both must separate the classes the right way round to be trusted.
            (Some(tokens), Some(compression)) if tokens > 0.0 && compression > 0.0 => {
                compression / tokens
            }
            _ => PRIOR_RATIO,
        }
    }

    /// The stacked log-odds of spam.
    pub fn log_odds(&self, token_log_odds: f64, compression: f64) -> f64 {
        (token_log_odds + self.ratio() * compression).clamp(-35.0, 35.0)
    }

    /// The stacked spam probability.
    pub fn probability(&self, token_log_odds: f64, compression: f64) -> f64 {
        1.0 / (1.0 + (-self.log_odds(token_log_odds, compression)).exp())
    }

    /// The state as 4 × (count, mean, squared deviations), little-endian: 96 bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        for running in self.classes.iter().flatten() {
            out.extend_from_slice(&running.n.to_le_bytes());
            out.extend_from_slice(&running.mean.to_le_bytes());
            out.extend_from_slice(&running.m2.to_le_bytes());
        }
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8; 96]) -> Stacker {
        let word = |i: usize| <[u8; 8]>::try_from(&bytes[i * 8..i * 8 + 8]).unwrap_or_default();
        let mut stacker = Stacker::default();
        for (i, running) in stacker.classes.iter_mut().flatten().enumerate() {
            running.n = u64::from_le_bytes(word(3 * i));
            running.mean = f64::from_le_bytes(word(3 * i + 1));
            running.m2 = f64::from_le_bytes(word(3 * i + 2));
        }
        stacker
    }

    /// Learns a labelled message's inputs as they were scored (before its models learned it).
    pub fn learn(&mut self, token_log_odds: f64, compression: f64, spam: bool) {
        if !token_log_odds.is_finite() || !compression.is_finite() {
            return;
        }
        let class = &mut self.classes[spam as usize];
        class[0].add(token_log_odds);
        class[1].add(compression);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prior_holds_until_both_classes_have_labels() {
        let mut stack = Stacker::default();
        assert_eq!(stack.ratio(), PRIOR_RATIO);
        for _ in 0..50 {
            stack.learn(5.0, 1.0, true);
        }
        assert_eq!(stack.ratio(), PRIOR_RATIO, "spam alone says nothing");
        assert_eq!(stack.log_odds(2.0, 0.5), 2.0 + PRIOR_RATIO * 0.5);
    }

    #[test]
    fn the_input_that_separates_better_gets_the_larger_share() {
        let mut stack = Stacker::default();
        // Tokens: class means ±2 with spread 4. Compression: means ±0.5 with spread 0.1, in
        // much smaller units but far cleaner.
        for i in 0..400 {
            let spam = i % 2 == 0;
            let sign = if spam { 1.0 } else { -1.0 };
            let wobble = if (i / 2) % 2 == 0 { 1.0 } else { -1.0 };
            stack.learn(sign * 2.0 + wobble * 4.0, sign * 0.5 + wobble * 0.1, spam);
        }
        // Fisher weights: tokens 4 / 16 = 0.25, compression 1 / 0.01 = 100: ratio 400.
        let r = stack.ratio();
        assert!((r - 400.0).abs() < 5.0, "{r}");
        // A message the tokens call ham but compression calls spam is judged spam.
        assert!(stack.probability(-3.0, 0.4) > 0.99);
        assert_eq!(stack.learned(), 400);
    }

    #[test]
    fn an_input_that_points_the_wrong_way_is_not_trusted() {
        let mut stack = Stacker::default();
        for i in 0..100 {
            let spam = i % 2 == 0;
            let (t, c) = if spam { (3.0, -1.0) } else { (-3.0, 1.0) };
            stack.learn(t + (i % 3) as f64, c + (i % 5) as f64 * 0.1, spam);
        }
        assert_eq!(stack.ratio(), PRIOR_RATIO);
    }
}
