//! Export -> import round trips and every refusal, on temp stores.

use std::path::{Path, PathBuf};

use mirror_core::Sha256Digest;
use mirror_core::reporter::NoReporter;
use mirror_core::signing::SigningKey;
use mirror_core::snapshot::{Snapshot, SnapshotFile};
use mirror_core::store::Store;

use crate::*;

const VOLUME: u64 = 100_000;

struct World {
    dir: tempfile::TempDir,
    outside: Store,
    inside: Store,
    key: SigningKey,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    World {
        outside: Store::open(dir.path().join("outside")).expect("store"),
        inside: Store::open(dir.path().join("inside")).expect("store"),
        key: SigningKey::generate("Outside <o@example.invalid>").expect("key"),
        dir,
    }
}

fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

impl World {
    /// A new snapshot of mirror `m` holding `files`.
    fn snapshot(&self, files: &[(&str, Vec<u8>)]) -> Snapshot {
        let files = files
            .iter()
            .map(|(p, c)| SnapshotFile {
                path: (*p).into(),
                sha256: self.outside.objects().insert_bytes(c).expect("insert"),
                size: c.len() as u64,
            })
            .collect();
        let mut s = Snapshot::new("m", "apt", "file:///up", "fp", files).expect("snapshot");
        // Ids sort by time; make successive snapshots in one second distinct and ordered.
        let n = self.outside.snapshot_ids("m").expect("ids").len();
        s.id = format!("{n:04}-{}", s.id);
        self.outside.save_snapshot(&s).expect("save");
        s
    }

    fn export(&self, name: &str, options: &ExportOptions) -> (PathBuf, ExportReport) {
        let out = self.dir.path().join(name);
        let plan = plan_export(&self.outside, options).expect("plan");
        let report =
            write_bundle(&self.outside, plan, &self.key, &out, VOLUME, &NoReporter).expect("write");
        (out, report)
    }

    fn import(&self, bundle: &Path) -> Result<ImportReport, TransferError> {
        self.import_with(bundle, &ImportOptions::default())
    }

    /// Import as the CLI does: under the writer lock (which settles an interrupted change).
    fn import_with(&self, bundle: &Path, o: &ImportOptions) -> Result<ImportReport, TransferError> {
        let _lock = self.inside.lock().expect("lock");
        import(
            &self.inside,
            &self.key.public_keyring(),
            bundle,
            o,
            &NoReporter,
        )
    }

    /// Everything on the inside's disk but `skip` (and the lock file).
    fn inside_files(&self, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
        let mut skip = skip.to_vec();
        skip.push("lock");
        mirror_test_support::dir_state(self.inside.root(), &skip)
    }

    /// Everything an import may change on the inside.
    fn inside_state(&self) -> Vec<(String, Vec<u8>)> {
        self.inside_files(&[])
    }
}

fn read_public(store: &Store, path: &str) -> Vec<u8> {
    fs_err::read(store.public_dir().join("m").join(path)).expect("published file")
}

