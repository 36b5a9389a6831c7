//! The live playbook library: one `Arc<Library>` swapped whole on reload, so a reader always
//! sees a complete library and a reload with errors leaves the last good one in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::playbook::{Library, LoadReport};

#[derive(Debug, Clone)]
pub struct LibraryHandle {
    inner: Arc<RwLock<Arc<Library>>>,
    dir: PathBuf,
    /// Files larger are refused unread (`playbooks.max_file_bytes`).
    max_file_bytes: u64,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The new library is live.
    Swapped {
        playbooks: usize,
        report: LoadReport,
    },
    /// The directory had errors: the last good library stays live.
    Kept { report: LoadReport },
}

impl LibraryHandle {
    /// Loads `dir` for the first time. Files with errors are left out (and reported); the rest
    /// load, so one bad file never takes the bot down.
    pub fn load(dir: &Path) -> Result<(Self, LoadReport), crate::playbook::library::LoadError> {
        Self::load_limited(dir, crate::playbook::library::DEFAULT_MAX_FILE_BYTES)
    }

    /// As [`LibraryHandle::load`], with files over `max_file_bytes` refused (also on reload).
    pub fn load_limited(
        dir: &Path,
        max_file_bytes: u64,
    ) -> Result<(Self, LoadReport), crate::playbook::library::LoadError> {
        let (library, report) = Library::load_dir_limited(dir, max_file_bytes)?;
        let handle = Self {
            inner: Arc::new(RwLock::new(Arc::new(library))),
            dir: dir.to_path_buf(),
            max_file_bytes,
        };
        Ok((handle, report))
    }

    /// A fixed library (tests, benchmarks).
    pub fn fixed(library: Library) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Arc::new(library))),
            dir: PathBuf::new(),
            max_file_bytes: crate::playbook::library::DEFAULT_MAX_FILE_BYTES,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The library as of now. Hold the `Arc`, not the lock.
    pub fn current(&self) -> Arc<Library> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the directory again; swaps the new library in only when it has no error.
    pub fn reload(&self) -> Result<Reloaded, crate::playbook::library::LoadError> {
        let (library, report) = Library::load_dir_limited(&self.dir, self.max_file_bytes)?;
        if report.errors() > 0 {
            return Ok(Reloaded::Kept { report });
        }
        let playbooks = library.len();
        *self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(library);
        Ok(Reloaded::Swapped { playbooks, report })
    }
}
