//! Export and import a bundle from Rust: carry a store's snapshots across an air gap.
//!
//! ```sh
//! cargo run -p mirror-examples --example bundle_transfer -- /tmp/bundle-demo
//! ```
//!
//! Outside, a store holds snapshots (here made by hand; `mirror-cli sync` or the
//! `filtered_apt_mirror` example make real ones). `plan_export` picks every object the
//! inside lacks according to the ledger of earlier bundles, `write_bundle` writes them in
//! tar volumes of bounded size with a manifest signed by the outside's key. Inside,
//! `import` checks the signature against the trusted keys first, then the sequence, the
//! free space and every hash, and only then stores, publishes and records the bundle. The
//! second bundle carries only what changed.

use std::error::Error;
use std::path::Path;

use mirror_core::digest::Sha256Digest;
use mirror_core::reporter::NoReporter;
use mirror_core::signing::SigningKey;
use mirror_core::snapshot::{Snapshot, SnapshotFile};
use mirror_core::store::Store;
use mirror_transfer::{
    ExportOptions, ExportReport, ImportOptions, ImportReport, import, plan_export, write_bundle,
};

/// Volumes of at most 1 MiB: a real transfer uses the medium's size (`4.7G`, `25G`).
const VOLUME_SIZE: u64 = 1 << 20;

/// Record a snapshot of `files` (path, content) for mirror `demo` in `store`.
fn snapshot(store: &Store, files: &[(&str, &[u8])]) -> Result<(), Box<dyn Error>> {
    let mut listed = Vec::new();
    for (path, content) in files {
        let sha256: Sha256Digest = store.objects().insert_bytes(content)?;
        listed.push(SnapshotFile {
            path: (*path).into(),
            sha256,
            size: content.len() as u64,
        });
    }
    let fingerprint = format!("demo-{}", files.len());
    store.save_snapshot(&Snapshot::new(
        "demo",
        "apt",
        "file:///upstream",
        &fingerprint,
        listed,
    )?)?;
    Ok(())
}

/// Export what the inside lacks into `bundle` and import it into `inside`.
fn carry(
    outside: &Store,
    inside: &Store,
    key: &SigningKey,
    bundle: &Path,
) -> Result<(ExportReport, ImportReport), Box<dyn Error>> {
    let plan = {
        let _lock = outside.lock()?;
        let plan = plan_export(outside, &ExportOptions::default())?;
        write_bundle(outside, plan, key, bundle, VOLUME_SIZE, &NoReporter)?
    };
    // Inside, only the outside's public key is trusted, never the key the bundle carries.
    let trusted = key.public_keyring();
    let _lock = inside.lock()?;
    let imported = import(
        inside,
        &trusted,
        bundle,
        &ImportOptions::default(),
        &NoReporter,
    )?;
    Ok((plan, imported))
}

/// The whole round trip in `work`: two bundles, the second incremental.
fn round_trip(work: &Path) -> Result<Vec<(ExportReport, ImportReport)>, Box<dyn Error>> {
    let outside = Store::open(work.join("outside"))?;
    let inside = Store::open(work.join("inside"))?;
    let key = SigningKey::generate("Outside <outside@example.invalid>")?;

    snapshot(
        &outside,
        &[
            ("dists/x/Release", b"first release\n"),
            ("pool/a.deb", b"package a"),
        ],
    )?;
    let first = carry(&outside, &inside, &key, &work.join("bundle-1"))?;

    // Snapshot ids start with a timestamp of one-second resolution and "newest" is the
    // greatest id; until issue 10 orders snapshots made within one second, wait for the
    // next second so that the second snapshot is the newest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    snapshot(
        &outside,
        &[
            ("dists/x/Release", b"second release\n"),
            ("pool/a.deb", b"package a"),
        ],
    )?;
    let second = carry(&outside, &inside, &key, &work.join("bundle-2"))?;
    Ok(vec![first, second])
}

fn main() -> Result<(), Box<dyn Error>> {
    let temp;
    let work = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    for (export, import) in round_trip(&work)? {
        println!(
            "bundle {} (sequence {}): {} objects in {} volume(s)",
            export.bundle_id, export.plan.sequence, export.plan.object_count, export.volumes
        );
        println!("{}", import.line());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirror_transfer::ImportOutcome;

    #[test]
    fn the_second_bundle_carries_only_the_change() {
        let work = tempfile::tempdir().expect("tempdir");
        let reports = round_trip(work.path()).expect("round trip");
        let (first_export, first_import) = &reports[0];
        let (second_export, second_import) = &reports[1];
        assert_eq!(first_export.plan.object_count, 2);
        assert_eq!(first_import.outcome, ImportOutcome::Imported);
        assert_eq!(
            second_export.plan.object_count, 1,
            "a.deb was carried before"
        );
        assert_eq!(second_import.outcome, ImportOutcome::Imported);
        let published = work.path().join("inside/public/demo/dists/x/Release");
        assert_eq!(
            std::fs::read(published).expect("published"),
            b"second release\n"
        );
    }
}
