//! The queue of one device type, indexed so that a device finds its job in time that does
//! not depend on the queue's length.
//!
//! Jobs are bucketed by their exact tag set (a lab has few distinct sets) and each bucket is
//! sorted in LAVA's order. A job fits a device when its tags are a subset of the device's, so
//! the best job for a device is the best head among the buckets whose tag set the device
//! covers. Heads only move forward: a job taken from a bucket is never offered again.

use super::fxhash::FxHashMap;
use crate::model::{Job, JobId, Priority};
use crate::time::Timestamp;
use std::cmp::{Ordering, Reverse};

/// A set of tags as a bitset over the pass's interned tag names. The first 64 names live
/// inline (a lab rarely has more), so that the subset test of every device against every
/// bucket touches no heap memory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TagSet {
    low: u64,
    /// Names 64 and up, 64 per word, without trailing zero words.
    high: Vec<u64>,
}

impl TagSet {
    /// Whether every tag of `self` is in `other`.
    pub fn is_subset(&self, other: &TagSet) -> bool {
        self.low & !other.low == 0
            && self.high.iter().enumerate().all(|(i, word)| {
                let theirs = other.high.get(i).copied().unwrap_or(0);
                word & !theirs == 0
            })
    }
}

/// Gives every tag name of the pass a bit.
#[derive(Debug, Default)]
pub struct TagInterner<'a> {
    bits: FxHashMap<&'a str, usize>,
}

impl<'a> TagInterner<'a> {
    /// The bitset of `tags`, interning names not seen before.
    pub fn set(&mut self, tags: impl IntoIterator<Item = &'a String>) -> TagSet {
        let mut set = TagSet::default();
        for tag in tags {
            let next = self.bits.len();
            let bit = *self.bits.entry(tag.as_str()).or_insert(next);
            if bit < 64 {
                set.low |= 1u64 << bit;
                continue;
            }
            let word = bit / 64 - 1;
            if set.high.len() <= word {
                set.high.resize(word + 1, 0);
            }
            set.high[word] |= 1u64 << (bit % 64);
        }
        set
    }
}

/// LAVA's queue order: priority descending, then submit time, then multinode group (jobs
/// without a group last, as PostgreSQL sorts NULLs), then id.
pub fn queue_order(a: &Job, b: &Job) -> Ordering {
    queue_key(a).cmp(&queue_key(b))
}

type QueueKey<'a> = (Reverse<Priority>, Timestamp, bool, Option<&'a str>, JobId);

fn queue_key(job: &Job) -> QueueKey<'_> {
    (
        Reverse(job.priority),
        job.submit_time,
        job.multinode.is_none(),
        job.target_group(),
        job.id,
    )
}

/// A job's place in the queue, packed so that sorting and comparing heads never touch the
/// (large, scattered) `Job` rows: on the 10,000-job lab that halves the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Queued {
    priority: Reverse<Priority>,
    submit_time: Timestamp,
    no_group: bool,
    /// The group's rank among the pass's group ids in string order (0 without a group).
    group_rank: u32,
    id: JobId,
    /// The job's position in the snapshot.
    pub index: usize,
}

impl Queued {
    /// The queue entry of `job` (at `index` in the snapshot), given its group's rank.
    pub fn new(job: &Job, index: usize, group_rank: u32) -> Self {
        Queued {
            priority: Reverse(job.priority),
            submit_time: job.submit_time,
            no_group: job.multinode.is_none(),
            group_rank,
            id: job.id,
            index,
        }
    }

    /// The job's priority.
    pub fn priority(&self) -> Priority {
        self.priority.0
    }
}

/// Jobs of one tag set, best first, with the position of the next job to offer.
#[derive(Debug)]
struct Bucket {
    tags: TagSet,
    jobs: Vec<Queued>,
    /// Per job: given a device in this pass (a filtered take may skip over the head).
    taken: Vec<bool>,
    /// Every job before `head` is taken.
    head: usize,
}

impl Bucket {
    fn take(&mut self, position: usize) {
        self.taken[position] = true;
        while self.taken.get(self.head).copied().unwrap_or(false) {
            self.head += 1;
        }
    }
}

/// The schedulable jobs of one device type.
#[derive(Debug, Default)]
pub struct TypeQueue {
    buckets: Vec<Bucket>,
}

impl TypeQueue {
    /// Indexes `jobs`, each with its tag set.
    pub fn new(jobs: Vec<(Queued, TagSet)>) -> Self {
        let mut by_tags: FxHashMap<TagSet, Vec<Queued>> = FxHashMap::default();
        for (job, tags) in jobs {
            by_tags.entry(tags).or_default().push(job);
        }
        let mut buckets: Vec<Bucket> = by_tags
            .into_iter()
            .map(|(tags, mut jobs)| {
                jobs.sort_unstable();
                Bucket {
                    tags,
                    taken: vec![false; jobs.len()],
                    jobs,
                    head: 0,
                }
            })
            .collect();
        // A fixed bucket order keeps passes reproducible (HashMap order is not).
        buckets.sort_by(|a, b| a.tags.cmp(&b.tags));
        TypeQueue { buckets }
    }

