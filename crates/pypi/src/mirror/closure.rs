//! The probe's resolution: every target's closure, `keep_versions`' extra releases, and
//! the union closed over what each target's client could pick.

use super::*;

impl PypiMirror {
    /// Fetch and resolve until every target has its closure, and until no target can
    /// reach a published release whose dependencies on it are not published too.
    ///
    /// The second part is the union's leak: a client on target A sees every release the
    /// mirror publishes that installs on A, including one only target B's resolution
    /// chose, and may pick it (pip decides in its own order and backtracks). Its
    /// dependencies on A (markers evaluated for A) were never resolved. So each such
    /// release is resolved again on A, pinned, with the requirements, and what that
    /// solution adds is published too; repeated until nothing new appears. A release
    /// that cannot be part of a solution on A is left as it is (a client backtracks
    /// from it as the solver did).
    pub(super) async fn resolve(&self, ctx: &SyncContext<'_>) -> Result<Resolved, PypiError> {
        let mut resolved = Resolved {
            catalog: Catalog::default(),
            pages: BTreeMap::new(),
            metadata: BTreeMap::new(),
            pins: Vec::new(),
            cache: ctx.store.upstream_cache(&self.config.name),
        };
        let mut pending: BTreeSet<Need> = self
            .settings
            .policy
            .requirements
            .iter()
            .map(|r| Need::Page(r.name.as_ref().to_owned()))
            .collect();
        // Each run: a target, and the release pinned on it (none: the requirements
        // alone); its outcome once resolved.
        let mut runs: Vec<(usize, Option<(String, Version)>)> = (0..self.settings.targets.len())
            .map(|t| (t, None))
            .collect();
        let mut outcomes: Vec<Option<BTreeMap<String, Version>>> = vec![None; runs.len()];
        let mut settled = vec![false; runs.len()];
        let mut walked: BTreeMap<(usize, String), usize> = BTreeMap::new();
        let mut early: Vec<String> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            self.fetch(ctx, &mut resolved, &pending).await?;
            resolved.catalog.early.clone_from(&early);
            let mut needs = BTreeSet::new();
            for (position, (target_index, pin)) in runs.iter().enumerate() {
                if settled[position] {
                    continue;
                }
                let target = &self.settings.targets[*target_index];
                let policy = match pin {
                    None => std::borrow::Cow::Borrowed(&self.settings.policy),
                    Some((name, version)) => {
                        let mut policy = self.settings.policy.clone();
                        let pinned = format!("{name}=={version}").parse().map_err(|e| {
                            PypiError::Resolution {
                                mirror: self.config.name.clone(),
                                reason: format!("pinning {name} {version}: {e}"),
                            }
                        })?;
                        policy.requirements.push(pinned);
                        std::borrow::Cow::Owned(policy)
                    }
                };
                match resolve(&resolved.catalog, target, &policy) {
                    Outcome::Resolved(pins) => {
                        outcomes[position] = Some(pins);
                        settled[position] = true;
                    }
                    Outcome::Needs(more) => {
                        // A run asking again and again for older releases of a project
                        // is walking back through it: decide it earlier next time.
                        for need in &more {
                            if let Need::Metadata(name, _) = need {
                                let count = walked.entry((position, name.clone())).or_insert(0);
                                *count += 1;
                                if *count == WALK_BACK && !early.contains(name) {
                                    early.push(name.clone());
                                }
                            }
                        }
                        needs.extend(more);
                    }
                    // A pinned release no solution on this target holds: a client
                    // backtracks from it too.
                    Outcome::Unsatisfiable(_) if pin.is_some() => settled[position] = true,
                    Outcome::Unsatisfiable(report) => {
                        return Err(PypiError::Unsatisfiable {
                            mirror: self.config.name.clone(),
                            target: target.label.clone(),
                            report,
                        });
                    }
                    Outcome::Invalid(reason) => {
                        return Err(PypiError::Resolution {
                            mirror: self.config.name.clone(),
                            reason: format!("target {}: {reason}", target.label),
                        });
                    }
                }
            }
            if !needs.is_empty() {
                tracing::debug!(
                    runs = runs.len(),
                    settled = settled.iter().filter(|s| **s).count(),
                    needs = needs.len(),
                    first = ?needs.iter().next(),
                    "resolution round"
                );
                pending = needs;
                continue;
            }
            pending = BTreeSet::new();
            let more = self.kept_releases(&resolved.catalog, &runs, &outcomes);
            if !more.is_empty() {
                for run in more {
                    runs.push((run.0, Some(run.1)));
                    outcomes.push(None);
                    settled.push(false);
                }
                continue;
            }
            let leaks = self.leaks(&resolved.catalog, &runs, &outcomes);
            if leaks.is_empty() {
                resolved.pins = runs
                    .iter()
                    .zip(outcomes)
                    .filter_map(|((target, _), pins)| Some((*target, pins?)))
                    .collect();
                // Pages no longer read are no longer asked for.
                let read = &resolved.pages;
                resolved.cache.retain(|url| read.contains_key(url));
                ctx.store
                    .save_upstream_cache(&self.config.name, &resolved.cache)?;
                return Ok(resolved);
            }
            for leak in leaks {
                runs.push((leak.0, Some(leak.1)));
                outcomes.push(None);
                settled.push(false);
            }
        }
        Err(PypiError::Resolution {
            mirror: self.config.name.clone(),
            reason: format!("no resolution after {MAX_ROUNDS} rounds of fetching"),
        })
    }

    /// `keep_versions`: each requirement's newest N releases that resolve on a target
    /// (with the requirements, pinned), beyond the one its resolution there picked. The
    /// next candidates to resolve pinned, newest first, as many as are still missing
    /// (one that does not resolve is passed over): asked again until none is missing.
    pub(super) fn kept_releases(
        &self,
        catalog: &Catalog,
        runs: &[(usize, Option<(String, Version)>)],
        outcomes: &[Option<BTreeMap<String, Version>>],
    ) -> Vec<(usize, (String, Version))> {
        let policy = &self.settings.policy;
        let wanted = self.settings.keep_versions;
        let mut more = Vec::new();
        if wanted <= 1 {
            return more;
        }
        for (target_index, target) in self.settings.targets.iter().enumerate() {
            // What the runs on this target found: resolved (true) or not (false).
            let mut tried: BTreeMap<(&str, &Version), bool> = BTreeMap::new();
            for ((t, pin), pins) in runs.iter().zip(outcomes) {
                if *t != target_index {
                    continue;
                }
                if let Some((name, version)) = pin {
                    tried
                        .entry((name.as_str(), version))
                        .or_insert(pins.is_some());
                }
                for (name, version) in pins.iter().flatten() {
                    tried.insert((name.as_str(), version), true);
                }
            }
            for requirement in &policy.requirements {
                if !requirement.marker.evaluate(&target.markers, &[]) {
                    continue;
                }
                let name = requirement.name.as_ref();
                let Some(project) = catalog.projects.get(name) else {
                    continue;
                };
                let allowed = |version: &Version| match &requirement.version_or_url {
                    Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.contains(version),
                    _ => true,
                };
                let candidates = project
                    .versions
                    .iter()
                    .map(|(version, _)| version)
                    .filter(|version| allowed(version))
                    .filter(|version| !version.any_prerelease() || policy.allows_prereleases(name))
                    .filter(|version| {
                        project
                            .files_of(version)
                            .any(|(_, file, dist)| policy.usable(target, name, version, file, dist))
                    });
                let mut found = 0;
                for version in candidates {
                    if found >= wanted {
                        break;
                    }
                    match tried.get(&(name, version)) {
                        Some(true) => found += 1,
                        Some(false) => {}
                        None => {
                            found += 1;
                            more.push((target_index, (name.to_owned(), version.clone())));
                        }
                    }
                }
            }
        }
        more.sort();
        more.dedup();
        more
    }

    /// The releases some run published that a target's client could pick but no run on
    /// that target has resolved: (target, release), each not asked before.
    pub(super) fn leaks(
        &self,
        catalog: &Catalog,
        runs: &[(usize, Option<(String, Version)>)],
        outcomes: &[Option<BTreeMap<String, Version>>],
    ) -> Vec<(usize, (String, Version))> {
        let published: BTreeSet<(&String, &Version)> = outcomes
            .iter()
            .flatten()
            .flat_map(|pins| pins.iter())
            .collect();
        let mut leaks = Vec::new();
        for (target_index, target) in self.settings.targets.iter().enumerate() {
            let mut covered: BTreeSet<(&String, &Version)> = BTreeSet::new();
            let mut asked: BTreeSet<(&String, &Version)> = BTreeSet::new();
            for ((t, pin), pins) in runs.iter().zip(outcomes) {
                if *t != target_index {
                    continue;
                }
                covered.extend(pins.iter().flat_map(|pins| pins.iter()));
                if let Some((name, version)) = pin {
                    asked.insert((name, version));
                }
            }
            for &(name, version) in &published {
                if covered.contains(&(name, version)) || asked.contains(&(name, version)) {
                    continue;
                }
                let Some(project) = catalog.projects.get(name) else {
                    continue;
                };
                let installs = project.files_of(version).any(|(_, file, dist)| {
                    self.settings
                        .policy
                        .usable(target, name, version, file, dist)
                });
                if installs {
                    leaks.push((target_index, (name.clone(), version.clone())));
                }
            }
        }
        leaks
    }
}
