//! Running the real `socbot` binary from a test: a command without the caller's configuration,
//! a temporary directory, and text helpers for its output.
#![allow(
    dead_code,
    reason = "included by several test binaries, each uses a subset"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `socbot` binary with no SOCBOT_* or RUST_LOG variables from the caller, nor any of
/// `also_remove`.
pub fn socbot_command(also_remove: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_socbot"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SOCBOT") || key == "RUST_LOG" || also_remove.contains(&key.as_str()) {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Whitespace collapsed, so wrapped text can be searched for.
pub fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The bundled playbooks directory.
pub fn bundled() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks")
        .display()
        .to_string()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `socbot-<kind>-<pid>-<name>` in the system's temporary directory, empty.
    pub fn new(kind: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("socbot-{kind}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
