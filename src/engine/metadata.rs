//! Cluster metadata: when to ask (`metadata.max.age.ms`, a new or idle topic, a retriable
//! error), which topics to ask about, and what the answer changes (brokers and their addresses,
//! partition leaders, replica sets, records waiting for their topic). Also the `partitions_for`
//! callers waiting for a topic's partitions, and when to start over from `bootstrap.servers`
//! (`metadata.recovery.rebootstrap.trigger.ms`, KIP-899/KIP-1102; the starting over itself is
//! `connection`'s `rebootstrap`).
//!
//! It keeps each partition's leader epoch: an answer with an older epoch than one known does
//! not replace its leader, and a leader that moved (a newer epoch, or another node) sends the
//! partition's batches waiting out a retry backoff at once (`retry_at_once`, the one thing it
//! does to batches). A Produce answer refusing a batch may name the new leader (KIP-951):
//! `retry_to_leader` takes it, and retries the batch through `produce`.
//!
//! The room owns [`MetadataState`]. It sends through `connection` (`cluster_conn`,
//! `send_request`), hands a broker's name to `connection` (`Connections::add_broker`) and waiting
//! records to `records` (`append_known`); it opens no connection.

use std::sync::Arc;
use std::time::Instant;

use crate::config::MetadataRecovery;
use crate::error::ProduceError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{MetadataRequest, MetadataResponse};
use crate::record::PartitionInfo;

use super::accumulator::{PartitionState, TopicMeta};
use super::requests::Kind;
use super::{Engine, PartitionsWaiter};

/// The metadata room's state (see the module docs). Other rooms set `due` when they learn
/// that metadata is stale or missing (a new or idle topic, a lost connection, an error that
/// invalidates it); `connection` clears `in_flight` when the request is lost.
#[derive(Default)]
pub(super) struct MetadataState {
    /// A Metadata request is out.
    pub(super) in_flight: bool,
    /// When to ask next (`None`: not decided yet).
    pub(super) due: Option<Instant>,
    /// Metadata requests sent since the last answer.
    attempts: u32,
    /// Since when metadata has been wanted and not obtained (Java's `metadataAttemptStartMs`).
    pub(super) wanted_since: Option<Instant>,
    /// Each partition's leader epoch as last learned (by topic index, then partition; -1:
    /// unknown): a leader from an older epoch (stale metadata from a lagging broker) does not
    /// replace a newer one, and a newer one sends a retry there at once.
    epochs: Vec<Vec<i32>>,
    /// `partitions_for` calls waiting for a topic's metadata: topic index, deadline, waiter.
    pub(super) waiters: Vec<(usize, Instant, PartitionsWaiter)>,
}

impl MetadataState {
    /// The leader epoch of partition `pi` of topic `ti` as last learned (-1: unknown).
    pub(super) fn leader_epoch(&self, ti: usize, pi: usize) -> i32 {
        self.epochs.get(ti).and_then(|t| t.get(pi)).copied().unwrap_or(-1)
    }

    pub(super) fn set_leader_epoch(&mut self, ti: usize, pi: usize, epoch: i32) {
        if self.epochs.len() <= ti {
            self.epochs.resize_with(ti + 1, Vec::new);
        }
        let t = &mut self.epochs[ti];
        if t.len() <= pi {
            t.resize(pi + 1, -1);
        }
        t[pi] = epoch;
    }
}

impl Engine {
    /// Answers `waiter` with `topic`'s partitions once its metadata is known: at once if it is,
    /// else after a metadata request, or with `MetadataTimeout` `max.block.ms` after `called`
    /// (the caller's clock when it asked).
    pub(crate) fn partitions_for(
        &mut self,
        topic: &Arc<str>,
        waiter: PartitionsWaiter,
        called: Instant,
        now: Instant,
    ) {
        let ti = self.topic_idx(topic, now);
        if self.topics[ti].meta == TopicMeta::Known {
            waiter(Ok(self.partition_info(ti)));
            return;
        }
        self.metadata.waiters.push((ti, called + self.cfg.max_block, waiter));
        self.metadata.due = Some(now);
        self.next_wakeup = Some(now);
    }

