//! The transfers of one event loop, by key: a slab whose keys carry a generation, so a key
//! kept somewhere (a poller token, a deadline) never reaches the transfer that later took the
//! same place.
//!
//! **Invariant:** a key is the place's index in the low 32 bits and its generation in the high
//! 32; a removed value's key finds nothing from then on, until the generation wraps after
//! 2^32 reuses of that one place.

/// A value's handle.
pub(crate) type Key = u64;

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug)]
pub(crate) struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

fn split(key: Key) -> (usize, u32) {
    ((key & u64::from(u32::MAX)) as usize, (key >> 32) as u32)
}

impl<T> Slots<T> {
    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        let index = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.value = Some(value);
                index
            }
            None => {
                // More than 2^32 places at once cannot happen: each holds a transfer.
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot { generation: 0, value: Some(value) });
                index
            }
        };
        u64::from(self.slots[index as usize].generation) << 32 | u64::from(index)
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let (index, generation) = split(key);
        self.slots.get_mut(index).filter(|slot| slot.generation == generation)?.value.as_mut()
    }

    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let (index, generation) = split(key);
        self.slots.get(index).filter(|slot| slot.generation == generation)?.value.as_ref()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let (index, generation) = split(key);
        let slot = self.slots.get_mut(index).filter(|slot| slot.generation == generation)?;
        let value = slot.value.take()?;
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys of every value held now.
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.value.is_some())
            .map(|(index, slot)| u64::from(slot.generation) << 32 | index as u64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_key_never_finds_the_next_value_in_its_place() {
        let mut slots = Slots::default();
        let a = slots.insert("a");
        let b = slots.insert("b");
        assert_eq!(slots.remove(a), Some("a"));
        assert_eq!(slots.remove(a), None);
        let c = slots.insert("c");
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff, "the place is reused");
        assert_eq!(slots.get_mut(a), None, "but the old key does not reach it");
        assert_eq!(slots.get(c), Some(&"c"));
        assert_eq!((slots.len(), slots.keys().len()), (2, 2));
        assert!(slots.keys().contains(&b) && slots.keys().contains(&c));
        slots.remove(b);
        slots.remove(c);
        assert!(slots.is_empty());
    }
}
