use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Where in a message something was found, outermost first, e.g.
/// `attachment invoice.zip > invoice.docm > Module1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Location(Vec<String>);

impl Location {
    /// The message as a whole (no particular part).
    pub fn message() -> Self {
        Location(Vec::new())
    }

    pub fn new(first: impl Into<String>) -> Self {
        Location(vec![first.into()])
    }

    /// A location one level deeper.
    pub fn child(&self, segment: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        Location(segments)
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    pub fn is_message(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("message");
        }
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" > ")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

/// One fact a detector reports: a declared symbol, how strongly it applies (0..=1), a short
/// human-readable why, and where it was found. Detectors never pick actions or scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub symbol: Cow<'static, str>,
    pub strength: f64,
    pub details: String,
    pub location: Location,
}

/// An object the attachment walk opened: an attachment, or a member, stream or payload found
/// inside one. Its id is its place in walk order, the same for the same message and settings,
/// so a stored report can name an object and evidence can be tied to it by location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub id: u32,
    pub location: Location,
    pub name: String,
    /// What the bytes are, as the walk recognised them ("a Windows program (PE)").
    pub kind: String,
    pub size: u64,
    pub sha256: String,
    /// What each engine that looked at this object said of it (absent in reports stored
    /// before engines were recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opinions: Vec<Opinion>,
}

impl ObjectInfo {
    /// How many of the engines that answered call the object malicious, and how many answered.
    pub fn agreement(&self) -> (usize, usize) {
        let answered = self
            .opinions
            .iter()
            .filter(|o| o.judgement != Judgement::NoAnswer)
            .count();
        let malicious = self
            .opinions
            .iter()
            .filter(|o| o.judgement == Judgement::Malicious)
            .count();
        (malicious, answered)
    }
}

/// An engine that judges objects: our own static analysers, the known-bad hash list, variant
/// matching against the reference store, YARA rules, ClamAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Analysers,
    KnownHashes,
    Variants,
    Yara,
    Clamav,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Analysers => "analysers",
            Engine::KnownHashes => "known-bad hashes",
            Engine::Variants => "variants",
            Engine::Yara => "YARA",
            Engine::Clamav => "ClamAV",
        }
    }
}

/// What an engine said of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Malicious,
    Suspicious,
    Clean,
    /// It looked but could not answer (out of time, over a limit, unreachable).
    NoAnswer,
}

impl Judgement {
    pub fn as_str(self) -> &'static str {
        match self {
            Judgement::Malicious => "malicious",
            Judgement::Suspicious => "suspicious",
            Judgement::Clean => "clean",
            Judgement::NoAnswer => "no answer",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Judgement::Malicious => 3,
            Judgement::Suspicious => 2,
            Judgement::Clean => 1,
            Judgement::NoAnswer => 0,
        }
    }
}

/// One engine's judgement of one object, with what it is based on (a rule, a signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opinion {
    pub engine: Engine,
    pub judgement: Judgement,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Everything the detectors reported about one message.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Findings {
    items: Vec<Evidence>,
    /// The objects the attachment walk opened, in walk order (ids are positions).
    #[serde(skip)]
    objects: Vec<ObjectInfo>,
    /// The statistical classifier's spam probability, whatever symbol it gave: the learned
    /// fusion reads it as a number rather than through thresholds.
    #[serde(skip)]
    classifier_probability: Option<f64>,
}

