//! conda `repodata.json` parsing: mirror-conda's lazy parser against rattler_conda_types'
//! typed `RepoData` deserialisation, in the same run, on a conda-forge-sized index.
//!
//! No index that large is in the fixtures (`tests/fixtures`, or `MIRROR_FIXTURES`), so one
//! is built at startup by replicating their real records (the `r` channel's linux-64
//! repodata, anaconda's main/noarch and a conda-forge numpy subset): each copy gets a
//! distinct build string (`<build>_<copy>`, file name to match) and `subdir` `linux-64`;
//! every other field is the real record's. Copies alternate between `packages` (.tar.bz2)
//! and `packages.conda` (.conda), and the file is pretty-printed like conda-index writes
//! it.
//!
//! ```sh
//! cargo bench -p mirror-benches --bench conda_repodata
//! ```
//! Peak memory of one parse, measured from outside (the input buffer included):
//! ```sh
//! CONDA_BENCH_WRITE=/tmp/cf.json cargo bench -p mirror-benches --bench conda_repodata
//! BIN=$(cargo bench -p mirror-benches --bench conda_repodata --no-run 2>&1 | grep -o 'target/[^)]*')
//! for mode in read ours ours-check rattler; do
//!   CONDA_BENCH_MEM=$mode CONDA_BENCH_FILE=/tmp/cf.json /usr/bin/time -f "$mode %M KiB %e s %U user" $BIN
//! done
//! ```
//! (`ours-check` is the lazy parse plus the per-record checks, on one thread; user time minus
//! the `read` run's is the CPU cost of the parse, a steadier figure than wall time on a
//! busy machine.)
//! The bench also runs under divan's allocation profiler ("max alloc" is the peak heap on
//! top of the input buffer).

use std::hint::black_box;
use std::io::Write;
use std::sync::OnceLock;

use divan::counter::BytesCount;
use mirror_conda::record::{RecordChecks, check_record};
use mirror_conda::repodata::RepoDataView;
use mirror_conda::select::{Filter, SubdirRecords, parse_spec, select};
use rattler_conda_types::{PackageRecord, RepoData};
use serde_json::Value;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

/// Records in conda-forge's linux-64 index (2024).
const TARGET_RECORDS: usize = 465_000;

/// Real record sources in the fixture tree, each a repodata.json.
const SOURCES: &[&str] = &[
    "conda/conda+conda/tests/data/repodata/r_linux-64.json",
    "conda/conda+conda/tests/data/repodata/main_noarch.json",
    "conda/mamba-org+mamba/libmamba/tests/data/repodata/conda-forge-numpy-linux-64.json",
];

/// The real records rattler accepts, as `(name, version, build, record)`.
fn real_records() -> Vec<(String, String, String, Value)> {
    let fixtures = mirror_test_support::fixtures()
        .expect("the fixture tree (tests/fixtures) is part of the repository");
    let mut out = Vec::new();
    let mut refused = 0;
    for source in SOURCES {
        let path = fixtures.join(source);
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_json::from_slice(&text).expect("fixture is JSON");
        for map in ["packages", "packages.conda"] {
            let Some(records) = doc.get(map).and_then(Value::as_object) else {
                continue;
            };
            for record in records.values() {
                // Keep what both parsers accept, so both parse the same records.
                if serde_json::from_value::<PackageRecord>(record.clone()).is_err() {
                    refused += 1;
                    continue;
                }
                let field = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
                out.push((
                    field("name"),
                    field("version"),
                    field("build"),
                    record.clone(),
                ));
            }
        }
    }
    eprintln!(
        "conda_repodata: {} real records ({refused} refused by rattler)",
        out.len()
    );
    out
}

/// A conda-forge-sized repodata.json built from the real records.
fn build_index() -> Vec<u8> {
    let records = real_records();
    let mut packages = Vec::new();
    let mut conda = Vec::new();
    for i in 0..TARGET_RECORDS {
        let (name, version, build, record) = &records[i % records.len()];
        let copy = i / records.len();
        let build = format!("{build}_{copy}");
        let mut record = record.clone();
        record["build"] = Value::from(build.as_str());
        record["subdir"] = Value::from("linux-64");
        let text = serde_json::to_string_pretty(&record).expect("serialise");
        let text = text.replace('\n', "\n    ");
        if copy.is_multiple_of(2) {
            packages.push((format!("{name}-{version}-{build}.tar.bz2"), text));
        } else {
            conda.push((format!("{name}-{version}-{build}.conda"), text));
        }
    }
    let mut out = Vec::with_capacity(300 << 20);
    out.extend_from_slice(b"{\n  \"info\": {\n    \"subdir\": \"linux-64\"\n  },\n");
    for (key, entries) in [("packages", &mut packages), ("packages.conda", &mut conda)] {
        entries.sort();
        write!(out, "  \"{key}\": {{").expect("vec");
        for (n, (filename, text)) in entries.iter().enumerate() {
            let sep = if n == 0 { "\n" } else { ",\n" };
            write!(out, "{sep}    \"{filename}\": {text}").expect("vec");
        }
        out.extend_from_slice(b"\n  },\n");
    }
    out.extend_from_slice(b"  \"removed\": [],\n  \"repodata_version\": 1\n}\n");
    out
}

