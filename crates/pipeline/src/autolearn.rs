//! Online learning in the gateway: corrections from the console and, when
//! `[classifier.auto_learn]` is on, the gateway's own certain verdicts teach the model file
//! (`[classifier] model`) while it runs. One learner per process holds the model's learning
//! state, so a correction and an automatic lesson never overwrite each other's file; the file
//! is written whole and renamed into place, so another node (or a restart) reads a complete
//! model.
//!
//! What may be learned is decided by [`lesson`], a pure function of the verdict; how much is
//! bounded by [`Caps`], per sender domain and per hour.
//!
//! With `[classifier] compression` configured, each lesson also teaches the compression model
//! and its stacking (written beside the model on the same schedule). Lessons from other nodes
//! arrive as hashed features, which hold no text, so they teach the token model only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mailmoat_auth::AuthOutcome;
use mailmoat_classifier::{AutoLearnConfig, CompressionModel, Model, ModelError};
use mailmoat_core::policy::CLASSIFIER_GROUP;
use mailmoat_core::{Action, Category, Verdict};
use mailmoat_mime::MessageView;

/// What a message teaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lesson {
    Spam,
    Ham,
}

/// Why a message teaches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The verdict was not certain enough either way.
    Uncertain,
    /// Delivered and clean, but authentication did not pass: never learned as ham.
    NotAuthenticated,
    /// Threat evidence was present: not ordinary ham, and a threat is judged by its analysers.
    Threat,
    /// The sender or the hour has had its share of lessons.
    Capped(&'static str),
}

/// The lesson a verdict makes certain, if any. Spam: held or refused, with at least
/// `spam_min_score` from evidence other than the classifier (the model never teaches itself).
/// Ham: delivered untouched with at most `ham_max_score` from evidence other than the
/// classifier (its own confidence, which can outweigh 8 points, teaches it nothing either), no
/// threat evidence, DMARC passing.
pub fn lesson(
    verdict: &Verdict,
    auth: Option<&AuthOutcome>,
    config: &AutoLearnConfig,
) -> Result<Lesson, Skip> {
    let other_evidence: f64 = verdict
        .reasons
        .iter()
        .filter(|r| r.group != CLASSIFIER_GROUP)
        .map(|r| r.score)
        .sum();
    let threat = verdict.reasons.iter().any(|r| {
        r.score > 0.0
            && matches!(
                r.category,
                Some(Category::Phishing | Category::Malware | Category::Signature)
            )
    });
    match verdict.action {
        Action::Quarantine | Action::Reject if other_evidence >= config.spam_min_score => {
            Ok(Lesson::Spam)
        }
        Action::Deliver if other_evidence <= config.ham_max_score => {
            if threat {
                return Err(Skip::Threat);
            }
            let dmarc_pass = auth
                .and_then(|a| a.summary.dmarc.as_deref())
                .is_some_and(|d| d.eq_ignore_ascii_case("pass"));
            if dmarc_pass {
                Ok(Lesson::Ham)
            } else {
                Err(Skip::NotAuthenticated)
            }
        }
        _ => Err(Skip::Uncertain),
    }
}

/// Lessons per sender domain and in all, in the current clock hour.
#[derive(Debug, Default)]
pub struct Caps {
    hour: i64,
    total: u32,
    per_sender: HashMap<String, u32>,
}

impl Caps {
    /// Counts a lesson from `sender` at `now` (Unix seconds) if the caps allow it.
    pub fn admit(&mut self, sender: &str, now: i64, config: &AutoLearnConfig) -> Result<(), Skip> {
        let hour = now.div_euclid(3600);
        if hour != self.hour {
            *self = Caps {
                hour,
                ..Caps::default()
            };
        }
        if self.total >= config.per_hour {
            return Err(Skip::Capped("lessons per hour"));
        }
        let mine = self
            .per_sender
            .entry(sender.to_ascii_lowercase())
            .or_default();
        if *mine >= config.per_sender_per_hour {
            return Err(Skip::Capped("lessons per sender per hour"));
        }
        *mine += 1;
        self.total += 1;
        Ok(())
    }
}

