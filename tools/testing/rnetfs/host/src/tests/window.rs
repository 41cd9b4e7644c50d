// SPDX-License-Identifier: GPL-2.0

//! The adaptive in-flight window against simulated servers.

use crate::engine::window::Window;
use std::{vec, vec::Vec};

/// Runs `n` uploads through a server that serves `parallel` at a time,
/// each taking `service` ns plus `latency` ns of transport, with the
/// issuer keeping the window full. Returns the window at the end and
/// the largest number in flight.
fn simulate(w: &mut Window, parallel: usize, service: u64, latency: u64, n: usize) -> usize {
    // (answer time, send time, load at send)
    let mut flight: Vec<(u64, u64, usize)> = Vec::new();
    // When each server lane is free again.
    let mut lanes = vec![0u64; parallel];
    let mut now = 0u64;
    let mut sent = 0;
    let mut most = 0;
    while sent < n || !flight.is_empty() {
        while sent < n && flight.len() < w.limit() {
            let lane = (0..parallel).min_by_key(|&i| lanes[i]).unwrap();
            let begin = lanes[lane].max(now + latency / 2);
            lanes[lane] = begin + service;
            let load = flight.len() + 1;
            flight.push((lanes[lane] + latency / 2, now, load));
            most = most.max(flight.len());
            sent += 1;
        }
        flight.sort();
        let (at, sent_at, load) = flight.remove(0);
        now = at;
        w.answered(sent_at, at, load);
    }
    most
}

#[test]
fn serial_server_keeps_two_or_three_in_flight() {
    let mut w = Window::new(8, true);
    simulate(&mut w, 1, 1_000_000, 50_000, 400);
    assert!((2..=3).contains(&w.limit()), "window {}", w.limit());
}

#[test]
fn latency_bound_server_opens_the_window() {
    let mut w = Window::new(8, true);
    // 20 ms of latency, 1 ms of service, 16 lanes: answers wait on the
    // link, not on each other.
    let most = simulate(&mut w, 16, 1_000_000, 20_000_000, 400);
    assert_eq!(w.limit(), 8);
    assert_eq!(most, 8);
}

#[test]
fn two_lane_server_settles_between_two_and_five() {
    let mut w = Window::new(8, true);
    simulate(&mut w, 2, 1_000_000, 50_000, 400);
    assert!((2..=5).contains(&w.limit()), "window {}", w.limit());
}

#[test]
fn fixed_window_stays_at_its_bound() {
    let mut w = Window::new(8, false);
    simulate(&mut w, 1, 1_000_000, 0, 100);
    assert_eq!(w.limit(), 8);
}

#[test]
fn window_stays_within_one_and_max() {
    let mut w = Window::new(4, true);
    let mut now = 0;
    for _ in 0..100 {
        w.answered(now, now + 1_000, 1);
        now += 1_000;
    }
    assert_eq!(w.limit(), 4);
    for _ in 0..100 {
        // Every answer ten times the base with four in flight.
        w.answered(now, now + 10_000, 4);
        now += 10_000;
    }
    assert_eq!(w.limit(), 1);
    let mut z = Window::new(0, true);
    z.answered(0, 5, 1);
    assert_eq!(z.limit(), 1);
}

/// The collection state feeds the window from the uploads' send and
/// answer times: queueing answers close it, answers that do not queue
/// open it; retried uploads and the cache stream are not samples.
#[test]
fn state_feeds_the_window_from_upload_answers() {
    use crate::engine::{state::WriteState, stream::Stream};
    type St = WriteState<u32, u32, 8, [Option<(u32, u64)>; 4]>;
    let mut st = St::new(0, 3);
    st.activate(Stream::Upload);
    st.activate(Stream::Cache);
    st.set_window(Window::new(8, true));
    assert_eq!(st.window().limit(), 4);
    // Four uploads sent at once, answered one after another, as a server
    // serving one at a time does: the later ones queued.
    for h in 1..=4u32 {
        let start = u64::from(h - 1) * 1000;
        assert_eq!(st.add_sreq(Stream::Upload, h, start), Ok(()));
        assert!(st.set_sreq_len_at(Stream::Upload, &h, 1000, Some(0)));
    }
    // A cache write answered late says nothing about the server.
    assert_eq!(st.add_sreq(Stream::Cache, 9, 0), Ok(()));
    assert!(st.set_sreq_len_at(Stream::Cache, &9, 4000, Some(0)));
    st.terminated_at(Stream::Cache, &9, 4000, false, Some(1_000_000_000));
    assert_eq!(st.window().limit(), 4);
    st.terminated_at(Stream::Upload, &1, 1000, false, Some(1_000_000));
    // Fewer than one queued behind the first: the window grows, once.
    assert_eq!(st.window().limit(), 5);
    // Sent before that change: no further move.
    st.terminated_at(Stream::Upload, &2, 1000, false, Some(2_000_000));
    assert_eq!(st.window().limit(), 5);
    // Sent after it with three in flight and answered at four times the
    // base: more than two queued, the window shrinks.
    assert_eq!(st.add_sreq(Stream::Upload, 5, 4000), Ok(()));
    assert!(st.set_sreq_len_at(Stream::Upload, &5, 1000, Some(2_000_000)));
    st.terminated_at(Stream::Upload, &5, 1000, false, Some(6_000_000));
    assert_eq!(st.window().limit(), 4);
}
