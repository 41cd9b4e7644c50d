// SPDX-License-Identifier: GPL-2.0

//! Tests of the fault injector's spec parsing and decisions.

use crate::engine::{
    fault::{Fault, Injector},
    stream::Stream,
};
use std::string::String;

#[test]
fn fault_off_injects_nothing() {
    let mut inj = Injector::parse("off").unwrap();
    assert!(!inj.is_on());
    for _ in 0..100 {
        assert_eq!(inj.decide(Stream::Upload), None);
        assert_eq!(inj.decide(Stream::Cache), None);
    }
}

#[test]
fn fault_every_nth_and_nth() {
    let mut inj = Injector::parse("upload=every:3:eio cache=nth:2:eagain:retry").unwrap();
    let up: std::vec::Vec<_> = (0..9)
        .map(|_| inj.decide(Stream::Upload).is_some())
        .collect();
    assert_eq!(
        up,
        [false, false, true, false, false, true, false, false, true]
    );
    assert_eq!(inj.decide(Stream::Cache), None);
    assert_eq!(
        inj.decide(Stream::Cache),
        Some(Fault::Fail {
            errno: 11,
            retry: true
        })
    );
    assert_eq!(inj.decide(Stream::Cache), None);
    assert_eq!(inj.injected(Stream::Upload), 3);
    assert_eq!(inj.injected(Stream::Cache), 1);
}

#[test]
fn fault_percent_is_deterministic_and_roughly_right() {
    let run = |seed: u64| {
        let mut inj =
            Injector::parse(&std::format!("upload=percent:20:short seed={seed}")).unwrap();
        (0..10_000)
            .filter(|_| inj.decide(Stream::Upload) == Some(Fault::Short))
            .count()
    };
    assert_eq!(run(7), run(7));
    let n = run(7);
    assert!((1_500..2_500).contains(&n), "{n} of 10000 at 20%");
    assert_eq!(
        Injector::parse("upload=percent:0:eio")
            .unwrap()
            .decide(Stream::Upload),
        None
    );
}

#[test]
fn fault_bad_specs_are_refused() {
    for bad in [
        "upload",
        "upload=every:0:eio",
        "upload=percent:101:eio",
        "upload=every:2:enoent",
        "upload=every:2:short:retry",
        "upload=every:2:eio:retry:x",
        "disk=every:2:eio",
        "seed=x",
        "upload=every:x:eio",
        "request=every:2:short",
        "request=every:2:delay",
        "",
        " \n ",
        "upload=every:2:reorder:retry",
        "upload=every:2:delay delay_ms=0",
        "upload=every:2:delay delay_ms=10001",
        "delay_ms=x",
    ] {
        assert!(Injector::parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn fault_describe_round_trips() {
    let spec = "upload=every:3:enospc cache=percent:5:eintr:retry seed=9";
    let inj = Injector::parse(spec).unwrap();
    let mut s = String::new();
    inj.describe(&mut s).unwrap();
    let head = s.split('#').next().unwrap();
    assert_eq!(Injector::parse(head).unwrap(), inj);
    let mut off = String::new();
    Injector::off().describe(&mut off).unwrap();
    assert!(off.starts_with("off"));
}

#[test]
fn fault_late_kinds() {
    let mut inj = Injector::parse("delay_ms=7 upload=every:2:delay cache=nth:1:reorder").unwrap();
    assert_eq!(inj.decide(Stream::Upload), None);
    assert_eq!(inj.decide(Stream::Upload), Some(Fault::Delay { ms: 7 }));
    assert_eq!(inj.decide(Stream::Cache), Some(Fault::Reorder));
    assert_eq!(inj.decide(Stream::Cache), None);
    let d = Injector::parse("upload=nth:1:delay")
        .unwrap()
        .decide(Stream::Upload);
    assert_eq!(d, Some(Fault::Delay { ms: 20 }));
    let mut s = String::new();
    inj.describe(&mut s).unwrap();
    let head = s.split('#').next().unwrap();
    assert!(head.contains("delay_ms=7"), "{head}");
    let mut again = Injector::parse(head).unwrap();
    assert_eq!(again.decide(Stream::Upload), None);
    assert_eq!(again.decide(Stream::Upload), Some(Fault::Delay { ms: 7 }));
}

#[test]
fn fault_module_parameters() {
    assert!(!Injector::upload_every(0, 999, true).unwrap().is_on());
    let p = Injector::upload_every(3, 11, true).unwrap();
    assert_eq!(p, Injector::parse("upload=every:3:eagain:retry").unwrap());
    let p = Injector::upload_every(2, 0, false).unwrap();
    assert_eq!(p, Injector::parse("upload=every:2:short").unwrap());
    assert!(Injector::upload_every(2, 0, true).is_err());
    assert!(Injector::upload_every(2, 2, false).is_err());
    assert!(Injector::upload_every(2, u32::MAX, false).is_err());
}

#[test]
fn fault_request_site() {
    use crate::engine::fault::SITE_REQUEST;
    let mut inj = Injector::parse("request=nth:2:enomem").unwrap();
    assert_eq!(inj.decide(SITE_REQUEST), None);
    assert_eq!(
        inj.decide(SITE_REQUEST),
        Some(Fault::Fail {
            errno: 12,
            retry: false
        })
    );
    assert_eq!(inj.decide(Stream::Upload), None);
    assert_eq!(inj.injected(SITE_REQUEST), 1);
}
