//! Every rule a loaded configuration is checked against, in one place: [`validate`] returns all
//! findings, each an error or a warning naming its key. Loading refuses the first
//! [`Stage::Load`] error (no command can work with it); `socbot run` refuses the first error of
//! either stage and logs the warnings; `socbot config check` prints them all.

use secrecy::ExposeSecret;

use super::Config;
use crate::id::DiscordId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// Who a finding stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A value no command can work with: loading the configuration refuses it.
    Load,
    /// A value only the bot (`socbot run`) needs right: it refuses to start on such an error;
    /// the console and the offline commands work.
    Run,
}

/// One thing said about the configuration: `configuration key `{key}`: {message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub stage: Stage,
    /// The full key, `section.key` (`alerts.sources.<name>.token`).
    pub key: String,
    /// What is wrong and what to put there.
    pub message: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// An error that stops every command, not only `socbot run`.
    pub fn refuses_loading(&self) -> bool {
        self.is_error() && self.stage == Stage::Load
    }
}

struct Findings {
    stage: Stage,
    out: Vec<Finding>,
}

impl Findings {
    fn push(&mut self, severity: Severity, key: impl Into<String>, message: impl Into<String>) {
        self.out.push(Finding {
            severity,
            stage: self.stage,
            key: key.into(),
            message: message.into(),
        });
    }

    fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, key, message);
    }

    fn warn(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, key, message);
    }

    /// An error when `id` cannot be the id of a Discord `what`.
    fn id(&mut self, key: &str, what: &str, id: DiscordId) {
        if let Some(message) = discord_id_problem(what, id) {
            self.error(key, message);
        }
    }
}

/// Every finding about `c`: the values each key must have (errors that stop loading), then what
/// `socbot run` needs (its errors stop the bot) and what is likely a mistake (warnings).
pub fn validate(c: &Config) -> Vec<Finding> {
    let mut f = Findings {
        stage: Stage::Load,
        out: Vec::new(),
    };
    limits(c, &mut f);
    oncall_and_paging(c, &mut f);
    log_level(c, &mut f);
    alerts(c, &mut f);
    f.stage = Stage::Run;
    discord(c, &mut f);
    roles(c, &mut f);
    oncall_ids(c, &mut f);
    run_warnings(c, &mut f);
    f.out
}

/// Numbers and URLs with a range.
fn limits(c: &Config, f: &mut Findings) {
    let base = c.discord.api_base.trim();
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        f.error(
            "discord.api_base",
            format!("`{base}` is not an http(s) URL; leave it at https://discord.com"),
        );
    }
    let ranges: [(&str, bool, &str); 7] = [
        (
            "discord.request_timeout_secs",
            (1..=300).contains(&c.discord.request_timeout_secs),
            "must be 1 to 300 (seconds); 10 is usual",
        ),
        (
            "discord.defer_after_ms",
            c.discord.defer_after_ms <= 2500,
            "must be 0 to 2500 (milliseconds; Discord drops an interaction not answered within 3 s); 1500 is usual",
        ),
        (
            "outbox.concurrency",
            (1..=64).contains(&c.outbox.concurrency),
            "must be 1 to 64 (lanes delivered at once); 8 is usual",
        ),
        (
            "outbox.dead_letter_after",
            c.outbox.dead_letter_after > 0,
            "must be at least 1 (seconds); 3600 is usual",
        ),
        (
            "playbooks.max_file_bytes",
            c.playbooks.max_file_bytes >= 1024,
            "must be at least 1024 (bytes); 1048576 (1 MiB) is the default",
        ),
        (
            "playbooks.watch_interval_secs",
            c.playbooks.watch_interval_secs > 0,
            "must be at least 1 (seconds)",
        ),
        (
            "alerts.max_body_bytes",
            c.alerts.max_body_bytes > 0,
            "must be at least 1 (bytes); the default is 1048576 (1 MiB)",
        ),
    ];
    for (key, ok, message) in ranges {
        if !ok {
            f.error(key, message);
        }
    }
    if c.alerts.max_new_incidents_per_minute == 0 {
        f.error(
            "alerts.max_new_incidents_per_minute",
            "must be at least 1; the default is 20",
        );
    }
}

fn oncall_and_paging(c: &Config, f: &mut Findings) {
    for problem in [c.oncall.validate().err(), c.paging.validate().err()]
        .into_iter()
        .flatten()
    {
        f.error(problem.key, problem.message);
    }
}

fn log_level(c: &Config, f: &mut Findings) {
    let level = c.log.level.trim();
    // A bare word must be a level: `infoo` would otherwise filter for a module of that name.
    let bare_word_not_a_level = !level.contains(['=', ',', ':'])
        && !["off", "error", "warn", "info", "debug", "trace"]
            .contains(&level.to_ascii_lowercase().as_str());
    if bare_word_not_a_level || tracing_subscriber::EnvFilter::try_new(level).is_err() {
        f.error(
            "log.level",
            format!(
                "`{}` is not a log level; put error, warn, info, debug or trace (or a filter such as info,socbot=debug)",
                c.log.level
            ),
        );
    }
}

