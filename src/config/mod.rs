//! Configuration: `config/default.toml` (compiled in), then an optional file (`--config FILE` or
//! `SOCBOT_CONFIG`), then `SOCBOT__SECTION__KEY` environment variables. Strict: an unknown key
//! is an error, and every problem names the key and says what to put there.

mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::id::DiscordId;
pub use validate::{Finding, Severity, Stage, discord_id_problem, plausible_snowflake, validate};

/// The defaults shipped in the repository, compiled into the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub playbooks: PlaybooksConfig,
    pub store: StoreConfig,
    pub discord: DiscordConfig,
    pub roles: RolesConfig,
    pub escalation: EscalationConfig,
    pub oncall: crate::oncall::OncallConfig,
    pub paging: crate::oncall::PagingConfig,
    pub outbox: OutboxConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub attack: AttackConfig,
    pub alerts: AlertsConfig,
}

/// `[attack]`: the ATT&CK catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackConfig {
    /// A STIX 2.1 bundle (MITRE's enterprise-attack.json) to use instead of the shipped
    /// catalog; empty for the shipped one.
    pub stix: String,
}

impl AttackConfig {
    /// The configured catalog: the shipped one, or the bundle at `stix` (errors name the key).
    pub fn catalog(&self) -> Result<std::sync::Arc<crate::attack::Catalog>, ConfigError> {
        if self.stix.trim().is_empty() {
            return Ok(crate::attack::Catalog::shipped());
        }
        crate::attack::Catalog::load(Path::new(self.stix.trim()))
            .map(std::sync::Arc::new)
            .map_err(|e| ConfigError::Invalid {
                key: "attack.stix".into(),
                message: format!("{e:#}"),
            })
    }
}

/// `[alerts]`: `POST /alerts/{source}` on the HTTP listener (see `crate::http::alerts`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Largest request body accepted; larger is refused with 413.
    pub max_body_bytes: usize,
    /// New incidents one source may open per minute before its alerts join a storm incident.
    pub max_new_incidents_per_minute: u32,
    /// The Alertmanager label that names the ATT&CK technique.
    pub technique_label: String,
    /// The sources, by name (the path: `/alerts/<name>`).
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, AlertSource>,
}

/// `[alerts.sources.<name>]`: one sender of alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSource {
    pub format: crate::alert::Format,
    /// The shared secret the sender presents (`Authorization: Bearer` or `?token=`). Required;
    /// set through `SOCBOT__ALERTS__SOURCES__<NAME>__TOKEN`. Never logged.
    #[serde(default = "empty_secret")]
    pub token: SecretString,
    /// From this severity on, an alert escalates its incident and pages at once.
    #[serde(default, deserialize_with = "escalate_at")]
    pub escalate_at: Option<crate::alert::Severity>,
    /// Fields whose values make the grouping key instead of the format's own key: a list, or
    /// (from an environment variable) `host,user`.
    #[serde(default, deserialize_with = "group_by")]
    pub group_by: Vec<crate::alert::group::GroupField>,
}

/// `["rule", "host"]` from TOML, or `rule,host` from an environment variable.
fn group_by<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::alert::group::GroupField>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Fields {
        List(Vec<String>),
        One(String),
    }
    let words = match Fields::deserialize(d)? {
        Fields::List(l) => l,
        Fields::One(s) => vec![s],
    };
    words
        .iter()
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

/// `""` (never), `"high"` or `"critical"`.
fn escalate_at<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::alert::Severity>, D::Error> {
    use crate::alert::Severity;
    let text = String::deserialize(d)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "high" => Ok(Some(Severity::High)),
        "critical" => Ok(Some(Severity::Critical)),
        other => Err(serde::de::Error::custom(format!(
            "`{other}` is not a severity to escalate at: put \"high\", \"critical\" or \"\" (never)"
        ))),
    }
}

impl AlertSource {
    pub fn has_token(&self) -> bool {
        !self.token.expose_secret().trim().is_empty()
    }
}
/// `[http]`: the optional health and metrics listener (see `crate::http`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `IP:port` to serve /healthz, /readyz and /metrics on; empty (None) for none.
    #[serde(deserialize_with = "listen")]
    pub listen: Option<SocketAddr>,
    /// Where the listener bound, once the daemon runs (port 0 picks a free port). Not a key.
    #[serde(skip)]
    pub bound: BoundAddr,
}

