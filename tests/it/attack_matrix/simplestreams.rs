//! Hostile image streams: a product file signed by a key the keyring does not hold, item
//! paths that leave the tree, an item with only a weak checksum, an item whose bytes or
//! size are not what its signed record says, an index naming a file upstream lacks, a stream file
//! beyond `max_index_size`, a file that is no stream.

use mirror_core::Sha256Digest;
use serde_json::json;

use super::world::{Attempt, World};
use super::{Row, row};
use crate::simplestreams::{CONTENT_ID, write_stream};

const ROOT_ITEM: &str = "com.example.maas:v3:noble:amd64:ga";

/// The stream written again by the upstream's key with `edit`, then a sync.
fn edited(w: &World, edit: impl Fn(&mut serde_json::Value)) -> Attempt {
    write_stream(&w.images_root(), &w.upstream_key, edit);
    w.sync("maas")
}

/// `edit` on the item `root` of noble amd64's newest version.
fn item_edited(w: &World, edit: impl Fn(&mut serde_json::Value)) -> Attempt {
    edited(w, |doc| {
        edit(&mut doc["products"][ROOT_ITEM]["versions"]["20240202"]["items"]["root"]);
    })
}

pub fn rows() -> Vec<Row> {
    vec![
        row(
            "simplestreams",
            "product file signed by another key",
            4,
            CONTENT_ID,
            |w| {
                let product = w
                    .images_root()
                    .join(format!("streams/v1/{CONTENT_ID}.sjson"));
                let body = mirror_core::signing::cleartext_body(
                    &std::fs::read(&product).expect("read"),
                    "product",
                )
                .expect("body");
                std::fs::write(&product, w.other_key.clearsign(&body).expect("sign"))
                    .expect("write");
                w.sync("maas")
            },
        ),
        row(
            "simplestreams",
            "item path with ..",
            1,
            "attack-matrix-evil",
            |w| {
                item_edited(w, |item| {
                    item["path"] = "../../../tmp/attack-matrix-evil".into();
                })
            },
        ),
        row(
            "simplestreams",
            "absolute item path",
            1,
            "attack-matrix-evil",
            |w| item_edited(w, |item| item["path"] = "/tmp/attack-matrix-evil".into()),
        ),
        row(
            "simplestreams",
            "item with only an md5",
            4,
            "no sha256",
            |w| {
                item_edited(w, |item| {
                    item.as_object_mut().expect("item").remove("sha256");
                    item["md5"] = "0123456789abcdef0123456789abcdef".into();
                })
            },
        ),
        row(
            "simplestreams",
            "item whose bytes are not its record's",
            4,
            "noble/amd64/20240303/root",
            |w| {
                let file = w.images_root().join("noble/amd64/20240303/root");
                std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
                std::fs::write(&file, b"what upstream serves\n").expect("write");
                edited(w, |doc| {
                    doc["products"][ROOT_ITEM]["versions"]["20240303"] = json!({ "items": {
                        "root": {
                            "path": "noble/amd64/20240303/root",
                            "sha256": Sha256Digest::of(b"what the record says\n").to_hex(),
                            "size": 21,
                        }
                    }});
                })
            },
        ),
        row(
            "simplestreams",
            "item whose size is not its record's",
            4,
            "noble/amd64/20240303/root",
            |w| {
                let bytes = b"longer than its record says\n";
                let file = w.images_root().join("noble/amd64/20240303/root");
                std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
                std::fs::write(&file, bytes).expect("write");
                edited(w, |doc| {
                    doc["products"][ROOT_ITEM]["versions"]["20240303"] = json!({ "items": {
                        "root": {
                            "path": "noble/amd64/20240303/root",
                            "sha256": Sha256Digest::of(bytes).to_hex(),
                            "size": 5,
                        }
                    }});
                })
            },
        ),
        row(
            "simplestreams",
            "index naming a product file upstream lacks",
            5,
            CONTENT_ID,
            |w| {
                std::fs::remove_file(
                    w.images_root()
                        .join(format!("streams/v1/{CONTENT_ID}.sjson")),
                )
                .expect("remove");
                w.sync("maas")
            },
        ),
        row(
            "simplestreams",
            "product file beyond max_index_size",
            5,
            "larger than the limit",
            |w| edited(w, |doc| doc["padding"] = "x".repeat(5 << 20).into()),
        ),
        row(
            "simplestreams",
            "signed index that is no stream index",
            1,
            "index:1.0",
            |w| {
                let index = w.images_root().join("streams/v1/index.sjson");
                std::fs::write(
                    &index,
                    w.upstream_key
                        .clearsign("{\"format\": \"products:1.0\", \"products\": {}}\n")
                        .expect("sign"),
                )
                .expect("write");
                w.sync("maas")
            },
        ),
    ]
}
