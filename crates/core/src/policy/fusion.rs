//! Learned evidence fusion: the spam part of the verdict as one logistic model over every
//! symbol's strength and the classifier's log-odds, fitted on labelled mail by `mailmoat train`.
//!
//! The hand weights are the prior: fitting is regularised toward them (a symbol seen on a few
//! messages keeps about its hand weight; one that fires on much ordinary mail loses it), and a
//! weight never changes sign, so a heuristic learned to be weak cannot become a way for spam to
//! lower its score. Forced actions, threat floors, an administrator's explicit score and the
//! per-user exceptions stay on top and are never learned: they are applied by [`super::decide`]
//! exactly as without fusion.
//!
//! The model's log-odds are shown on the policy's point scale: the fitted tag threshold maps to
//! `[policy] tag` and the quarantine threshold to `[policy] quarantine`, so reports, risk levels
//! and the reject threshold keep their meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file format this build reads and writes; another one is refused, not misread.
pub const FUSION_FORMAT: u32 = 1;

/// Hand-weight points per unit of log-odds when a hand weight serves as a prior.
pub const POINTS_PER_LOGIT: f64 = 2.0;

/// The classifier's log-odds are clamped at 10^8:1 (where CLASSIFIER_SPAM reaches full
/// strength): beyond it the classifier only claims more certainty than any held-out test
/// supports. It was 12 (about 10^5.2:1) until session 21, which tied the third of held-out spam
/// the classifier was surest of and halved the fusion's recall at 0.1 % FPR on the time split.
const CLASSIFIER_LOGIT_LIMIT: f64 = 18.420680743952367; // ln(1e8)

/// A fitted fusion model (what `mailmoat train --fusion` writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FusionModel {
    pub format: u32,
    pub bias: f64,
    /// Coefficient of the classifier's log-odds.
    pub classifier: f64,
    /// Learned log-odds weight per symbol, for the symbols the training mail showed; any other
    /// symbol counts at its prior (its policy score / [`POINTS_PER_LOGIT`]).
    pub weights: BTreeMap<String, f64>,
    /// The prior each learned weight was pulled toward (for reports and review).
    #[serde(default)]
    pub priors: BTreeMap<String, f64>,
    /// Log-odds at which mail is tagged (mapped to `[policy] tag`).
    pub tag_logit: f64,
    /// Log-odds at which mail is quarantined (mapped to `[policy] quarantine`).
    pub quarantine_logit: f64,
    /// The target false-positive rates the thresholds were chosen for.
    pub tag_fpr: f64,
    pub quarantine_fpr: f64,
    /// Training messages (ham, spam) and how often each symbol fired among them.
    pub trained: [u64; 2],
    #[serde(default)]
    pub fired: BTreeMap<String, [u64; 2]>,
    /// The regularisation toward the prior, in messages' worth of evidence.
    pub l2: f64,
}

/// The classifier's spam probability as clamped log-odds.
pub fn classifier_logit(p: f64) -> f64 {
    if p.is_nan() {
        return 0.0;
    }
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    (p / (1.0 - p))
        .ln()
        .clamp(-CLASSIFIER_LOGIT_LIMIT, CLASSIFIER_LOGIT_LIMIT)
}

/// The logistic function.
pub fn probability(logit: f64) -> f64 {
    1.0 / (1.0 + (-logit).exp())
}

/// One labelled message as the fit sees it: the strongest hit of each learnable symbol and the
/// classifier's (held-out) log-odds.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub symbols: Vec<(String, f64)>,
    pub classifier_logit: f64,
    pub spam: bool,
}

/// How to fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Pull toward the prior, in messages' worth of evidence (larger: the hand weights move less).
    pub l2: f64,
    /// False-positive rates the tag and quarantine thresholds are set for.
    pub tag_fpr: f64,
    pub quarantine_fpr: f64,
    /// Fewest log-odds at which anything is tagged, however clean the training ham (1,000:1).
    /// A false-positive rate measured on a site's older ham is optimistic for its newer mail,
    /// so the thresholds never go below what the hand weights ask of the classifier alone.
    pub min_tag_logit: f64,
    /// The least distance between the tag and quarantine thresholds (1,000 times the odds).
    pub min_quarantine_gap: f64,
    pub iterations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 2.0,
            tag_fpr: 0.001,
            quarantine_fpr: 0.0001,
            min_tag_logit: 1000f64.ln(),
            min_quarantine_gap: 1000f64.ln(),
            iterations: 3000,
        }
    }
}

