//! A real conda client (py-rattler, from `scripts/setup-conda-client.sh`) solves and
//! installs from a channel this crate published, served over HTTP. Skipped when the
//! client's virtualenv is absent.

use crate::support::{config, standard_channel, sync_mirror, temp_store};
use mirror_conda::CondaConfig;
use mirror_test_support::{TestServer, conda_client_install, workspace_root};

#[tokio::test]
async fn py_rattler_installs_the_closure_from_the_published_mirror() {
    let root = workspace_root();
    let python = root.join(".venv-conda-client/bin/python");
    if !python.is_file() {
        mirror_test_support::skip(&format!(
            "{} missing (run scripts/setup-conda-client.sh)",
            python.display()
        ));
        return;
    }
    let upstream = tempfile::tempdir().expect("tempdir");
    standard_channel(upstream.path()).write_repodata(true);
    let server = TestServer::serve_dir(upstream.path());
    let (_store_dir, store) = temp_store();
    sync_mirror(
        &store,
        CondaConfig {
            specs: vec!["tool >=1".into()],
            ..config(&server.url())
        },
        false,
    )
    .await
    .expect("sync");
    drop(server);

    let mirror = TestServer::serve_dir(store.public_dir());
    let prefix = tempfile::tempdir().expect("tempdir");
    let env = prefix.path().join("env");
    // Blocking is fine: the server runs on its own thread.
    let Some(installed) = conda_client_install(&mirror.url_for("/chan"), "tool", &env) else {
        return;
    };
    assert_eq!(installed, ["helper", "libzz", "tool"]);
    let meta = std::fs::read_dir(env.join("conda-meta"))
        .expect("conda-meta")
        .count();
    assert!(meta >= 3, "conda-meta has {meta} entries");
    assert!(env.join("share/tool/README").is_file());
    // Every package came from the mirror, none from elsewhere.
    let fetched: Vec<String> = mirror
        .requests()
        .into_iter()
        .filter(|p| p.ends_with(".conda") || p.ends_with(".tar.bz2"))
        .collect();
    assert_eq!(fetched.len(), 3, "{fetched:?}");
}
