//! [`Credentials`]: what the fetcher sends to upstreams that demand authentication
//! (Ubuntu Pro/ESM-style archives, private channels), chosen by URL as apt's `auth.conf`
//! chooses: the entry whose host (and port) match and whose path is the longest prefix
//! of the request's path.
//!
//! Secrets stay in memory: `Debug` prints them redacted, errors name only the URL, and
//! nothing here is serialised.

use std::fmt;

/// How to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// HTTP Basic (`login`, `password`), as apt's `auth.conf` gives.
    Basic {
        /// The login.
        login: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { login, .. } => write!(f, "Basic({login}, <redacted>)"),
            Secret::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// One entry: where it applies and what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// `https` or `http` when the entry names one; any otherwise.
    pub scheme: Option<String>,
    /// Host name, compared without case.
    pub host: String,
    /// Port, when the entry names one.
    pub port: Option<u16>,
    /// Path prefix (`/ubuntu`), matched on whole segments; empty for the whole host.
    pub path: String,
    /// What to send.
    pub secret: Secret,
}

impl Credential {
    /// An entry for every URL under `base` (`https://host:port/path`).
    pub fn for_url(base: &str, secret: Secret) -> Option<Credential> {
        let url = reqwest::Url::parse(base).ok()?;
        Some(Credential {
            scheme: Some(url.scheme().to_owned()),
            host: url.host_str()?.to_owned(),
            port: url.port(),
            path: url.path().trim_end_matches('/').to_owned(),
            secret,
        })
    }

    /// An entry from an `auth.conf` `machine` value: `host[:port][/path]`, optionally
    /// with a scheme (`https://host/path`).
    pub fn for_machine(machine: &str, secret: Secret) -> Option<Credential> {
        let (scheme, rest) = match machine.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, machine),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse().ok()?)),
            None => (authority, None),
        };
        if host.is_empty() {
            return None;
        }
        Some(Credential {
            scheme,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            secret,
        })
    }

    /// How well this entry matches `url`: the length of its path prefix, or `None`.
    fn matches(&self, url: &reqwest::Url) -> Option<usize> {
        if self.scheme.as_deref().is_some_and(|s| s != url.scheme()) {
            return None;
        }
        if !url
            .host_str()
            .is_some_and(|host| host.eq_ignore_ascii_case(&self.host))
        {
            return None;
        }
        if self.port.is_some() && self.port != url.port_or_known_default() {
            return None;
        }
        let path = url.path();
        let under = path == self.path
            || (path.starts_with(&self.path) && path[self.path.len()..].starts_with('/'));
        under.then_some(self.path.len())
    }
}

/// Every credential the fetcher knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials(Vec<Credential>);

impl Credentials {
    /// These entries.
    pub fn new(entries: Vec<Credential>) -> Self {
        Self(entries)
    }

    /// Add more entries.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Credential>) {
        self.0.extend(entries);
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret for `url`: the matching entry with the longest path prefix.
    pub fn for_url(&self, url: &reqwest::Url) -> Option<&Secret> {
        self.0
            .iter()
            .filter_map(|entry| entry.matches(url).map(|len| (len, entry)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, entry)| &entry.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(login: &str) -> Secret {
        Secret::Basic {
            login: login.into(),
            password: "pw".into(),
        }
    }

    #[test]
    fn the_longest_matching_prefix_on_the_same_host_wins() {
        let credentials = Credentials::new(vec![
            Credential::for_machine("esm.example.org", basic("host")).expect("parses"),
            Credential::for_machine("esm.example.org/apps/ubuntu", basic("apps")).expect("parses"),
            Credential::for_machine("https://other.example.org:8443/x", basic("other"))
                .expect("parses"),
        ]);
        let login = |url: &str| match credentials.for_url(&reqwest::Url::parse(url).expect("url")) {
            Some(Secret::Basic { login, .. }) => Some(login.clone()),
            _ => None,
        };
        assert_eq!(
            login("https://esm.example.org/apps/ubuntu/dists/x"),
            Some("apps".into())
        );
        assert_eq!(
            login("https://esm.example.org/apps/ubuntu2/dists/x"),
            Some("host".into())
        );
        assert_eq!(login("http://ESM.example.org/infra"), Some("host".into()));
        assert_eq!(
            login("https://other.example.org:8443/x/y"),
            Some("other".into())
        );
        assert_eq!(
            login("http://other.example.org:8443/x/y"),
            None,
            "scheme named"
        );
        assert_eq!(login("https://other.example.org/x/y"), None, "port named");
        assert_eq!(login("https://example.org/"), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let entry = Credential::for_url(
            "https://h/p",
            Secret::Basic {
                login: "me".into(),
                password: "hunter2".into(),
            },
        )
        .expect("url");
        let bearer =
            Credential::for_url("https://h/p", Secret::Bearer("tok3n".into())).expect("url");
        let shown = format!("{entry:?} {bearer:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
    }
}