#[test]
fn full_then_incremental_with_split_objects() {
    let w = world();
    let big = content(1, 250_000);
    w.snapshot(&[
        ("pool/big", big.clone()),
        ("pool/a", content(2, 10)),
        ("idx", b"v1".to_vec()),
    ]);
    let (b1, r1) = w.export("b1", &ExportOptions::default());
    assert_eq!((r1.plan.sequence, r1.plan.object_count), (1, 3));
    assert!(
        r1.volumes >= 3,
        "250 kB in 100 kB volumes is split: {}",
        r1.volumes
    );
    for v in fs_err::read_dir(&b1).expect("dir") {
        let v = v.expect("entry");
        if v.file_name().to_string_lossy().starts_with("data-") {
            assert!(v.metadata().expect("meta").len() <= VOLUME);
        }
    }
    let report = w.import(&b1).expect("import 1");
    assert_eq!(
        (report.outcome, report.new_objects),
        (ImportOutcome::Imported, 3)
    );
    assert_eq!(read_public(&w.inside, "pool/big"), big);

    // Upstream gains a package and changes its index: only those two travel.
    let new_pkg = content(3, 120_000);
    let s2 = w.snapshot(&[
        ("pool/big", big.clone()),
        ("pool/a", content(2, 10)),
        ("pool/new", new_pkg.clone()),
        ("idx", b"v2".to_vec()),
    ]);
    let (b2, r2) = w.export("b2", &ExportOptions::default());
    let mut carried: Vec<Sha256Digest> = r2.plan.objects.iter().map(|o| o.0).collect();
    carried.sort();
    let mut want = vec![Sha256Digest::of(&new_pkg), Sha256Digest::of(b"v2")];
    want.sort();
    assert_eq!(carried, want);
    assert_eq!(r2.plan.payload_bytes, 120_002);
    assert_eq!(r2.plan.follows.as_deref(), Some(r1.bundle_id.as_str()));
    let report = w.import(&b2).expect("import 2");
    assert_eq!(report.new_objects, 2);
    assert_eq!(w.inside.published_snapshot("m").expect("link"), Some(s2.id));
    assert_eq!(read_public(&w.inside, "pool/new"), new_pkg);

    // Re-importing is a no-op.
    let before = w.inside_state();
    assert_eq!(
        w.import(&b2).expect("again").outcome,
        ImportOutcome::AlreadyImported
    );
    assert_eq!(w.inside_state(), before);
    assert!(
        verify_store(&w.inside, &NoReporter)
            .expect("verify")
            .is_ok()
    );
    let checked = verify_bundle(&b2, Some(&w.key.public_keyring()), &NoReporter).expect("ok");
    assert_eq!(checked.signer, Some(w.key.fingerprint()));
}

/// Export one bundle of a fresh world; returns it with the inside's state before import.
fn one_bundle() -> (World, PathBuf) {
    let w = world();
    w.snapshot(&[("pool/big", content(1, 150_000)), ("idx", b"v1".to_vec())]);
    let (b, _) = w.export("b1", &ExportOptions::default());
    (w, b)
}

fn flip(path: &Path, offset: usize) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = fs_err::read(path).expect("read");
    let at = offset.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    fs_err::write(path, bytes).expect("write");
}

fn refused(w: &World, bundle: &Path, class: ErrorClass) -> String {
    let before = w.inside_state();
    let err = w.import(bundle).expect_err("must be refused");
    assert_eq!(err.class(), class, "{err}");
    assert_eq!(
        w.inside_state(),
        before,
        "inside changed by a refused import: {err}"
    );
    err.to_string()
}

