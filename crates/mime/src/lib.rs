//! The parsed view of one message, built once with mail-parser before any detector runs.
//!
//! [`MessageView::build`] never panics and never gives up: what cannot be parsed is recorded in
//! [`MessageView::problems`] (detectors turn those into evidence such as `MIME_MALFORMED`) and
//! whatever could be read is still in the view.

mod build;
mod charset;
pub mod html;
mod limits;
pub mod qr;
mod received;
mod sniff;
mod urls;
mod view;

pub use build::display_safe;
/// RFC 2047 encoded-words of an unfolded header value decoded, in any charset.
pub use charset::decode_rfc2047 as decode_encoded_words;
pub use received::is_internal;
pub use sniff::sniff;
pub use view::*;
