//! The shared stores against a real redis-server (skipped, with the reason, where it is not
//! installed): two "nodes" in one process share a server, and each keeps working while it is
//! stopped.

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use mailmoat_auth::contacts::MemoryContacts;
use mailmoat_rules::RateStore;
use mailmoat_shared::test_server::RedisServer;
use mailmoat_shared::{Lesson, SharedConfig, SharedState};

fn node(server: &RedisServer, name: &str) -> SharedState {
    let config = SharedConfig {
        redis: server.url(),
        retry_after_secs: 1,
        ..SharedConfig::default()
    };
    SharedState::open(&config, name)
        .unwrap()
        .expect("configured")
}

#[test]
fn a_rate_limit_counts_the_events_of_every_node() {
    let Some(server) = RedisServer::start("rates") else {
        return;
    };
    let (a, b) = (node(&server, "a"), node(&server, "b"));
    assert_eq!(a.rates.hit("sender\0x@y", 1000, 60, 100), 1);
    assert_eq!(a.rates.hit("sender\0x@y", 1001, 60, 100), 2);
    assert_eq!(b.rates.peek("sender\0x@y", 1002, 60), 2);
    assert_eq!(b.rates.hit("sender\0x@y", 1002, 60, 100), 3);
    // The window slides: the events at 1000 and 1001 have left it at 1061.
    assert_eq!(a.rates.peek("sender\0x@y", 1061, 60), 1);
    // Counting stops at the cap, as in the local store.
    for t in 0..10 {
        b.rates.hit("capped", 2000 + t, 60, 4);
    }
    assert_eq!(a.rates.peek("capped", 2010, 60), 4);
}

#[test]
fn while_redis_is_down_a_node_limits_with_its_own_counts() {
    let Some(mut server) = RedisServer::start("rates-down") else {
        return;
    };
    let a = node(&server, "a");
    let b = node(&server, "b");
    b.rates.hit("k", 100, 60, 100);
    b.rates.hit("k", 100, 60, 100);
    assert_eq!(a.rates.hit("k", 101, 60, 100), 3, "shared while up");
    server.stop();
    // Node a saw one event itself; the outage costs it the other node's two.
    assert_eq!(a.rates.hit("k", 102, 60, 100), 2);
    assert!(!a.link.is_up());
    server.resume();
    std::thread::sleep(Duration::from_millis(1100));
    // Back (the restarted server is empty: it keeps no data on disk in this test).
    assert_eq!(a.rates.hit("k", 103, 60, 100), 1);
    assert!(a.link.is_up());
}

#[test]
fn a_contact_delivered_through_one_node_is_known_to_the_others() {
    let Some(mut server) = RedisServer::start("contacts") else {
        return;
    };
    let (a, b) = (node(&server, "a"), node(&server, "b"));
    let on_a = a.contacts(Arc::new(MemoryContacts::new(100)));
    let on_b = b.contacts(Arc::new(MemoryContacts::new(100)));
    assert!(!on_b.known("boss@partner.example", "ann@corp.example"));
    on_a.record("boss@partner.example", "ann@corp.example", 1_700_000_000);
    assert!(on_b.known("Boss@partner.example", "ann@corp.example"));
    assert!(
        !on_b.known("ann@corp.example", "boss@partner.example"),
        "directional"
    );
    // Node b copied what it learnt, so it still knows the pair while Redis is down.
    server.stop();
    assert!(on_b.known("boss@partner.example", "ann@corp.example"));
    let fresh = b.contacts(Arc::new(MemoryContacts::new(100)));
    assert!(!fresh.known("boss@partner.example", "ann@corp.example"));
}

/// Node `n` follows the lesson stream from `position`; what it receives comes out of the channel.
fn follow(
    n: &SharedState,
    position: &std::path::Path,
) -> (
    Arc<AtomicBool>,
    mpsc::Receiver<mailmoat_shared::Received>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let follower = n
        .lessons
        .follow(position.to_path_buf(), stop.clone(), move |batch| {
            for r in batch {
                tx.send(r).unwrap();
            }
        })
        .unwrap();
    (stop, rx, follower)
}

#[test]
fn a_lesson_made_on_one_node_reaches_the_other_once_even_across_an_outage() {
    let Some(mut server) = RedisServer::start("lessons") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mm-lessons-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (node(&server, "a"), node(&server, "b"));
    let (stop, rx, follower) = follow(&b, &dir.join("b.position"));
    let lesson = |spam, why: &str| Lesson {
        spam,
        bits: 20,
        features: vec![0, 7, 1 << 19],
        why: why.into(),
    };
    assert!(a.lessons.publish(lesson(true, "released")));
    let got = rx.recv_timeout(Duration::from_secs(5)).expect("delivered");
    assert_eq!(got.node, "a");
    assert_eq!(got.lesson, lesson(true, "released"));
    // Node b's own lessons are not handed back to it.
    assert!(b.lessons.publish(lesson(false, "b's own")));
    // While Redis is down a's lesson waits, and goes once it is back.
    server.stop();
    assert!(!a.lessons.publish(lesson(false, "during the outage")));
    assert_eq!(a.lessons.waiting(), 1);
    server.resume();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(a.lessons.flush(), 0);
    let got = rx.recv_timeout(Duration::from_secs(10)).expect("caught up");
    assert_eq!(got.lesson.why, "during the outage");
    assert!(
        rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "b's own lesson was skipped and nothing came twice"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    follower.join().unwrap();
    // A restarted follower resumes after the last lesson it applied.
    let (stop, rx, follower) = follow(&b, &dir.join("b.position"));
    assert!(a.lessons.publish(lesson(true, "after the restart")));
    let got = rx.recv_timeout(Duration::from_secs(5)).expect("delivered");
    assert_eq!(got.lesson.why, "after the restart");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    follower.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
