// SPDX-License-Identifier: GPL-2.0

//! A fixed-capacity FIFO.
//!
//! The engine runs under a spinlock and may not allocate there, so every
//! queue it keeps has its capacity fixed when it is created: inline for
//! small queues, or in slots the caller allocated beforehand for large
//! ones (which must not be built on the stack).

/// Storage for a [`RingBuf`]: a slice of slots, all `None` when handed over.
pub(crate) trait Slots<T>: AsRef<[Option<T>]> + AsMut<[Option<T>]> {}

impl<T, B: AsRef<[Option<T>]> + AsMut<[Option<T>]>> Slots<T> for B {}

/// A FIFO over caller-provided slots.
pub(crate) struct RingBuf<T, B: Slots<T>> {
    /// Occupied slots are exactly the `len` slots starting at `head`
    /// (wrapping); all others are `None`, which lets iteration skip them.
    slots: B,
    /// Slot of the front element; always `< N` when `N > 0`, where `N` is
    /// the number of slots.
    head: usize,
    /// Number of elements.
    len: usize,
    /// Only to tie `T` to the type.
    _t: core::marker::PhantomData<T>,
}

/// A FIFO of at most `N` elements, stored inline.
pub(crate) type Ring<T, const N: usize> = RingBuf<T, [Option<T>; N]>;

impl<T, const N: usize> RingBuf<T, [Option<T>; N]> {
    /// A path to `None` lets `[Self::EMPTY; N]` build the array for
    /// non-`Copy` `T` in a `const fn`.
    const EMPTY: Option<T> = None;

    /// Creates an empty ring.
    pub(crate) const fn new() -> Self {
        Self {
            slots: [Self::EMPTY; N],
            head: 0,
            len: 0,
            _t: core::marker::PhantomData,
        }
    }
}

impl<T, B: Slots<T>> RingBuf<T, B> {
    /// Creates an empty ring over `slots`, one element per slot.
    ///
    /// Slots that are not `None` are dropped: the ring starts empty.
    pub(crate) fn with_slots(mut slots: B) -> Self {
        for s in slots.as_mut() {
            *s = None;
        }
        Self {
            slots,
            head: 0,
            len: 0,
            _t: core::marker::PhantomData,
        }
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring holds no element.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the ring has no free slot.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    /// Number of free slots.
    pub(crate) fn room(&self) -> usize {
        self.capacity().saturating_sub(self.len)
    }

    /// Slot index of the `i`-th element from the front, wrapping; `None`
    /// only when there are no slots.
    fn slot(&self, i: usize) -> Option<usize> {
        // head < N and i <= len <= N, so the sum cannot overflow in
        // practice; checked arithmetic keeps that true for absurd N too.
        self.head.checked_add(i)?.checked_rem(self.capacity())
    }

    /// Appends `v` at the back, or hands it back when the ring is full.
    pub(crate) fn push_back(&mut self, v: T) -> Result<(), T> {
        if self.is_full() {
            return Err(v);
        }
        let Some(slot) = self
            .slot(self.len)
            .and_then(|s| self.slots.as_mut().get_mut(s))
        else {
            return Err(v);
        };
        *slot = Some(v);
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// Removes and returns the front element.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.slots.as_mut().get_mut(self.head)?.take();
        self.head = self.slot(1).unwrap_or(0);
        self.len = self.len.saturating_sub(1);
        v
    }

    /// The front element.
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The front element, mutably.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        self.get_mut(0)
    }

    /// The back element, mutably.
    pub(crate) fn back_mut(&mut self) -> Option<&mut T> {
        self.get_mut(self.len.checked_sub(1)?)
    }

    /// The `i`-th element from the front.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.slots.as_ref().get(self.slot(i)?)?.as_ref()
    }

    /// The `i`-th element from the front, mutably.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let s = self.slot(i)?;
        self.slots.as_mut().get_mut(s)?.as_mut()
    }

    /// Iterates from front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        // The live elements run from head to the array end, then wrap to
        // the start; free slots are None and drop out in filter_map.
        let head = self.head.min(self.capacity());
        let (wrapped, from_head) = self.slots.as_ref().split_at(head);
        from_head
            .iter()
            .chain(wrapped.iter())
            .filter_map(Option::as_ref)
    }

    /// Iterates mutably from front to back.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let head = self.head.min(self.capacity());
        let (wrapped, from_head) = self.slots.as_mut().split_at_mut(head);
        from_head
            .iter_mut()
            .chain(wrapped.iter_mut())
            .filter_map(Option::as_mut)
    }
}

impl<T, const N: usize> Default for RingBuf<T, [Option<T>; N]> {
    fn default() -> Self {
        Self::new()
    }
}