impl FusionModel {
    /// The weight a symbol counts with: learned, else its prior from the policy score.
    pub fn weight(&self, symbol: &str, policy_score: f64) -> f64 {
        self.weights
            .get(symbol)
            .copied()
            .unwrap_or(policy_score / POINTS_PER_LOGIT)
    }

    /// Points per unit of log-odds on the policy's scale.
    pub fn points_per_logit(&self, tag: f64, quarantine: f64) -> f64 {
        let gap = (self.quarantine_logit - self.tag_logit).max(1e-6);
        ((quarantine - tag) / gap).max(1e-6)
    }

    /// Log-odds of spam for an example, symbols without a learned weight at `prior(symbol)`.
    pub fn logit(&self, example: &Example, prior: &dyn Fn(&str) -> f64) -> f64 {
        self.bias
            + self.classifier * example.classifier_logit
            + example
                .symbols
                .iter()
                .map(|(s, x)| {
                    x * self
                        .weights
                        .get(s)
                        .copied()
                        .unwrap_or_else(|| prior(s) / POINTS_PER_LOGIT)
                })
                .sum::<f64>()
    }

    /// Checks a model read from a file.
    pub fn validate(&self) -> Result<(), String> {
        if self.format != FUSION_FORMAT {
            return Err(format!(
                "fusion model format {} (this build reads {FUSION_FORMAT}); retrain with `mailmoat train --fusion`",
                self.format
            ));
        }
        let finite = [
            self.bias,
            self.classifier,
            self.tag_logit,
            self.quarantine_logit,
        ]
        .iter()
        .chain(self.weights.values())
        .all(|v| v.is_finite());
        if !finite {
            return Err("a weight or threshold is not a finite number".into());
        }
        if self.quarantine_logit <= self.tag_logit {
            return Err(format!(
                "quarantine_logit {} is not above tag_logit {}",
                self.quarantine_logit, self.tag_logit
            ));
        }
        Ok(())
    }
}