#[test]
fn tampering_is_refused_before_the_inside_changes() {
    let (w, b) = one_bundle();
    flip(&b.join("data-0002.tar"), 5000);
    let msg = refused(&w, &b, ErrorClass::Corrupt);
    assert!(msg.contains("data-0002.tar"), "{msg}");
    assert!(verify_bundle(&b, None, &NoReporter).is_err());

    let (w, b) = one_bundle();
    flip(&b.join("data-0001.tar"), 100); // inside the first tar header
    refused(&w, &b, ErrorClass::Corrupt);

    let (w, b) = one_bundle();
    let manifest = fs_err::read_to_string(b.join(MANIFEST)).expect("read");
    let at = manifest.find("\"sequence\": 1").expect("field") + 12;
    flip(&b.join(MANIFEST), at);
    let msg = refused(&w, &b, ErrorClass::BundleSignature);
    assert!(msg.contains("signature"), "{msg}");

    let (w, b) = one_bundle();
    let sig = fs_err::read_to_string(b.join(SIGNATURE)).expect("read");
    flip(&b.join(SIGNATURE), sig.len() / 2);
    refused(&w, &b, ErrorClass::BundleSignature);

    let (w, b) = one_bundle();
    fs_err::remove_file(b.join("data-0002.tar")).expect("rm");
    let msg = refused(&w, &b, ErrorClass::MissingVolume);
    assert!(msg.contains("data-0002.tar"), "{msg}");

    // Signed by a key the inside does not trust (the bundle may even carry that key).
    let (w, b) = one_bundle();
    let other = SigningKey::generate("Mallory <m@example.invalid>").expect("key");
    let manifest = fs_err::read(b.join(MANIFEST)).expect("read");
    fs_err::write(
        b.join(SIGNATURE),
        other.sign_detached_armored(&manifest).expect("sign"),
    )
    .expect("write");
    fs_err::write(b.join("outside.pub"), other.armored_public().expect("pub")).expect("write");
    refused(&w, &b, ErrorClass::BundleSignature);

    // Unsigned: refused as a signature failure (exit 10), naming the file.
    let (w, b) = one_bundle();
    fs_err::remove_file(b.join(SIGNATURE)).expect("rm");
    let msg = refused(&w, &b, ErrorClass::BundleSignature);
    assert!(msg.contains("manifest.json.asc"), "{msg}");

    // SHA256SUMS contradicting the signed manifest (volumes intact): import refuses it
    // as `verify --bundle` does.
    let (w, b) = one_bundle();
    let sums = fs_err::read_to_string(b.join(SUMS)).expect("sums");
    let lied: String = sums
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, "data-0001.tar")) => format!("{}  data-0001.tar\n", "0".repeat(64)),
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(lied, sums);
    fs_err::write(b.join(SUMS), lied).expect("write");
    let msg = refused(&w, &b, ErrorClass::Corrupt);
    assert!(
        msg.contains("SHA256SUMS") && msg.contains("data-0001.tar"),
        "{msg}"
    );
    let verified = verify_bundle(&b, Some(&w.key.public_keyring()), &NoReporter);
    assert_eq!(verified.expect_err("refused").class(), ErrorClass::Corrupt);
}

/// Put `entry` (raw name bytes, type, data) first in data-0001.tar and re-sign, as a
/// compromised or buggy exporter could.
fn inject(w: &World, b: &Path, name: &[u8], kind: tar::EntryType, link: Option<&str>) {
    let volume = b.join("data-0001.tar");
    let original = fs_err::read(&volume).expect("read");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(if link.is_some() { 0 } else { 4 });
    header.set_mode(0o644);
    header.set_entry_type(kind);
    if let Some(target) = link {
        header.set_link_name(target).expect("link name");
    }
    header.set_cksum();
    let data: &[u8] = if link.is_some() { b"" } else { b"evil" };
    builder.append(&header, data).expect("append");
    let mut bytes = builder.into_inner().expect("tar");
    bytes.truncate(bytes.len() - 1024); // drop the end marker, then the original entries
    bytes.extend_from_slice(&original);
    fs_err::write(&volume, &bytes).expect("write");
    let path = b.join(MANIFEST);
    let mut manifest =
        Manifest::from_json(&fs_err::read(&path).expect("read"), &path).expect("parse");
    manifest.volumes[0].size = bytes.len() as u64;
    manifest.volumes[0].sha256 = Sha256Digest::of(&bytes);
    let json = manifest.to_json();
    fs_err::write(&path, &json).expect("write");
    fs_err::write(
        b.join(SIGNATURE),
        w.key.sign_detached_armored(&json).expect("sign"),
    )
    .expect("write");
    let sums = fs_err::read_to_string(b.join(SUMS)).expect("sums");
    let sums: String = sums
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, "data-0001.tar")) => format!("{}  data-0001.tar\n", Sha256Digest::of(&bytes)),
            Some((_, name)) if name == MANIFEST || name == SIGNATURE => {
                let file = fs_err::read(b.join(name)).expect("read");
                format!("{}  {name}\n", Sha256Digest::of(&file))
            }
            _ => format!("{l}\n"),
        })
        .collect();
    fs_err::write(b.join(SUMS), sums).expect("write");
}