struct State {
    /// Loaded on the first lesson: from the file, or the built-in model when there is none yet.
    model: Option<Model>,
    /// Loaded with the model when configured: from its file, or empty when there is none yet.
    compression: Option<CompressionModel>,
    /// The file's modification time when we last read or wrote it: a file replaced since
    /// (`mailmoat train`, another tool) is read again rather than overwritten.
    file_time: Option<std::time::SystemTime>,
    caps: Caps,
    unsaved: u32,
    first_unsaved_at: i64,
}

/// The process's one learner for the configured model file.
pub struct Learner {
    path: PathBuf,
    compression_path: Option<PathBuf>,
    config: AutoLearnConfig,
    state: Mutex<State>,
}

/// What one lesson changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    pub lesson: Lesson,
    /// The spam probability before and after.
    pub before: f64,
    pub after: f64,
    /// Whether the model file should be written now (`save_every`, `save_interval_s`).
    pub save_due: bool,
}

impl Learner {
    /// A learner for `model_path` (already resolved against the configuration's folder).
    pub fn new(model_path: &Path, config: AutoLearnConfig) -> Learner {
        Learner {
            path: model_path.to_path_buf(),
            compression_path: None,
            config,
            state: Mutex::new(State {
                model: None,
                compression: None,
                file_time: None,
                caps: Caps::default(),
                unsaved: 0,
                first_unsaved_at: 0,
            }),
        }
    }

    /// Also teaches the compression model at `path` (resolved like the model's).
    pub fn with_compression(mut self, path: Option<&Path>) -> Learner {
        self.compression_path = path.map(Path::to_path_buf);
        self
    }

    pub fn auto_learn(&self) -> bool {
        self.config.enabled
    }

