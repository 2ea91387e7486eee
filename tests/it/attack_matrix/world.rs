//! The world every row of the matrix attacks, built once: a signed APT upstream, a
//! conda channel and a PyPI simple index (app 1.0 needing lib) on one loopback server, an outside store mirroring both (published, and
//! exported as four bundles), an inside store that imported the second, and `serve` on
//! the outside store. Each row starts from the pristine upstream; what must never change
//! is captured once as the baseline.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::signing::SigningKey;
use mirror_test_support::conda_channel::{Channel, PackageFormat, Pkg};
use mirror_test_support::pypi_index::{Index, Wheel};
use mirror_test_support::{TestServer, copy_tree, dir_state};

use crate::common::apt::{packages_files, upstream_key, write_suite_valid_until};
use crate::common::{Served, cli, keygen, ok};

/// The Release `Date` of the pristine upstream (every row but the date rows keeps it).
pub const BASE_DATE: &str = "Sat, 11 Jul 2026 10:16:37 UTC";

pub type State = Vec<(String, Vec<u8>)>;

pub struct World {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub server: TestServer,
    pub served: Served,
    /// The upstream's signing key (in the outside's keyring) and another one (not).
    pub upstream_key: SigningKey,
    pub other_key: SigningKey,
    /// The outside's own key, as a compromised exporter would hold it.
    pub outside_key: SigningKey,
    pub outside_config: PathBuf,
    pub inside_config: PathBuf,
    /// b1 and b2 (full; the inside imported b2 only), b3 (full, importable next), b4
    /// (incremental on b3).
    pub bundles: [PathBuf; 4],
    apt_base: Vec<String>,
    fresh: Cell<u32>,
    baseline: Baseline,
}

/// What no refused row may change.
pub struct Baseline {
    outside_store: State,
    inside_store: State,
}

/// What a store holds besides its objects (which a refused sync may add, verified), the
/// upstream caches (which name such objects: a body fetched and verified before the sync
/// was refused), temp files and lock: published links and trees, snapshots, state,
/// audit, transfer records.
fn store_state(store: &Path) -> State {
    dir_state(store, &["objects", "cache", "tmp", "lock"])
}

/// One synthetic `.deb` (arbitrary bytes: apt-get is not involved) and its stanza.
pub struct Fresh {
    pub name: String,
    /// Below the APT upstream's root (`pool/main/p/<name>/...`).
    pub path: String,
    pub bytes: Vec<u8>,
}

impl Fresh {
    pub fn stanza(&self) -> String {
        stanza(&self.name, &self.path, &self.bytes)
    }
    /// The request path on the server.
    pub fn url_path(&self) -> String {
        format!("/apt/{}", self.path)
    }
}

pub fn stanza(name: &str, path: &str, bytes: &[u8]) -> String {
    format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: Test <t@example.org>\n\
         Filename: {path}\nSize: {}\nSHA256: {}\nDescription: {name}\n",
        bytes.len(),
        Sha256Digest::of(bytes).to_hex()
    )
}

impl World {
    pub fn build() -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        for dir in [
            "upstream/apt",
            "upstream/conda",
            "upstream/pypi",
            "upstream/images",
            "outside",
            "inside/keys",
            "bundles",
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("mkdir");
        }
        std::fs::create_dir_all(root.join("keys")).expect("mkdir");
        let (upstream_key, upstream_public) = upstream_key(&root.join("keys"));
        let other_key = SigningKey::generate("someone else").expect("key");
        let server = TestServer::serve_dir(root.join("upstream"));

        // The APT upstream: three packages, signed.
        let mut apt_base = Vec::new();
        for name in ["base-a", "base-b", "base-c"] {
            let path = format!("pool/main/b/{name}/{name}_1.0_amd64.deb");
            let bytes = format!("{name} payload\n").repeat(64).into_bytes();
            write(&root.join("upstream/apt").join(&path), &bytes);
            apt_base.push(stanza(name, &path, &bytes));
        }

        // The conda channel: two linux-64 packages and a noarch one.
        let mut channel = Channel::new(&root.join("upstream/conda"));
        channel
            .add(&Pkg::new("linux-64", "alpha", "1.0", PackageFormat::Conda))
            .add(&Pkg::new("linux-64", "beta", "2.0", PackageFormat::TarBz2))
            .add(&Pkg::new("noarch", "gamma", "3.0", PackageFormat::Conda));
        channel.write_repodata(false);