#[test]
fn unsafe_tar_entries_are_refused() {
    let hex = Sha256Digest::of(b"evil").to_hex();
    let cases: [(Vec<u8>, tar::EntryType, Option<&str>); 4] = [
        (
            b"../../../../tmp/evil".to_vec(),
            tar::EntryType::Regular,
            None,
        ),
        (
            format!("objects/sha256/{}/../../../{hex}", &hex[..2]).into_bytes(),
            tar::EntryType::Regular,
            None,
        ),
        (b"/etc/evil".to_vec(), tar::EntryType::Regular, None),
        (
            format!("objects/sha256/{}/{hex}", &hex[..2]).into_bytes(),
            tar::EntryType::Symlink,
            Some("/etc/shadow"),
        ),
    ];
    for (name, kind, link) in cases {
        let (w, b) = one_bundle();
        inject(&w, &b, &name, kind, link);
        let msg = refused(&w, &b, ErrorClass::UnsafeEntry);
        assert!(msg.contains("unsafe tar entry"), "{msg}");
        let err =
            verify_bundle(&b, Some(&w.key.public_keyring()), &NoReporter).expect_err("verify");
        assert_eq!(err.class(), ErrorClass::UnsafeEntry, "{err}");
        assert!(!w.dir.path().join("tmp/evil").exists());
    }
}

#[test]
fn sequence_gaps_and_replays_are_refused() {
    let w = world();
    w.snapshot(&[("a", b"1".to_vec())]);
    let (b1, r1) = w.export("b1", &ExportOptions::default());
    w.snapshot(&[("a", b"2".to_vec())]);
    let (b2, _) = w.export("b2", &ExportOptions::default());
    w.snapshot(&[("a", b"3".to_vec())]);
    let (b3, _) = w.export(
        "b3",
        &ExportOptions {
            full: true,
            ..Default::default()
        },
    );

    let msg = refused(&w, &b2, ErrorClass::Sequence);
    assert!(msg.contains("missing sequence 1"), "{msg}");
    // A full bundle starts a fresh inside at any sequence; older ones are then replays.
    w.import(&b3).expect("full bundle");
    let msg = refused(&w, &b2, ErrorClass::Replay);
    assert!(msg.contains("replay"), "{msg}");
    refused(&w, &b1, ErrorClass::Replay);
    assert_eq!(r1.plan.sequence, 1);
}

#[test]
fn since_recovers_a_lost_bundle_without_a_full_export() {
    let w = world();
    w.snapshot(&[("a", b"1".to_vec()), ("keep", b"k".to_vec())]);
    let (b1, _) = w.export("b1", &ExportOptions::default());
    w.snapshot(&[("a", b"2".to_vec()), ("keep", b"k".to_vec())]);
    let (_lost, _) = w.export("b2", &ExportOptions::default());
    w.import(&b1).expect("import 1");
    w.snapshot(&[
        ("a", b"3".to_vec()),
        ("keep", b"k".to_vec()),
        ("b", b"b".to_vec()),
    ]);

    let record = w.inside.live_link().join(ImportRecord::STATE_FILE);
    let state = InsideState::from_file(&record).expect("state");
    let since = Some((record, state));
    let (b3, r3) = w.export(
        "b3",
        &ExportOptions {
            since,
            ..Default::default()
        },
    );
    assert_eq!((r3.plan.sequence, r3.plan.base_sequence), (3, 1));
    assert_eq!(r3.plan.object_count, 2, "a=3 and b, not keep");
    w.import(&b3).expect("import 3 straight after 1");
    assert_eq!(read_public(&w.inside, "a"), b"3");

    // Without --since the same gap is refused, naming sequence 2.
    let w2 = world();
    w2.snapshot(&[("a", b"1".to_vec())]);
    let (c1, _) = w2.export("c1", &ExportOptions::default());
    w2.snapshot(&[("a", b"2".to_vec())]);
    w2.export("c2", &ExportOptions::default());
    w2.snapshot(&[("a", b"3".to_vec())]);
    let (c3, _) = w2.export("c3", &ExportOptions::default());
    w2.import(&c1).expect("import");
    let msg = refused(&w2, &c3, ErrorClass::Sequence);
    assert!(msg.contains("missing sequence 2"), "{msg}");
}

