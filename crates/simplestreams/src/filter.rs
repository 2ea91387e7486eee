//! `sstream-mirror`'s filters: `key=value`, `key!=value`, `key~regex`, `key!~regex`,
//! matched against an item's attributes as the stream gives them (an item inherits its
//! version's, its product's and its product file's). A filter on a key an item does not
//! have does not match (`!=` and `!~` do; sstream-mirror reads a missing key as "", so
//! there `key~.*` matches it). Every filter must match.

use std::borrow::Cow;

use regex::Regex;

/// One filter.
#[derive(Debug, Clone)]
pub struct Filter {
    key: String,
    matcher: Matcher,
    negated: bool,
}

#[derive(Debug, Clone)]
enum Matcher {
    Equals(String),
    Search(Regex),
}

impl Filter {
    /// Parse `key=value`, `key!=value`, `key~regex` or `key!~regex`.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let position = text
            .find(['=', '~'])
            .ok_or_else(|| format!("filter {text:?}: expected key=value or key~regex"))?;
        let (key, rest) = text.split_at(position);
        let (key, negated) = match key.strip_suffix('!') {
            Some(key) => (key, true),
            None => (key, false),
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!("filter {text:?}: the key must be a field name"));
        }
        // `arch = amd64` as `arch=amd64`, as sstream-mirror reads it.
        let value = rest[1..].trim_start();
        let matcher = if rest.starts_with('~') {
            Matcher::Search(Regex::new(value).map_err(|e| format!("filter {text:?}: {e}"))?)
        } else {
            Matcher::Equals(value.to_owned())
        };
        Ok(Filter {
            key: key.to_owned(),
            matcher,
            negated,
        })
    }

    /// Whether an item passes, its attributes looked up by `attribute`.
    pub fn matches<'v>(&self, attribute: impl Fn(&str) -> Option<Cow<'v, str>>) -> bool {
        let found = attribute(&self.key).is_some_and(|value| match &self.matcher {
            Matcher::Equals(wanted) => *value == **wanted,
            Matcher::Search(regex) => regex.is_match(&value),
        });
        found != self.negated
    }
}

/// What a mirror keeps: items passing every one of `all`, and, when `any` is not empty,
/// every filter of at least one of its groups (MAAS's selections are a union: images of
/// some releases, and the bootloaders, which name no release).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Filters every kept item passes.
    pub all: Vec<Filter>,
    /// Groups of filters, one of which a kept item passes whole.
    pub any: Vec<Vec<Filter>>,
}

impl Selection {
    /// Whether an item passes, its attributes looked up by `attribute`.
    pub fn matches<'v>(&self, attribute: impl Fn(&str) -> Option<Cow<'v, str>> + Copy) -> bool {
        self.all.iter().all(|f| f.matches(attribute))
            && (self.any.is_empty()
                || self
                    .any
                    .iter()
                    .any(|group| group.iter().all(|f| f.matches(attribute))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = std::collections::BTreeMap<String, String>;

    /// `filter` against `item`.
    fn passes(filter: &Filter, item: &Item) -> bool {
        filter.matches(|key| item.get(key).map(|v| Cow::Borrowed(v.as_str())))
    }

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_four_operators_and_missing_keys() {
        let noble = item(&[("release", "noble"), ("arch", "amd64")]);
        let focal = item(&[("release", "focal"), ("arch", "arm64")]);
        let releases = Filter::parse("release~(jammy|noble)").expect("parses");
        assert!(passes(&releases, &noble) && !passes(&releases, &focal));
        let amd64 = Filter::parse("arch=amd64").expect("parses");
        assert!(passes(&amd64, &noble) && !passes(&amd64, &focal));
        let not_arm = Filter::parse("arch!=arm64").expect("parses");
        assert!(passes(&not_arm, &noble) && !passes(&not_arm, &focal));
        let not_old = Filter::parse("release!~^f").expect("parses");
        assert!(passes(&not_old, &noble) && !passes(&not_old, &focal));
        let missing = Filter::parse("subarch=hwe-24.04").expect("parses");
        assert!(!passes(&missing, &noble));
        assert!(passes(
            &Filter::parse("subarch!=ga").expect("parses"),
            &noble
        ));
        let union = Selection {
            all: vec![Filter::parse("arch=amd64").expect("parses")],
            any: vec![
                vec![Filter::parse("release~^(jammy|noble)$").expect("parses")],
                vec![Filter::parse("content_id~bootloader").expect("parses")],
            ],
        };
        let lookup = |item: &Item| {
            let item = item.clone();
            move |key: &str| item.get(key).map(|v| Cow::Owned(v.clone()))
        };
        let bootloader = item(&[("content_id", "x:bootloader-download"), ("arch", "amd64")]);
        assert!(union.matches(&lookup(&noble)));
        assert!(union.matches(&lookup(&bootloader)));
        assert!(!union.matches(&lookup(&focal)));
        for bad in ["release", "=noble", "a b=c", "arch~("] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
