//! Rollback and freeze (issue 10, item 1): a validly signed Release older than the one
//! last accepted, or dated far in the future, is refused with the verification exit
//! code, also after `prune`, unless the mirror opts out for a deliberate downgrade.

use mirror_test_support::{TestServer, dir_state};

use crate::common::apt;
use crate::common::{cli, ok};

const ACCEPTED: &str = "Sat, 11 Jul 2026 10:16:37 UTC";
const OLDER: &str = "Fri, 10 Jul 2026 09:00:00 UTC";

#[test]
fn an_older_or_future_release_is_refused() {
    let Some(fixtures) = mirror_test_support::fixtures() else {
        return;
    };
    let fixture = fixtures.join("debian-bookworm");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let (key, key_path) = apt::upstream_key(dir);
    let root = dir.join("upstream");
    mirror_test_support::copy_tree(&fixture.join("pool"), &root.join("pool")).expect("pool");
    let stanzas = apt::fixture_stanzas(&fixture);
    let publish = |date: &str, content: &[u8]| {
        apt::write_dated_suite(
            &root,
            "bookworm",
            apt::packages_files("main", content),
            &key,
            date,
        );
    };
    publish(ACCEPTED, &stanzas);
    let server = TestServer::serve_dir(&root);
    let config = dir.join("mirror.toml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "store = \"store\"\n[fetch]\nretries = 0\n[[apt]]\nname = \"debian\"\nurl = \"{}\"\n\
                 suites = [\"bookworm\"]\nkeyring = \"{}\"\n{extra}",
                server.url(),
                key_path.display()
            ),
        )
        .expect("config");
    };
    write("");
    ok(&cli(&config, &["sync"]));
    let published = dir.join("store/public/debian");
    let before = dir_state(&published, &[]);
    let refused = |case: &str, needles: &[&str]| {
        let out = cli(&config, &["sync"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{case}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{case}: {needle} in {stderr}");
        }
        assert!(
            dir_state(&published, &[]) == before,
            "{case}: published tree changed"
        );
    };

    // An older signed Release (a replay of what upstream served before).
    let mut older = stanzas.clone();
    older.truncate(older.len() / 2);
    let cut = older
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .expect("stanza end")
        + 2;
    older.truncate(cut);
    publish(OLDER, &older);
    refused("rollback", &[OLDER, ACCEPTED, "allow_date_rollback"]);
    // The accepted Date lives in the newest snapshot, which prune keeps.
    ok(&cli(&config, &["prune", "--keep", "1"]));
    refused("rollback after prune", &[OLDER, ACCEPTED]);

    // A Release past its own Valid-Until (a frozen upstream): refused as a verification
    // failure, whatever the rollback setting.
    let now = time::OffsetDateTime::now_utc();
    let fresh = mirror_apt::release::format_release_date(now - time::Duration::days(1));
    let expired = mirror_apt::release::format_release_date(now - time::Duration::hours(1));
    apt::write_suite_valid_until(
        &root,
        "bookworm",
        apt::packages_files("main", &stanzas),
        &key,
        &fresh,
        Some(&expired),
    );
    refused("expired", &["Valid-Until", &expired]);

    // Dated two days ahead of the clock.
    let ahead = mirror_apt::release::format_release_date(now + time::Duration::days(2));
    publish(&ahead, &stanzas);
    refused("future", &[&ahead, "max_date_skew"]);
    write("max_date_skew = \"3d\"\n");
    ok(&cli(&config, &["sync"]));

    // A deliberate downgrade, said so in the config.
    publish(OLDER, &older);
    write("max_date_skew = \"3d\"\nallow_date_rollback = true\n");
    ok(&cli(&config, &["sync"]));
    let release =
        std::fs::read_to_string(published.join("dists/bookworm/Release")).expect("Release");
    assert!(release.contains(OLDER), "the downgrade is published");
}
