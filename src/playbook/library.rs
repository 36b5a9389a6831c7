//! The set of playbooks loaded from a directory: index by id, lookup by what people type.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::id::TechniqueId;
use super::model::Playbook;
use super::parser;
use super::search::SearchIndex;

/// Loaded playbooks, sorted by id. Cheap to share: the daemon swaps a whole new `Arc<Library>`
/// in on reload.
#[derive(Debug, Default)]
pub struct Library {
    playbooks: Vec<Arc<Playbook>>,
    by_id: HashMap<TechniqueId, usize>,
    index: SearchIndex,
}

/// What loading a directory found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every problem, errors and warnings, sorted by path and line.
    pub diagnostics: Vec<Diagnostic>,
    /// Markdown files read.
    pub files: usize,
    /// Files passed over because they hold no playbook (no table, no technique heading), e.g. a README.
    pub skipped: Vec<String>,
}

impl LoadReport {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// The result of looking up what a user typed.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The playbook of exactly that technique.
    Found(Arc<Playbook>),
    /// No playbook for the sub-technique `asked`; this is its parent's.
    Parent {
        asked: TechniqueId,
        playbook: Arc<Playbook>,
    },
    /// Nothing matches; the closest playbooks, best first.
    NotFound {
        asked: String,
        valid_id: bool,
        suggestions: Vec<Arc<Playbook>>,
    },
}

/// Why a directory could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read playbook directory {path}: {source}")]
pub struct LoadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl Library {
    /// Builds a library from parsed playbooks. Two playbooks for one technique: the first (in
    /// source order) stays and an error names both files.
    pub fn from_playbooks(list: Vec<Playbook>) -> (Self, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut playbooks: Vec<Arc<Playbook>> = Vec::with_capacity(list.len());
        let mut seen: HashMap<TechniqueId, usize> = HashMap::new();
        for pb in list {
            if let Some(&i) = seen.get(&pb.id) {
                let first: &Playbook = &playbooks[i];
                diags.push(Diagnostic::error(
                    &pb.source,
                    pb.id_line,
                    format!(
                        "{} has two playbooks: {}:{} and {}; keep one (the first is used until then)",
                        pb.id, first.source, first.id_line, pb.source
                    ),
                ));
                continue;
            }
            seen.insert(pb.id, playbooks.len());
            playbooks.push(Arc::new(pb));
        }
        playbooks.sort_by_key(|p| p.id);
        let by_id = playbooks
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let index = SearchIndex::build(&playbooks);
        (
            Self {
                playbooks,
                by_id,
                index,
            },
            diags,
        )
    }

    /// Loads every `.md` file below `dir`, recursively, in path order, each at most
    /// [`DEFAULT_MAX_FILE_BYTES`]. One bad file never stops the others; its problems are in
    /// the report.
    pub fn load_dir(dir: &Path) -> Result<(Self, LoadReport), LoadError> {
        Self::load_dir_limited(dir, DEFAULT_MAX_FILE_BYTES)
    }

    /// As [`Library::load_dir`], refusing files over `max_file_bytes` (`playbooks.max_file_bytes`)
    /// with one error naming each, unread. A sub-folder that cannot be read is a warning naming
    /// it; the rest load. Only `dir` itself unreadable is an error.
    pub fn load_dir_limited(
        dir: &Path,
        max_file_bytes: u64,
    ) -> Result<(Self, LoadReport), LoadError> {
        let mut files = Vec::new();
        let mut folders = Vec::new();
        collect_markdown(dir, &mut files, &mut folders).map_err(|source| LoadError {
            path: dir.display().to_string(),
            source,
        })?;
        files.sort();
        let mut report = LoadReport {
            files: files.len(),
            ..LoadReport::default()
        };
        for (folder, e) in folders {
            report.diagnostics.push(Diagnostic::warning(
                &folder.display().to_string(),
                0,
                format!("cannot read this folder ({e}); the playbooks in it are left out"),
            ));
        }
        let mut parsed = Vec::new();
        for file in &files {
            let shown = file.display().to_string();
            let text = match read_limited(file, max_file_bytes) {
                Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(None) => {
                    report.diagnostics.push(Diagnostic::error(
                        &shown,
                        1,
                        format!(
                            "larger than playbooks.max_file_bytes ({max_file_bytes} bytes): not read; a playbook is a few kilobytes, so this is not one (split it, or raise the limit)"
                        ),
                    ));
                    continue;
                }
                Err(e) => {
                    report.diagnostics.push(Diagnostic::error(
                        &shown,
                        1,
                        format!("cannot read: {e}"),
                    ));
                    continue;
                }
            };
            if !looks_like_playbook(&text) {
                report.skipped.push(shown);
                continue;
            }
            match parser::parse(&text, &shown) {
                Ok(p) => {
                    report.diagnostics.extend(p.warnings);
                    parsed.push(p.playbook);
                }
                Err(diags) => report.diagnostics.extend(diags),
            }
        }
        let (library, dups) = Self::from_playbooks(parsed);
        report.diagnostics.extend(dups);
        report
            .diagnostics
            .sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        Ok((library, report))
    }

