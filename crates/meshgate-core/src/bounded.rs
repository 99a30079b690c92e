//! [`Bounded`]: the map every in-process cache keeps its entries in, so that none grows with
//! the mesh without limit (issue 18, item 4). It holds at most `capacity` entries; inserting
//! a new key into a full map first drops the least recently used eighth of them (the used
//! order kept as a counter per entry, so that a lookup costs no more than a hash map's and
//! an eviction is paid for once per `capacity / 8` insertions).

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug, Clone)]
pub struct Bounded<K, V> {
    entries: HashMap<K, (u64, V)>,
    clock: u64,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    /// A map of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Bounded {
            entries: HashMap::new(),
            clock: 0,
            capacity: capacity.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`, marked as just used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.clock += 1;
        let now = self.clock;
        self.entries.get_mut(key).map(|(used, v)| {
            *used = now;
            &*v
        })
    }

    /// The value of `key` to change in place, marked as just used.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.clock += 1;
        let now = self.clock;
        self.entries.get_mut(key).map(|(used, v)| {
            *used = now;
            v
        })
    }

    /// The value of `key` without marking it used.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// Keeps `value` under `key` (replacing any), marked as just used; a new key in a full map
    /// first drops the least recently used entries.
    pub fn insert(&mut self, key: K, value: V) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.evict();
        }
        self.clock += 1;
        self.entries.insert(key, (self.clock, value));
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Drops the least recently used eighth of the entries (at least one); called on a full
    /// map, so there are at least `capacity` of them. Every use has its own clock value, so
    /// exactly that many go.
    fn evict(&mut self) {
        let drop = (self.capacity / 8).max(1);
        let mut used: Vec<u64> = self.entries.values().map(|(u, _)| *u).collect();
        let (_, cutoff, _) = used.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        self.entries.retain(|_, (u, _)| *u > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::Bounded;

    #[test]
    fn it_never_holds_more_than_its_capacity_and_drops_the_least_recently_used() {
        let mut m = Bounded::new(16);
        for k in 0..16 {
            m.insert(k, k * 10);
        }
        assert_eq!(m.len(), 16);
        // 0 and 1 are used again: 2 and 3 are now the least recently used.
        assert_eq!(m.get(&0), Some(&0));
        assert_eq!(m.get(&1), Some(&10));
        m.insert(100, 1000);
        assert_eq!(
            m.len(),
            15,
            "a full map drops an eighth before it takes a new key"
        );
        assert!(m.peek(&2).is_none() && m.peek(&3).is_none());
        assert_eq!(m.peek(&0), Some(&0));
        assert_eq!(m.peek(&1), Some(&10));
        assert_eq!(m.peek(&100), Some(&1000));
        for k in 200..1200 {
            m.insert(k, k);
            assert!(m.len() <= 16);
        }
        // The most recent insertions are all there.
        for k in 1190..1200 {
            assert_eq!(m.peek(&k), Some(&k));
        }
    }

    #[test]
    fn replacing_a_key_in_a_full_map_drops_nothing() {
        let mut m = Bounded::new(4);
        for k in 0..4 {
            m.insert(k, 0);
        }
        m.insert(2, 7);
        assert_eq!(m.len(), 4);
        assert_eq!(m.peek(&2), Some(&7));
        assert_eq!(m.remove(&2), Some(7));
        assert_eq!(m.len(), 3);
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn a_capacity_of_one_keeps_the_last_key() {
        let mut m = Bounded::new(0);
        assert_eq!(m.capacity(), 1);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.len(), 1);
        assert_eq!(m.peek(&"b"), Some(&2));
    }
}