fn listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parse_listen(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Parses `http.listen` (or `socbot health --addr`): empty for off, else `IP:port`
/// (`127.0.0.1:9184`, `[::]:9184`).
pub fn parse_listen(listen: &str) -> Result<Option<SocketAddr>, String> {
    let listen = listen.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    listen.parse().map(Some).map_err(|_| {
        format!(
            "`{listen}` is not an address to listen on; put IP:port such as 127.0.0.1:9184 (this host only) or 0.0.0.0:9184 (containers), or leave it empty for no listener"
        )
    })
}

/// Where the listener actually bound (useful with port 0). Shared by clones: whoever holds the
/// configuration can read it once the daemon has started. Not a configuration key.
#[derive(Debug, Clone, Default)]
pub struct BoundAddr(Arc<Mutex<Option<SocketAddr>>>);

impl BoundAddr {
    pub fn get(&self) -> Option<SocketAddr> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, addr: Option<SocketAddr>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = addr;
    }
}

/// Who may do what, by Discord role id. An empty list lets every member, which `socbot run`
/// accepts only with `open = true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    #[serde(deserialize_with = "crate::id::list")]
    pub l1: Vec<DiscordId>,
    #[serde(deserialize_with = "crate::id::list")]
    pub t2: Vec<DiscordId>,
    /// Lets `socbot run` start with `l1` or `t2` empty (every member may): a trial server.
    #[serde(default)]
    pub open: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// The decision for playbooks without an Escalation Rule.
    pub default: crate::incident::DefaultPolicy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybooksConfig {
    pub dir: PathBuf,
    pub watch: bool,
    pub watch_interval_secs: u64,
    /// A playbook file larger than this is one error, never read.
    #[serde(default = "PlaybooksConfig::default_max_file_bytes")]
    pub max_file_bytes: u64,
}

