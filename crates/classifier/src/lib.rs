//! A statistical classifier for spam and phishing.
//!
//! Features come from the parsed view (never from a second parse): words and sparse word pairs
//! (OSB, as rspamd) of the subject and visible body, character bigrams for Hangul and CJK runs
//! (no morphological analyser needed), header facts (sender domain, mailer, Received networks,
//! content types, which key headers are present), URL hosts and path pieces, attachment types.
//! They are hashed into a fixed table and weighed by online logistic regression with
//! FTRL-Proximal (as Stalwart uses): it trains in one pass, learns from single corrections, and
//! its L1 term keeps the model sparse.

pub mod compression;
pub mod detector;
mod features;
mod model;
mod stack;

pub mod url_model;
pub use compression::CompressionModel;
pub use detector::{AutoLearnConfig, Classifier, Config};
pub use features::{features, features_with_repeats, fold, token_index, tokens};
pub use model::{Model, ModelError, Prediction, Weights};
pub use stack::Stacker;
