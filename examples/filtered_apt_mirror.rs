//! Mirror a filtered APT repository from Rust.
//!
//! ```sh
//! cargo run -p mirror-examples --example filtered_apt_mirror -- \
//!     http://HOST/debian bookworm /usr/share/keyrings/debian-archive-keyring.gpg ./store jq
//! ```
//!
//! The allow-list (`jq`) is closed over Pre-Depends, Depends and Recommends as apt would
//! install it; the upstream InRelease must verify with the keyring; the regenerated
//! Packages and Release are signed with a key made for the example (a real tool loads its
//! own with `SigningKey::load`). The result is published under `STORE/public/debian`, a
//! tree `apt-get` uses as it is.

use std::error::Error;
use std::path::{Path, PathBuf};

use mirror_apt::{AptConfig, AptMirror, Keyrings};
use mirror_core::fetch::{FetchOptions, Fetcher};
use mirror_core::reporter::NoReporter;
use mirror_core::repository::SyncContext;
use mirror_core::signing::SigningKey;
use mirror_core::store::Store;
use mirror_core::sync::{SyncOptions, SyncReport, sync};

/// What to mirror.
struct Args {
    url: String,
    suite: String,
    keyring: PathBuf,
    store: PathBuf,
    packages: Vec<String>,
}

/// Sync `args` into its store once, publishing the result.
async fn mirror(args: &Args, key: &SigningKey) -> Result<SyncReport, Box<dyn Error>> {
    let mut settings = AptConfig::new(
        "debian",
        args.url.as_str(),
        vec![args.suite.clone()],
        Keyrings::One(args.keyring.clone()),
    );
    settings.packages = Some(args.packages.clone());
    let repository = AptMirror::new(settings)?;

    let store = Store::open(&args.store)?;
    // One writer per store: a second process would wait for nothing and fail here.
    let _lock = store.lock()?;
    let fetcher = Fetcher::new(FetchOptions::default())?;
    let previous = store.latest_snapshot("debian")?;
    let ctx = SyncContext {
        store: &store,
        fetcher: &fetcher,
        signing_key: Some(key),
        reporter: &NoReporter,
        previous: previous.as_ref(),
    };
    let options = SyncOptions {
        dry_run: false,
        publish: true,
    };
    Ok(sync(&repository, &ctx, options).await?)
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: filtered_apt_mirror URL SUITE KEYRING STORE PACKAGE...";
    let mut next = || args.next().ok_or(usage);
    let (url, suite, keyring, store) = (next()?, next()?, next()?, next()?);
    let packages: Vec<String> = std::iter::from_fn(|| args.next()).collect();
    if packages.is_empty() {
        return Err(usage.into());
    }
    Ok(Args {
        url,
        suite,
        keyring: keyring.into(),
        store: store.into(),
        packages,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let key = SigningKey::generate("Example mirror <mirror@example.invalid>")?;
    let report = mirror(&args, &key).await?;
    println!("{}", report.line());
    println!(
        "published: {}",
        Path::new(&args.store).join("public/debian").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_core::sync::SyncOutcome;
    use mirror_test_support::{TestServer, fixtures};

    #[tokio::test]
    async fn mirrors_jq_from_the_real_bookworm_fixture() {
        let Some(fixtures) = fixtures() else { return };
        let upstream_dir = fixtures.join("debian-bookworm");
        let upstream = TestServer::serve_dir(&upstream_dir);
        let store = tempfile::tempdir().expect("tempdir");
        let args = Args {
            url: upstream.url(),
            suite: "bookworm".into(),
            keyring: upstream_dir.join("keyrings/debian-archive-keyring.gpg"),
            store: store.path().to_owned(),
            packages: vec!["jq".into()],
        };
        let key = SigningKey::generate("Test <test@example.invalid>").expect("key");

        let report = mirror(&args, &key).await.expect("first sync");
        assert_eq!(report.outcome, SyncOutcome::Synced);
        let public = store.path().join("public/debian");
        assert!(public.join("dists/bookworm/InRelease").is_file());
        for deb in [
            "j/jq/jq_1.6-2.1+deb12u2_amd64.deb",
            "libo/libonig/libonig5_6.9.8-1_amd64.deb",
        ] {
            assert!(
                public.join("pool/main").join(deb).is_file(),
                "{deb} published"
            );
        }
        assert!(
            !public.join("pool/main/s/sl").exists(),
            "sl was not asked for"
        );

        let again = mirror(&args, &key).await.expect("second sync");
        assert_eq!(again.outcome, SyncOutcome::Unchanged, "{}", again.line());
    }
}
