//! Operator commands: `socbot config check`, `socbot backup FILE`, `socbot restore FILE` and
//! `socbot health` (the container health check).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::backup::{self, Snapshot};
use crate::config::{Config, DEFAULT_TOML};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigAction {
    /// Load the configuration as `socbot run` would, check it (ids, roles, channels, paths,
    /// durations) and print it with secrets redacted; exit 1 on any error.
    Check,
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write (`-` for standard output).
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file to restore (`-` for standard input).
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Check readiness (/readyz) instead of liveness (/healthz).
    #[arg(long)]
    pub ready: bool,
    /// The listener's address (default: `http.listen`).
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// config check

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warning,
    Error,
}

/// One line of the report: `ok: key: message`.
struct Line {
    level: Level,
    key: String,
    message: String,
}

/// The report's lines: the configuration's findings ([`crate::config::validate`]), then what
/// `socbot run` would find on disk and a summary of what is on.
#[derive(Default)]
struct Lines(Vec<Line>);

impl Lines {
    fn ok(&mut self, key: &str, message: impl Into<String>) {
        self.push(Level::Ok, key, message);
    }
    fn warn(&mut self, key: &str, message: impl Into<String>) {
        self.push(Level::Warning, key, message);
    }
    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.push(Level::Error, key, message);
    }
    fn push(&mut self, level: Level, key: &str, message: impl Into<String>) {
        self.0.push(Line {
            level,
            key: key.to_owned(),
            message: message.into(),
        });
    }
    fn count(&self, level: Level) -> usize {
        self.0.iter().filter(|f| f.level == level).count()
    }
}

/// `socbot config check`. Handles its own loading so that a configuration the daemon would
/// refuse is reported (exit 1) instead of stopping the command line.
pub fn config_check(file: Option<&Path>) -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let file = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SOCBOT_CONFIG").map(PathBuf::from));
    let layers = match Config::layers(file.as_deref(), env) {
        Ok(l) => l,
        Err(e) => {
            println!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "# socbot configuration: the defaults, then {}, then SOCBOT__… variables. Secrets redacted.",
        file.as_ref()
            .map_or_else(|| "no file".to_owned(), |p| p.display().to_string())
    );
    print!("{}", effective_toml(&layers));
    println!();
    let config = match Config::parse(layers.clone()) {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            println!("configuration check failed: 1 error");
            return ExitCode::FAILURE;
        }
    };
    let lines = check(&config, &layers);
    for f in &lines.0 {
        let tag = match f.level {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        println!("{tag}: {}: {}", f.key, f.message);
    }
    let (errors, warnings) = (lines.count(Level::Error), lines.count(Level::Warning));
    if errors > 0 {
        println!("configuration check failed: {errors} error(s), {warnings} warning(s)");
        ExitCode::FAILURE
    } else {
        println!("configuration OK: {warnings} warning(s)");
        ExitCode::SUCCESS
    }
}

/// Where a raw value came from, for the secrets check.
fn origin(layers: &config::Config, key: &str) -> Option<String> {
    let config::ValueKind::Table(table) = &layers.cache.kind else {
        return None;
    };
    let (section, name) = key.split_once('.')?;
    match &table.get(section)?.kind {
        config::ValueKind::Table(t) => t.get(name)?.origin().map(str::to_owned),
        _ => None,
    }
}

fn check(c: &Config, layers: &config::Config) -> Lines {
    let mut f = Lines::default();
    for finding in crate::config::validate(c) {
        let level = match finding.severity {
            crate::config::Severity::Error => Level::Error,
            crate::config::Severity::Warning => Level::Warning,
        };
        f.push(level, &finding.key, finding.message);
    }
    if c.discord.has_token() {
        f.ok("discord.token", "set (redacted)");
        if origin(layers, "discord.token").is_some_and(|o| o != "the environment") {
            f.warn(
                "discord.token",
                "comes from a file; keep it out of files that are committed: set SOCBOT__DISCORD__TOKEN (an env file readable only by root, a Kubernetes Secret)",
            );
        }
    }
    if c.paging.ack_timeout_secs >= 60 {
        f.ok(
            "paging.ack_timeout_secs",
            format!(
                "{} s to acknowledge, {} re-page(s) before the next level",
                c.paging.ack_timeout_secs, c.paging.repeats
            ),
        );
    }
    check_playbooks(c, &mut f);
    check_catalog(c, &mut f);
    check_store(c, &mut f);
    check_listeners(c, &mut f);
    f
}