/// Fits the fusion model: logistic loss plus `l2/2 · Σ (w − prior)²`, each weight kept on its
/// prior's side of zero (a prior of 0 may only grow), by full-batch AdaGrad from the prior.
/// `prior(symbol)` is the symbol's policy score in points; symbols it returns `None` for (forced
/// or not declared) are left out. Deterministic: the same examples give the same model.
pub fn fit(
    examples: &[Example],
    prior: &dyn Fn(&str) -> Option<f64>,
    options: &FitOptions,
) -> FusionModel {
    // Index the learnable symbols.
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut fired: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let rows: Vec<Vec<(usize, f64)>> = examples
        .iter()
        .map(|e| {
            e.symbols
                .iter()
                .filter(|(s, _)| prior(s).is_some())
                .map(|(s, x)| {
                    fired.entry(s.clone()).or_default()[e.spam as usize] += 1;
                    let i = *index.entry(s.clone()).or_insert_with(|| {
                        names.push(s.clone());
                        names.len() - 1
                    });
                    (i, *x)
                })
                .collect()
        })
        .collect();
    let prior_w: Vec<f64> = names
        .iter()
        .map(|s| prior(s).unwrap_or(0.0) / POINTS_PER_LOGIT)
        .collect();
    // Parameters: [bias, classifier, symbols...]; priors: bias from the default tag threshold
    // (6 points), the classifier as calibrated (1).
    let k = names.len();
    let mut w: Vec<f64> = [-6.0 / POINTS_PER_LOGIT, 1.0]
        .into_iter()
        .chain(prior_w.iter().copied())
        .collect();
    let w0 = w.clone();
    let mut g2 = vec![1e-8; k + 2];
    let rate = 0.5;
    let n = examples.len().max(1) as f64;
    for _ in 0..options.iterations {
        let mut grad = vec![0.0; k + 2];
        for (e, row) in examples.iter().zip(&rows) {
            let z = w[0]
                + w[1] * e.classifier_logit
                + row.iter().map(|&(i, x)| w[i + 2] * x).sum::<f64>();
            let err = probability(z) - f64::from(u8::from(e.spam));
            grad[0] += err;
            grad[1] += err * e.classifier_logit;
            for &(i, x) in row {
                grad[i + 2] += err * x;
            }
        }
        // The bias is barely held (a site's spam share is its own); the rest toward the prior.
        grad[0] += 1e-3 * (w[0] - w0[0]);
        for j in 1..k + 2 {
            grad[j] += options.l2 * (w[j] - w0[j]);
        }
        for j in 0..k + 2 {
            // Scale-free steps: the loss is a sum over n messages.
            let g = grad[j] / n;
            g2[j] += g * g;
            w[j] -= rate * g / g2[j].sqrt();
            // Keep each weight on its prior's side of zero.
            if j >= 1 {
                w[j] = if w0[j] < 0.0 {
                    w[j].min(0.0)
                } else {
                    w[j].max(0.0)
                };
            }
        }
    }
    let mut model = FusionModel {
        format: FUSION_FORMAT,
        bias: w[0],
        classifier: w[1],
        weights: names.iter().cloned().zip(w[2..].iter().copied()).collect(),
        priors: names.iter().cloned().zip(prior_w.iter().copied()).collect(),
        tag_logit: options.min_tag_logit,
        quarantine_logit: options.min_tag_logit + options.min_quarantine_gap,
        tag_fpr: options.tag_fpr,
        quarantine_fpr: options.quarantine_fpr,
        trained: [
            examples.iter().filter(|e| !e.spam).count() as u64,
            examples.iter().filter(|e| e.spam).count() as u64,
        ],
        fired,
        l2: options.l2,
    };
    let no_prior = |_: &str| 0.0;
    let ham: Vec<f64> = examples
        .iter()
        .filter(|e| !e.spam)
        .map(|e| model.logit(e, &no_prior))
        .collect();
    let (tag, quarantine) = thresholds(&ham, options);
    model.tag_logit = tag;
    model.quarantine_logit = quarantine;
    model
}