    fn with_model<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, ModelError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let on_disk = modified(&self.path);
        if state.model.is_some() && on_disk != state.file_time {
            // Replaced under us: its author wins, and lessons not yet written are dropped.
            tracing::warn!(
                path = %self.path.display(),
                dropped = state.unsaved,
                "the model file was replaced; learning goes on from the new one"
            );
            state.model = None;
            state.unsaved = 0;
        }
        if state.model.is_none() {
            state.compression = match &self.compression_path {
                Some(path) if path.exists() => Some(CompressionModel::load(path)?),
                Some(_) => Some(CompressionModel::default()),
                None => None,
            };
            state.model = Some(if self.path.exists() {
                Model::load(&self.path)?
            } else {
                mailmoat_classifier::detector::built_in_model()?
            });
            state.file_time = on_disk;
        }
        Ok(f(&mut state))
    }

    /// Reads the model's learning state now, so the first lesson does not wait for it.
    pub fn preload(&self) -> Result<(), ModelError> {
        self.with_model(|_| ())
    }

    /// Offers a scanned message for automatic learning. `Ok(None)`-like outcomes are `Err`
    /// with the reason, so the caller can log why nothing was learned.
    pub fn offer(
        &self,
        view: &MessageView,
        verdict: &Verdict,
        auth: Option<&AuthOutcome>,
        now: i64,
    ) -> Result<Result<Learned, Skip>, ModelError> {
        if !self.config.enabled {
            return Ok(Err(Skip::Uncertain));
        }
        let lesson = match lesson(verdict, auth, &self.config) {
            Ok(l) => l,
            Err(skip) => return Ok(Err(skip)),
        };
        let sender = view
            .from
            .first()
            .and_then(|m| m.domain())
            .unwrap_or_default();
        let config = self.config.clone();
        self.with_model(|state| {
            state.caps.admit(&sender, now, &config)?;
            Ok(Self::teach(state, view, lesson, now, &config))
        })
    }

    /// A correction from a person (the console's "spam"/"not spam", the feedback API): learned
    /// whatever the caps, since a person vouches for it. The caller saves it at once.
    pub fn correct(&self, view: &MessageView, spam: bool, now: i64) -> Result<Learned, ModelError> {
        let config = self.config.clone();
        let lesson = if spam { Lesson::Spam } else { Lesson::Ham };
        self.with_model(|state| Self::teach(state, view, lesson, now, &config))
    }

    /// The model's feature space and `view`'s hashed features in it: what another node needs
    /// to learn the same lesson ([`Learner::learn_features`]).
    pub fn features(&self, view: &MessageView) -> Result<(u32, Vec<u32>), ModelError> {
        self.with_model(|state| {
            let bits = state.model.as_ref().expect("loaded by with_model").bits();
            (bits, mailmoat_classifier::features(view, bits))
        })
    }

    /// A lesson another node learnt, given as its hashed features. `Ok(None)` when they were
    /// hashed into another feature space than this model's (a differently trained model):
    /// such a lesson cannot be applied and is skipped.
    pub fn learn_features(
        &self,
        bits: u32,
        features: &[u32],
        spam: bool,
        now: i64,
    ) -> Result<Option<Learned>, ModelError> {
        let config = self.config.clone();
        let lesson = if spam { Lesson::Spam } else { Lesson::Ham };
        self.with_model(|state| {
            let model = state.model.as_ref().expect("loaded by with_model");
            if model.bits() != bits {
                return None;
            }
            Some(Self::teach_features(
                state, features, None, lesson, now, &config,
            ))
        })
    }

    fn teach(
        state: &mut State,
        view: &MessageView,
        lesson: Lesson,
        now: i64,
        config: &AutoLearnConfig,
    ) -> Learned {
        let bits = state.model.as_ref().expect("loaded by with_model").bits();
        let features = mailmoat_classifier::features(view, bits);
        let reading = state.compression.as_ref().map(|c| c.reading(view));
        Self::teach_features(state, &features, reading.as_deref(), lesson, now, config)
    }

    /// Teaches the token model `features` and, given the message's `reading`, the compression
    /// model and the stacking (on the inputs as scored before this lesson).
    fn teach_features(
        state: &mut State,
        features: &[u32],
        reading: Option<&[u8]>,
        lesson: Lesson,
        now: i64,
        config: &AutoLearnConfig,
    ) -> Learned {
        let spam = lesson == Lesson::Spam;
        let model = state.model.as_mut().expect("loaded by with_model");
        let compression = state.compression.as_mut().zip(reading);
        let probability = |model: &Model, compression: Option<&CompressionModel>| {
            let tokens = model.predict(features);
            match compression.zip(reading) {
                Some((c, text)) => c.stacked_probability(tokens.score, text),
                None => tokens.spam_probability,
            }
        };
        let before = match compression {
            Some((c, text)) => {
                let before = probability(model, Some(c));
                let (log_odds, score) = (model.predict(features).score, c.score(text));
                c.stacker_mut().learn(log_odds, score, spam);
                c.learn(text, spam);
                model.learn(features, spam);
                before
            }
            None => model.learn(features, spam),
        };
        let after = probability(model, state.compression.as_ref());
        if state.unsaved == 0 {
            state.first_unsaved_at = now;
        }
        state.unsaved += 1;
        let save_due = state.unsaved >= config.save_every.max(1)
            || now - state.first_unsaved_at >= config.save_interval_s as i64;
        Learned {
            lesson,
            before,
            after,
            save_due,
        }
    }

    /// Lessons learned and not yet in the file.
    pub fn unsaved(&self) -> u32 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).unsaved
    }

    /// Writes the model file when lessons wait (whole, then renamed into place). Returns whether
    /// it wrote; the caller reloads the scanner so the live classifier uses it.
    pub fn save(&self) -> Result<bool, ModelError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.unsaved == 0 {
            return Ok(false);
        }
        if let Some(model) = &state.model {
            model.save(&self.path)?;
        }
        if let (Some(c), Some(path)) = (&state.compression, &self.compression_path) {
            c.save(path)?;
        }
        state.file_time = modified(&self.path);
        state.unsaved = 0;
        Ok(true)
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_core::policy::Reason;
    use mailmoat_core::Risk;

    fn reason(symbol: &str, group: &str, category: Category, score: f64) -> Reason {
        Reason {
            symbol: symbol.into(),
            group: group.into(),
            category: Some(category),
            score,
            forced: None,
            hits: Vec::new(),
        }
    }

    fn verdict(action: Action, reasons: Vec<Reason>) -> Verdict {
        Verdict {
            action,
            risk: Risk::None,
            score: reasons.iter().map(|r| r.score).sum(),
            forced_by: None,
            floored_by: None,
            capped_groups: Vec::new(),
            spam_probability: None,
            reasons,
        }
    }

    fn passing_dmarc() -> AuthOutcome {
        let mut a = AuthOutcome {
            findings: Default::default(),
            header: None,
            summary: Default::default(),
        };
        a.summary.dmarc = Some("pass".into());
        a
    }

    #[test]
    fn spam_is_learned_only_when_other_evidence_alone_holds_it() {
        let config = AutoLearnConfig::default();
        let by_rules = verdict(
            Action::Quarantine,
            vec![
                reason("CLASSIFIER_SPAM", CLASSIFIER_GROUP, Category::Spam, 11.0),
                reason("KR_SPAM_GAMBLING", "korean", Category::Spam, 6.0),
                reason("HDR_KR_AD_NO_PREFIX", "headers", Category::Spam, 6.0),
            ],
        );
        assert_eq!(lesson(&by_rules, None, &config), Ok(Lesson::Spam));
        // Held mostly because the classifier said so: the model must not teach itself.
        let by_model = verdict(
            Action::Quarantine,
            vec![
                reason("CLASSIFIER_SPAM", CLASSIFIER_GROUP, Category::Spam, 11.5),
                reason("MIME_HTML_ONLY", "mime", Category::Spam, 0.5),
            ],
        );
        assert_eq!(lesson(&by_model, None, &config), Err(Skip::Uncertain));
        let tagged = verdict(
            Action::Tag,
            vec![reason("KR_SPAM_LOAN", "korean", Category::Spam, 13.0)],
        );
        assert_eq!(lesson(&tagged, None, &config), Err(Skip::Uncertain));
    }

    #[test]
    fn ham_needs_passing_authentication_and_no_threat() {
        let config = AutoLearnConfig::default();
        let clean = verdict(
            Action::Deliver,
            vec![reason(
                "CLASSIFIER_HAM",
                CLASSIFIER_GROUP,
                Category::Spam,
                -2.9,
            )],
        );
        assert_eq!(
            lesson(&clean, Some(&passing_dmarc()), &config),
            Ok(Lesson::Ham)
        );
        assert_eq!(lesson(&clean, None, &config), Err(Skip::NotAuthenticated));
        let mut failing = passing_dmarc();
        failing.summary.dmarc = Some("fail".into());
        assert_eq!(
            lesson(&clean, Some(&failing), &config),
            Err(Skip::NotAuthenticated)
        );
        let with_threat = verdict(
            Action::Deliver,
            vec![
                reason("CLASSIFIER_HAM", CLASSIFIER_GROUP, Category::Spam, -3.0),
                reason("URL_CREDENTIAL_WORDS", "url", Category::Phishing, 0.5),
                // Other evidence at or below 0: the threat alone keeps it from being learned.
                reason("LIST_WELCOMED", "lists", Category::Spam, -1.0),
            ],
        );
        assert_eq!(
            lesson(&with_threat, Some(&passing_dmarc()), &config),
            Err(Skip::Threat)
        );
        let some_score = verdict(
            Action::Deliver,
            vec![reason(
                "HDR_TO_BARE_ADDRESS",
                "headers",
                Category::Spam,
                0.2,
            )],
        );
        assert_eq!(
            lesson(&some_score, Some(&passing_dmarc()), &config),
            Err(Skip::Uncertain)
        );
        // The classifier's confidence does not cancel other evidence for a lesson.
        let offset_by_the_model = verdict(
            Action::Deliver,
            vec![
                reason("CLASSIFIER_HAM", CLASSIFIER_GROUP, Category::Spam, -8.0),
                reason("MIME_HTML_ONLY", "mime", Category::Spam, 4.0),
            ],
        );
        assert_eq!(
            lesson(&offset_by_the_model, Some(&passing_dmarc()), &config),
            Err(Skip::Uncertain)
        );
    }

    #[test]
    fn caps_bound_each_sender_and_the_hour() {
        let config = AutoLearnConfig {
            per_sender_per_hour: 2,
            per_hour: 3,
            ..AutoLearnConfig::default()
        };
        let mut caps = Caps::default();
        let t = 1_700_000_000;
        assert_eq!(caps.admit("a.example", t, &config), Ok(()));
        assert_eq!(caps.admit("A.example", t + 1, &config), Ok(()));
        assert_eq!(
            caps.admit("a.example", t + 2, &config),
            Err(Skip::Capped("lessons per sender per hour"))
        );
        assert_eq!(caps.admit("b.example", t + 3, &config), Ok(()));
        assert_eq!(
            caps.admit("c.example", t + 4, &config),
            Err(Skip::Capped("lessons per hour"))
        );
        // A new hour starts over.
        assert_eq!(caps.admit("a.example", t + 3600, &config), Ok(()));
    }

    #[test]
    fn lessons_reach_the_file_whole_and_a_new_learner_reads_them() {
        let dir = std::env::temp_dir().join(format!("mailmoat-autolearn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.bin");
        let config = AutoLearnConfig {
            enabled: true,
            save_every: 2,
            ..AutoLearnConfig::default()
        };
        let learner = Learner::new(&path, config.clone());
        let view = MessageView::build(
            b"From: a@shop.example\r\nSubject: cheap pills casino\r\n\r\nwinner prize offer\r\n"
                .to_vec(),
            Default::default(),
            &Default::default(),
        );
        let held = verdict(
            Action::Reject,
            vec![reason("RULE_X", "rules", Category::Spam, 20.0)],
        );
        let first = learner.offer(&view, &held, None, 100).unwrap().unwrap();
        assert_eq!(first.lesson, Lesson::Spam);
        assert!(first.after > first.before);
        assert!(!first.save_due);
        assert!(!path.exists(), "nothing written before a save");
        let second = learner.offer(&view, &held, None, 101).unwrap().unwrap();
        assert!(second.save_due);
        assert!(learner.save().unwrap());
        assert!(!learner.save().unwrap(), "nothing new to write");
        let saved = Model::load(&path).unwrap();
        let built_in = mailmoat_classifier::detector::built_in_model().unwrap();
        assert_eq!(saved.trained[1], built_in.trained[1] + 2);
        // A person's correction is learned past the caps and read back by a new learner.
        let strict = AutoLearnConfig {
            per_hour: 0,
            ..config
        };
        let again = Learner::new(&path, strict);
        assert_eq!(
            again.offer(&view, &held, None, 102).unwrap(),
            Err(Skip::Capped("lessons per hour"))
        );
        let corrected = again.correct(&view, false, 103).unwrap();
        assert!(corrected.after < corrected.before);
        assert!(again.save().unwrap());
        assert_eq!(
            Model::load(&path).unwrap().trained[0],
            built_in.trained[0] + 1
        );

        // A model file replaced by someone else (a retrained model) is read again, not
        // overwritten with the old state.
        let mut retrained = Model::new(16);
        retrained.trained = [1000, 1000];
        std::thread::sleep(std::time::Duration::from_millis(20));
        retrained.save(&path).unwrap();
        let after_retraining = again.correct(&view, true, 104).unwrap();
        assert_eq!(after_retraining.lesson, Lesson::Spam);
        assert!(again.save().unwrap());
        assert_eq!(Model::load(&path).unwrap().trained, [1000, 1001]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_configured_compression_model_learns_each_lesson_and_is_written_beside_the_model() {
        let dir =
            std::env::temp_dir().join(format!("mailmoat-autolearn-ppm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (path, ppm) = (dir.join("model.bin"), dir.join("site.ppm"));
        let learner = Learner::new(&path, AutoLearnConfig::default()).with_compression(Some(&ppm));
        let message = |text: &str| {
            MessageView::build(
                text.as_bytes().to_vec(),
                Default::default(),
                &Default::default(),
            )
        };
        let spam = message(
            "From: a@shop.example\r\nSubject: cheap pills\r\n\r\nwinner prize offer casino\r\n",
        );
        let ham = message(
            "From: b@corp.example\r\nSubject: minutes\r\n\r\nthe review notes are attached\r\n",
        );
        for t in 0..3 {
            learner.correct(&spam, true, 100 + t).unwrap();
            learner.correct(&ham, false, 200 + t).unwrap();
        }
        assert!(learner.save().unwrap());
        let saved = CompressionModel::load(&ppm).unwrap();
        assert_eq!(saved.trained, [3, 3]);
        assert_eq!(saved.stacker().learned(), 6);
        // It reads as spam what it learned as spam, and as ham what it learned as ham.
        assert!(saved.score(&saved.reading(&spam)) > 0.0);
        assert!(saved.score(&saved.reading(&ham)) < 0.0);
        // A lesson from another node (features only) teaches the token model alone.
        let (bits, features) = learner.features(&spam).unwrap();
        learner
            .learn_features(bits, &features, true, 300)
            .unwrap()
            .unwrap();
        assert!(learner.save().unwrap());
        assert_eq!(CompressionModel::load(&ppm).unwrap().trained, [3, 3]);
        std::fs::remove_dir_all(dir).ok();
    }
}
