//! URLs as they may be shown or stored: every URL the program prints, logs, records in a
//! snapshot or the audit log, or writes into a bundle manifest goes through
//! [`redact_url`], so a secret that reached a URL (userinfo, a token in the query) never
//! persists, whichever path a future change adds.
//!
//! Configured URLs with userinfo are refused at load ([`check_no_userinfo`]); secrets
//! belong in `auth_file` or `bearer_token_file`, which are never written anywhere. The
//! redaction is the second line: it does not depend on every loader remembering the
//! first.

use std::borrow::Cow;

/// What replaces a secret in a shown URL.
pub const REDACTED: &str = "REDACTED";

/// `url` without its secrets: userinfo (`user:password@`) is removed and the query's
/// values are replaced by [`REDACTED`] (a query is where signed-URL and token schemes put
/// theirs). A string that is not an absolute URL is returned unchanged (it carries no
/// authority to hide). Unchanged URLs are borrowed.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    if host.len() == authority.len() && query.is_none() {
        return Cow::Borrowed(url);
    }
    let mut shown = format!("{scheme}://{host}{path}");
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        shown.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}={REDACTED}"),
                None => pair.to_owned(),
            })
            .collect();
        shown.push_str(&pairs.join("&"));
        if let Some(fragment) = fragment {
            shown.push('#');
            shown.push_str(fragment);
        }
    }
    Cow::Owned(shown)
}

/// Refuse a configured URL that carries userinfo (`http://user:secret@host/...`): it
/// would be sent, logged and stored with the URL. The error says where credentials go
/// instead; it never repeats the secret.
pub fn check_no_userinfo(url: &str) -> Result<(), String> {
    let Ok(parsed) = url::Url::parse(url) else {
        // Not a URL at all: the caller's own checks say what is wrong.
        return Ok(());
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return Ok(());
    }
    Err(format!(
        "url {:?} carries a user name or password; remove it and put the credentials in \
         auth_file (apt's auth.conf format) or bearer_token_file, which are never logged or stored",
        redact_url(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_query_values_go_everything_else_stays() {
        assert_eq!(
            redact_url("http://user:s3cret@host:8080/debian/pool/a.deb"),
            "http://host:8080/debian/pool/a.deb"
        );
        assert_eq!(redact_url("https://tok@host/x"), "https://host/x");
        assert_eq!(
            redact_url("https://host/x/y?token=abc&sig=def&flag#frag"),
            "https://host/x/y?token=REDACTED&sig=REDACTED&flag#frag"
        );
        assert_eq!(redact_url("http://u:p@host?t=1"), "http://host?t=REDACTED");
        for plain in [
            "http://host/debian",
            "file:///srv/mirror",
            "not a url",
            "https://[::1]:8443/a@b",
        ] {
            assert!(matches!(redact_url(plain), Cow::Borrowed(_)), "{plain}");
        }
    }

    #[test]
    fn userinfo_is_refused_without_repeating_the_secret() {
        let error = check_no_userinfo("http://user:s3cret@host/debian").expect_err("userinfo");
        assert!(
            !error.contains("s3cret") && error.contains("auth_file"),
            "{error}"
        );
        assert!(check_no_userinfo("http://tok@host/debian").is_err());
        assert!(check_no_userinfo("http://host/debian").is_ok());
        assert!(check_no_userinfo("file:///srv/x").is_ok());
    }
}