/// The playbooks load as `socbot run` would load them.
fn check_playbooks(c: &Config, f: &mut Lines) {
    let dir = &c.playbooks.dir;
    if !dir.is_dir() {
        f.error(
            "playbooks.dir",
            format!(
                "{} is not a directory; point it at your playbook repository",
                dir.display()
            ),
        );
        return;
    }
    match crate::playbook::Library::load_dir_limited(dir, c.playbooks.max_file_bytes) {
        Ok((library, report)) if library.is_empty() => f.error(
            "playbooks.dir",
            format!(
                "{} holds no playbook ({} error(s)); run `socbot check {}`",
                dir.display(),
                report.errors(),
                dir.display()
            ),
        ),
        Ok((library, report)) if report.errors() > 0 => f.warn(
            "playbooks.dir",
            format!(
                "{} playbooks load from {}, {} error(s) keep files out; run `socbot check {}`",
                library.len(),
                dir.display(),
                report.errors(),
                dir.display()
            ),
        ),
        Ok((library, _)) => f.ok(
            "playbooks.dir",
            format!("{} playbooks load from {}", library.len(), dir.display()),
        ),
        Err(e) => f.error("playbooks.dir", e.to_string()),
    }
}

fn check_catalog(c: &Config, f: &mut Lines) {
    match c.attack.catalog() {
        Ok(catalog) => f.ok(
            "attack.stix",
            format!(
                "MITRE ATT&CK v{} ({}), {} live techniques",
                catalog.version,
                if c.attack.stix.trim().is_empty() {
                    "the shipped catalog".to_owned()
                } else {
                    c.attack.stix.trim().to_owned()
                },
                catalog.live().count()
            ),
        ),
        Err(crate::config::ConfigError::Invalid { message, .. }) => f.error("attack.stix", message),
        Err(e) => f.error("attack.stix", e.to_string()),
    }
}

/// The store's directory can be made, and the control socket beside it reached.
fn check_store(c: &Config, f: &mut Lines) {
    let store = &c.store.path;
    if store.exists() && !store.is_dir() {
        f.error(
            "store.path",
            format!(
                "{} exists and is not a directory (sled keeps a directory)",
                store.display()
            ),
        );
    } else if store.exists() {
        f.ok(
            "store.path",
            format!("existing store at {}", store.display()),
        );
    } else {
        let ancestor = store.ancestors().skip(1).find(|a| a.exists());
        match ancestor {
            Some(a) if !a.is_dir() => {
                f.error("store.path", format!("{} is not a directory", a.display()));
            }
            _ => f.ok(
                "store.path",
                format!("{} will be created at start-up", store.display()),
            ),
        }
    }
    let socket = backup::control_socket(store);
    if socket.as_os_str().len() > 100 {
        f.warn(
            "store.path",
            format!(
                "the control socket {} is too long a path for Unix sockets: `socbot backup` cannot reach the running bot; use a shorter store.path",
                socket.display()
            ),
        );
    }
}

/// What the HTTP listener serves: probes, metrics and the alert sources.
fn check_listeners(c: &Config, f: &mut Lines) {
    match c.http.listen {
        None => f.ok(
            "http.listen",
            "off: no /healthz, /readyz or /metrics (container probes need it)",
        ),
        // Warned about by the configuration's findings.
        Some(addr) if addr.port() == 0 => {}
        Some(addr) if addr.ip().is_unspecified() => f.ok(
            "http.listen",
            format!("{addr}: reachable from other hosts; keep the port inside your network"),
        ),
        Some(addr) => f.ok("http.listen", addr.to_string()),
    }
    if c.alerts.sources.is_empty() {
        f.ok("alerts.sources", "none: POST /alerts/<source> answers 404");
    }
    for (name, source) in &c.alerts.sources {
        let escalate = source
            .escalate_at
            .map_or("never", crate::incident::event::severity_name);
        f.ok(
            "alerts.sources",
            format!(
                "{name}: POST /alerts/{name}, format {}, token set (redacted), escalate_at {escalate}",
                source.format
            ),
        );
    }
}

/// The merged values as TOML, sections in `config/default.toml`'s order, secrets redacted.
fn effective_toml(layers: &config::Config) -> String {
    use std::fmt::Write as _;
    let config::ValueKind::Table(table) = &layers.cache.kind else {
        return String::new();
    };
    let mut sections: Vec<String> = DEFAULT_TOML
        .lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
        .map(str::to_owned)
        .collect();
    let mut extra: Vec<&String> = table.keys().filter(|k| !sections.contains(k)).collect();
    extra.sort();
    sections.extend(extra.into_iter().cloned());
    let mut out = String::new();
    for section in sections {
        let Some(value) = table.get(&section) else {
            continue;
        };
        let config::ValueKind::Table(entries) = &value.kind else {
            let _ = writeln!(out, "{section} = {}", render(&section, value));
            continue;
        };
        let _ = writeln!(out, "\n[{section}]");
        let mut keys: Vec<&String> = entries.keys().collect();
        keys.sort();
        for key in keys {
            let v = &entries[key];
            let full = format!("{section}.{key}");
            let from = match v.origin() {
                Some("the environment") => "  # from the environment".to_owned(),
                Some(o) => format!("  # from {o}"),
                None => String::new(),
            };
            let _ = writeln!(out, "{key} = {}{from}", render(&full, v));
        }
    }
    out
}

