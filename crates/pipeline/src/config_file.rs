//! One configuration file, several owners. The scan pipeline, the gateway and the console each
//! declare their own sections as their own types; a `ConfigFile` hands each owner its
//! sections and, once every owner has taken its part, refuses what nobody took. Each part is
//! read from the same parsed document, so an error names the line in the file as a single
//! strict parse would.

use serde::de::{DeserializeOwned, Visitor};
use toml::de::DeTable;
use toml::Spanned;

use crate::ConfigError;

/// A parsed configuration file whose top-level sections are handed out to their owners.
pub struct ConfigFile<'t> {
    origin: String,
    text: &'t str,
    sections: DeTable<'t>,
    /// Section names taken so far, for the "expected one of" of an unknown section.
    known: Vec<&'static str>,
}

impl<'t> ConfigFile<'t> {
    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &'t str, origin: &str) -> Result<ConfigFile<'t>, ConfigError> {
        let sections = DeTable::parse(text).map_err(|e| syntax(origin, &e, text))?;
        Ok(ConfigFile {
            origin: origin.to_string(),
            text,
            sections: sections.into_inner(),
            known: Vec::new(),
        })
    }

    /// The file's name (or "built-in defaults") as errors give it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The file's text.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// Reads the sections `T` declares (each field of `T` is one top-level section; a section
    /// the file lacks takes its default) and removes them from the file.
    pub fn take<T: DeserializeOwned>(&mut self) -> Result<T, ConfigError> {
        let names = section_names::<T>();
        self.known.extend_from_slice(names);
        let all = std::mem::take(&mut self.sections);
        let mut mine = DeTable::default();
        for (key, value) in all {
            if names.contains(&key.get_ref().as_ref()) {
                mine.insert(key, value);
            } else {
                self.sections.insert(key, value);
            }
        }
        let document = toml::de::Deserializer::from(Spanned::new(0..self.text.len(), mine));
        T::deserialize(document).map_err(|e| syntax(&self.origin, &e, self.text))
    }

    /// Refuses any section no owner took, naming its line.
    pub fn finish(self) -> Result<(), ConfigError> {
        let Some((key, _)) = self.sections.iter().next() else {
            return Ok(());
        };
        let (line, column) = line_and_column(self.text, key.span().start);
        let mut known = self.known.clone();
        known.sort_unstable();
        Err(ConfigError::Syntax {
            path: self.origin.clone(),
            message: format!(
                "line {line}, column {column}: unknown section `{}`, expected one of {}",
                key.get_ref(),
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

fn syntax(origin: &str, e: &toml::de::Error, text: &str) -> ConfigError {
    ConfigError::Syntax {
        path: origin.to_string(),
        message: one_line_toml_error(e, text),
    }
}

/// toml's errors are multi-line with a source excerpt; keep "line N, column M: what".
pub(crate) fn one_line_toml_error(e: &toml::de::Error, text: &str) -> String {
    let what = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    (line, before.len() - start + 1)
}

/// The field names a derived `Deserialize` struct declares, read by asking it to deserialize
/// from a probe that only records what it is asked for.
fn section_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut names));
    names
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("a section owner must be a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Alpha {
        a: Section,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Beta {
        b: Section,
        #[serde(skip)]
        _not_a_section: u8,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Section {
        n: u32,
    }

    #[test]
    fn each_owner_takes_its_sections_and_the_rest_is_refused_by_line() {
        let text = "[a]\nn = 1\n\n[b]\nn = 2\n\n[c]\nn = 3\n";
        let mut file = ConfigFile::parse(text, "t.toml").unwrap();
        assert_eq!(file.take::<Alpha>().unwrap().a.n, 1);
        assert_eq!(file.take::<Beta>().unwrap().b.n, 2);
        let err = file.finish().unwrap_err().to_string();
        assert!(
            err.starts_with(
                "t.toml: line 7, column 2: unknown section `c`, expected one of `a`, `b`"
            ),
            "{err}"
        );
    }

    #[test]
    fn an_error_inside_a_taken_section_names_its_line_in_the_whole_file() {
        let text = "[a]\nn = 1\n\n[b]\nn = 2\nm = 3\n";
        let mut file = ConfigFile::parse(text, "t.toml").unwrap();
        file.take::<Alpha>().unwrap();
        let err = file.take::<Beta>().unwrap_err().to_string();
        assert!(err.starts_with("t.toml: line 6, column 1:"), "{err}");
        assert!(err.contains('m'), "{err}");
        let err = ConfigFile::parse("[a]\nn = \"x\"\n", "t.toml")
            .unwrap()
            .take::<Alpha>()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: line 2, column 5:"), "{err}");
    }

    #[test]
    fn missing_sections_take_their_defaults_and_syntax_errors_name_the_line() {
        let mut file = ConfigFile::parse("", "t.toml").unwrap();
        assert_eq!(file.take::<Alpha>().unwrap().a.n, 0);
        file.finish().unwrap();
        let err = ConfigFile::parse("[a]\nn = = 1\n", "t.toml")
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("t.toml: line 2,"), "{err}");
    }

    #[test]
    fn skipped_fields_are_not_sections() {
        assert_eq!(section_names::<Beta>(), &["b"]);
    }
}