    /// Takes the best job a device with `device_tags` can run, if any: its position in
    /// the snapshot.
    pub fn take_for(&mut self, device_tags: &TagSet) -> Option<usize> {
        self.take_for_where(device_tags, |_| true)
    }

    /// Takes the best job a device with `device_tags` can run among those for which
    /// `fits(position in the snapshot)` holds. LAVA walks the queue in order and skips
    /// the jobs a device cannot take (submit permissions, `lava-vland` interfaces); so does
    /// this, from each bucket's head, asking `fits` only until a bucket's first fitting job.
    pub fn take_for_where(
        &mut self,
        device_tags: &TagSet,
        mut fits: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut best: Option<(usize, usize, Queued)> = None;
        for (index, bucket) in self.buckets.iter().enumerate() {
            if bucket.head >= bucket.jobs.len() || !bucket.tags.is_subset(device_tags) {
                continue;
            }
            for position in bucket.head..bucket.jobs.len() {
                let job = bucket.jobs[position];
                // Later jobs of the bucket are worse still: stop at the current best.
                if best.is_some_and(|(_, _, current)| current < job) {
                    break;
                }
                if bucket.taken[position] || !fits(job.index) {
                    continue;
                }
                best = Some((index, position, job));
                break;
            }
        }
        let (index, position, job) = best?;
        self.buckets[index].take(position);
        Some(job.index)
    }

    /// The tag set of each bucket, in bucket order.
    pub fn bucket_tags(&self) -> impl Iterator<Item = &TagSet> {
        self.buckets.iter().map(|b| &b.tags)
    }

    /// Fills `out` with the jobs not taken, in LAVA's order across buckets, each with its
    /// bucket's index.
    pub fn remaining_in_order(&self, out: &mut Vec<(Queued, usize)>) {
        out.clear();
        for (i, b) in self.buckets.iter().enumerate() {
            let left = b.jobs[b.head..].iter().zip(&b.taken[b.head..]);
            out.extend(left.filter(|(_, taken)| !**taken).map(|(job, _)| (*job, i)));
        }
        // Each bucket is sorted already: a stable sort merges the runs (cheaper, measured,
        // than a heap merge of the heads).
        out.sort_by_key(|(job, _)| *job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobHealth, JobState, MultinodeMembership};

    fn job(id: JobId, priority: Priority, secs: i64, group: Option<&str>) -> Job {
        Job {
            id,
            submitter: String::new(),
            definition: String::new(),
            state: JobState::Submitted,
            health: JobHealth::Unknown,
            priority,
            submit_time: Timestamp::from_secs(secs),
            start_time: None,
            end_time: None,
            requested_device_type: Some("qemu".into()),
            tags: Default::default(),
            multinode: group.map(|g| MultinodeMembership {
                group: g.into(),
                role: "r".into(),
            }),
            health_check: false,
            actual_device: None,
            failure_comment: None,
            is_public: true,
        }
    }

    #[test]
    fn queue_order_is_lavas_and_packed_keys_agree() {
        let jobs = [
            job(1, Priority::MEDIUM, 10, None),
            job(2, Priority::MEDIUM, 10, Some("b")),
            job(3, Priority::MEDIUM, 10, Some("a")),
            job(4, Priority::MEDIUM, 5, None),
            job(5, Priority::HIGH, 20, None),
            job(6, Priority::MEDIUM, 10, None),
        ];
        let mut by_job: Vec<&Job> = jobs.iter().collect();
        by_job.sort_by(|a, b| queue_order(a, b));
        let ids: Vec<JobId> = by_job.iter().map(|j| j.id).collect();
        // Priority, then submit time, then groups by id (NULL last), then id.
        assert_eq!(ids, [5, 4, 3, 2, 1, 6]);

        let rank = |j: &Job| match j.target_group() {
            Some("a") => 0,
            Some(_) => 1,
            None => 0,
        };
        let mut queued: Vec<Queued> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| Queued::new(j, i, rank(j)))
            .collect();
        queued.sort_unstable();
        let packed: Vec<JobId> = queued.iter().map(|q| jobs[q.index].id).collect();
        assert_eq!(packed, ids);
    }

    #[test]
    fn subset_ignores_trailing_words() {
        let mut tags = TagInterner::default();
        let names: Vec<String> = (0..70).map(|i| format!("t{i}")).collect();
        let all = tags.set(names.iter());
        let first = tags.set(names[..1].iter());
        let last = tags.set(names[69..].iter());
        let none = tags.set(std::iter::empty());
        assert!(first.is_subset(&all));
        assert!(last.is_subset(&all));
        assert!(!last.is_subset(&first));
        assert!(none.is_subset(&first));
        assert!(!first.is_subset(&none));
    }
}
