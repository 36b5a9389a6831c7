//! The serenity adapter: connects to the gateway, registers the slash commands, turns
//! interactions into service commands and replies into messages within Discord's limits.

pub mod answer;
pub mod attack;
pub mod commands;
pub mod handler;
pub mod incident;
pub mod port;
pub mod posted;
pub mod render;
pub mod reply;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use secrecy::ExposeSecret;
use serenity::all::{ClientBuilder, GatewayIntents, GuildId, Http, HttpBuilder};
use tracing::{info, warn};

/// How long shutdown waits for the gateway to close, then for the client to end.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

use crate::config::DiscordConfig;
use crate::service::Service;

/// The REST client: every call to Discord has a connect and a total timeout
/// (`discord.request_timeout_secs`), so a call that hangs ends as a retryable error.
pub fn rest_client(config: &DiscordConfig) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout())
        .timeout(config.request_timeout())
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for Discord: {e}"))
}

/// Connects and serves until `shutdown` resolves, then closes the gateway cleanly. `build` makes
/// the service once the REST client exists (the outbox delivers through it), with the thread
/// list the gateway fills.
pub async fn serve(
    config: &DiscordConfig,
    build: impl FnOnce(Arc<Http>, Arc<port::KnownThreads>) -> Service,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    // serenity's own client has no timeout: one hung call would hold up whatever waits on it.
    let mut http = HttpBuilder::new(config.token.expose_secret()).client(rest_client(config)?);
    if config.is_custom_api() {
        // serenity's ratelimiter would send requests to discord.com whatever the proxy says
        // (serenity issue #1739), so it is off when pointed elsewhere; the caller retries 429s.
        info!(api_base = %config.api_base, "using a Discord-compatible server");
        http = http
            .proxy(config.api_base.trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    let service = Arc::new(OnceLock::new());
    let known_threads = Arc::new(port::KnownThreads::default());
    let handler = handler::Handler {
        known_threads: known_threads.clone(),
        service: service.clone(),
        guild: config.guild_id.map(|g| GuildId::new(g.get())),
        seen: handler::Seen::default(),
        followups: answer::Followups::default(),
        defer_after: config.defer_after(),
    };
    let mut client = ClientBuilder::new_with_http(http.build(), GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the Discord client: {e}"))?;
    let _ = service.set(build(client.http.clone(), known_threads));
    let shards = client.shard_manager.clone();
    let mut running = tokio::spawn(async move { client.start().await });
    tokio::select! {
        result = &mut running => {
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("Discord connection ended: {e}")),
                Err(e) => Err(anyhow::anyhow!("Discord client task failed: {e}")),
            };
        }
        () = shutdown => {}
    }
    info!("shutting down: closing the Discord gateway");
    // Bounded: while serenity is connecting or re-queueing a shard that cannot reach the
    // gateway, neither closing nor the client's task would end (issue: SIGTERM ignored until
    // SIGKILL). What is in flight in the store is committed by the daemon after this returns.
    if tokio::time::timeout(SHUTDOWN_GRACE, shards.shutdown_all())
        .await
        .is_err()
    {
        warn!("the Discord gateway did not close in time; leaving it");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut running)
        .await
        .is_err()
    {
        warn!("the Discord client was still connecting; stopped");
        running.abort();
    }
    Ok(())
}
