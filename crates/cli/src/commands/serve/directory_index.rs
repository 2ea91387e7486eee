//! A directory's own page: a published directory holding `index.json` and/or
//! `index.html` (a PyPI mirror's `simple/` pages) is answered with one of them, chosen by
//! the request's `Accept` as PEP 691 asks, so pip and uv use `--index-url
//! http://HOST/<mirror>/simple/` unchanged. The rule knows no format: a tree without
//! such files (APT, conda) is served as before, and a directory without them is a 404.
//!
//! - `application/vnd.pypi.simple.v1+json` (or `...latest+json`) gets `index.json`;
//!   `application/vnd.pypi.simple.v1+html`, `...latest+html` and `text/html` get
//!   `index.html`; the answer names the concrete type asked for (uv dispatches on it and
//!   refuses `application/json`). `q` values are honoured; among equals, an exact type
//!   prefers JSON and a wildcard (`*/*`, or no `Accept` at all, which is `*/*`) gets
//!   `text/html`, as PyPI answers clients that do not negotiate.
//! - Nothing acceptable: 406. Every answer carries `Vary: Accept`.
//! - The directory without its trailing `/` is redirected (301) to it: relative links on
//!   the page resolve against the page's URL.

use std::path::Path;

/// The types a directory page is offered as: (media type, the file it is).
pub const OFFERS: [(&str, &str); 3] = [
    ("application/vnd.pypi.simple.v1+json", "index.json"),
    ("application/vnd.pypi.simple.v1+html", "index.html"),
    ("text/html", "index.html"),
];

/// What a request for a directory gets.
#[derive(Debug, PartialEq, Eq)]
pub enum DirectoryIndex {
    /// `decoded` + the file, sent with this `Content-Type`.
    Page {
        /// The file's path (decoded, as the path rule checked it).
        path: String,
        /// The media type chosen.
        content_type: &'static str,
    },
    /// Redirect to this path (the directory with its trailing `/`).
    Redirect(String),
    /// The directory has a page, but not in a type the client accepts.
    NotAcceptable,
}

/// The answer for `decoded` (a path the path rule accepted) under `public`, when it is a
/// directory with a page; `None` otherwise (the request goes on as any other).
pub fn choose(public: &Path, decoded: &str, accept: Option<&str>) -> Option<DirectoryIndex> {
    let relative = decoded.strip_prefix('/')?;
    let directory = public.join(relative.trim_end_matches('/'));
    let offered: Vec<(&'static str, &'static str)> = OFFERS
        .into_iter()
        .filter(|(_, file)| directory.join(file).is_file())
        .collect();
    if offered.is_empty() || !directory.is_dir() {
        return None;
    }
    if !decoded.ends_with('/') {
        return Some(DirectoryIndex::Redirect(format!("{decoded}/")));
    }
    Some(match negotiate(&offered, accept) {
        Some((media, file)) => DirectoryIndex::Page {
            path: format!("{decoded}{file}"),
            content_type: media,
        },
        None => DirectoryIndex::NotAcceptable,
    })
}

/// Which of `offered` (media type, file) `accept` prefers; `None`: none is acceptable.
/// Every page type is offered for a proxy's pages ([`OFFERS`]).
pub fn negotiate(
    offered: &[(&'static str, &'static str)],
    accept: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let ranges = parse_accept(accept.unwrap_or("*/*"));
    let best = offered
        .iter()
        .enumerate()
        .filter_map(|(position, (media, file))| {
            let (q, specificity) = quality(&ranges, media)?;
            // Ties: an exact type prefers the first offer (JSON); a wildcard the last
            // (text/html).
            let preference = if specificity == 2 {
                OFFERS.len() - position
            } else {
                position
            };
            Some(((q, specificity, preference), media, file))
        })
        .filter(|((q, _, _), _, _)| *q > 0)
        .max_by_key(|(key, _, _)| *key);
    best.map(|(_, media, file)| (*media, *file))
}