    fn partition_info(&self, ti: usize) -> Vec<PartitionInfo> {
        let t = &self.topics[ti];
        let leader = |l: i32| (l >= 0).then_some(l);
        (0..)
            .zip(&t.partitions)
            .map(|(i, p)| {
                let [replicas, in_sync_replicas, offline_replicas] =
                    t.replica_sets.get(i as usize).cloned().unwrap_or_default();
                PartitionInfo {
                    topic: t.name.clone(),
                    partition: i,
                    leader: leader(p.leader),
                    replicas,
                    in_sync_replicas,
                    offline_replicas,
                }
            })
            .collect()
    }

    /// Answers the `partitions_for` waiters whose topic is known now, failed with `failed`, or
    /// past its deadline.
    pub(super) fn answer_partition_waiters(&mut self, failed: &[(usize, ProduceError)], now: Instant) {
        let mut i = 0;
        while i < self.metadata.waiters.len() {
            let (ti, deadline) = (self.metadata.waiters[i].0, self.metadata.waiters[i].1);
            let answer = if self.topics[ti].meta == TopicMeta::Known {
                Some(Ok(self.partition_info(ti)))
            } else if let Some((_, e)) = failed.iter().find(|(t, _)| *t == ti) {
                Some(Err(e.clone()))
            } else if deadline <= now {
                let topic = self.topics[ti].name.to_string();
                Some(Err(ProduceError::MetadataTimeout { topic, waited: self.cfg.max_block }))
            } else {
                self.wake_at(deadline);
                None
            };
            match answer {
                Some(r) => {
                    let (_, _, w) = self.metadata.waiters.swap_remove(i);
                    w(r);
                }
                None => i += 1,
            }
        }
    }

    /// The topics a metadata request asks for: those used within `metadata.max.idle.ms`, and
    /// any with records or `partitions_for` callers still waiting on it (Java's
    /// `ProducerMetadata.retainTopic`).
    pub(super) fn metadata_topics(&self, now: Instant) -> Vec<String> {
        let idle = self.cfg.metadata_max_idle;
        (0..self.topics.len())
            .filter(|&i| {
                let t = &self.topics[i];
                now < t.last_used + idle
                    || !t.waiting.is_empty()
                    || t.partitions.iter().any(|p| !p.queue.is_empty() || p.in_flight > 0)
                    || self.metadata.waiters.iter().any(|w| w.0 == i)
            })
            .map(|i| self.topics[i].name.to_string())
            .collect()
    }

    pub(super) fn poll_metadata(&mut self, now: Instant) {
        if let (Some(since), MetadataRecovery::Rebootstrap) =
            (self.metadata.wanted_since, self.cfg.metadata_recovery)
        {
            // No metadata for that long, from any broker we know: they may all be gone (a
            // cluster replaced, its names now pointing elsewhere). Start over, as Java 4.x does.
            let at = since + self.cfg.metadata_recovery_trigger;
            if at <= now {
                log::warn!(
                    "no metadata for {:?} (metadata.recovery.rebootstrap.trigger.ms): starting over from bootstrap.servers",
                    now.saturating_duration_since(since)
                );
                self.rebootstrap(now);
                self.metadata.wanted_since = Some(now);
                self.metadata.due = Some(now);
            } else {
                self.wake_at(at);
            }
        }
        if self.metadata.in_flight || self.topics.is_empty() {
            return;
        }
        let Some(due) = self.metadata.due else {
            self.metadata.due = Some(now + self.cfg.metadata_max_age);
            return;
        };
        if due > now {
            self.wake_at(due);
            return;
        }
        let topics = self.metadata_topics(now);
        if topics.is_empty() {
            // Every topic has gone idle: nothing to ask about until one is used again.
            self.metadata.due = Some(now + self.cfg.metadata_max_age);
            return;
        }
        self.metadata.wanted_since.get_or_insert(now);
        let Some((node, v)) = self.cluster_conn(now) else { return };
        let req = MetadataRequest {
            topics: Some(topics),
            allow_auto_topic_creation: true,
            include_topic_authorized_operations: false,
        };
        self.metadata.in_flight = true;
        self.metadata.attempts += 1;
        self.send_request(node, v.metadata, &req, Kind::Metadata { version: v.metadata }, now);
    }

