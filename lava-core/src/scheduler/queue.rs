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

/// A set of tags as a bitset over the pass's interned tag names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TagSet(Vec<u64>);

impl TagSet {
    /// Whether every tag of `self` is in `other`.
    pub fn is_subset(&self, other: &TagSet) -> bool {
        self.0.iter().enumerate().all(|(i, word)| {
            let theirs = other.0.get(i).copied().unwrap_or(0);
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
        let mut words = Vec::new();
        for tag in tags {
            let next = self.bits.len();
            let bit = *self.bits.entry(tag.as_str()).or_insert(next);
            if words.len() <= bit / 64 {
                words.resize(bit / 64 + 1, 0);
            }
            words[bit / 64] |= 1u64 << (bit % 64);
        }
        // Trailing zero words would make equal sets compare unequal.
        while words.last() == Some(&0) {
            words.pop();
        }
        TagSet(words)
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

/// Jobs of one tag set, best first, with the index of the next job to offer.
#[derive(Debug)]
struct Bucket {
    tags: TagSet,
    jobs: Vec<usize>,
    head: usize,
}

/// The schedulable jobs of one device type.
#[derive(Debug, Default)]
pub struct TypeQueue {
    buckets: Vec<Bucket>,
}

impl TypeQueue {
    /// Indexes `jobs` (positions into `all`), each with its tag set.
    pub fn new(all: &[Job], jobs: Vec<(usize, TagSet)>) -> Self {
        let mut by_tags: FxHashMap<TagSet, Vec<usize>> = FxHashMap::default();
        for (job, tags) in jobs {
            by_tags.entry(tags).or_default().push(job);
        }
        let mut buckets: Vec<Bucket> = by_tags
            .into_iter()
            .map(|(tags, mut jobs)| {
                jobs.sort_by(|a, b| queue_order(&all[*a], &all[*b]));
                Bucket {
                    tags,
                    jobs,
                    head: 0,
                }
            })
            .collect();
        // A fixed bucket order keeps passes reproducible (HashMap order is not).
        buckets.sort_by(|a, b| a.tags.0.cmp(&b.tags.0));
        TypeQueue { buckets }
    }

    /// Takes the best job a device with `device_tags` can run, if any.
    pub fn take_for(&mut self, all: &[Job], device_tags: &TagSet) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (index, bucket) in self.buckets.iter().enumerate() {
            let Some(&job) = bucket.jobs.get(bucket.head) else {
                continue;
            };
            if !bucket.tags.is_subset(device_tags) {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, current)) => queue_order(&all[job], &all[current]) == Ordering::Less,
            };
            if better {
                best = Some((index, job));
            }
        }
        let (index, job) = best?;
        self.buckets[index].head += 1;
        Some(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