fn index() -> &'static [u8] {
    static INDEX: OnceLock<Vec<u8>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let bytes = build_index();
        eprintln!(
            "conda_repodata: index of {TARGET_RECORDS} records, {:.1} MB",
            bytes.len() as f64 / 1e6
        );
        bytes
    })
}

fn main() {
    if let Ok(mode) = std::env::var("CONDA_BENCH_MEM") {
        memory_mode(&mode);
        return;
    }
    let index = index();
    if let Some(path) = std::env::var_os("CONDA_BENCH_WRITE") {
        std::fs::write(&path, index).expect("write the generated index");
        eprintln!(
            "conda_repodata: wrote {}",
            std::path::Path::new(&path).display()
        );
    }
    divan::main();
}

/// One parse of `CONDA_BENCH_FILE`, for `/usr/bin/time`.
fn memory_mode(mode: &str) {
    let path = std::env::var_os("CONDA_BENCH_FILE").expect("CONDA_BENCH_FILE names the index");
    let bytes = std::fs::read(&path).expect("read the index");
    let records = match mode {
        "read" => bytes.len(),
        "ours" => RepoDataView::parse(&bytes).expect("valid").records.len(),
        "ours-check" => {
            let view = RepoDataView::parse(&bytes).expect("valid");
            view.records
                .iter()
                .filter(|r| check_record(r, "linux-64", &[]).is_ok())
                .count()
        }
        "rattler" => {
            let typed: RepoData = serde_json::from_slice(&bytes).expect("valid");
            typed.packages.len() + typed.conda_packages.len()
        }
        other => panic!("unknown CONDA_BENCH_MEM mode {other:?}"),
    };
    println!("{mode}: {records}");
}

/// mirror-conda: the lazy view (file name -> raw record slices).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn ours_lazy_parse(bencher: divan::Bencher) {
    let index = index();
    bencher.counter(BytesCount::new(index.len())).bench(|| {
        RepoDataView::parse(black_box(index))
            .expect("valid")
            .records
            .len()
    });
}

/// mirror-conda: the view plus the per-record checks (sha256, size, name/version/build,
/// subdir) an unfiltered sync runs on every record, on one thread.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn ours_parse_and_check_one_thread(bencher: divan::Bencher) {
    let index = index();
    bencher.counter(BytesCount::new(index.len())).bench(|| {
        let view = RepoDataView::parse(black_box(index)).expect("valid");
        view.records
            .iter()
            .filter(|r| check_record(r, "linux-64", &[]).is_ok())
            .count()
    });
}

/// The same with the checks spread over all cores (what a sync does).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn ours_parse_and_check_parallel(bencher: divan::Bencher) {
    let index = index();
    bencher.counter(BytesCount::new(index.len())).bench(|| {
        let view = RepoDataView::parse(black_box(index)).expect("valid");
        let checks = RecordChecks::new(&view, "linux-64", &[]);
        checks.check_all().computed().filter(|c| c.is_ok()).count()
    });
}

/// A filtered sync's CPU work: parse, then select `r-ggplot2` with its closure, newest
/// two versions (checks and typed records only for the records of the names involved).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn ours_parse_and_select(bencher: divan::Bencher) {
    let index = index();
    let filter = Filter {
        specs: vec![parse_spec("r-ggplot2").expect("valid spec")],
        keep_versions: Some(2),
        exclude: Vec::new(),
    };
    bencher.counter(BytesCount::new(index.len())).bench(|| {
        let view = RepoDataView::parse(black_box(index)).expect("valid");
        let checks = RecordChecks::new(&view, "linux-64", &[]);
        let inputs = [SubdirRecords {
            subdir: "linux-64",
            view: &view,
            checks: &checks,
        }];
        let selection = select(&inputs, &filter);
        selection.selected[0].iter().filter(|s| **s).count()
    });
}

/// rattler_conda_types: serde into the typed `RepoData` (owned `PackageRecord`s).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn rattler_typed_parse(bencher: divan::Bencher) {
    let index = index();
    bencher.counter(BytesCount::new(index.len())).bench(|| {
        let typed: RepoData = serde_json::from_slice(black_box(index)).expect("valid");
        typed.packages.len() + typed.conda_packages.len()
    });
}