/// A kill at each step of an import: before the commit, readers see the inside exactly
/// as it was and the next writer restores it byte for byte; after it, the import stands.
/// Either way, running the import again completes it.
#[test]
fn import_interrupted_at_each_step_is_all_or_nothing() {
    use ImportStep::Committed;
    for step in ImportStep::ALL {
        let w = world();
        let s1 = w.snapshot(&[("pool/big", content(1, 150_000)), ("idx", b"v1".to_vec())]);
        let (b1, _) = w.export("b1", &ExportOptions::default());
        w.import(&b1).expect("import 1");
        let s2 = w.snapshot(&[
            ("pool/big", content(1, 150_000)),
            ("pool/new", content(4, 120_000)),
            ("idx", b"v2".to_vec()),
        ]);
        let (b2, _) = w.export("b2", &ExportOptions::default());
        let before = w.inside_files(&["tmp"]);
        let record_before = ImportRecord::load(&w.inside).expect("record");

        let crash = ImportOptions {
            crash_after: Some(step),
            ..Default::default()
        };
        w.import_with(&b2, &crash).expect_err("killed");

        // What readers (serve, status, verify, publish) see right after the kill.
        let live = w.inside.published_snapshot("m").expect("live");
        let record = ImportRecord::load(&w.inside).expect("record");
        if step == Committed {
            assert_eq!(live.as_ref(), Some(&s2.id), "{step:?}");
            assert_eq!(record.last_sequence, 2, "{step:?}");
        } else {
            assert_eq!(live.as_ref(), Some(&s1.id), "{step:?}");
            assert_eq!(record, record_before, "{step:?}");
            assert_eq!(
                w.inside.snapshot_ids("m").expect("ids"),
                vec![s1.id.clone()],
                "{step:?}: an uncommitted snapshot is not listed"
            );
            assert_eq!(read_public(&w.inside, "idx"), b"v1");
        }
        assert!(
            verify_store(&w.inside, &NoReporter)
                .expect("verify")
                .is_ok(),
            "{step:?}"
        );

        // The next writer settles it.
        drop(w.inside.lock().expect("lock"));
        if step != Committed {
            assert_eq!(
                w.inside_files(&["tmp"]),
                before,
                "{step:?}: not restored exactly"
            );
        }
        let again = w.import(&b2).expect("re-run");
        let want = if step == Committed {
            ImportOutcome::AlreadyImported
        } else {
            ImportOutcome::Imported
        };
        assert_eq!(again.outcome, want, "{step:?}");
        assert_eq!(read_public(&w.inside, "pool/new"), content(4, 120_000));
        let imports: Vec<_> = w
            .inside
            .audit_records()
            .expect("audit")
            .into_iter()
            .filter(|r| r.action == "import")
            .collect();
        assert_eq!(imports.len(), 2, "{step:?}: one audit record per import");
        assert!(!w.inside.root().join("pending.json").exists());
        assert!(
            verify_store(&w.inside, &NoReporter)
                .expect("verify")
                .is_ok()
        );
    }
}

#[test]
fn no_space_is_refused_before_writing() {
    let (w, b) = one_bundle();
    let before = w.inside_state();
    let tiny = ImportOptions {
        free_space: |_| Ok(1000),
        ..Default::default()
    };
    let err = w.import_with(&b, &tiny).expect_err("no space");
    assert_eq!(err.class(), ErrorClass::NoSpace);
    assert!(err.to_string().contains("1000 are available"), "{err}");
    assert_eq!(w.inside_state(), before);
}

