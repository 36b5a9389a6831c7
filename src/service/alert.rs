//! Alerts in: what `POST /alerts/{source}` does with the alerts of one request. Each alert opens
//! an incident, joins the open incident its key points to, joins its source's storm incident,
//! or (resolved) is noted. Every alert of a request is written with what it causes (events,
//! effects, paging deadlines, its key in the key index) in its own transaction under the
//! incident lock; the request is answered once all of them are on disk (one group sync shared
//! with the requests waiting meanwhile).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use super::{Incidents, LibraryHandle};
use crate::alert::storm::StormWindow;
use crate::alert::{Alert, AlertStatus, ParseOptions};
use crate::config::{AlertSource, AlertsConfig};
use crate::effects::{Announcement, Effect, Notice, OutboxEntry};
use crate::incident::alert::{escalate_for_alert, open_from_alert, received};
use crate::incident::{
    AlertOutcome, AlertRecord, Event, EventKind, Incident, IncidentId, NO_TECHNIQUE,
};
use crate::store::{Batch, NewEffect, Store, StoreError, alert_key};

/// The alert card of an incident is edited at most this often.
pub const CARD_REFRESH: TimeDelta = TimeDelta::seconds(10);

/// The key under which a source's storm incident is indexed (no format key starts with NUL).
const STORM_KEY: &str = "\0storm";

/// What one alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The incident it opened or joined; None for a resolved alert that matched none.
    pub incident: Option<IncidentId>,
    pub outcome: AlertOutcome,
}

/// The alert side of the service. Cheap to clone.
#[derive(Clone)]
pub struct AlertIntake {
    incidents: Incidents,
    library: LibraryHandle,
    config: Arc<AlertsConfig>,
    clock: crate::clock::Clock,
    state: Arc<Mutex<IntakeState>>,
}

#[derive(Default)]
struct IntakeState {
    /// New incidents per source in the last minute.
    storms: HashMap<String, StormWindow>,
    /// When each incident's last card refresh was queued for.
    refresh: HashMap<u64, DateTime<Utc>>,
}

/// One alert's transaction, and what to do once it is durable.
struct Planned {
    batch: Batch,
    accepted: Accepted,
    /// The incident before (None when opened) and the new events, for the commit.
    before: Option<Incident>,
    events: Vec<Event>,
    /// Opened with no playbook: the technique to count it under.
    without_playbook: Option<String>,
}

impl AlertIntake {
    pub fn new(
        incidents: Incidents,
        library: LibraryHandle,
        config: AlertsConfig,
        clock: crate::clock::Clock,
    ) -> Self {
        Self {
            incidents,
            library,
            config: Arc::new(config),
            clock,
            state: Arc::default(),
        }
    }

    /// The configured source `name`.
    pub fn source(&self, name: &str) -> Option<&AlertSource> {
        self.config.sources.get(name)
    }