/// Keys whose values are never printed.
const SECRETS: &[&str] = &["discord.token", "paging.routing_key"];

/// Whether the value of `key` must not be printed: a known secret, or a key socbot does not
/// know (a misspelt `discord.tokn`, a key from another tool) whose name suggests one.
fn is_secret(key: &str) -> bool {
    if SECRETS.contains(&key) {
        return true;
    }
    let known = {
        let mut section = "";
        DEFAULT_TOML.lines().any(|line| {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name;
                return false;
            }
            !line.starts_with('#')
                && line
                    .split_once('=')
                    .is_some_and(|(k, _)| format!("{section}.{}", k.trim()) == key)
        })
    };
    let name = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    !known
        && [
            // `tok` also catches misspellings (`tokn`); redacting an unknown key is harmless.
            "tok",
            "secret",
            "key",
            "password",
            "passwd",
            "pass",
            "credential",
            "auth",
            "cookie",
            "private",
            "dsn",
        ]
        .iter()
        .any(|w| name.contains(w))
}

fn render(key: &str, v: &config::Value) -> String {
    use config::ValueKind as K;
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match &v.kind {
        K::String(s) if is_secret(key) => {
            if s.trim().is_empty() {
                "\"\"".into()
            } else {
                "\"<redacted>\"".into()
            }
        }
        K::String(s) if key == "paging.webhook_url" => quoted(&redact_url(s)),
        K::String(s) => quoted(s),
        K::Nil => "\"\"".into(),
        K::Boolean(_) | K::I64(_) | K::I128(_) | K::U64(_) | K::U128(_) | K::Float(_)
            if is_secret(key) && !SECRETS.contains(&key) =>
        {
            "\"<redacted>\"".into()
        }
        K::Boolean(b) => b.to_string(),
        K::I64(n) => n.to_string(),
        K::I128(n) => n.to_string(),
        K::U64(n) => n.to_string(),
        K::U128(n) => n.to_string(),
        K::Float(x) => x.to_string(),
        K::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| render(key, i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        K::Table(_) => "{ … }".into(),
    }
}

/// Keeps a URL's scheme, host and port. Credentials (`user:secret@`) are dropped, and a path,
/// query or fragment, which may carry a secret (many webhook URLs do), is replaced.
fn redact_url(url: &str) -> String {
    let url = url.trim();
    if url.is_empty() {
        return String::new();
    }
    match reqwest::Url::parse(url) {
        Ok(u) if u.has_host() => {
            let mut out = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
            if let Some(port) = u.port() {
                out.push_str(&format!(":{port}"));
            }
            if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
                out.push_str("/<redacted>");
            }
            out
        }
        // Not a URL socbot could use: it may be a secret pasted into the wrong key.
        _ => "<redacted: not an http(s) URL>".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// backup and restore

pub fn backup(config: &Config, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let store_path = &config.store.path;
    let socket = backup::control_socket(store_path);
    let (bytes, how) = match backup::fetch_from_daemon(&socket)? {
        Some(bytes) => (bytes, "from the running socbot"),
        None => {
            if !store_path.exists() {
                bail!(
                    "there is no store at {} (configuration key `store.path`)",
                    store_path.display()
                );
            }
            refuse_foreign_store_as_root(store_path)?;
            let store = match Store::open(store_path) {
                Ok(s) => s,
                Err(e) if e.is_locked() => bail!(
                    "the store at {} is in use by a running socbot, but its control socket {} does not answer; check that both use the same store.path",
                    store_path.display(),
                    socket.display()
                ),
                Err(e) => return Err(e.into()),
            };
            (Snapshot::take(&store)?.encode(), "with socbot stopped")
        }
    };
    // Check what was received before writing it anywhere.
    let snapshot = Snapshot::decode(&bytes).context("the backup received is not valid")?;
    if args.file.as_os_str() == "-" {
        std::io::stdout()
            .write_all(&bytes)
            .context("cannot write the backup to standard output")?;
        eprintln!(
            "socbot: backup of {} ({how}): {}",
            store_path.display(),
            snapshot.summary()
        );
    } else {
        backup::write_file(&args.file, &bytes)?;
        println!(
            "backup of {} ({how}) written to {}: {}, {} bytes",
            store_path.display(),
            args.file.display(),
            snapshot.summary(),
            bytes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Opening a store writes files into it; as root, into a store another user owns (systemd's
/// `DynamicUser`), they would be root's and the service could no longer open it.
fn refuse_foreign_store_as_root(store: &Path) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        let me = std::fs::metadata("/proc/self").map(|m| m.uid());
        let owner = std::fs::metadata(store).map(|m| m.uid());
        if let (Ok(0), Ok(owner)) = (me, owner)
            && owner != 0
        {
            bail!(
                "the store at {} belongs to uid {owner} and socbot is not running; start socbot and back up through it, or run this as that user",
                store.display()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = store;
    Ok(())
}

pub fn restore(config: &Config, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("cannot read the backup from standard input")?;
        b
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let snapshot = Snapshot::decode(&bytes)
        .with_context(|| format!("{} cannot be restored", args.file.display()))?;
    let target = &config.store.path;
    if backup::daemon_listening(&backup::control_socket(target)) {
        bail!(
            "socbot is running on the store at {}; stop it first (systemctl stop socbot, docker compose stop socbot, or scale the StatefulSet to 0), then restore",
            target.display()
        );
    }
    let done = backup::restore(&snapshot, target)?;
    println!(
        "restored {} into {}: {}; {} incident(s), {} effect(s) waiting, {} paging deadline(s)",
        args.file.display(),
        target.display(),
        snapshot.summary(),
        done.incidents,
        done.outbox,
        done.deadlines
    );
    println!(
        "new incidents start at INC-{} (no number is given twice); buttons posted before this restore are refused, saying so",
        done.next_incident
    );
    if let Some(previous) = done.previous {
        println!(
            "the store that was there is kept at {}; delete it once the restored one is right",
            previous.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// health

/// `socbot health`: exit 0 when healthy, 1 for every other outcome (Docker's HEALTHCHECK
/// reserves exit code 2).
pub fn health(config: &Config, args: HealthArgs) -> anyhow::Result<ExitCode> {
    let listen = match args.addr.as_deref() {
        Some(addr) => crate::config::parse_listen(addr).map_err(|m| format!("--addr: {m}")),
        None => Ok(config.http.listen),
    };
    let addr = match listen {
        Ok(Some(a)) => crate::http::local_target(a),
        Ok(None) => {
            eprintln!(
                "socbot: http.listen is empty, so there is no health listener; set it (e.g. SOCBOT__HTTP__LISTEN=0.0.0.0:9184) or pass --addr"
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(m) => {
            eprintln!("socbot: {m}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let path = if args.ready { "/readyz" } else { "/healthz" };
    match crate::http::get(addr, path, Duration::from_secs(3)) {
        Ok((200, body)) => {
            print!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Ok((status, body)) => {
            print!("{body}");
            eprintln!("socbot: {path} on {addr} answered {status}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("socbot: {path} on {addr}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_that_look_secret_are_redacted_and_known_ones_are_not() {
        for key in [
            "discord.token",
            "paging.routing_key",
            "discord.tokn",
            "discord.bot_token",
            "vault.api_key",
            "paging.password",
            "db.client_secret",
        ] {
            assert!(is_secret(key), "{key}");
        }
        for key in [
            "discord.guild_id",
            "playbooks.dir",
            "paging.webhook_url",
            "discord.request_timeout_secs",
            "store.path",
            "extra.colour",
        ] {
            assert!(!is_secret(key), "{key}");
        }
    }

    #[test]
    fn webhook_urls_keep_only_their_host() {
        assert_eq!(
            redact_url("https://hooks.example.com/services/T0/B0/secret"),
            "https://hooks.example.com/<redacted>"
        );
        assert_eq!(
            redact_url("https://pager.example.com"),
            "https://pager.example.com"
        );
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn webhook_urls_lose_their_credentials() {
        for url in [
            "https://user:s3cret@pager.example.com/v2/enqueue",
            "https://user:s3cret@pager.example.com",
            "https://s3cret@pager.example.com:8443/?key=s3cret",
            "http://user:s3cret@pager.example.com#s3cret",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("s3cret"), "{url} → {shown}");
            assert!(!shown.contains("user"), "{url} → {shown}");
            assert!(!shown.contains('@'), "{url} → {shown}");
            assert!(shown.contains("pager.example.com"), "{url} → {shown}");
        }
        assert_eq!(
            redact_url("https://user:s3cret@pager.example.com/v2/enqueue"),
            "https://pager.example.com/<redacted>"
        );
        assert_eq!(
            redact_url("https://s3cret@pager.example.com:8443"),
            "https://pager.example.com:8443"
        );
        // Not a URL at all: nothing of it is shown.
        assert_eq!(redact_url("s3cret"), "<redacted: not an http(s) URL>");
    }
}