/// Every alert source needs a token and a name that can be a URL path segment.
fn alerts(c: &Config, f: &mut Findings) {
    for (name, source) in &c.alerts.sources {
        let good_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !good_name {
            f.error(
                format!("alerts.sources.{name}"),
                "a source name is the URL path /alerts/<name>: use lower-case letters, digits, - and _",
            );
        }
        if !source.has_token() {
            f.error(
                format!("alerts.sources.{name}.token"),
                format!(
                    "empty: every alert source needs a token its sender presents; set SOCBOT__ALERTS__SOURCES__{}__TOKEN to a long random string",
                    name.to_ascii_uppercase().replace('-', "_")
                ),
            );
        }
    }
}

/// The server and the SOC channel: a wrong id would only show up as Discord refusing requests
/// once connected. The server is required (a SOC bot serves its own server, nothing to any
/// other); without a SOC channel incident cards go where each incident is opened.
fn discord(c: &Config, f: &mut Findings) {
    let d = &c.discord;
    if d.has_token() {
        let token = d.token.expose_secret().trim();
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            f.warn(
                "discord.token",
                "does not look like a bot token (three parts separated by dots); copy it again from the Bot page",
            );
        }
    } else {
        f.warn(
            "discord.token",
            "empty: `socbot run` refuses to start without it; set SOCBOT__DISCORD__TOKEN",
        );
    }
    if d.is_custom_api() {
        f.warn(
            "discord.api_base",
            format!(
                "{} is not Discord; change it only for a test server",
                d.api_base
            ),
        );
    }
    match d.guild_id {
        None => f.error(
            "discord.guild_id",
            "not set; socbot serves one Discord server and refuses every other: put your server's id (SOCBOT__DISCORD__GUILD_ID; in Discord turn on Developer Mode, then right-click the server → Copy ID)",
        ),
        Some(id) => f.id("discord.guild_id", "server", id),
    }
    match d.soc_channel_id {
        None => f.warn(
            "discord.soc_channel_id",
            "not set: incident cards go to the channel where each incident is opened",
        ),
        Some(id) => f.id("discord.soc_channel_id", "channel", id),
    }
}

/// Who may do what must be said: with `roles.l1` or `roles.t2` empty every member of the server
/// could open, close and acknowledge, so `socbot run` refuses unless `roles.open = true` says
/// that is meant (a trial server); then it warns at every start.
fn roles(c: &Config, f: &mut Findings) {
    let roles = &c.roles;
    for (key, ids, tier) in [
        ("roles.l1", &roles.l1, "open, answer and escalate incidents"),
        (
            "roles.t2",
            &roles.t2,
            "close incidents, acknowledge pages and override the on-call rotation",
        ),
    ] {
        if ids.is_empty() && roles.open {
            f.warn(
                key,
                format!(
                    "roles.open = true and {key} is empty: every member of the server may {tier}"
                ),
            );
        } else if ids.is_empty() {
            f.error(
                key,
                format!(
                    "empty: every member of the server could {tier}; put the role ids allowed to (SOCBOT__{}=id,id), or set roles.open = true for a trial server open to all",
                    key.to_ascii_uppercase().replace('.', "__")
                ),
            );
        }
        for &id in ids {
            f.id(key, "role", id);
        }
        if c.discord.guild_id.is_some_and(|g| ids.contains(&g)) {
            f.warn(
                key,
                "holds the server's id, which is the @everyone role: every member passes",
            );
        }
    }
}

fn oncall_ids(c: &Config, f: &mut Findings) {
    for &id in &c.oncall.roster {
        f.id("oncall.roster", "user", id);
    }
    if let crate::oncall::Secondary::User(id) = c.oncall.secondary {
        f.id("oncall.secondary", "user", id);
    }
    if let Some(id) = c.oncall.fallback_role {
        f.id("oncall.fallback_role", "role", id);
    }
    if c.oncall.roster.is_empty() && c.oncall.fallback_role.is_none() {
        f.warn(
            "oncall.roster",
            "empty and no oncall.fallback_role: an escalation pages nobody unless someone sets an override with /oncall override",
        );
    }
}

