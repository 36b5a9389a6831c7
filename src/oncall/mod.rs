//! On-call and paging, pure: who is on call (a rotation over a roster, as a function of time,
//! plus overrides), the paging chain as a state machine, and the outbound webhook body. No
//! Discord, no storage, no async and no clock: `now` is always passed in.
//!
//! - [`config`]: the `[oncall]` and `[paging]` sections ([`OncallConfig`], [`PagingConfig`])
//!   and their checks; [`OncallConfig::rotation`] gives the parsed [`Rotation`].
//! - [`rotation`]: [`Rotation::on_call`], the [`Shift`] holding an instant, hand-offs at local
//!   time across daylight-saving changes.
//! - [`view`]: [`Oncall::now`] combines the rotation and the [`Override`]s into an
//!   [`OncallView`] (primary, secondary, until when, who next).
//! - [`chain`]: [`next_step`], the one next [`Step`] of an incident's paging chain (primary,
//!   re-pages, secondary, fallback role, stop), safe to replay after a restart.
//! - [`webhook`]: [`webhook_body`], a PagerDuty Events API v2 shaped body.

pub mod chain;
pub mod config;
pub mod rotation;
pub mod view;
pub mod webhook;

pub use chain::{PageState, Step, next_step};
pub use config::{ConfigProblem, OncallConfig, PagingConfig, Secondary};
pub use rotation::{Rotation, Shift, local_to_utc};
pub use view::{Oncall, OncallView, Override, OverrideError, Source};
pub use webhook::{Severity, WebhookAction, dedup_key, webhook_body};
