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

    /// This entry narrowed to the URLs under `base` (a mirror's `url`) too: credentials go
    /// only where the operator configured the mirror, whatever an `auth.conf` entry for a
    /// whole host allows. `None` when no URL is under both.
    pub fn within(&self, base: &str) -> Option<Credential> {
        let base = reqwest::Url::parse(base).ok()?;
        let base_path = base.path().trim_end_matches('/');
        let longer = if under(&self.path, base_path) {
            self.path.clone()
        } else if under(base_path, &self.path) {
            base_path.to_owned()
        } else {
            return None;
        };
        let narrowed = Credential {
            scheme: Some(base.scheme().to_owned()),
            host: base.host_str()?.to_owned(),
            port: base.port_or_known_default(),
            path: longer,
            secret: self.secret.clone(),
        };
        // The entry must apply to the base's origin at all.
        let mut probe = base.clone();
        probe.set_path(&format!("{}/", narrowed.path));
        self.matches(&probe).map(|_| narrowed)
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
        under(url.path(), &self.path).then_some(self.path.len())
    }
}

/// Whether `path` is `prefix` or below it, on whole segments (`/a/bc` is not under `/a/b`).
fn under(path: &str, prefix: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
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

/// The most redirects one request follows (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// The redirect policy of a fetcher with these credentials: a redirect is followed
/// unless the request still carries credentials (reqwest drops them when the scheme, host
/// or port changes) and the target is not under the prefix of the very entry that gave
/// them. Such a redirect (`/debian/pool/x` to `/elsewhere/x` on the same host) is refused
/// with an error naming both URLs: following it would hand the secret to a path the
/// operator never configured it for. Refused, not followed without credentials: an
/// archive that needs them would answer 401 there anyway, and a refusal says why.
pub(super) fn redirect_policy(credentials: Credentials) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let previous = attempt.previous();
        if previous.len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused(format!(
                "more than {MAX_REDIRECTS} redirects"
            )));
        }
        let Some(first) = previous.first() else {
            return attempt.follow();
        };
        let Some(secret) = credentials.for_url(first) else {
            return attempt.follow();
        };
        let next = attempt.url();
        // Whether the header is still on the request reqwest is about to send.
        let mut hops = previous.iter().chain(std::iter::once(next));
        let mut from = hops.next().expect("the chain starts with the first URL");
        let mut carried = true;
        for to in hops {
            carried &= same_origin(from, to);
            from = to;
        }
        if !carried || credentials.for_url(next) == Some(secret) {
            return attempt.follow();
        }
        let reason = format!(
            "a redirect from {} to {} leaves the URL prefix its credentials are configured              for; refused so the credentials are not sent there",
            crate::redact::redact_url(previous.last().unwrap_or(first).as_str()),
            crate::redact::redact_url(next.as_str()),
        );
        attempt.error(RedirectRefused(reason))
    })
}

/// reqwest's own rule for keeping `Authorization` across a redirect.
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Why a redirect was not followed.
#[derive(Debug)]
struct RedirectRefused(String);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

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
    fn entries_are_narrowed_to_the_mirror_url() {
        let host_wide = Credential::for_machine("h.example:8080", basic("a")).expect("parses");
        let narrowed = host_wide
            .within("http://h.example:8080/debian/")
            .expect("same host");
        assert_eq!(narrowed.path, "/debian");
        assert_eq!(narrowed.scheme.as_deref(), Some("http"));
        let deeper = Credential::for_machine("h.example:8080/debian/esm", basic("b"))
            .expect("parses")
            .within("http://h.example:8080/debian")
            .expect("under the url");
        assert_eq!(deeper.path, "/debian/esm", "the more specific prefix wins");
        assert!(
            host_wide
                .within("http://other.example:8080/debian")
                .is_none()
        );
        assert!(host_wide.within("http://h.example:9090/debian").is_none());
        assert!(
            Credential::for_machine("h.example/ubuntu", basic("c"))
                .expect("parses")
                .within("http://h.example/debian")
                .is_none()
        );
        let credentials = Credentials::new(vec![narrowed]);
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(
            credentials
                .for_url(&url("http://h.example:8080/debian/pool/x"))
                .is_some()
        );
        assert!(
            credentials
                .for_url(&url("http://h.example:8080/elsewhere/x"))
                .is_none()
        );
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