/// Values that work but are likely a mistake.
fn run_warnings(c: &Config, f: &mut Findings) {
    if c.paging.ack_timeout_secs < 60 {
        f.warn(
            "paging.ack_timeout_secs",
            format!(
                "{} s is very short to acknowledge a page; 300 to 900 is usual",
                c.paging.ack_timeout_secs
            ),
        );
    }
    if c.paging.webhook().is_some_and(|u| u.starts_with("http://")) {
        f.warn(
            "paging.webhook_url",
            "is plain http: pages and the routing key cross the network unencrypted",
        );
    }
    if c.http.listen.is_some_and(|a| a.port() == 0) {
        f.warn(
            "http.listen",
            "port 0 picks a free port at each start; probes and Prometheus cannot find it",
        );
    }
    if c.http.listen.is_none() && !c.alerts.sources.is_empty() {
        f.warn(
            "alerts.sources",
            "alert sources are configured but `http.listen` is empty: nothing receives them; set http.listen (e.g. 0.0.0.0:9184)",
        );
    }
    for (name, source) in &c.alerts.sources {
        if source.has_token() && source.token.expose_secret().trim().len() < 16 {
            f.warn(
                "alerts.sources",
                format!("{name}: the token is short; use 16 or more random characters (e.g. openssl rand -hex 24)"),
            );
        }
    }
}

/// Discord's epoch (2015-01-01) in ms: a snowflake's top 42 bits count ms from it.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// Whether `id` looks like a real Discord id: a snowflake made between Discord's launch and now.
/// Catches a role *name*'s digits, a truncated paste or a made-up number.
pub fn plausible_snowflake(id: DiscordId) -> bool {
    let id = id.get();
    let made = DISCORD_EPOCH_MS + (id >> 22) as i64;
    // The oldest ids are from early 2015 (~4e16); allow a day of clock skew ahead.
    id >= 10_000_000_000_000_000 && made <= chrono::Utc::now().timestamp_millis() + 86_400_000
}

/// What is wrong with `id` as the id of a Discord `what` (server, channel, role, user), if
/// anything: one line saying where to find the right one.
pub fn discord_id_problem(what: &str, id: DiscordId) -> Option<String> {
    (!plausible_snowflake(id)).then(|| {
        format!(
            "{id} is not a Discord {what} id (17 to 20 digits); in Discord turn on Developer Mode, then right-click the {what} → Copy ID"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plausible(id: u64) -> bool {
        plausible_snowflake(DiscordId::new(id).unwrap())
    }

    #[test]
    fn snowflakes_are_checked_for_shape_and_time() {
        assert!(plausible(1_300_000_000_000_000_011));
        assert!(plausible(41_771_983_423_143_936));
        assert!(!plausible(12));
        assert!(!plausible(123_456_789));
        assert!(!plausible(u64::MAX), "from the far future");
    }

    #[test]
    fn a_listener_on_port_0_is_warned_about_where_run_and_config_check_see_it() {
        let mut cfg = Config::load_with_env(None, []).unwrap();
        let warned = |cfg: &Config| {
            validate(cfg)
                .iter()
                .any(|f| f.key == "http.listen" && !f.is_error() && f.message.contains("port 0"))
        };
        cfg.http.listen = Some("127.0.0.1:0".parse().unwrap());
        assert!(warned(&cfg));
        cfg.http.listen = Some("127.0.0.1:9184".parse().unwrap());
        assert!(!warned(&cfg));
    }

    #[test]
    fn an_unset_id_is_said_to_be_not_set_never_0() {
        let cfg = Config::load_with_env(None, []).unwrap();
        assert_eq!(cfg.discord.soc_channel_id, None);
        let said: Vec<String> = validate(&cfg)
            .into_iter()
            .filter(|f| f.key.starts_with("discord.") && f.key.ends_with("_id"))
            .map(|f| f.message)
            .collect();
        assert_eq!(said.len(), 2, "{said:?}");
        for message in said {
            assert!(message.starts_with("not set"), "{message}");
        }
    }

    #[test]
    fn every_finding_is_returned_not_only_the_first() {
        let cfg = Config::load_with_env(
            None,
            [
                ("SOCBOT__DISCORD__GUILD_ID", "12"),
                ("SOCBOT__DISCORD__SOC_CHANNEL_ID", "999"),
                ("SOCBOT__ROLES__T2", "42"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .expect("ids that only `socbot run` needs right do not stop loading");
        let mut bad = cfg.clone();
        bad.outbox.concurrency = 0;
        bad.log.level = "loud".into();
        let findings = validate(&bad);
        let errors: Vec<&str> = findings
            .iter()
            .filter(|f| f.is_error())
            .map(|f| f.key.as_str())
            .collect();
        assert_eq!(
            errors,
            [
                "outbox.concurrency",
                "log.level",
                "discord.guild_id",
                "discord.soc_channel_id",
                "roles.l1",
                "roles.t2"
            ]
        );
        assert!(
            findings
                .iter()
                .any(|f| f.key == "oncall.roster" && !f.is_error())
        );
        let first = findings.iter().find(|f| f.refuses_loading()).unwrap();
        assert_eq!(first.key, "outbox.concurrency");
        assert!(validate(&cfg).iter().all(|f| !f.refuses_loading()));
    }
}