    /// `alerts.max_body_bytes`.
    pub fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }

    /// What the formats need from the configuration.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            technique_label: self.config.technique_label.clone(),
        }
    }

    fn store(&self) -> &Store {
        self.incidents.store()
    }

    /// Records `alerts` from `source` (a configured name) and everything they cause; returns
    /// once all of it is durable, with what each alert did, in order.
    pub async fn receive(
        &self,
        source: &str,
        alerts: &[Alert],
    ) -> Result<Vec<Accepted>, StoreError> {
        let Some(config) = self.source(source).cloned() else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let mut planned = Vec::with_capacity(alerts.len());
        // Each alert is written as it is decided (the next one may join the incident it
        // opened); the last write's sync covers the earlier ones and is shared with every
        // commit that waits meanwhile (group commit).
        let mut commit = self.incidents.begin().await;
        for alert in alerts {
            let mut p = self.plan(source, &config, alert, now)?;
            commit.write(
                &p.batch,
                p.before.take().map(Arc::new),
                std::mem::take(&mut p.events),
            )?;
            planned.push(p);
        }
        commit.durable().await?;
        for p in &planned {
            crate::metrics::alert(source, p.accepted.outcome.key());
            if let Some(t) = &p.without_playbook {
                crate::metrics::alert_without_playbook(t);
            }
        }
        Ok(planned.into_iter().map(|p| p.accepted).collect())
    }

    /// The open (not closed) incident `key` points to. The store keeps it folded: a storm of
    /// repeats reads only the events since the last, never the growing history.
    fn open_incident(&self, key: &[u8]) -> Result<Option<Incident>, StoreError> {
        let Some(id) = self.store().alert_incident(key)? else {
            return Ok(None);
        };
        match self.store().incident(id) {
            Ok(inc) => Ok(inc.filter(|inc| !inc.is_closed())),
            Err(StoreError::Unfoldable { why, .. }) => {
                tracing::error!(incident = id, error = %why, "the incident an alert key points to cannot be read; a new one is opened");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn plan(
        &self,
        source: &str,
        config: &AlertSource,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<Planned, StoreError> {
        let key = alert.group_key(&config.group_by);
        let index = alert_key(source, &key);
        let record = record(source, alert, key);
        let escalate = config.escalate_at.is_some_and(|at| alert.severity >= at);
        match (self.open_incident(&index)?, alert.status) {
            (Some(inc), AlertStatus::Resolved) => {
                let events = vec![received(&record, AlertOutcome::Resolved, now)];
                let effects = vec![Effect::Notice {
                    incident: inc.id.0,
                    notice: Notice::AlertResolved {
                        source: source.to_owned(),
                    },
                }];
                let refresh = self.card_refresh(inc.id.0);
                Ok(self.joined(inc, events, effects, refresh, AlertOutcome::Resolved))
            }
            (Some(inc), AlertStatus::Firing) => {
                let outcome = if inc.alerts.as_ref().is_some_and(|l| l.storm) {
                    AlertOutcome::Storm
                } else {
                    AlertOutcome::Grouped
                };
                let mut events = vec![received(&record, outcome, now)];
                let mut effects: Vec<Effect> = Vec::new();
                if escalate {
                    let up = escalate_for_alert(&inc, source, alert.severity, now);
                    effects.extend(Self::escalation_notice(inc.id, &up));
                    events.extend(up);
                }
                let refresh = self.card_refresh(inc.id.0);
                Ok(self.joined(inc, events, effects, refresh, outcome))
            }
            (None, AlertStatus::Resolved) => Ok(unmatched(&record, now)),
            (None, AlertStatus::Firing) => {
                let record = AlertRecord {
                    payload: Some(alert.payload.clone()),
                    ..record
                };
                if self.admit(source, now) {
                    self.open(alert, record, index, escalate, now)
                } else {
                    self.storm(source, record, index, now)
                }
            }
        }
    }

    /// Whether `source` may open one more incident now (else it storms).
    fn admit(&self, source: &str, now: DateTime<Utc>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .storms
            .entry(source.to_owned())
            .or_insert_with(|| StormWindow::new(self.config.max_new_incidents_per_minute))
            .admit(now)
    }

    /// A new incident for `alert`.
    fn open(
        &self,
        alert: &Alert,
        record: AlertRecord,
        index: Vec<u8>,
        escalate: bool,
        now: DateTime<Utc>,
    ) -> Result<Planned, StoreError> {
        let library = self.library.current();
        let playbook = alert
            .playbook_choice(|t| library.get(t).is_some())
            .and_then(|t| library.get(t).cloned());
        let id = IncidentId(self.store().allocate_incident_id()?);
        let (mut events, mut effects) = self.opened(
            id,
            &record,
            playbook.as_deref(),
            AlertOutcome::Opened,
            &record.title,
            now,
        );
        if playbook.is_some() {
            effects.push(Effect::PostQuestions { incident: id.0 });
        }
        let opened =
            Incident::from_stored(id, &events).expect("an incident opened from an alert folds");
        let mut batch = Batch {
            alert_keys: vec![(index, id.0)],
            opened: vec![id.0],
            ..Batch::default()
        };
        if escalate {
            let up = escalate_for_alert(&opened, &record.source, alert.severity, now);
            effects.extend(Self::escalation_notice(id, &up));
            if let Some(paging) = self.incidents.paging() {
                let changes = paging.changes_for(&opened, &up);
                effects.extend(changes.effects);
                batch.timers = changes.timers;
            }
            events.extend(up);
        }
        batch.events = events.iter().map(|e| (id.0, Store::encode(e))).collect();
        batch.effects = effects.into_iter().map(OutboxEntry::encode).collect();
        let without_playbook = playbook.is_none().then(|| {
            let t = opened.technique;
            if t == NO_TECHNIQUE {
                "none".to_owned()
            } else {
                t.to_string()
            }
        });
        tracing::info!(
            incident = %id,
            source = %record.source,
            technique = %opened.technique_text(),
            playbook = playbook.is_some(),
            "alert opened an incident"
        );
        Ok(Planned {
            batch,
            accepted: Accepted {
                incident: Some(id),
                outcome: AlertOutcome::Opened,
            },
            before: None,
            events,
            without_playbook,
        })
    }

    /// A new incident opened by an alert: its events, homed in the SOC channel, and the effects
    /// that open its thread and post its alert card; with that channel.
    fn opened(
        &self,
        id: IncidentId,
        record: &AlertRecord,
        playbook: Option<&crate::playbook::Playbook>,
        outcome: AlertOutcome,
        title: &str,
        now: DateTime<Utc>,
    ) -> (Vec<Event>, Vec<Effect>) {
        let mut events = open_from_alert(
            id,
            record,
            playbook,
            outcome,
            title,
            self.incidents.policy(),
            now,
        );
        let channel = crate::id::DiscordId::raw(self.incidents.soc_channel());
        super::incident::set_home(&mut events, channel);
        let effects = vec![
            Effect::OpenThread {
                incident: id.0,
                channel,
            },
            Effect::PostAlertCard { incident: id.0 },
        ];
        (events, effects)
    }

    /// A new alert while its source storms: it joins the source's storm incident, opened (and
    /// the SOC channel told, once) when there is none.
    fn storm(
        &self,
        source: &str,
        record: AlertRecord,
        index: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Planned, StoreError> {
        let storm_index = alert_key(source, STORM_KEY);
        if let Some(inc) = self.open_incident(&storm_index)? {
            let id = inc.id;
            let events = vec![received(&record, AlertOutcome::Storm, now)];
            let refresh = self.card_refresh(id.0);
            let mut p = self.joined(inc, events, Vec::new(), refresh, AlertOutcome::Storm);
            p.batch.alert_keys.push((index, id.0));
            return Ok(p);
        }
        let id = IncidentId(self.store().allocate_incident_id()?);
        let title = format!("Alert storm from {source}");
        let (events, mut effects) =
            self.opened(id, &record, None, AlertOutcome::Storm, &title, now);
        if let Some(channel) = self.incidents.soc_channel() {
            effects.push(Effect::Announce {
                incident: id.0,
                channel: channel.get(),
                announcement: Announcement::Storm {
                    source: source.to_owned(),
                    limit: self.config.max_new_incidents_per_minute,
                    incident: id.0,
                },
            });
        }
        tracing::warn!(incident = %id, source, "alert storm: new alerts join one incident");
        Ok(Planned {
            batch: Batch {
                events: events.iter().map(|e| (id.0, Store::encode(e))).collect(),
                effects: effects.into_iter().map(OutboxEntry::encode).collect(),
                alert_keys: vec![(index, id.0), (storm_index, id.0)],
                opened: vec![id.0],
                ..Batch::default()
            },
            accepted: Accepted {
                incident: Some(id),
                outcome: AlertOutcome::Storm,
            },
            before: None,
            events,
            without_playbook: None,
        })
    }

    /// An alert recorded on an existing incident, with the paging its events cause.
    fn joined(
        &self,
        inc: Incident,
        events: Vec<Event>,
        mut effects: Vec<Effect>,
        refresh: Option<NewEffect>,
        outcome: AlertOutcome,
    ) -> Planned {
        let id = inc.id;
        let mut batch = Batch::default();
        if let Some(paging) = self.incidents.paging() {
            let changes = paging.changes_for(&inc, &events);
            effects.extend(changes.effects);
            batch.timers = changes.timers;
            batch.cancel_timers = changes.cancel;
        }
        batch.events = events.iter().map(|e| (id.0, Store::encode(e))).collect();
        batch.effects = effects.into_iter().map(OutboxEntry::encode).collect();
        // Last: a refresh due later holds back the incident's effects queued after it.
        batch.effects.extend(refresh);
        Planned {
            batch,
            accepted: Accepted {
                incident: Some(id),
                outcome,
            },
            before: Some(inc),
            events,
            without_playbook: None,
        }
    }

    /// The notice of an escalation an alert caused.
    fn escalation_notice(id: IncidentId, events: &[Event]) -> Option<Effect> {
        events.iter().find_map(|e| match &e.kind {
            EventKind::Escalated { reason } => Some(Effect::Notice {
                incident: id.0,
                notice: Notice::Escalated {
                    why: reason.summary(),
                },
            }),
            _ => None,
        })
    }

    /// A refresh of the incident's alert card, as an outbox entry, unless one is queued
    /// already: due 10 s after the last one, or at once when that is past. The outbox runs on
    /// the system clock.
    fn card_refresh(&self, incident: u64) -> Option<NewEffect> {
        let now = Utc::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let due = match state.refresh.get(&incident) {
            Some(last) if *last > now => return None,
            Some(last) => (*last + CARD_REFRESH).max(now),
            None => now,
        };
        state.refresh.insert(incident, due);
        if state.refresh.len() > 10_000 {
            state.refresh.retain(|_, at| *at + CARD_REFRESH > now);
        }
        Some(OutboxEntry::encode_after(
            Effect::RefreshAlertCard { incident },
            due.timestamp_millis(),
        ))
    }
}

/// What is kept of an alert (its payload only when it opens an incident).
fn record(source: &str, alert: &Alert, key: String) -> AlertRecord {
    AlertRecord {
        source: source.to_owned(),
        format: alert.format,
        title: alert.title.clone(),
        severity: alert.severity,
        status: alert.status,
        techniques: alert.techniques.clone(),
        host: alert.host.clone(),
        user: alert.user.clone(),
        link: alert.link.clone(),
        rule: alert.rule.clone(),
        key,
        payload: None,
    }
}

/// A resolved alert that matched no open incident: kept on record, nothing else.
fn unmatched(record: &AlertRecord, now: DateTime<Utc>) -> Planned {
    let json = Store::encode(&serde_json::json!({
        "at": now,
        "alert": record,
    }));
    Planned {
        batch: Batch {
            unmatched_alerts: vec![json],
            ..Batch::default()
        },
        accepted: Accepted {
            incident: None,
            outcome: AlertOutcome::Resolved,
        },
        before: None,
        events: Vec::new(),
        without_playbook: None,
    }
}