    pub fn len(&self) -> usize {
        self.playbooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.playbooks.is_empty()
    }

    /// All playbooks, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Playbook>> {
        self.playbooks.iter()
    }

    pub fn get(&self, id: TechniqueId) -> Option<&Arc<Playbook>> {
        self.by_id.get(&id).map(|&i| &self.playbooks[i])
    }

    /// Looks up what a user typed (`T1583.006`, `t1583006`, `1583.006`, …). A sub-technique
    /// without a playbook falls back to its parent's; otherwise the closest are suggested.
    pub fn lookup(&self, input: &str) -> Lookup {
        let asked = input.trim().to_owned();
        match TechniqueId::parse(&asked) {
            Ok(id) => {
                if let Some(pb) = self.get(id) {
                    return Lookup::Found(pb.clone());
                }
                if let Some(pb) = id.is_sub().then(|| self.get(id.parent())).flatten() {
                    return Lookup::Parent {
                        asked: id,
                        playbook: pb.clone(),
                    };
                }
                Lookup::NotFound {
                    asked,
                    valid_id: true,
                    suggestions: self.closest_ids(id, 5),
                }
            }
            Err(_) => {
                let suggestions = self.search(&asked, 5).into_iter().cloned().collect();
                Lookup::NotFound {
                    asked,
                    valid_id: false,
                    suggestions,
                }
            }
        }
    }

    /// The best `limit` matches for what has been typed so far (see [`SearchIndex`]).
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Arc<Playbook>> {
        self.index
            .search(query, limit)
            .into_iter()
            .map(|i| &self.playbooks[i])
            .collect()
    }

    /// Ids nearest to one that has no playbook: same technique first, then a technique number
    /// one typo away, then numerically close ones.
    fn closest_ids(&self, id: TechniqueId, limit: usize) -> Vec<Arc<Playbook>> {
        let digits = |t: u16| format!("{t:04}");
        let want = digits(id.technique);
        let mut scored: Vec<(u32, u32, &Arc<Playbook>)> = self
            .playbooks
            .iter()
            .map(|p| {
                let tier = if p.id.technique == id.technique {
                    0
                } else {
                    1 + super::search::edit_distance(&want, &digits(p.id.technique)) as u32
                };
                (tier, u32::from(p.id.technique.abs_diff(id.technique)), p)
            })
            .collect();
        scored.sort_by_key(|&(tier, dist, p)| (tier, dist, p.id));
        scored
            .into_iter()
            .take(limit)
            .map(|(_, _, p)| p.clone())
            .collect()
    }
}

/// The largest playbook file read by default (`playbooks.max_file_bytes`): 1 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;

/// The file's bytes, or None when it is larger than `max` (never more than `max + 1` bytes are
/// read, so a huge or growing file costs no memory).
fn read_limited(file: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = std::fs::File::open(file)?;
    if f.metadata()?.len() > max {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The `.md` files below `dir`. `dir` unreadable is an error; a sub-folder that cannot be
/// read is put in `unreadable` and passed over.
fn collect_markdown(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    unreadable: &mut Vec<(PathBuf, std::io::Error)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            if let Err(e) = collect_markdown(&path, out, unreadable) {
                unreadable.push((path, e));
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("md"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A playbook has a table row or a heading ending in a technique id; a README has neither.
fn looks_like_playbook(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with('|')
            || l.strip_prefix("# ")
                .and_then(|h| h.rsplit_once(" - "))
                .is_some_and(|(_, id)| TechniqueId::parse(id).is_ok())
    })
}
