//! The scan result as it leaves the pipeline and as it is stored and read back: the spool's
//! quarantine, the message log and the console all read a [`ScanReport`], never JSON by hand.
//!
//! Stored reports outlive the code that wrote them, so the type is versioned and lenient where
//! history requires: reports written before the version field (version 0) read as version 1,
//! symbols stored before categories were declared with them get the category their group had
//! then, and a category this build does not know is kept as unknown (never taken for spam).

use std::collections::BTreeMap;
use std::net::IpAddr;

use mailmoat_auth::AuthSummary;
use mailmoat_core::policy::Hit;
use mailmoat_core::{Action, Category, Location, ObjectInfo, Risk};
use mailmoat_mime::{Envelope, Mailbox, PartInfo, Problem, UrlRef};
use serde::{Deserialize, Deserializer, Serialize};

#[cfg(test)]
mod tests;

/// The version [`ScanReport`]s are written with. Raise it when a field changes meaning, and
/// keep reading the older ones.
pub const SCAN_REPORT_VERSION: u32 = 1;

/// How many of the walk's objects a report lists whatever the evidence says.
pub const MAX_REPORTED_OBJECTS: usize = 500;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a scan found and decided about one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanReport {
    /// [`SCAN_REPORT_VERSION`] when written; 0 for reports stored before versioning.
    pub version: u32,
    /// What the message was called where it came from: a file, a queue id.
    pub file: String,
    pub action: Action,
    pub risk: Risk,
    pub score: f64,
    /// The learned fusion's calibrated spam probability; hand weights give none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_probability: Option<f64>,
    /// Every symbol that fired, by name.
    pub symbols: BTreeMap<String, SymbolReport>,
    /// The symbol whose forced action decided, when one did.
    pub forced_by: Option<String>,
    /// The threat whose floor raised the action or the risk above what the score gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floored_by: Option<String>,
    /// Groups whose cap changed the score.
    pub capped_groups: Vec<String>,
    /// What the authentication stage found, when it ran.
    pub authentication: Option<AuthSummary>,
    pub message: MessageSummary,
    /// The objects the attachment walk opened, by id (empty in reports stored before version
    /// 1); a hit names its object by location.
    pub objects: Vec<ObjectInfo>,
    /// Objects left out of `objects` to keep the report small (an archive of thousands of
    /// members): beyond the first [`MAX_REPORTED_OBJECTS`], only those a hit names are kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub objects_omitted: usize,
    /// A recipient's exception delivered the message despite the verdict: who, which sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

impl Default for ScanReport {
    fn default() -> Self {
        ScanReport {
            version: 0,
            file: String::new(),
            action: Action::Deliver,
            risk: Risk::None,
            score: 0.0,
            spam_probability: None,
            symbols: BTreeMap::new(),
            forced_by: None,
            floored_by: None,
            capped_groups: Vec::new(),
            authentication: None,
            message: MessageSummary::default(),
            objects: Vec::new(),
            objects_omitted: 0,
            exception: None,
        }
    }
}

/// One symbol that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolReport {
    /// What it added to the score.
    pub score: f64,
    #[serde(default)]
    pub group: String,
    /// What it is evidence of, as declared with the symbol.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_category"
    )]
    pub category: Option<Category>,
    /// The action it forced, if it forced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<Action>,
    #[serde(default)]
    pub hits: Vec<Hit>,
}

impl SymbolReport {
    /// What this symbol is evidence of: its declared category, or for reports stored before
    /// categories were declared with symbols, the one its group stood for then. None when it
    /// cannot be told.
    pub fn evidence_category(&self) -> Option<Category> {
        self.category.or_else(|| legacy_group_category(&self.group))
    }
}

/// A category name this build does not know reads as none rather than failing the report.
fn known_category<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Category>, D::Error> {
    let name: Option<String> = Option::deserialize(d)?;
    Ok(name.as_deref().and_then(Category::parse))
}

/// The categories groups stood for before symbols declared their own.
fn legacy_group_category(group: &str) -> Option<Category> {
    Some(match group {
        "signature" => Category::Signature,
        "malware" | "attachments" | "documents" | "variants" => Category::Malware,
        "phishing" | "urls" => Category::Phishing,
        "impersonation" | "auth" => Category::Impersonation,
        "rules" | "lists" | "rate" => Category::Policy,
        "headers" | "mime" | "classifier" | "heuristics" | "dnsbl" | "pipeline" => Category::Spam,
        _ => return None,
    })
}