impl PlaybooksConfig {
    fn default_max_file_bytes() -> u64 {
        crate::playbook::library::DEFAULT_MAX_FILE_BYTES
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Never logged: `SecretString`'s Debug prints `[REDACTED]`.
    pub token: SecretString,
    pub api_base: String,
    /// The one server socbot serves; `socbot run` refuses to start without it.
    #[serde(deserialize_with = "crate::id::optional")]
    pub guild_id: Option<DiscordId>,
    /// Where incident threads open; unset (0): where each incident is opened.
    #[serde(deserialize_with = "crate::id::optional")]
    pub soc_channel_id: Option<DiscordId>,
    /// The longest any REST call to Discord may take, connecting included (seconds).
    #[serde(default = "DiscordConfig::default_request_timeout")]
    pub request_timeout_secs: u64,
    /// An interaction whose answer is not ready this long after it arrived is deferred (a
    /// "thinking…" or an acknowledged press) and its answer edited in later (milliseconds).
    #[serde(default = "DiscordConfig::default_defer_after")]
    pub defer_after_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[outbox]`: how effects are delivered (see `crate::effects`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Lanes (incidents) delivered at once.
    pub concurrency: usize,
    /// Seconds an effect may keep failing before it becomes a dead letter.
    pub dead_letter_after: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

/// A configuration problem, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl DiscordConfig {
    pub const DEFAULT_API_BASE: &str = "https://discord.com";

    fn default_request_timeout() -> u64 {
        10
    }

    fn default_defer_after() -> u64 {
        1500
    }

    /// How long an interaction's answer may take before the interaction is deferred.
    pub fn defer_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.defer_after_ms)
    }

    /// The total timeout of one REST call.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout_secs.max(1))
    }

    /// The connect timeout of one REST call: 5 s, or less when the total is shorter.
    pub fn connect_timeout(&self) -> std::time::Duration {
        self.request_timeout()
            .min(std::time::Duration::from_secs(5))
    }

    /// True when pointed at something other than Discord (a test server).
    pub fn is_custom_api(&self) -> bool {
        self.api_base.trim_end_matches('/') != Self::DEFAULT_API_BASE
    }

    pub fn has_token(&self) -> bool {
        !self.token.expose_secret().trim().is_empty()
    }
}

impl Config {
    /// Loads defaults, then `file` (or `SOCBOT_CONFIG` when `file` is None), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let cfg = Self::parse(Self::layers(file, env)?)?;
        match validate(&cfg).into_iter().find(Finding::refuses_loading) {
            Some(f) => Err(ConfigError::Invalid {
                key: f.key,
                message: f.message,
            }),
            None => Ok(cfg),
        }
    }

    /// The values of `layers`, typed (ids, addresses), before [`validate`] checks them.
    pub fn parse(layers: config::Config) -> Result<Self, ConfigError> {
        layers
            .try_deserialize()
            .map_err(|e| ConfigError::Load(explain(&e)))
    }

    /// The merged layers (defaults, file, environment) as raw values, before they are checked:
    /// what `socbot config check` prints.
    pub fn layers(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<config::Config, ConfigError> {
        use config::{Environment, File, FileFormat};
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("SOCBOT_CONFIG").map(PathBuf::from));
        let mut builder =
            config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist; pass an existing file to --config or SOCBOT_CONFIG",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SOCBOT__"))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("SOCBOT")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        );
        builder.build().map_err(|e| ConfigError::Load(explain(&e)))
    }
}

/// The config crate's messages name the key; add what to do.
fn explain(e: &config::ConfigError) -> String {
    let msg = e.to_string();
    if msg.contains("unknown field") {
        format!("{msg}; remove it or check its spelling against config/default.toml")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn shipped_defaults_parse() {
        let cfg = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(cfg.playbooks.dir, PathBuf::from("playbooks"));
        assert!(!cfg.discord.has_token());
        assert!(!cfg.discord.is_custom_api());
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__PLAYBOOKS__DIR", "/srv/pb"),
                ("SOCBOT__DISCORD__GUILD_ID", "123456789012345678"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.playbooks.dir, PathBuf::from("/srv/pb"));
        assert_eq!(
            cfg.discord.guild_id,
            DiscordId::new(123_456_789_012_345_678)
        );
        let unset =
            Config::load_with_env(None, env(&[("SOCBOT__DISCORD__GUILD_ID", "0")])).unwrap();
        assert_eq!(unset.discord.guild_id, None);
    }

    #[test]
    fn role_lists_come_from_comma_separated_variables() {
        let one = Config::load_with_env(None, env(&[("SOCBOT__ROLES__T2", "33")])).unwrap();
        assert_eq!(
            one.roles.t2,
            DiscordId::new(33).into_iter().collect::<Vec<_>>()
        );
        let bad = Config::load_with_env(None, env(&[("SOCBOT__ROLES__T2", "33,ops")])).unwrap_err();
        assert!(
            bad.to_string().contains("`ops` is not a Discord id"),
            "{bad}"
        );
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__ROLES__L1", "11,22"),
                ("SOCBOT__ESCALATION__DEFAULT", "at-least-2"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.roles.l1, [11, 22].map(|n| DiscordId::new(n).unwrap()));
        assert!(cfg.roles.t2.is_empty());
        assert_eq!(cfg.escalation.default.to_string(), "at-least-2");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::load_with_env(None, env(&[("SOCBOT__DISCORD__GUILD_ID", "general")]))
            .unwrap_err();
        assert!(err.to_string().contains("discord.guild_id"), "{err}");
        let err = Config::load_with_env(None, env(&[("SOCBOT__DISCORD__API_BASE", "discord.com")]))
            .unwrap_err();
        assert!(err.to_string().contains("discord.api_base"), "{err}");
    }

    #[test]
    fn an_alert_source_without_a_token_stops_loading_naming_the_key() {
        let err = Config::load_with_env(
            None,
            env(&[("SOCBOT__ALERTS__SOURCES__WAZUH__FORMAT", "wazuh")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("configuration key `alerts.sources.wazuh.token`: empty"),
            "{err}"
        );
        assert!(
            err.contains("SOCBOT__ALERTS__SOURCES__WAZUH__TOKEN"),
            "{err}"
        );
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__ALERTS__SOURCES__WAZUH__FORMAT", "wazuh"),
                (
                    "SOCBOT__ALERTS__SOURCES__WAZUH__TOKEN",
                    "s3cret-s3cret-s3cret",
                ),
                ("SOCBOT__ALERTS__SOURCES__WAZUH__ESCALATE_AT", "critical"),
            ]),
        )
        .unwrap();
        let source = &cfg.alerts.sources["wazuh"];
        assert_eq!(source.escalate_at, Some(crate::alert::Severity::Critical));
        let grouped = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__ALERTS__SOURCES__EDR__FORMAT", "generic"),
                (
                    "SOCBOT__ALERTS__SOURCES__EDR__TOKEN",
                    "s3cret-s3cret-s3cret",
                ),
                ("SOCBOT__ALERTS__SOURCES__EDR__GROUP_BY", "rule, host"),
            ]),
        )
        .unwrap();
        use crate::alert::group::GroupField;
        assert_eq!(
            grouped.alerts.sources["edr"].group_by,
            vec![GroupField::Rule, GroupField::Host]
        );
        let err = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__ALERTS__SOURCES__EDR__FORMAT", "generic"),
                (
                    "SOCBOT__ALERTS__SOURCES__EDR__TOKEN",
                    "s3cret-s3cret-s3cret",
                ),
                ("SOCBOT__ALERTS__SOURCES__EDR__GROUP_BY", "hostname"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("hostname"), "{err}");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let err = Config::load_with_env(
            None,
            env(&[
                ("SOCBOT__ALERTS__SOURCES__WAZUH__FORMAT", "wazuh"),
                (
                    "SOCBOT__ALERTS__SOURCES__WAZUH__TOKEN",
                    "s3cret-s3cret-s3cret",
                ),
                ("SOCBOT__ALERTS__SOURCES__WAZUH__ESCALATE_AT", "medium"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("escalate_at") && err.contains("\"critical\""),
            "{err}"
        );
    }

    #[test]
    fn listen_is_off_or_an_ip_and_port() {
        assert_eq!(parse_listen("").unwrap(), None);
        assert_eq!(
            parse_listen(" 127.0.0.1:9184 ").unwrap(),
            Some("127.0.0.1:9184".parse().unwrap())
        );
        assert!(parse_listen("[::]:0").unwrap().is_some());
        let err = parse_listen("localhost").unwrap_err();
        assert!(err.contains("127.0.0.1:9184"), "{err}");
        let err = Config::load_with_env(None, env(&[("SOCBOT__HTTP__LISTEN", "everywhere")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("http.listen") && err.contains("`everywhere`"),
            "{err}"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let cfg = Config::load_with_env(
            None,
            env(&[("SOCBOT__DISCORD__TOKEN", "very.secret.token")]),
        )
        .unwrap();
        assert!(cfg.discord.has_token());
        assert!(!format!("{cfg:?}").contains("very.secret"));
    }

    #[test]
    fn ids_in_a_file_may_be_strings_and_zero_is_unset() {
        let dir = std::env::temp_dir().join(format!("socbot-cfg-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ids.toml");
        std::fs::write(
            &file,
            "[discord]\nguild_id = \"1100000000000000001\"\nsoc_channel_id = 0\n[roles]\nl1 = [\"11\", 22]\nt2 = \"33,44\"\n[oncall]\nfallback_role = \"\"\n",
        )
        .unwrap();
        let cfg = Config::load_with_env(Some(&file), env(&[])).unwrap();
        let id = |n| DiscordId::new(n).unwrap();
        assert_eq!(cfg.discord.guild_id, Some(id(1_100_000_000_000_000_001)));
        assert_eq!(cfg.discord.soc_channel_id, None);
        assert_eq!(cfg.roles.l1, [id(11), id(22)]);
        assert_eq!(cfg.roles.t2, [id(33), id(44)]);
        assert_eq!(cfg.oncall.fallback_role, None);
        std::fs::write(&file, "[roles]\nl1 = [5, 0]\n").unwrap();
        let err = Config::load_with_env(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("roles.l1") && err.contains("0 is not a Discord id"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_file_layer_with_an_unknown_key_is_refused() {
        let dir = std::env::temp_dir().join(format!("socbot-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[playbooks]\ndirr = \"x\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dirr") && err.contains("config/default.toml"),
            "{err}"
        );
    }
}