    pub(super) fn handle_metadata(&mut self, r: MetadataResponse, now: Instant) {
        self.metadata.in_flight = false;
        self.metadata.attempts = 0;
        if !r.brokers.is_empty() {
            self.metadata.wanted_since = None;
        }
        for b in &r.brokers {
            self.net.add_broker(b.node_id, &b.host, b.port);
        }
        if !r.brokers.is_empty() {
            // The cluster's brokers now, as Java replaces its node list: one that left is not
            // asked for metadata again (a leader that left is found through metadata).
            self.net.brokers.retain(|n, _| r.brokers.iter().any(|b| b.node_id == *n));
        }
        let mut retry_soon = false;
        let mut failed = Vec::new();
        for t in r.topics {
            let Some(name) = t.name else { continue };
            let Some(&ti) = self.records.index.get(name.as_str()) else { continue };
            if t.error_code.is_ok() && !t.partitions.is_empty() {
                let topic = &mut self.topics[ti];
                let n = t.partitions.iter().map(|p| p.partition_index + 1).max().unwrap_or(0).max(0) as usize;
                while topic.partitions.len() < n {
                    topic.partitions.push(PartitionState::new(-1));
                }
                for p in &t.partitions {
                    if p.partition_index < 0 {
                        continue;
                    }
                    let leader =
                        if p.error_code == ErrorCode::LEADER_NOT_AVAILABLE { -1 } else { p.leader_id };
                    let i = p.partition_index as usize;
                    let known = self.metadata.leader_epoch(ti, i);
                    if p.leader_epoch >= 0 && p.leader_epoch < known {
                        // A broker behind the controller: keep the newer leader we know (as
                        // Java's `Metadata.updateLatestMetadata` does), and ask again soon.
                        retry_soon = true;
                    } else {
                        let part = &mut topic.partitions[i];
                        // Not the first answer for the partition: a new epoch, or another node.
                        let moved = leader >= 0
                            && ((known >= 0 && p.leader_epoch > known)
                                || (part.leader >= 0 && leader != part.leader));
                        part.leader = leader;
                        self.metadata.set_leader_epoch(ti, i, p.leader_epoch);
                        if moved {
                            retry_at_once(part, now);
                        }
                    }
                    if topic.replica_sets.len() <= i {
                        topic.replica_sets.resize_with(i + 1, Default::default);
                    }
                    topic.replica_sets[i] =
                        [p.replica_nodes.clone(), p.isr_nodes.clone(), p.offline_replicas.clone()];
                    if topic.partitions[i].leader < 0 {
                        retry_soon = true;
                    }
                }
                topic.available = topic
                    .partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.leader >= 0)
                    .map(|(i, _)| i as i32)
                    .collect();
                topic.meta = TopicMeta::Known;
                let waiting = std::mem::take(&mut topic.waiting);
                for mut w in waiting {
                    // Out of its queue slot: what is left of it is dropped here.
                    self.append_known(ti, &mut w.record, w.stamp);
                }
            } else if t.error_code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                || t.error_code == ErrorCode::LEADER_NOT_AVAILABLE
                || t.error_code.is_retriable()
                || t.error_code.is_ok()
            {
                retry_soon = true;
            } else {
                // Not retriable (authorization, invalid topic): fail what waits.
                let err = ProduceError::Broker { code: t.error_code, message: None };
                while let Some(w) = self.topics[ti].waiting.pop_front() {
                    self.fail_pending(w.record, w.stamp, err.clone());
                }
                failed.push((ti, err));
            }
        }
        self.answer_partition_waiters(&failed, now);
        let unknown = self.topics.iter().enumerate().any(|(i, t)| {
            t.meta == TopicMeta::Unknown
                && (!t.waiting.is_empty() || self.metadata.waiters.iter().any(|w| w.0 == i))
        });
        self.metadata.due = Some(if retry_soon || unknown {
            now + self.cfg.retry_backoff
        } else {
            now + self.cfg.metadata_max_age
        });
    }
}

