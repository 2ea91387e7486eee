//! Serving at upstream host names (the MAAS seed's transparent proxy): point DNS for the
//! upstream host at the mirror, or set the mirror as the clients' HTTP proxy, and leave
//! every client's sources unchanged. A request whose host (the `Host` header, or the
//! authority of a proxy's absolute-form request line) and path name a mirror's upstream
//! URL is answered from that mirror: `http://UPSTREAM/debian/dists/...` becomes
//! `/<mirror>/dists/...`. Everything else is served as before.

use axum::http::{Uri, uri::PathAndQuery};

/// One mirror's upstream, as a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    host: String,
    port: u16,
    /// The upstream URL's path without its trailing `/` (`/debian`, or empty).
    prefix: String,
    mirror: String,
}

/// The routes of every mirror whose upstream is an `http://` or `https://` URL.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Routes from `(mirror, upstream URL)` pairs; other schemes (`file://`) are skipped.
    pub fn new<'a>(mirrors: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut routes: Vec<Route> = mirrors
            .into_iter()
            .filter_map(|(mirror, url)| {
                let url: Uri = url.parse().ok()?;
                let default_port = match url.scheme_str()? {
                    "http" => 80,
                    "https" => 443,
                    _ => return None,
                };
                Some(Route {
                    host: url.host()?.to_ascii_lowercase(),
                    port: url.port_u16().unwrap_or(default_port),
                    prefix: url.path().trim_end_matches('/').to_owned(),
                    mirror: mirror.to_owned(),
                })
            })
            .collect();
        // The longest prefix first, so `/debian/updates` wins over `/debian`.
        routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        Self(routes)
    }

    /// The path on this server for a request to `uri` with `host` (the `Host` header),
    /// when they name a mirror's upstream.
    pub fn rewrite(&self, uri: &Uri, host: Option<&str>) -> Option<PathAndQuery> {
        let (name, port) = match uri.authority() {
            Some(authority) => (authority.host().to_owned(), authority.port_u16()),
            None => {
                let host = host?;
                let authority: axum::http::uri::Authority = host.parse().ok()?;
                (authority.host().to_owned(), authority.port_u16())
            }
        };
        let name = name.to_ascii_lowercase();
        let path = uri.path();
        let route = self.0.iter().find(|route| {
            route.host == name
                && port.unwrap_or(80) == route.port
                && (path.strip_prefix(&route.prefix))
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })?;
        let rest = &path[route.prefix.len()..];
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!(
            "/{}{}{query}",
            route.mirror,
            if rest.is_empty() { "/" } else { rest }
        )
        .parse()
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_hosts_and_paths_map_to_mirrors() {
        let routes = Routes::new([
            ("debian", "http://archive.example.org/debian"),
            ("security", "http://archive.example.org/debian-security/"),
            ("local", "file:///srv/repo"),
            ("cf", "http://conda.example.org:8080/conda-forge"),
        ]);
        let rewrite = |uri: &str, host: Option<&str>| {
            routes
                .rewrite(&uri.parse().expect("uri"), host)
                .map(|p| p.to_string())
        };
        let host = Some("archive.example.org");
        assert_eq!(
            rewrite("/debian/dists/bookworm/InRelease", host).as_deref(),
            Some("/debian/dists/bookworm/InRelease")
        );
        assert_eq!(
            rewrite("/debian-security/dists/bookworm-security/InRelease", host).as_deref(),
            Some("/security/dists/bookworm-security/InRelease")
        );
        // A proxy's absolute-form request names the host itself.
        assert_eq!(
            rewrite("http://ARCHIVE.example.org/debian/pool/x.deb", None).as_deref(),
            Some("/debian/pool/x.deb")
        );
        assert_eq!(
            rewrite(
                "/conda-forge/noarch/repodata.json?x=1",
                Some("conda.example.org:8080")
            )
            .as_deref(),
            Some("/cf/noarch/repodata.json?x=1")
        );
        assert_eq!(
            rewrite(
                "/conda-forge/noarch/repodata.json",
                Some("conda.example.org")
            ),
            None
        );
        assert_eq!(rewrite("/debianx/dists", host), None);
        assert_eq!(rewrite("/debian/dists", Some("mirror.local:8080")), None);
        assert_eq!(rewrite("/debian/dists", None), None);
    }
}
