// SPDX-License-Identifier: GPL-2.0

//! Unit tests of `engine::ring`.

use std::vec::Vec;

use crate::engine::ring::Ring;

#[test]
fn ring_fifo_wraps_and_refuses_when_full() {
    let mut r: Ring<u32, 3> = Ring::new();
    assert!(r.is_empty() && !r.is_full() && r.room() == 3);
    for round in 0..10u32 {
        assert_eq!(r.push_back(round * 10), Ok(()));
        assert_eq!(r.push_back(round * 10 + 1), Ok(()));
        assert_eq!(r.len(), 2);
        assert_eq!(r.front(), Some(&(round * 10)));
        assert_eq!(r.get(1), Some(&(round * 10 + 1)));
        assert_eq!(r.get(2), None);
        assert_eq!(r.pop_front(), Some(round * 10));
        assert_eq!(r.pop_front(), Some(round * 10 + 1));
        assert_eq!(r.pop_front(), None);
    }
    for i in 0..3 {
        assert_eq!(r.push_back(i), Ok(()));
    }
    assert!(r.is_full() && r.room() == 0);
    assert_eq!(r.push_back(99), Err(99));
    assert_eq!(r.len(), 3);
}

#[test]
fn ring_iter_follows_fifo_order_across_wrap() {
    let mut r: Ring<u32, 4> = Ring::default();
    for i in 0..4 {
        r.push_back(i).unwrap();
    }
    r.pop_front();
    r.pop_front();
    r.push_back(4).unwrap();
    r.push_back(5).unwrap();
    assert_eq!(r.iter().copied().collect::<Vec<_>>(), [2, 3, 4, 5]);
    for v in r.iter_mut() {
        *v += 100;
    }
    assert_eq!(r.iter().copied().collect::<Vec<_>>(), [102, 103, 104, 105]);
    *r.get_mut(1).unwrap() = 7;
    *r.front_mut().unwrap() = 6;
    *r.back_mut().unwrap() = 9;
    assert_eq!(r.iter().copied().collect::<Vec<_>>(), [6, 7, 104, 9]);
    assert!(r.get_mut(4).is_none());
}

#[test]
fn ring_of_zero_capacity_is_always_full() {
    let mut r: Ring<u8, 0> = Ring::new();
    assert!(r.is_full() && r.is_empty());
    assert_eq!(r.push_back(1), Err(1));
    assert_eq!(r.pop_front(), None);
    assert!(r.front().is_none() && r.back_mut().is_none());
    assert_eq!(r.iter().count(), 0);
    assert_eq!(r.iter_mut().count(), 0);
}

#[test]
fn ring_holds_non_copy_values() {
    let mut r: Ring<Vec<u8>, 2> = Ring::new();
    r.push_back(Vec::from([1u8])).unwrap();
    assert_eq!(r.push_back(Vec::new()), Ok(()));
    assert_eq!(r.push_back(Vec::from([3u8])), Err(Vec::from([3u8])));
    assert_eq!(r.pop_front(), Some(Vec::from([1u8])));
}