#[test]
fn missing_base_objects_are_named() {
    let w = world();
    w.snapshot(&[("keep", b"k".to_vec())]);
    let (b1, _) = w.export("b1", &ExportOptions::default());
    w.import(&b1).expect("import");
    w.snapshot(&[("keep", b"k".to_vec()), ("new", b"n".to_vec())]);
    let (b2, _) = w.export("b2", &ExportOptions::default());
    w.inside
        .objects()
        .remove(&Sha256Digest::of(b"k"))
        .expect("rm");
    let msg = refused(&w, &b2, ErrorClass::Sequence);
    assert!(msg.contains("m/keep") && msg.contains("--since"), "{msg}");
}

#[test]
fn store_verification_finds_damage() {
    let (w, b) = one_bundle();
    w.import(&b).expect("import");
    let report = verify_store(&w.inside, &NoReporter).expect("verify");
    assert!(
        report.is_ok() && report.objects == 2 && report.tree_files == 2,
        "{report:?}"
    );
    flip(&w.inside.objects().path(&Sha256Digest::of(b"v1")), 0);
    let report = verify_store(&w.inside, &NoReporter).expect("verify");
    // The tree file is a hard link to the same damaged object: reported once as corrupt.
    assert!(
        report
            .corrupt
            .iter()
            .any(|c| c.contains(&Sha256Digest::of(b"v1").to_hex()))
    );
    let err = report.into_result().expect_err("damaged");
    assert_eq!(err.class(), ErrorClass::Corrupt);
}

#[test]
fn a_failed_export_leaves_no_partial_bundle() {
    let w = world();
    let s = w.snapshot(&[("pool/big", content(2, 150_000)), ("idx", b"v1".to_vec())]);
    let plan = plan_export(&w.outside, &ExportOptions::default()).expect("plan");
    // An object goes missing between planning and writing (a disk fault, a prune).
    let big = s.file("pool/big").expect("file").sha256;
    fs_err::remove_file(w.outside.objects().path(&big)).expect("rm");
    for (name, pre_existing) in [("new-dir", false), ("empty-dir", true)] {
        let out = w.dir.path().join(name);
        if pre_existing {
            fs_err::create_dir_all(&out).expect("mkdir");
        }
        let plan = plan.clone();
        write_bundle(&w.outside, plan, &w.key, &out, VOLUME, &NoReporter)
            .expect_err("the object is gone");
        if pre_existing {
            assert_eq!(
                fs_err::read_dir(&out).expect("dir").count(),
                0,
                "the operator's directory is left empty"
            );
        } else {
            assert!(!out.exists(), "the directory this export made is gone");
        }
    }
}

#[test]
fn an_output_directory_is_recovered_only_from_an_interrupted_export() {
    let w = world();
    w.snapshot(&[("idx", b"v1".to_vec())]);
    let plan = || plan_export(&w.outside, &ExportOptions::default()).expect("plan");
    let write = |out: &Path| write_bundle(&w.outside, plan(), &w.key, out, VOLUME, &NoReporter);
    // Someone else's file: refused, kept.
    let foreign = w.dir.path().join("foreign");
    fs_err::create_dir_all(&foreign).expect("mkdir");
    fs_err::write(foreign.join("notes.txt"), b"mine").expect("write");
    assert!(matches!(
        write(&foreign),
        Err(TransferError::OutputNotEmpty { .. })
    ));
    assert!(foreign.join("notes.txt").exists());
    // A finished bundle (recorded and audited) is never overwritten.
    let (done, report) = w.export("done", &ExportOptions::default());
    assert!(matches!(
        write(&done),
        Err(TransferError::OutputNotEmpty { .. })
    ));
    assert_eq!(manifest_of(&done).bundle_id, report.bundle_id);
    // A partial bundle (no SHA256SUMS: nothing was recorded) is written again.
    let partial = w.dir.path().join("partial");
    copy_without(&done, &partial, SUMS);
    fs_err::write(partial.join(".tmp-abc"), b"half").expect("write");
    let again = write(&partial).expect("the partial bundle is replaced");
    assert_eq!(again.plan.sequence, report.plan.sequence + 1);
    assert!(partial.join(SUMS).exists() && !partial.join(".tmp-abc").exists());
    assert_eq!(manifest_of(&partial).bundle_id, again.bundle_id);
}