        // The PyPI index: app 1.0 needs lib; both with PEP 658 metadata.
        let mut index = Index::new(&root.join("upstream/pypi"));
        index
            .add(&Wheel::new("app", "1.0").requires(&["lib"]))
            .add(&Wheel::new("lib", "1.0"));
        index.write_pages();

        // The image stream: two releases x two architectures, signed by the upstream key.
        crate::simplestreams::write_stream(&root.join("upstream/images"), &upstream_key, |_| {});

        let outside = root.join("outside");
        let outside_public = keygen(&outside);
        let outside_config = outside.join("mirror.toml");
        std::fs::write(
            &outside_config,
            format!(
                "store = \"{store}\"\n[signing]\nkey = \"{key}\"\n\
                 [fetch]\nretries = 0\nread_timeout = \"2s\"\nmin_rate = 4096\n\
                 rate_window = \"1s\"\nrequest_deadline = \"20s\"\nmax_index_size = \"4MiB\"\n\
                 [[apt]]\nname = \"debian\"\nurl = \"{url}/apt\"\nsuites = [\"bookworm\"]\n\
                 keyring = \"{keyring}\"\n\
                 [[conda]]\nname = \"conda\"\nurl = \"{url}/conda\"\nsubdirs = [\"linux-64\"]\n\
                 [[pypi]]\nname = \"pypi\"\nurl = \"{url}/pypi/simple\"\nrequirements = [\"app\"]\n\
                 python = [\"3.11\"]\n\
                 [[simplestreams]]\nname = \"maas\"\nurl = \"{url}/images\"\nkeyring = [\"{keyring}\"]\n",
                store = outside.join("store").display(),
                key = outside.join("keys/signing.asc").display(),
                url = server.url(),
                keyring = upstream_public.display(),
            ),
        )
        .expect("config");
        let outside_key = SigningKey::load(&outside.join("keys/signing.asc")).expect("outside key");

        let inside = root.join("inside");
        std::fs::copy(&outside_public, inside.join("keys/outside.pub")).expect("copy key");
        let inside_config = inside.join("mirror.toml");
        std::fs::write(
            &inside_config,
            format!(
                "store = \"{}\"\n[transfer]\ntrusted_keys = [\"{}\"]\n",
                inside.join("store").display(),
                inside.join("keys/outside.pub").display()
            ),
        )
        .expect("config");