/// The tag and quarantine log-odds for the target false-positive rates on these ham scores,
/// never below the floors of `options`. With too few ham to resolve a rate, the highest ham
/// score bounds it (a rate of 0.01 % needs 10,000 ham to mean anything).
pub fn thresholds(ham: &[f64], options: &FitOptions) -> (f64, f64) {
    let at = |fpr: f64| -> f64 {
        let mut h = ham.to_vec();
        h.sort_by(|a, b| b.total_cmp(a));
        // Scores above the (allowed+1)-th highest ham are flagged.
        let allowed = (h.len() as f64 * fpr).floor() as usize;
        h.get(allowed).copied().unwrap_or(f64::NEG_INFINITY)
    };
    let tag = at(options.tag_fpr).max(options.min_tag_logit);
    let quarantine = at(options.quarantine_fpr).max(tag + options.min_quarantine_gap);
    (tag, quarantine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(symbols: &[&str], classifier_logit: f64, spam: bool) -> Example {
        Example {
            symbols: symbols.iter().map(|s| (s.to_string(), 1.0)).collect(),
            classifier_logit,
            spam,
        }
    }

    fn priors(s: &str) -> Option<f64> {
        match s {
            "NOISY_HEADER" => Some(3.0),
            "RARE_THREAT" => Some(8.0),
            "GOOD_SIGN" => Some(-2.0),
            "STRONG_SPAM" => Some(2.0),
            "FORCED" => None,
            _ => Some(0.0),
        }
    }

    /// Ham with a noisy heuristic on 40 %, spam with a real signal on 80 %; the classifier
    /// separates most of them.
    fn corpus() -> Vec<Example> {
        let mut out = Vec::new();
        for i in 0..500 {
            let mut s = vec![];
            if i % 5 < 2 {
                s.push("NOISY_HEADER");
            }
            if i % 3 == 0 {
                s.push("GOOD_SIGN");
            }
            out.push(ex(&s, -3.0 + (i % 7) as f64 * 0.5, false));
        }
        for i in 0..300 {
            let mut s = vec!["FORCED"];
            if i % 5 != 0 {
                s.push("STRONG_SPAM");
            }
            if i % 10 == 0 {
                s.push("NOISY_HEADER");
            }
            out.push(ex(&s, 3.0 - (i % 7) as f64 * 0.7, true));
        }
        out
    }

    #[test]
    fn a_heuristic_that_fires_on_ham_loses_its_weight_but_never_turns_negative() {
        let m = fit(&corpus(), &priors, &FitOptions::default());
        let noisy = m.weights["NOISY_HEADER"];
        assert!(noisy < 0.3, "noisy weight {noisy}");
        assert!(noisy >= 0.0);
        assert!(m.weights["STRONG_SPAM"] > 1.0);
        assert!(m.weights["GOOD_SIGN"] <= 0.0);
        assert!(m.classifier > 0.0);
        assert_eq!(m.fired["NOISY_HEADER"], [200, 30]);
    }

    #[test]
    fn symbols_the_data_never_showed_keep_their_prior_and_forced_ones_are_not_learned() {
        let m = fit(&corpus(), &priors, &FitOptions::default());
        assert!(!m.weights.contains_key("RARE_THREAT"));
        assert!(!m.weights.contains_key("FORCED"));
        assert_eq!(m.weight("RARE_THREAT", 8.0), 4.0);
    }

    #[test]
    fn a_symbol_seen_on_two_messages_stays_near_its_prior() {
        let mut c = corpus();
        c.push(ex(&["RARE_THREAT"], 0.0, false));
        c.push(ex(&["RARE_THREAT"], 0.0, true));
        let m = fit(&c, &priors, &FitOptions::default());
        let w = m.weights["RARE_THREAT"];
        assert!((w - 4.0).abs() < 1.0, "rare weight {w}");
    }

    #[test]
    fn thresholds_follow_the_false_positive_rate_above_their_floors() {
        let ham: Vec<f64> = (0..10_000).map(|i| i as f64 / 1000.0).collect();
        let o = FitOptions::default();
        let (tag, quarantine) = thresholds(&ham, &o);
        // 0.1 % of 10,000 = 10 ham above: the 11th highest score.
        assert!((tag - 9.989).abs() < 1e-9, "{tag}");
        assert!((quarantine - (tag + o.min_quarantine_gap)).abs() < 1e-9);
        let (tag, _) = thresholds(&[-5.0, -4.0], &o);
        assert_eq!(tag, o.min_tag_logit);
    }

    #[test]
    fn the_fit_is_deterministic_and_the_model_validates() {
        let a = fit(&corpus(), &priors, &FitOptions::default());
        let b = fit(&corpus(), &priors, &FitOptions::default());
        assert_eq!(a, b);
        a.validate().unwrap();
        let mut broken = a.clone();
        broken.format = 99;
        assert!(broken.validate().unwrap_err().contains("format 99"));
    }

    #[test]
    fn classifier_log_odds_are_clamped() {
        assert_eq!(classifier_logit(1.0), CLASSIFIER_LOGIT_LIMIT);
        assert_eq!(classifier_logit(0.0), -CLASSIFIER_LOGIT_LIMIT);
        // Odds of 10^6:1 are kept apart from 10^7:1, short of the limit.
        let (six, seven) = (classifier_logit(1.0 - 1e-6), classifier_logit(1.0 - 1e-7));
        assert!(six < seven && seven < CLASSIFIER_LOGIT_LIMIT);
        assert_eq!(classifier_logit(f64::NAN), 0.0);
        assert!((classifier_logit(0.5)).abs() < 1e-12);
    }
}