fn manifest_of(bundle: &Path) -> Manifest {
    let path = bundle.join(MANIFEST);
    Manifest::from_json(&fs_err::read(&path).expect("read"), &path).expect("manifest")
}

fn copy_without(from: &Path, to: &Path, skip: &str) {
    fs_err::create_dir_all(to).expect("mkdir");
    for entry in fs_err::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        if entry.file_name() != skip {
            fs_err::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn an_import_records_the_manifest_it_applied() {
    let (w, b) = one_bundle();
    w.import(&b).expect("import");
    let records = w.inside.audit_records().expect("audit");
    let import = records
        .iter()
        .rev()
        .find(|r| r.action == "import")
        .expect("an import record");
    let manifest = fs_err::read(b.join(MANIFEST)).expect("read");
    assert_eq!(
        import.details["manifest_sha256"],
        Sha256Digest::of(&manifest).to_hex()
    );
    assert_eq!(w.inside.audit_chain_break().expect("check"), None);
}

/// The inside prunes an object an old bundle carried; the outside's next snapshot needs
/// it again. The default incremental (the ledger's view) cannot know and is refused
/// before anything changes; `--since` with the inside's inventory sends it again.
#[test]
fn since_with_the_inventory_resends_what_the_inside_pruned() {
    let w = world();
    w.snapshot(&[("a", b"1".to_vec()), ("back", b"returns".to_vec())]);
    let (b1, _) = w.export("b1", &ExportOptions::default());
    w.import(&b1).expect("import 1");
    w.snapshot(&[("a", b"2".to_vec())]);
    let (b2, _) = w.export("b2", &ExportOptions::default());
    w.import(&b2).expect("import 2");
    // The inside's `prune --keep 1`: the object only snapshot 1 referenced goes.
    let back = Sha256Digest::of(b"returns");
    w.inside.objects().remove(&back).expect("prune");
    w.snapshot(&[("a", b"3".to_vec()), ("back", b"returns".to_vec())]);

    let (b3, _) = w.export("b3", &ExportOptions::default());
    let msg = refused(&w, &b3, ErrorClass::Sequence);
    assert!(
        msg.contains("--since"),
        "the message says how to recover: {msg}"
    );

    // The inside's status, with its inventory, carried back.
    let record = ImportRecord::load(&w.inside).expect("record");
    let inventory = w.inside.objects().list().expect("list");
    let status = w.dir.path().join("inside-status.json");
    fs_err::write(
        &status,
        serde_json::to_vec(&StoreStatus {
            status_version: STATUS_VERSION,
            store: w.inside.root().to_owned(),
            mirrors: Vec::new(),
            objects: inventory.len(),
            uncommitted: None,
            imported: record,
            inventory,
            exported: ExportedStatus::default(),
            note: None,
        })
        .expect("json"),
    )
    .expect("write");
    let state = InsideState::from_file(&status).expect("state");
    assert!(state.held.as_ref().is_some_and(|h| !h.contains(&back)));
    let (b4, report) = w.export(
        "b4",
        &ExportOptions {
            since: Some((status, state)),
            ..Default::default()
        },
    );
    assert_eq!(report.plan.base_sequence, 2);
    w.import(&b4).expect("the pruned object came again");
    assert_eq!(read_public(&w.inside, "back"), b"returns");
}
