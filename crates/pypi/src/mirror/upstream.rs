//! What the mirror reads upstream: project pages (asked for as uv asks, conditionally,
//! read by their `Content-Type`, kept on the index's origin) and each file's metadata
//! (its PEP 658 file, or the wheel's own METADATA), checked against the digests the
//! pages state and against the files they describe.

use super::*;

impl PypiMirror {
    /// Fetch `needs` (and, once metadata is read, the pages of the dependencies it
    /// states, ahead of the solver asking) into the catalog.
    pub(super) async fn fetch(
        &self,
        ctx: &SyncContext<'_>,
        resolved: &mut Resolved,
        needs: &BTreeSet<Need>,
    ) -> Result<(), PypiError> {
        let mut needs = needs.clone();
        while !needs.is_empty() {
            let mut pages = Vec::new();
            let mut metadata = Vec::new();
            for need in &needs {
                match need {
                    Need::Page(name) if !resolved.catalog.projects.contains_key(name) => {
                        pages.push(name.clone());
                    }
                    Need::Page(_) => {}
                    Need::Metadata(name, position) => {
                        let project = resolved.catalog.projects.get(name).ok_or_else(|| {
                            PypiError::Resolution {
                                mirror: self.config.name.clone(),
                                reason: format!("metadata of {name} asked before its page"),
                            }
                        })?;
                        metadata.push(self.metadata_request(project, *position)?);
                    }
                }
            }
            let index = &self.settings.index;
            let cap = ctx.fetcher.options().max_index_size;
            let cache = &resolved.cache;
            let fetched_pages: Vec<Result<FetchedPage, PypiError>> = stream::iter(pages)
                .map(|name| {
                    let url = format!("{index}/{name}/");
                    let cached = cache
                        .get(&url)
                        .filter(|c| ctx.store.objects().contains(&c.sha256))
                        .cloned();
                    async move { self.fetch_page(ctx, name, url, cached, cap).await }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let fetched_metadata = fetch_all_metadata(ctx, metadata).await;
            needs = BTreeSet::new();
            for result in fetched_pages {
                let FetchedPage {
                    url,
                    project,
                    digest,
                    remember,
                } = result?;
                match remember {
                    Remember::Keep => {}
                    Remember::Forget => resolved.cache.remove(&url),
                    Remember::Body(cached) => resolved.cache.insert(&url, cached),
                }
                resolved.pages.insert(url, digest);
                resolved
                    .catalog
                    .projects
                    .insert(project.page.name.clone(), project);
            }
            for result in fetched_metadata {
                let (request, (metadata, sha256, size)) = result?;
                // Ahead of the solver: the pages of what this release depends on on some
                // target (an extra's entries wait until the solver asks for them).
                for text in &metadata.requires_dist {
                    let Ok(requirement) = text.parse::<crate::resolve::Req>() else {
                        continue; // the solver reports it, naming the release
                    };
                    let name = requirement.name.as_ref().to_owned();
                    let needed = self
                        .settings
                        .targets
                        .iter()
                        .any(|target| requirement.marker.evaluate(&target.markers, &[]));
                    if needed && !resolved.catalog.projects.contains_key(&name) {
                        needs.insert(Need::Page(name));
                    }
                }
                let key = (request.project.clone(), request.filename.clone());
                resolved.metadata.insert(key.clone(), (sha256, size));
                resolved.catalog.metadata.insert(key, metadata);
            }
        }
        Ok(())
    }

    /// One project page, asked for with the validators `cached` holds (a 304 reads the
    /// body back from the store, hashed again; a copy gone or damaged is fetched whole).
    async fn fetch_page(
        &self,
        ctx: &SyncContext<'_>,
        name: String,
        url: String,
        cached: Option<CachedBody>,
        cap: u64,
    ) -> Result<FetchedPage, PypiError> {
        let known = match &cached {
            Some(cached) if cached.younger_than(REVALIDATE_AFTER) => cached.validators.clone(),
            _ => Validators::default(),
        };
        let mut answer = ctx
            .fetcher
            .get_negotiated(&url, cap, &known, Some(ACCEPT))
            .await?;
        if let (Some(Conditional::NotModified), Some(cached)) = (&answer, &cached) {
            if let Some(body) = ctx.store.cached_body(cached) {
                tracing::debug!(%url, "project page unchanged upstream (304)");
                // It was read as its type said when it came; stored, it is told apart
                // by its first byte.
                let page = read_page(&body, None, &name, &url)?;
                return Ok(FetchedPage {
                    project: Project::new(url.clone(), page),
                    url,
                    digest: cached.sha256,
                    remember: Remember::Keep,
                });
            }
            answer = ctx
                .fetcher
                .get_negotiated(&url, cap, &Validators::default(), Some(ACCEPT))
                .await?;
        }
        match answer {
            Some(Conditional::Modified {
                body,
                validators,
                content_type,
                redirected_to,
            }) => {
                let base = match &redirected_to {
                    Some(to) => same_origin(&url, to)?,
                    None => url.clone(),
                };
                let page = read_page(&body, content_type.as_deref(), &name, &url)?;
                let digest = Sha256Digest::of(&body);
                // A body is kept for a conditional request next time when the server gave
                // validators and the links in it are relative to the URL asked.
                let remember = if validators.is_empty() || redirected_to.is_some() {
                    Remember::Forget
                } else {
                    ctx.store.objects().insert_bytes(&body)?;
                    Remember::Body(CachedBody::received_now(
                        validators,
                        digest,
                        body.len() as u64,
                    ))
                };
                Ok(FetchedPage {
                    project: Project::new(base, page),
                    url,
                    digest,
                    remember,
                })
            }
            // No such project: no versions, which the solver explains. (A 304 to a
            // request without validators is refused by the fetcher.)
            _ => Ok(FetchedPage {
                project: Project::new(url.clone(), ProjectPage::empty(&name)),
                url,
                digest: Sha256Digest::of(b""),
                remember: Remember::Forget,
            }),
        }
    }

    /// Where a file's metadata is and the digest it must have.
    pub(super) fn metadata_request(
        &self,
        project: &Project,
        position: usize,
    ) -> Result<MetadataRequest, PypiError> {
        let file = &project.page.files[position];
        let stated = match &file.core_metadata {
            CoreMetadata::Hashes(hashes) => hashes.get("sha256").and_then(|h| h.parse().ok()),
            CoreMetadata::Absent | CoreMetadata::Unhashed => None,
        };
        let wheel = file.filename.ends_with(".whl");
        let url = self.file_url(project, file)?;
        let (url, source) = match (stated, file.sha256().and_then(|h| h.parse().ok())) {
            (Some(sha256), _) => (format!("{url}.metadata"), MetadataSource::File(sha256)),
            // No metadata file (or one with no digest to check it by): the wheel, checked
            // against its own digest, holds the same METADATA.
            (None, Some(sha256)) if wheel => {
                let expected = Expected {
                    sha256,
                    size: file.size,
                };
                (url, MetadataSource::Wheel(expected))
            }
            (None, None) if wheel && self.config.allow_unhashed => {
                (url, MetadataSource::UnverifiedWheel)
            }
            (None, None) if wheel => {
                return Err(PypiError::Unhashed {
                    page: project.url.clone(),
                    file: file.filename.clone(),
                });
            }
            (None, _) => {
                return Err(PypiError::NoMetadata {
                    page: project.url.clone(),
                    file: file.filename.clone(),
                });
            }
        };
        let version = project.parsed[position]
            .as_ref()
            .map(|(_, version)| version.clone())
            .ok_or_else(|| PypiError::Resolution {
                mirror: self.config.name.clone(),
                reason: format!("{}: {} is not a candidate", project.url, file.filename),
            })?;
        Ok(MetadataRequest {
            url,
            project: project.page.name.clone(),
            filename: file.filename.clone(),
            version,
            source,
        })
    }

    /// A file's absolute URL (see [`file_url`]).
    pub(super) fn file_url(&self, project: &Project, file: &File) -> Result<String, PypiError> {
        file_url(&self.settings.index, &project.url, file)
    }
}

/// A file's absolute URL: its link on the page at `page_url` resolved against the page.
/// Only `http(s)` (or `file` for a `file://` index): a page must not point us at other
/// schemes.
pub(crate) fn file_url(index: &str, page_url: &str, file: &File) -> Result<String, PypiError> {
    let error = |reason: String| PypiError::FileUrl {
        page: page_url.to_owned(),
        file: file.filename.clone(),
        reason,
    };
    let base = url::Url::parse(page_url).map_err(|e| error(e.to_string()))?;
    let url = base.join(&file.url).map_err(|e| error(e.to_string()))?;
    let local_index = index.starts_with("file:");
    match url.scheme() {
        "http" | "https" => {}
        "file" if local_index => {}
        other => return Err(error(format!("{url}: scheme {other:?} refused"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(error("a URL with credentials in it is refused".into()));
    }
    let mut url = url;
    url.set_fragment(None);
    Ok(url.into())
}

/// Where a page redirected to, when it stays on the index's origin (scheme, host and
/// port): its links are relative to it. A page redirected elsewhere is refused: the
/// index's origin is what the operator chose to trust, and its pages name the digests.
pub(crate) fn same_origin(asked: &str, to: &str) -> Result<String, PypiError> {
    let origin = |url: &str| {
        url::Url::parse(url).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
            )
        })
    };
    if origin(asked).is_some() && origin(asked) == origin(to) {
        Ok(to.to_owned())
    } else {
        Err(PypiError::RedirectedOffSite {
            url: asked.to_owned(),
            to: to.to_owned(),
        })
    }
}

/// What a page is asked for with, as uv asks: PEP 691 JSON first, HTML accepted.
pub(crate) const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, \
     application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// A project page's body, read as its `Content-Type` says (PEP 691 JSON, or PEP 503 HTML
/// as `text/html` or its `vnd` alias); with none (a `file://` index), JSON when it is a
/// JSON object. Another type is refused, as pip and uv refuse it. Its name must be the
/// one asked for.
pub(crate) fn read_page(
    body: &[u8],
    content_type: Option<&str>,
    name: &str,
    url: &str,
) -> Result<ProjectPage, PypiError> {
    let page_error = |reason: String| {
        PypiError::Page(crate::simple::PageError {
            origin: url.to_owned(),
            reason,
        })
    };
    let media = content_type.map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let json = match media.as_deref() {
        Some("application/vnd.pypi.simple.v1+json") => true,
        Some("application/vnd.pypi.simple.v1+html" | "text/html") => false,
        Some(other) => {
            return Err(page_error(format!(
                "served as {other:?}, which is no simple API type (expected \
                 application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html \
                 or text/html)"
            )));
        }
        None => body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{'),
    };
    let page = if json {
        ProjectPage::from_json(body, url)?
    } else {
        ProjectPage::from_html(body, name, url)?
    };
    if page.name != name {
        return Err(page_error(format!(
            "the page of {name:?} says it is {:?}'s",
            page.name
        )));
    }
    Ok(page)
}

/// A project page read, and what to remember of it for the next sync.
struct FetchedPage {
    url: String,
    project: Project,
    /// The SHA-256 of its body as served.
    digest: Sha256Digest,
    remember: Remember,
}

/// What the upstream cache keeps of a page.
enum Remember {
    /// Its entry as it is (a 304).
    Keep,
    /// No entry (no validators, a redirect, a 404).
    Forget,
    /// This body, stored.
    Body(CachedBody),
}

/// How long a 304 is trusted: a page last received whole longer ago is asked for without
/// validators, so that an ETag that stays while the page changes leaves the mirror at
/// most a day stale (as for conda's repodata).
const REVALIDATE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A file's metadata to fetch: its PEP 658 metadata file, or the `METADATA` inside the
/// wheel when the index serves none.
pub(super) struct MetadataRequest {
    /// The metadata file's URL, or the wheel's.
    url: String,
    pub(super) project: String,
    pub(super) filename: String,
    version: Version,
    /// What the metadata file must be, or the wheel (whose `METADATA` is read).
    source: MetadataSource,
}

#[derive(Clone, Copy)]
enum MetadataSource {
    /// The PEP 658 file, with the digest its page states.
    File(Sha256Digest),
    /// The wheel itself, with the digest (and size) its page states.
    Wheel(Expected),
    /// The wheel itself, which its page gives no digest for (`allow_unhashed`).
    UnverifiedWheel,
}

/// Fetch a file's metadata, check it (against the digest its page states, or the wheel's
/// against the wheel's digest) and against the file it describes (name, version), and put
/// it into the store: the metadata, its digest and its size.
pub(super) async fn fetch_metadata(
    ctx: &SyncContext<'_>,
    objects: &ObjectStore,
    request: &MetadataRequest,
) -> Result<(Metadata, Sha256Digest, u64), PypiError> {
    let body: Vec<u8> = match request.source {
        // Named by its digest: a whole copy already in the store (an earlier sync) is it.
        MetadataSource::File(sha256)
            if objects
                .read(&sha256)
                .is_ok_and(|held| Sha256Digest::of(&held) == sha256) =>
        {
            objects.read(&sha256)?
        }
        MetadataSource::File(sha256) => {
            let body = ctx.fetcher.get(&request.url, METADATA_CAP).await?;
            let expected = Expected { sha256, size: None };
            expected.check(&request.url, Sha256Digest::of(&body), body.len() as u64)?;
            body.to_vec()
        }
        MetadataSource::Wheel(expected) => {
            // Into the store, verified: the wheel is published if this release is chosen.
            ctx.fetcher
                .fetch_object(&request.url, expected, objects, ctx.reporter)
                .await?;
            wheel_metadata(objects, &expected.sha256, &request.url).await?
        }
        MetadataSource::UnverifiedWheel => {
            let (sha256, _) = fetch_unverified(ctx, objects, &request.url).await?;
            wheel_metadata(objects, &sha256, &request.url).await?
        }
    };
    let metadata = Metadata::parse(&body, &request.url)?;
    let mismatch = |reason: String| PypiError::MetadataMismatch {
        url: request.url.clone(),
        reason,
    };
    if metadata.name != request.project {
        return Err(mismatch(format!(
            "names project {:?}, the file {} is {:?}'s",
            metadata.name, request.filename, request.project
        )));
    }
    let version: Version = metadata
        .version
        .parse()
        .map_err(|e| mismatch(format!("Version {:?}: {e}", metadata.version)))?;
    if version != request.version {
        return Err(mismatch(format!(
            "says version {version}, the file {} is {}",
            request.filename, request.version
        )));
    }
    let sha256 = objects.insert_bytes(&body)?;
    Ok((metadata, sha256, body.len() as u64))
}

/// The METADATA of the stored wheel `sha256` (downloaded from `url`), read off the
/// async threads.
async fn wheel_metadata(
    objects: &ObjectStore,
    sha256: &Sha256Digest,
    url: &str,
) -> Result<Vec<u8>, PypiError> {
    let (file, _) = objects.open(sha256)?.into_parts();
    let owned = url.to_owned();
    tokio::task::spawn_blocking(move || crate::wheel::read_metadata(file, &owned))
        .await
        .map_err(|e| PypiError::BadWheel {
            url: url.to_owned(),
            reason: format!("reading METADATA stopped: {e}"),
        })?
}

/// Each request's metadata, fetched [`CONCURRENCY`] at a time.
pub(super) async fn fetch_all_metadata(
    ctx: &SyncContext<'_>,
    requests: Vec<MetadataRequest>,
) -> Vec<Result<(MetadataRequest, Fetched), PypiError>> {
    let objects = ctx.store.objects();
    stream::iter(requests)
        .map(|request| async move {
            let fetched = fetch_metadata(ctx, objects, &request).await?;
            Ok((request, fetched))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// A file its page gives no digest for (`allow_unhashed`): downloaded whole (within
/// `max_index_size`) and stored under the digest it turns out to have, which our page
/// then states. Logged: nothing vouches for these bytes.
pub(super) async fn fetch_unverified(
    ctx: &SyncContext<'_>,
    objects: &ObjectStore,
    url: &str,
) -> Result<(Sha256Digest, u64), PypiError> {
    let body = ctx
        .fetcher
        .get(url, ctx.fetcher.options().max_index_size)
        .await?;
    tracing::warn!(%url, "taken without a digest to check it by (allow_unhashed)");
    let sha256 = objects.insert_bytes(&body)?;
    Ok((sha256, body.len() as u64))
}