/// The message as the report keeps it: who, how it travelled, what it carries (not its bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageSummary {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// The Date header as Unix seconds.
    pub date: Option<i64>,
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub return_path: Option<String>,
    pub envelope: Envelope,
    /// The connecting client: the envelope's, else the first external hop's.
    pub client_ip: Option<IpAddr>,
    pub first_external_hop: Option<ExternalHop>,
    pub received_hops: usize,
    /// Received hops, newest first.
    pub received: Vec<Hop>,
    /// The start of the readable text.
    pub text_excerpt: String,
    pub size: usize,
    pub parts: Vec<PartInfo>,
    pub urls: Vec<UrlRef>,
    pub attachments: Vec<AttachmentSummary>,
    pub embedded_messages: Vec<EmbeddedSummary>,
    pub problems: Vec<Problem>,
}

/// Where the message entered the internet's mail system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExternalHop {
    pub ip: Option<IpAddr>,
    pub helo: Option<String>,
    pub host: Option<String>,
}

/// One Received hop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hop {
    pub from_host: Option<String>,
    pub from_ip: Option<IpAddr>,
    pub helo: Option<String>,
    /// The receiving host.
    pub by: Option<String>,
    pub protocol: Option<String>,
    pub tls: bool,
    pub date: Option<i64>,
}

impl Hop {
    /// "from HOST [IP] (helo H) by HOST with PROTO".
    pub fn line(&self) -> String {
        let mut line = format!("from {}", self.from_host.as_deref().unwrap_or("?"));
        if let Some(ip) = self.from_ip {
            line.push_str(&format!(" [{ip}]"));
        }
        if let Some(helo) = &self.helo {
            line.push_str(&format!(" (helo {helo})"));
        }
        if let Some(by) = &self.by {
            line.push_str(&format!(" by {by}"));
        }
        if let Some(p) = &self.protocol {
            line.push_str(&format!(" with {p}"));
        }
        line
    }
}

/// An attachment or inline non-text part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentSummary {
    pub location: Location,
    pub file_name: Option<String>,
    /// The declared Content-Type.
    pub content_type: String,
    /// What the bytes look like, when recognised.
    pub sniffed_type: Option<String>,
    pub inline: bool,
    pub size: usize,
}

/// A message/rfc822 part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddedSummary {
    pub location: Location,
    pub subject: Option<String>,
    pub from: Vec<Mailbox>,
}

impl ScanReport {
    /// Symbol names and scores, strongest first (then by name).
    pub fn symbols_strongest_first(&self) -> Vec<(&str, f64)> {
        let mut out: Vec<(&str, f64)> = self
            .symbols
            .iter()
            .map(|(name, s)| (name.as_str(), s.score))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        out
    }

    /// The From header's (first) address.
    pub fn from_address(&self) -> Option<&str> {
        self.message.from.first().and_then(|m| m.address.as_deref())
    }

    /// What the message was detected as: None when it was delivered untouched, otherwise the
    /// category of the symbol that forced the action, or the category with the most score. A
    /// symbol whose category cannot be told counts as spam here (the dashboard needs a type);
    /// exceptions never take it for spam (they read the verdict, not this).
    pub fn detection(&self) -> Option<Category> {
        if self.action == Action::Deliver {
            return None;
        }
        if let Some(category) = self
            .forced_by
            .as_deref()
            .and_then(|f| self.symbols.get(f))
            .and_then(SymbolReport::evidence_category)
        {
            return Some(category);
        }
        let mut totals: Vec<(Category, f64)> = Vec::new();
        for s in self.symbols.values().filter(|s| s.score > 0.0) {
            let category = s.evidence_category().unwrap_or(Category::Spam);
            match totals.iter_mut().find(|(c, _)| *c == category) {
                Some(t) => t.1 += s.score,
                None => totals.push((category, s.score)),
            }
        }
        Some(
            totals
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(Category::Spam, |t| t.0),
        )
    }

    /// [`detection`](Self::detection) as the dashboard names it ("clean" when none).
    pub fn detection_name(&self) -> &'static str {
        self.detection().map_or("clean", Category::as_str)
    }

    /// The object with this id.
    pub fn object(&self, id: u32) -> Option<&ObjectInfo> {
        self.objects.iter().find(|o| o.id == id)
    }

    /// The object a hit's location names, when it names one the walk opened.
    pub fn object_at(&self, location: &Location) -> Option<&ObjectInfo> {
        self.objects.iter().find(|o| o.location == *location)
    }

    /// Every hit of every symbol, with its symbol.
    pub fn hits(&self) -> impl Iterator<Item = (&str, &SymbolReport, &Hit)> {
        self.symbols
            .iter()
            .flat_map(|(name, s)| s.hits.iter().map(move |h| (name.as_str(), s, h)))
    }
}