/// An `Accept` header's media ranges with their `q` in thousandths.
fn parse_accept(accept: &str) -> Vec<(String, u16)> {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let mut q = 1000;
            for parameter in parts {
                if let Some((key, value)) = parameter.split_once('=')
                    && key.trim().eq_ignore_ascii_case("q")
                {
                    let value: f32 = value.trim().parse().ok()?;
                    q = (value.clamp(0.0, 1.0) * 1000.0).round() as u16;
                }
            }
            Some((media, q))
        })
        .collect()
}

/// The `q` the client gives `media` and how specific the range that gave it is (2 exact
/// or `latest`, 1 `type/*`, 0 `*/*`): the most specific matching range decides.
fn quality(ranges: &[(String, u16)], media: &str) -> Option<(u16, u8)> {
    let latest = media.replace(".v1+", ".latest+");
    let kind = media.split('/').next().unwrap_or(media);
    ranges
        .iter()
        .filter_map(|(range, q)| {
            let specificity = if range == media || *range == latest {
                2
            } else if range.strip_suffix("/*") == Some(kind) {
                1
            } else if range == "*/*" {
                0
            } else {
                return None;
            };
            Some((specificity, *q))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(specificity, q)| (q, specificity))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UV: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
    const PIP: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("m/simple/app")).expect("dirs");
        for file in files {
            std::fs::write(dir.path().join("m/simple/app").join(file), b"x").expect("write");
        }
        dir
    }

    fn page(path: &str, content_type: &'static str) -> Option<DirectoryIndex> {
        Some(DirectoryIndex::Page {
            path: path.into(),
            content_type,
        })
    }

    #[test]
    fn clients_get_the_type_they_prefer() {
        let dir = tree(&["index.html", "index.json"]);
        let public = dir.path();
        let json = page(
            "/m/simple/app/index.json",
            "application/vnd.pypi.simple.v1+json",
        );
        let html = page("/m/simple/app/index.html", "text/html");
        assert_eq!(choose(public, "/m/simple/app/", Some(UV)), json);
        assert_eq!(choose(public, "/m/simple/app/", Some(PIP)), json);
        assert_eq!(choose(public, "/m/simple/app/", None), html);
        assert_eq!(choose(public, "/m/simple/app/", Some("*/*")), html);
        assert_eq!(choose(public, "/m/simple/app/", Some("text/html")), html);
        assert_eq!(
            choose(
                public,
                "/m/simple/app/",
                Some("application/vnd.pypi.simple.latest+json")
            ),
            json
        );
        assert_eq!(
            choose(
                public,
                "/m/simple/app/",
                Some("application/vnd.pypi.simple.v1+html, */*;q=0.1")
            ),
            page(
                "/m/simple/app/index.html",
                "application/vnd.pypi.simple.v1+html"
            )
        );
        assert_eq!(
            choose(public, "/m/simple/app/", Some("application/json")),
            Some(DirectoryIndex::NotAcceptable)
        );
        assert_eq!(
            choose(public, "/m/simple/app/", Some("text/html;q=0, */*;q=0")),
            Some(DirectoryIndex::NotAcceptable)
        );
    }

    #[test]
    fn only_directories_with_a_page_and_their_slash() {
        let dir = tree(&["index.html"]);
        let public = dir.path();
        assert_eq!(
            choose(public, "/m/simple/app", None),
            Some(DirectoryIndex::Redirect("/m/simple/app/".into()))
        );
        // A client asking for JSON only gets 406 where only HTML is published.
        assert_eq!(
            choose(
                public,
                "/m/simple/app/",
                Some("application/vnd.pypi.simple.v1+json")
            ),
            Some(DirectoryIndex::NotAcceptable)
        );
        assert_eq!(choose(public, "/m/simple/", None), None);
        assert_eq!(choose(public, "/m/simple/app/index.html", None), None);
        assert_eq!(choose(public, "/nothing/", None), None);
    }
}
