//! The outbound webhook body, shaped like a PagerDuty Events API v2 event, so a phone-grade
//! pager (PagerDuty, or anything that speaks its format) can take it. One `dedup_key` per
//! incident: every page of the chain updates the same alert there, and the acknowledgement and
//! the closing acknowledge and resolve it.
//!
//! ```json
//! {"routing_key": "…", "event_action": "trigger", "dedup_key": "socbot-INC-12",
//!  "client": "socbot",
//!  "payload": {"summary": "INC-12 · T1583.003 · odd VPS", "source": "socbot",
//!              "severity": "critical",
//!              "custom_details": {"incident": "INC-12", "level": "primary", "attempt": 1,
//!                                 "target": "user 42", "target_id": "42"}}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::chain::Step;
use crate::incident::{PageLevel, PageTarget};

/// PagerDuty's `payload.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// What the webhook tells the pager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookAction {
    /// A page of the chain (`event_action: "trigger"`).
    Trigger {
        level: PageLevel,
        target: PageTarget,
        attempt: u32,
    },
    /// The page was acknowledged.
    Acknowledge,
    /// The incident was closed (or the chain stopped and the alert should end).
    Resolve,
}

impl WebhookAction {
    /// The trigger for a [`Step::Page`]; None for the other steps.
    pub fn for_step(step: &Step) -> Option<Self> {
        match step {
            Step::Page {
                level,
                target,
                attempt,
                ..
            } => Some(Self::Trigger {
                level: *level,
                target: *target,
                attempt: *attempt,
            }),
            Step::Wait { .. } | Step::Stop { .. } | Step::Nothing => None,
        }
    }

    pub const fn event_action(self) -> &'static str {
        match self {
            Self::Trigger { .. } => "trigger",
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
        }
    }
}

/// PagerDuty's limit on `payload.summary`.
pub const SUMMARY_MAX: usize = 1024;

/// The deduplication key of an incident: `socbot-INC-12` for `INC-12`.
pub fn dedup_key(incident_id: &str) -> String {
    format!("socbot-{}", incident_id.trim())
}

/// The body to POST for one action on an incident. `incident_id` is its display form
/// (`INC-12`); `summary` is cut to 1024 characters; `source` names where it comes from (the bot
/// or its host; `socbot` when blank). `acknowledge` and `resolve` carry no payload, as the
/// Events API v2 wants. Ids are strings in `custom_details` (64-bit ids lose precision as JSON
/// numbers in JavaScript).
pub fn webhook_body(
    routing_key: &str,
    incident_id: &str,
    summary: &str,
    severity: Severity,
    action: WebhookAction,
    source: &str,
) -> Value {
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action.event_action(),
        "dedup_key": dedup_key(incident_id),
        "client": "socbot",
    });
    if let WebhookAction::Trigger {
        level,
        target,
        attempt,
    } = action
    {
        let target_id = match target {
            PageTarget::User(id) | PageTarget::Role(id) => id,
        };
        let summary = summary.trim();
        let summary = if summary.is_empty() {
            format!("{} escalated", incident_id.trim())
        } else {
            cut(summary, SUMMARY_MAX)
        };
        let source = Some(source.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("socbot");
        body["payload"] = json!({
            "summary": summary,
            "source": source,
            "severity": severity.as_str(),
            "custom_details": {
                "incident": incident_id.trim(),
                "level": level, // its stored name: primary, secondary, role
                "attempt": attempt,
                "target": target.to_string(),
                "target_id": target_id.to_string(),
            },
        });
    }
    body
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn trigger_body_has_the_events_v2_shape() {
        let deadline: DateTime<Utc> = "2026-03-02T10:10:00Z".parse().unwrap();
        let step = Step::Page {
            level: PageLevel::Primary,
            target: PageTarget::User(1_234_567_890_123_456_789),
            attempt: 2,
            deadline,
        };
        let action = WebhookAction::for_step(&step).unwrap();
        let body = webhook_body(
            "RK",
            "INC-12",
            "INC-12 · T1583.003 · odd VPS",
            Severity::Critical,
            action,
            "soc-bot-1",
        );
        assert_eq!(
            body,
            json!({
                "routing_key": "RK",
                "event_action": "trigger",
                "dedup_key": "socbot-INC-12",
                "client": "socbot",
                "payload": {
                    "summary": "INC-12 · T1583.003 · odd VPS",
                    "source": "soc-bot-1",
                    "severity": "critical",
                    "custom_details": {
                        "incident": "INC-12",
                        "level": "primary",
                        "attempt": 2,
                        "target": "user 1234567890123456789",
                        "target_id": "1234567890123456789",
                    }
                }
            })
        );
    }

    #[test]
    fn every_step_of_a_chain_shares_the_dedup_key() {
        let keys: Vec<Value> = [
            WebhookAction::Trigger {
                level: PageLevel::Primary,
                target: PageTarget::User(1),
                attempt: 1,
            },
            WebhookAction::Trigger {
                level: PageLevel::Role,
                target: PageTarget::Role(9),
                attempt: 1,
            },
            WebhookAction::Acknowledge,
            WebhookAction::Resolve,
        ]
        .into_iter()
        .map(|a| webhook_body("k", "INC-3", "s", Severity::Warning, a, "")["dedup_key"].clone())
        .collect();
        assert!(keys.iter().all(|k| k == "socbot-INC-3"), "{keys:?}");
    }

    #[test]
    fn acknowledge_and_resolve_carry_no_payload() {
        for (a, name) in [
            (WebhookAction::Acknowledge, "acknowledge"),
            (WebhookAction::Resolve, "resolve"),
        ] {
            let body = webhook_body("k", "INC-3", "s", Severity::Info, a, "x");
            assert_eq!(body["event_action"], name);
            assert!(body.get("payload").is_none());
        }
        assert_eq!(WebhookAction::for_step(&Step::Nothing), None);
        assert_eq!(
            WebhookAction::for_step(&Step::Stop { why: "w".into() }),
            None
        );
    }

    #[test]
    fn summary_and_source_are_made_acceptable() {
        let a = WebhookAction::Trigger {
            level: PageLevel::Secondary,
            target: PageTarget::User(5),
            attempt: 1,
        };
        let long = "é".repeat(2000);
        let body = webhook_body("k", "INC-4", &long, Severity::Error, a, "  ");
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), SUMMARY_MAX);
        assert!(summary.ends_with('…'));
        assert_eq!(body["payload"]["source"], "socbot");
        assert_eq!(body["payload"]["severity"], "error");
        assert_eq!(body["payload"]["custom_details"]["level"], "secondary");
        let body = webhook_body("k", "INC-4", " ", Severity::Error, a, "x");
        assert_eq!(body["payload"]["summary"], "INC-4 escalated");
        assert_eq!(serde_json::to_value(Severity::Warning).unwrap(), "warning");
    }
}