impl Findings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds evidence at full strength.
    pub fn add(
        &mut self,
        symbol: impl Into<Cow<'static, str>>,
        details: impl Into<String>,
        location: Location,
    ) {
        self.add_with_strength(symbol, 1.0, details, location);
    }

    /// Adds evidence with a strength; values outside 0..=1 (or NaN) are clamped so a buggy
    /// detector cannot push the score past its declared weight.
    pub fn add_with_strength(
        &mut self,
        symbol: impl Into<Cow<'static, str>>,
        strength: f64,
        details: impl Into<String>,
        location: Location,
    ) {
        let strength = if strength.is_nan() {
            0.0
        } else {
            strength.clamp(0.0, 1.0)
        };
        self.items.push(Evidence {
            symbol: symbol.into(),
            strength,
            details: details.into(),
            location,
        });
    }

    /// Records an object the walk opened; returns its id.
    pub fn add_object(
        &mut self,
        location: Location,
        name: impl Into<String>,
        kind: impl Into<String>,
        size: u64,
        sha256: impl Into<String>,
    ) -> u32 {
        let id = self.objects.len() as u32;
        self.objects.push(ObjectInfo {
            id,
            location,
            name: name.into(),
            kind: kind.into(),
            size,
            sha256: sha256.into(),
            opinions: Vec::new(),
        });
        id
    }

    /// Records an engine's judgement of an object (by id); an engine judging one object
    /// twice keeps its stronger judgement.
    pub fn add_opinion(&mut self, object: u32, opinion: Opinion) {
        let Some(o) = self.objects.get_mut(object as usize) else {
            return;
        };
        match o.opinions.iter_mut().find(|e| e.engine == opinion.engine) {
            Some(e) if opinion.judgement.rank() > e.judgement.rank() => *e = opinion,
            Some(_) => {}
            None => o.opinions.push(opinion),
        }
    }

    /// The objects the walk opened, in walk order.
    pub fn objects(&self) -> &[ObjectInfo] {
        &self.objects
    }

    pub fn extend(&mut self, other: Findings) {
        self.items.extend(other.items);
        // Ids stay positions in the merged list.
        for mut object in other.objects {
            object.id = self.objects.len() as u32;
            self.objects.push(object);
        }
        if other.classifier_probability.is_some() {
            self.classifier_probability = other.classifier_probability;
        }
    }

    /// Records the classifier's spam probability (NaN is ignored).
    pub fn set_classifier_probability(&mut self, p: f64) {
        if !p.is_nan() {
            self.classifier_probability = Some(p.clamp(0.0, 1.0));
        }
    }

    pub fn classifier_probability(&self) -> Option<f64> {
        self.classifier_probability
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Evidence> {
        self.items.iter()
    }

    /// Removes and returns the evidence from index `at` on.
    pub fn split_off(&mut self, at: usize) -> Findings {
        // The classifier's probability and the walk's objects go with the evidence split off
        // (the newer part: what analysis found after the earlier stages).
        Findings {
            items: self.items.split_off(at.min(self.items.len())),
            objects: std::mem::take(&mut self.objects),
            classifier_probability: self.classifier_probability.take(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn contains(&self, symbol: &str) -> bool {
        self.items.iter().any(|e| e.symbol == symbol)
    }
}

impl<'a> IntoIterator for &'a Findings {
    type Item = &'a Evidence;
    type IntoIter = std::slice::Iter<'a, Evidence>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_displays_as_a_path() {
        let loc = Location::new("attachment invoice.zip").child("invoice.docm");
        assert_eq!(loc.to_string(), "attachment invoice.zip > invoice.docm");
        assert_eq!(Location::message().to_string(), "message");
    }

    #[test]
    fn object_ids_are_positions_after_merging() {
        let mut a = Findings::new();
        assert_eq!(
            a.add_object(
                Location::new("attachment a.zip"),
                "a.zip",
                "a ZIP archive",
                10,
                "aa"
            ),
            0
        );
        let mut b = Findings::new();
        b.add_object(
            Location::new("attachment b.exe"),
            "b.exe",
            "a Windows program (PE)",
            5,
            "bb",
        );
        a.extend(b);
        let ids: Vec<(u32, &str)> = a
            .objects()
            .iter()
            .map(|o| (o.id, o.name.as_str()))
            .collect();
        assert_eq!(ids, [(0, "a.zip"), (1, "b.exe")]);
        let newer = a.split_off(0);
        assert_eq!(newer.objects().len(), 2);
        assert!(a.objects().is_empty());
    }

    #[test]
    fn strength_is_clamped() {
        let mut f = Findings::new();
        f.add_with_strength("X", 7.0, "", Location::message());
        f.add_with_strength("X", -1.0, "", Location::message());
        f.add_with_strength("X", f64::NAN, "", Location::message());
        let s: Vec<f64> = f.iter().map(|e| e.strength).collect();
        assert_eq!(s, vec![1.0, 0.0, 0.0]);
    }
}
