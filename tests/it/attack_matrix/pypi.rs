//! Hostile PyPI indices: file names that are paths, links to other schemes, digests the
//! files and metadata do not have, metadata that contradicts its file, a page from
//! another origin or of another type, a page that never ends, a file with no digest.

use mirror_test_support::Fault;

use super::world::World;
use super::{Row, row};

const LIB_PAGE: &str = "/pypi/simple/lib/";

/// lib's page with `from` replaced by `to` (which must be there), then a sync.
fn page_edited(w: &World, from: &str, to: &str) -> super::world::Attempt {
    w.pypi_page("lib", |page| {
        assert!(page.contains(from), "{from:?} is on lib's page");
        page.replace(from, to)
    });
    w.sync("pypi")
}

pub fn rows() -> Vec<Row> {
    vec![
        row("pypi", "file name with ..", 1, "attack-matrix-evil", |w| {
            page_edited(
                w,
                ">lib-1.0-py3-none-any.whl<",
                ">../../../tmp/attack-matrix-evil.whl<",
            )
        }),
        row("pypi", "absolute file name", 1, "attack-matrix-evil", |w| {
            page_edited(
                w,
                ">lib-1.0-py3-none-any.whl<",
                ">/tmp/attack-matrix-evil.whl<",
            )
        }),
        row(
            "pypi",
            "link to a file:// URL",
            1,
            "scheme \"file\" refused",
            |w| page_edited(w, "href=\"../../files/", "href=\"file:///tmp/"),
        ),
        row("pypi", "file with no sha256", 1, "no sha256", |w| {
            w.pypi_page("lib", |page| {
                let start = page.find("#sha256=").expect("a digest");
                let end = start + "#sha256=".len() + 64;
                format!("{}{}", &page[..start], &page[end..])
            });
            w.sync("pypi")
        }),
        row(
            "pypi",
            "wheel that its digest does not match",
            4,
            "SHA-256",
            |w| {
                let file = w.pypi_fresh(|wheel| wheel);
                std::fs::write(w.pypi_root().join("files").join(file), b"not that wheel")
                    .expect("tamper");
                w.sync("pypi")
            },
        ),
        row(
            "pypi",
            "metadata that its digest does not match",
            4,
            "SHA-256",
            |w| {
                let file = w.pypi_fresh(|wheel| wheel);
                let metadata = w.pypi_root().join("files").join(format!("{file}.metadata"));
                std::fs::write(
                    metadata,
                    "Metadata-Version: 2.1\nName: lib\nVersion: 1.1\nRequires-Dist: evil\n",
                )
                .expect("tamper");
                w.sync("pypi")
            },
        ),
        row(
            "pypi",
            "metadata claiming another version",
            4,
            "6.6.6",
            |w| {
                w.pypi_fresh(|wheel| wheel.claiming_version("6.6.6"));
                w.sync("pypi")
            },
        ),
        row(
            "pypi",
            "wheel whose METADATA claims another version",
            4,
            "6.6.6",
            |w| {
                w.pypi_fresh(|wheel| wheel.claiming_version("6.6.6").without_metadata());
                w.sync("pypi")
            },
        ),
        row(
            "pypi",
            "page redirected off the index's origin",
            5,
            "off the index's origin",
            |w| {
                // The same server under another name is another origin.
                let moved = w.pypi_root().join("moved/lib");
                std::fs::create_dir_all(&moved).expect("mkdir");
                std::fs::copy(
                    w.pypi_root().join("simple/lib/index.html"),
                    moved.join("index.html"),
                )
                .expect("copy");
                let port = w.server.address().port();
                w.server.inject_always(
                    LIB_PAGE,
                    Fault::Redirect {
                        status: 302,
                        location: format!("http://localhost:{port}/pypi/moved/lib/"),
                    },
                );
                w.sync("pypi")
            },
        ),
        row(
            "pypi",
            "page served as application/json",
            1,
            "no simple API type",
            |w| {
                let page =
                    std::fs::read(w.pypi_root().join("simple/lib/index.html")).expect("page");
                w.server.inject_always(
                    LIB_PAGE,
                    Fault::Replace {
                        content_type: "application/json".into(),
                        body: page,
                    },
                );
                w.sync("pypi")
            },
        ),
        row("pypi", "page whose body never ends", 5, LIB_PAGE, |w| {
            w.server.inject_always(LIB_PAGE, Fault::Endless);
            w.sync("pypi")
        }),
    ]
}