        let bundles = ["b1", "b2", "b3", "b4"].map(|b| root.join("bundles").join(b));
        let world = World {
            served: Served::start(&outside_config),
            _tmp: tmp,
            root,
            server,
            upstream_key,
            other_key,
            outside_key,
            outside_config,
            inside_config,
            bundles,
            apt_base,
            fresh: Cell::new(0),
            baseline: Baseline {
                outside_store: Vec::new(),
                inside_store: Vec::new(),
            },
        };
        world.apt_publish(&[]);
        copy_tree(&world.root.join("upstream"), &world.root.join("pristine")).expect("copy");
        ok(&cli(&world.outside_config, &["sync"]));
        for (bundle, full) in world.bundles.iter().zip([true, true, true, false]) {
            let mut args = vec!["export", "--out", bundle.to_str().expect("utf8")];
            if full {
                args.push("--full");
            }
            ok(&cli(&world.outside_config, &args));
        }
        // Bundle 2 only: bundle 1 is then an older bundle never imported (a replay).
        ok(&cli(
            &world.inside_config,
            &["import", world.bundles[1].to_str().expect("utf8")],
        ));
        World {
            baseline: world.capture(),
            ..world
        }
    }

    pub fn outside_store(&self) -> PathBuf {
        self.root.join("outside/store")
    }

    pub fn inside_store(&self) -> PathBuf {
        self.root.join("inside/store")
    }

    /// A directory for the row's own inputs (hostile bundles and configs), empty.
    pub fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }

    pub fn capture(&self) -> Baseline {
        Baseline {
            outside_store: store_state(&self.outside_store()),
            inside_store: store_state(&self.inside_store()),
        }
    }

    /// What changed in the stores since `before` (paths), if anything.
    pub fn store_changes(&self, before: &Baseline) -> Vec<String> {
        let now = self.capture();
        let mut changed = changes("outside/store", &before.outside_store, &now.outside_store);
        changed.extend(changes(
            "inside/store",
            &before.inside_store,
            &now.inside_store,
        ));
        changed
    }

    /// What changed in the stores since the world was built.
    pub fn changes_since_built(&self) -> Vec<String> {
        self.store_changes(&self.baseline)
    }

    /// Everything under the world's root but the two stores.
    pub fn outside_the_stores(&self) -> State {
        dir_state(&self.root, &["outside/store", "inside/store"])
    }

    /// Back to the pristine upstream, no faults armed, an empty scratch directory.
    pub fn reset(&self) {
        self.server.clear_faults();
        let upstream = self.root.join("upstream");
        std::fs::remove_dir_all(&upstream).expect("rm upstream");
        copy_tree(&self.root.join("pristine"), &upstream).expect("restore upstream");
        let _ = std::fs::remove_dir_all(self.scratch());
        std::fs::create_dir_all(self.scratch()).expect("mkdir scratch");
    }

    // --- APT ---------------------------------------------------------------------

    pub fn apt_root(&self) -> PathBuf {
        self.root.join("upstream/apt")
    }

    pub fn dists(&self) -> PathBuf {
        self.apt_root().join("dists/bookworm")
    }

    /// A new package file in the pool, never seen before (so the sync must fetch it).
    pub fn fresh(&self) -> Fresh {
        let n = self.fresh.get() + 1;
        self.fresh.set(n);
        let name = format!("row{n}");
        let path = format!("pool/main/r/{name}/{name}_1.0_amd64.deb");
        let bytes = format!("row {n} payload\n").repeat(100).into_bytes();
        write(&self.apt_root().join(&path), &bytes);
        Fresh { name, path, bytes }
    }

    /// Sign a suite listing the base packages and `extra` stanzas.
    pub fn apt_publish(&self, extra: &[String]) {
        self.apt_publish_dated(extra, BASE_DATE, None);
    }

    pub fn apt_publish_dated(&self, extra: &[String], date: &str, valid_until: Option<&str>) {
        let files = packages_files("main", self.packages(extra).as_bytes());
        self.apt_publish_files(files, date, valid_until);
    }

    /// The Packages text of the base packages and `extra`.
    pub fn packages(&self, extra: &[String]) -> String {
        self.apt_base
            .iter()
            .chain(extra)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Sign a suite of exactly these index files.
    pub fn apt_publish_files(
        &self,
        files: Vec<mirror_apt::generate::GeneratedFile>,
        date: &str,
        valid_until: Option<&str>,
    ) {
        write_suite_valid_until(
            &self.apt_root(),
            "bookworm",
            files,
            &self.upstream_key,
            date,
            valid_until,
        );
    }

    /// Rewrite the Release text with `change` and sign it again with `key` (InRelease and
    /// Release.gpg), as whoever holds that key could.
    pub fn apt_resign(&self, key: &SigningKey, change: impl Fn(&str) -> String) {
        let dists = self.dists();
        let release = std::fs::read_to_string(dists.join("Release")).expect("Release");
        let hostile = change(&release);
        std::fs::write(dists.join("Release"), &hostile).expect("write");
        std::fs::write(
            dists.join("InRelease"),
            key.clearsign(&hostile).expect("sign"),
        )
        .expect("write");
        std::fs::write(
            dists.join("Release.gpg"),
            key.sign_detached_armored(hostile.as_bytes()).expect("sign"),
        )
        .expect("write");
    }

    /// Overwrite a served index (below the suite) and its by-hash copy; Release unchanged.
    pub fn apt_tamper(&self, path: &str, change: impl Fn(&mut Vec<u8>)) {
        let dists = self.dists();
        let original = std::fs::read(dists.join(path)).expect("served");
        let digest = Sha256Digest::of(&original);
        let mut bytes = original;
        change(&mut bytes);
        std::fs::write(dists.join(path), &bytes).expect("tamper");
        let by_hash = dists.join(mirror_apt::upstream::by_hash_path(path, &digest));
        if by_hash.exists() {
            std::fs::write(by_hash, &bytes).expect("tamper by-hash");
        }
    }

    // --- conda -------------------------------------------------------------------

    pub fn conda_root(&self) -> PathBuf {
        self.root.join("upstream/conda")
    }

    /// Edit linux-64's served repodata.json.
    pub fn repodata(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let path = self.conda_root().join("linux-64/repodata.json");
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        change(&mut doc);
        std::fs::write(&path, serde_json::to_vec(&doc).expect("json")).expect("write");
    }

    /// A new linux-64 package file, never seen before, and its (true) record.
    pub fn conda_fresh(&self) -> (String, serde_json::Value) {
        let n = self.fresh.get() + 1;
        self.fresh.set(n);
        let name: &'static str = Box::leak(format!("fresh{n}").into_boxed_str());
        let pkg = Pkg::new("linux-64", name, "1.0", PackageFormat::Conda);
        let mut channel = Channel::new(&self.conda_root());
        channel.add(&pkg);
        let record = channel.record_mut("linux-64", &pkg.filename()).clone();
        (pkg.filename(), record)
    }

    /// [`conda_fresh`](Self::conda_fresh), listed under `key` with `change` applied.
    pub fn conda_listed(&self, key: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
        let (filename, mut record) = self.conda_fresh();
        change(&mut record);
        let key = key.replace("{file}", &filename);
        self.repodata(|doc| {
            doc["packages.conda"][key.as_str()] = record;
        });
        filename
    }

    // --- PyPI --------------------------------------------------------------------

    /// The image stream's root (`streams/v1/` and the items).
    pub fn images_root(&self) -> PathBuf {
        self.root.join("upstream/images")
    }

    pub fn pypi_root(&self) -> PathBuf {
        self.root.join("upstream/pypi")
    }

    /// Edit `project`'s served page (HTML).
    pub fn pypi_page(&self, project: &str, change: impl FnOnce(String) -> String) {
        let path = self
            .pypi_root()
            .join("simple")
            .join(project)
            .join("index.html");
        let page = std::fs::read_to_string(&path).expect("page");
        std::fs::write(&path, change(page)).expect("write page");
    }

    /// A new release of lib (never seen, so the sync must fetch it), its page written
    /// again listing only it; returns its file name.
    pub fn pypi_fresh(&self, wheel: impl FnOnce(Wheel) -> Wheel) -> String {
        let n = self.fresh.get() + 1;
        self.fresh.set(n);
        let wheel = wheel(Wheel::new("lib", &format!("1.{n}")));
        let mut index = Index::new(&self.pypi_root());
        index.add(&wheel);
        index.write_pages();
        // The root page the index just wrote lists lib alone: list app again.
        let root = self.pypi_root().join("simple/index.html");
        let text = std::fs::read_to_string(&root).expect("root page");
        std::fs::write(
            &root,
            text.replace("<body>", "<body>\n<a href=\"app/\">app</a>"),
        )
        .expect("root page");
        wheel.filename()
    }

    // --- commands ----------------------------------------------------------------

    pub fn sync(&self, mirror: &str) -> Attempt {
        Attempt::Cli {
            config: self.outside_config.clone(),
            args: vec!["sync".into(), mirror.into()],
        }
    }

    pub fn import(&self, bundle: &Path) -> Attempt {
        Attempt::Cli {
            config: self.inside_config.clone(),
            args: vec!["import".into(), bundle.to_str().expect("utf8").into()],
        }
    }

    /// A copy of `bundles[index]` in the scratch directory.
    pub fn bundle_copy(&self, index: usize) -> PathBuf {
        let dir = self.scratch().join(format!("bundle-{index}"));
        crate::common::bundle::copy_dir(&self.bundles[index], &dir);
        dir
    }

    /// A config in the scratch directory (same store and keys as the outside) run with
    /// `args`.
    pub fn with_config(&self, text: &str, args: &[&str]) -> Attempt {
        let config = self.scratch().join("mirror.toml");
        std::fs::write(&config, text).expect("config");
        Attempt::Cli {
            config,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// The outside's config text with `from` replaced by `to` (which must be there).
    pub fn outside_config_with(&self, from: &str, to: &str) -> String {
        let text = std::fs::read_to_string(&self.outside_config).expect("config");
        assert!(text.contains(from), "{from:?} is in the config");
        text.replacen(from, to, 1)
    }
}

/// What a row makes the world do.
pub enum Attempt {
    /// Run mirror-cli with this config.
    Cli { config: PathBuf, args: Vec<String> },
    /// Send `GET <request target>` to `serve`, raw (no client normalises it). `planted`
    /// files are removed afterwards.
    Get {
        target: String,
        planted: Vec<PathBuf>,
    },
    /// `count` concurrent GETs of `target`; the outcome is the worst status.
    Flood { target: String, count: usize },
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// Paths added, removed or changed between two states.
fn changes(prefix: &str, before: &State, after: &State) -> Vec<String> {
    let before: std::collections::BTreeMap<_, _> = before.iter().cloned().collect();
    let after: std::collections::BTreeMap<_, _> = after.iter().cloned().collect();
    let mut out = Vec::new();
    for (path, bytes) in &before {
        match after.get(path) {
            None => out.push(format!("{prefix}/{path} removed")),
            Some(now) if now != bytes => out.push(format!("{prefix}/{path} changed")),
            _ => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("{prefix}/{path} added"));
    }
    out
}