/// What a Produce answer says of a refusing partition's leader (KIP-951, Produce v10+): its
/// current leader and epoch, and, when given, where that broker listens.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaderHint<'a> {
    pub(super) leader: i32,
    pub(super) epoch: i32,
    /// `(host, port)` of `leader`, from the answer's `NodeEndpoints`.
    pub(super) endpoint: Option<(&'a str, i32)>,
}

impl Engine {
    /// A batch of partition `pi` of topic `ti` came back from `from` with a retriable `code`:
    /// retry it (`retry_or_fail`), following the partition's leader as Java 3.7+, librdkafka
    /// 2.5+ and franz-go do (KIP-951). With NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH and a
    /// `hint` naming a leader from a newer epoch than the one known, at a broker known or given
    /// by its endpoint, that broker becomes the partition's leader and no metadata refresh is
    /// asked for it; without one, metadata is refreshed as before. Either way, when the
    /// partition's leader is now another broker than `from`, the retry goes at once: the
    /// backoff is for a leader that keeps refusing.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn retry_to_leader(
        &mut self,
        ti: usize,
        pi: i32,
        from: i32,
        batch: super::accumulator::Batch,
        code: ErrorCode,
        msg: String,
        hint: Option<LeaderHint<'_>>,
        now: Instant,
    ) {
        let due = self.metadata.due;
        let followed = matches!(code, ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::FENCED_LEADER_EPOCH)
            && hint.is_some_and(|h| self.follow_leader(ti, pi as usize, h));
        self.retry_or_fail(ti, pi, batch, code, msg, now);
        if followed {
            // The answer said where the leader is: no refresh needed for it (retry_or_fail
            // asked for one, as it does for any error that invalidates metadata).
            self.metadata.due = due;
        }
        let part = &mut self.topics[ti].partitions[pi as usize];
        if part.leader >= 0 && part.leader != from {
            retry_at_once(part, now);
        }
    }

    /// Takes `hint` as partition `pi` of topic `ti`'s leader if its epoch is newer than the one
    /// known and its broker can be reached (as Java's `Metadata.updatePartitionLeadership`);
    /// returns whether it did.
    fn follow_leader(&mut self, ti: usize, pi: usize, hint: LeaderHint<'_>) -> bool {
        if hint.leader < 0 || hint.epoch < 0 || hint.epoch <= self.metadata.leader_epoch(ti, pi) {
            return false;
        }
        if let Some((host, port)) = hint.endpoint {
            self.net.add_broker(hint.leader, host, port);
        }
        if !self.net.brokers.contains_key(&hint.leader) || pi >= self.topics[ti].partitions.len() {
            return false;
        }
        let topic = &mut self.topics[ti];
        let was = topic.partitions[pi].leader;
        topic.partitions[pi].leader = hint.leader;
        if was < 0 {
            topic.available.push(pi as i32);
            topic.available.sort_unstable();
        }
        self.metadata.set_leader_epoch(ti, pi, hint.epoch);
        log::debug!(
            "{}-{pi}: leader {was} -> {} (epoch {}), from a Produce answer",
            topic.name,
            hint.leader,
            hint.epoch
        );
        true
    }
}

/// A partition's leader changed: the batches waiting out a retry backoff go at once, as Java
/// does when the leader epoch advanced since a batch's last attempt (KIP-951): the backoff is
/// for a broker that keeps refusing, and this is another one. A later failure backs off again.
pub(super) fn retry_at_once(part: &mut PartitionState, now: Instant) {
    for b in part.queue.iter_mut() {
        if b.retry_at.is_some_and(|t| t > now) {
            b.retry_at = None;
        }
    }
}
