//! What a legacy session asked for that its sealed id cannot carry: its log
//! level (`logging/setLevel`), its resource subscriptions
//! (`resources/subscribe`), and the tasks its calls created (whose
//! `notifications/tasks` its stream gets).
//!
//! Both are per replica, like the questions a replica asks: a session whose
//! requests reach several replicas needs affinity for these to follow it. An
//! entry costs nothing until the session uses either, is dropped when the
//! session is deleted or its SSE stream closes, and the least recently used one
//! is dropped when [`MAX_SESSIONS`] have some (its subscriptions are then
//! released like an unsubscribe).

#![allow(deprecated)] // Logging is deprecated by the 2026-07-28 revision but still relayed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rmcp::model::{LoggingLevel, ServerNotification};

use crate::upstream::logging::LogInterest;

/// Most sessions with a level or subscriptions remembered per endpoint.
pub(super) const MAX_SESSIONS: usize = 100_000;

/// Most unfinished tasks remembered per session; beyond, the oldest is forgotten (its notices
/// no longer reach the session, which can still poll it).
pub(super) const MAX_TASKS_PER_SESSION: usize = 256;

struct Prefs {
    level: Option<LoggingLevel>,
    /// Resource URIs as the client knows them.
    subscriptions: HashSet<String>,
    /// Ids (as the client knows them) of tasks its calls created that have not ended, oldest
    /// first.
    tasks: VecDeque<String>,
    used: Instant,
}

impl Default for Prefs {
    fn default() -> Self {
        Self {
            level: None,
            subscriptions: HashSet::new(),
            tasks: VecDeque::new(),
            used: Instant::now(),
        }
    }
}

/// The sessions' levels and subscriptions, by session id.
pub(super) struct SessionPrefs {
    sessions: Mutex<HashMap<Arc<str>, Prefs>>,
    limit: usize,
}

impl Default for SessionPrefs {
    fn default() -> Self {
        Self::with_limit(MAX_SESSIONS)
    }
}

/// Subscriptions of a session that was forgotten, to be released upstream.
pub(super) type Released = Vec<String>;

impl SessionPrefs {
    fn with_limit(limit: usize) -> Self {
        Self {
            sessions: Mutex::default(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Prefs>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `session`'s entry, made if needed; a new one may push out the least recently used.
    fn entry<'a>(
        sessions: &'a mut HashMap<Arc<str>, Prefs>,
        limit: usize,
        session: &str,
        released: &mut Released,
    ) -> &'a mut Prefs {
        if !sessions.contains_key(session) && sessions.len() >= limit {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, p)| p.used)
                .map(|(id, _)| id.clone());
            if let Some(p) = oldest.and_then(|id| sessions.remove(&id)) {
                tracing::debug!("MCP session preferences full; the least recently used dropped");
                released.extend(p.subscriptions);
            }
        }
        let prefs = sessions.entry(Arc::from(session)).or_default();
        prefs.used = Instant::now();
        prefs
    }

    /// Which log messages `session` wants with its calls.
    pub(super) fn log_interest(&self, session: &str) -> LogInterest {
        match self.lock().get(session).and_then(|p| p.level) {
            Some(level) => LogInterest::AtLeast(level),
            None => LogInterest::Unset,
        }
    }

    pub(super) fn set_level(&self, session: &str, level: LoggingLevel) -> Released {
        let mut released = Vec::new();
        Self::entry(&mut self.lock(), self.limit, session, &mut released).level = Some(level);
        released
    }

    pub(super) fn is_subscribed(&self, session: &str, uri: &str) -> bool {
        self.lock()
            .get(session)
            .is_some_and(|p| p.subscriptions.contains(uri))
    }

    pub(super) fn subscribe(&self, session: &str, uri: &str) -> Released {
        let mut released = Vec::new();
        Self::entry(&mut self.lock(), self.limit, session, &mut released)
            .subscriptions
            .insert(uri.to_owned());
        released
    }

    /// Ends `session`'s subscription to `uri`; false if it had none.
    pub(super) fn unsubscribe(&self, session: &str, uri: &str) -> bool {
        self.lock()
            .get_mut(session)
            .is_some_and(|p| p.subscriptions.remove(uri))
    }

    /// Remembers that a call of `session` created the task `id`, so that its notices reach it.
    pub(super) fn created_task(&self, session: &str, id: &str) -> Released {
        let mut released = Vec::new();
        let mut sessions = self.lock();
        let tasks = &mut Self::entry(&mut sessions, self.limit, session, &mut released).tasks;
        if tasks.len() >= MAX_TASKS_PER_SESSION {
            tasks.pop_front();
        }
        tasks.push_back(id.to_owned());
        released
    }

    /// Forgets `session` (deleted, or its stream closed), returning its subscriptions.
    pub(super) fn forget(&self, session: &str) -> Released {
        self.lock()
            .remove(session)
            .map(|p| p.subscriptions.into_iter().collect())
            .unwrap_or_default()
    }

    /// Whether `session`'s stream gets `n`, a notice for every client: log messages at or
    /// above the level it set (none if it set none), resource updates for URIs it subscribed
    /// to, notices of tasks its calls created (forgotten once a notice says the task ended),
    /// everything else.
    pub(super) fn wants(&self, session: &str, n: &ServerNotification) -> bool {
        match n {
            ServerNotification::TaskStatusNotification(t) => {
                let mut sessions = self.lock();
                let Some(tasks) = sessions.get_mut(session).map(|p| &mut p.tasks) else {
                    return false;
                };
                let Some(at) = tasks
                    .iter()
                    .position(|id| *id == t.params.task.task.task_id)
                else {
                    return false;
                };
                if t.params.status().is_terminal() {
                    tasks.remove(at);
                }
                true
            }
            ServerNotification::LoggingMessageNotification(m) => self
                .lock()
                .get(session)
                .and_then(|p| p.level)
                .is_some_and(|l| LogInterest::AtLeast(l).wants(m.params.level)),
            ServerNotification::ResourceUpdatedNotification(u) => {
                self.is_subscribed(session, &u.params.uri)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{
        LoggingMessageNotification, LoggingMessageNotificationParam, ResourceUpdatedNotification,
        ResourceUpdatedNotificationParam, ToolListChangedNotification,
    };

    fn log(level: LoggingLevel) -> ServerNotification {
        ServerNotification::LoggingMessageNotification(LoggingMessageNotification::new(
            LoggingMessageNotificationParam::new(level, serde_json::json!("m")),
        ))
    }

    fn updated(uri: &str) -> ServerNotification {
        ServerNotification::ResourceUpdatedNotification(ResourceUpdatedNotification::new(
            ResourceUpdatedNotificationParam::new(uri),
        ))
    }

    #[test]
    fn streams_get_logs_at_their_level_and_updates_they_subscribed_to() {
        let prefs = SessionPrefs::default();
        let list_changed =
            ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default());
        assert!(prefs.wants("a", &list_changed));
        assert!(!prefs.wants("a", &log(LoggingLevel::Error)), "no level set");
        prefs.set_level("a", LoggingLevel::Warning);
        assert!(prefs.wants("a", &log(LoggingLevel::Error)));
        assert!(!prefs.wants("a", &log(LoggingLevel::Info)));
        assert_eq!(
            prefs.log_interest("a"),
            LogInterest::AtLeast(LoggingLevel::Warning)
        );
        assert_eq!(prefs.log_interest("b"), LogInterest::Unset);

        assert!(!prefs.wants("a", &updated("x://1")));
        prefs.subscribe("a", "x://1");
        assert!(prefs.wants("a", &updated("x://1")));
        assert!(!prefs.wants("b", &updated("x://1")), "another session");
        assert!(prefs.unsubscribe("a", "x://1"));
        assert!(!prefs.unsubscribe("a", "x://1"), "already gone");
        assert!(!prefs.wants("a", &updated("x://1")));
    }

    fn task_notice(id: &str, status: rmcp::model::TaskStatus) -> ServerNotification {
        use rmcp::model::{
            DetailedTask, Task, TaskPayload, TaskStatusNotification, TaskStatusNotificationParams,
        };
        let payload = match status {
            rmcp::model::TaskStatus::Working => TaskPayload::Working,
            _ => TaskPayload::Cancelled,
        };
        let task = DetailedTask::new(Task::new(id, status, "t0", "t1"), payload);
        ServerNotification::TaskStatusNotification(TaskStatusNotification::new(
            TaskStatusNotificationParams::new(task),
        ))
    }

    #[test]
    fn a_session_gets_the_notices_of_its_own_tasks_until_they_end() {
        use rmcp::model::TaskStatus;
        let prefs = SessionPrefs::default();
        assert!(!prefs.wants("a", &task_notice("t_1", TaskStatus::Working)));
        prefs.created_task("a", "t_1");
        assert!(prefs.wants("a", &task_notice("t_1", TaskStatus::Working)));
        assert!(!prefs.wants("b", &task_notice("t_1", TaskStatus::Working)));
        assert!(prefs.wants("a", &task_notice("t_1", TaskStatus::Cancelled)));
        assert!(
            !prefs.wants("a", &task_notice("t_1", TaskStatus::Cancelled)),
            "an ended task is forgotten"
        );
        for i in 0..=MAX_TASKS_PER_SESSION {
            prefs.created_task("a", &format!("t_{i}"));
        }
        assert!(
            !prefs.wants("a", &task_notice("t_0", TaskStatus::Working)),
            "the oldest is pushed out"
        );
        assert!(prefs.wants("a", &task_notice("t_1", TaskStatus::Working)));
    }

    #[test]
    fn forgetting_or_pushing_out_a_session_releases_its_subscriptions() {
        let prefs = SessionPrefs::with_limit(2);
        assert!(prefs.subscribe("a", "x://a").is_empty());
        assert!(prefs.set_level("b", LoggingLevel::Info).is_empty());
        assert_eq!(prefs.subscribe("c", "x://c"), vec!["x://a".to_owned()]);
        assert!(!prefs.is_subscribed("a", "x://a"));
        assert_eq!(prefs.forget("c"), vec!["x://c".to_owned()]);
        assert!(prefs.forget("c").is_empty());
    }
}
