//! The global limiter against a real `redis-server` (Debian package `redis-server`;
//! scripts/test.sh installs it): shared budgets across replicas, TTLs, Redis down, slow and
//! back, NOSCRIPT, and hostile keys; and buckets of amounts (token and spend budgets): an
//! estimate taken up front by two replicas, the difference charged or given back, a debt paid
//! by fills, and `failureMode` when Redis is gone.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratelimit::config::DEFAULT_KEY_PREFIX;
use ratelimit::{
    AmountBucket, AmountDecision, Bucket, FailureMode, GlobalLimiter, Outcome, RedisConfig,
};
use redis::AsyncCommands;
use support::RedisServer;

fn cfg(url: &str) -> RedisConfig {
    RedisConfig {
        url: url.to_owned(),
        timeout: None,
        key_prefix: None,
    }
}

fn bucket(max: u64, per_fill: u64, interval: Duration) -> Bucket {
    Bucket::new(max, per_fill, interval).unwrap()
}

async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits (at most 10 s) until `limiter` reaches Redis again.
async fn until_checked(limiter: &GlobalLimiter, b: &Bucket) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.check("probe", b, "probe").await.outcome != Outcome::Checked {
        assert!(Instant::now() < deadline, "no reconnect within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_budget_exactly() {
    let server = RedisServer::start();
    let replicas = [
        Arc::new(GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap()),
        Arc::new(GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap()),
    ];
    let b = bucket(25, 25, Duration::from_secs(60));
    // Alternating first (each replica's view must include the other's takes) ...
    for i in 0..10 {
        let d = replicas[i % 2].check("route-a", &b, "alice").await;
        assert!(d.allowed, "{d:?}");
        assert_eq!(
            d.remaining,
            24 - i as u64,
            "replica {} sees every take",
            i % 2
        );
    }
    // ... then all at once.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let l = replicas[i % 2].clone();
            tokio::spawn(async move { l.check("route-a", &b, "alice").await })
        })
        .collect();
    let mut allowed = [5; 2];
    for (i, t) in tasks.into_iter().enumerate() {
        let d = t.await.unwrap();
        assert_eq!(d.outcome, Outcome::Checked, "{d:?}");
        assert_eq!(d.limit, 25);
        if d.allowed {
            allowed[i % 2] += 1;
        } else {
            let wait = d.retry_after.expect("a denial says when to retry");
            assert!(
                wait <= Duration::from_secs(60) && wait > Duration::from_secs(50),
                "{wait:?}"
            );
        }
    }
    assert_eq!(allowed[0] + allowed[1], 25, "one budget across replicas");
    assert!(
        allowed[0] > 0 && allowed[1] > 0,
        "both replicas took from it"
    );
}

#[tokio::test]
async fn refills_follow_the_redis_clock_and_retry_after_is_exact() {
    let server = RedisServer::start();
    let l = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap();
    let b = bucket(2, 1, Duration::from_secs(1));
    assert!(l.check("p", &b, "k").await.allowed);
    let d = l.check("p", &b, "k").await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    let d = l.check("p", &b, "k").await;
    assert!(!d.allowed);
    let wait = d.retry_after.unwrap();
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
    tokio::time::sleep(wait + Duration::from_millis(5)).await;
    let d = l.check("p", &b, "k").await;
    assert!(d.allowed, "a retry at retry-after succeeds: {d:?}");
    assert!(
        !l.check("p", &b, "k").await.allowed,
        "one fill adds one token"
    );
}

#[tokio::test]
async fn a_full_bucket_restarts_its_fill_phase_at_the_first_take() {
    // The rule src/bucket.rs states and the local limiter follows: after a full bucket is
    // taken from, the next fill is one whole interval later (not at the old phase).
    let server = RedisServer::start();
    let l = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap();
    let b = bucket(2, 1, Duration::from_millis(500));
    let d = l.check("p", &b, "k").await;
    assert!(d.reset_after > Duration::from_millis(450), "{d:?}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let d = l.check("p", &b, "k").await;
    assert_eq!(d.remaining, 1, "{d:?}");
    assert!(
        d.reset_after > Duration::from_millis(450) && d.reset_after <= Duration::from_millis(500),
        "{d:?}"
    );
}

#[tokio::test]
async fn every_key_has_a_ttl_and_idle_keys_vanish() {
    let server = RedisServer::start();
    let mut redis = admin(&server).await;
    let l = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailOpen).unwrap();
    let b = bucket(3, 1, Duration::from_millis(200));
    l.check("p", &b, "k").await;
    let key = l.key_for("p", "k");
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    // Time to full again: one fill (200 ms), plus the script's one-second margin.
    assert!(pttl > 900 && pttl <= 1200, "PTTL {pttl}");
    l.check("p", &b, "k").await;
    l.check("p", &b, "k").await;
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        pttl > 1300 && pttl <= 1600,
        "empty bucket: three fills + 1 s; PTTL {pttl}"
    );
    // A long bucket gets a long TTL, never none (-1).
    l.check("p", &bucket(10, 1, Duration::from_secs(3600)), "long")
        .await;
    let ttl: i64 = redis.ttl(l.key_for("p", "long")).await.unwrap();
    assert!(ttl > 3500 && ttl <= 3601, "TTL {ttl}");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let exists: bool = redis.exists(&key).await.unwrap();
    assert!(!exists, "an idle bucket is gone once full again");
}

#[tokio::test]
async fn redis_down_fails_open_or_closed_as_configured_and_recovers() {
    let mut server = RedisServer::start();
    let open = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailOpen).unwrap();
    let closed = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap();
    let b = bucket(2, 1, Duration::from_secs(30));
    assert_eq!(open.check("p", &b, "o").await.outcome, Outcome::Checked);
    assert_eq!(closed.check("p", &b, "c").await.outcome, Outcome::Checked);
    assert_eq!(open.stats().errors(), 0);

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let d = open.check("p", &b, "o").await;
        assert!(d.allowed, "failOpen allows: {d:?}");
        assert_eq!(d.outcome, Outcome::StoreErrorAllowed);
        assert!(d.store_error());
        let d = closed.check("p", &b, "c").await;
        assert!(!d.allowed, "failClosed denies: {d:?}");
        assert_eq!(d.outcome, Outcome::StoreErrorDenied);
        assert_eq!(
            d.retry_after,
            Some(Duration::from_secs(30)),
            "one fill interval"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(open.stats().errors(), 3);
    assert_eq!(open.stats().allowed_on_error(), 3);
    assert_eq!(closed.stats().errors(), 3);
    assert_eq!(closed.stats().denied_on_error(), 3);

    // Back (empty): the connection manager reconnects and limits hold again.
    server.restart();
    until_checked(&open, &b).await;
    until_checked(&closed, &b).await;
    let allowed = {
        let mut n = 0;
        for _ in 0..5 {
            let d = closed.check("p", &b, "after").await;
            assert_eq!(d.outcome, Outcome::Checked);
            n += usize::from(d.allowed);
        }
        n
    };
    assert_eq!(allowed, 2);
}

#[tokio::test]
async fn a_slow_redis_is_bounded_by_the_timeout() {
    let server = RedisServer::start();
    let mut c = cfg(&server.url());
    c.timeout = Some("100ms".parse().unwrap());
    let l = GlobalLimiter::new(&c, FailureMode::FailClosed).unwrap();
    let b = bucket(5, 5, Duration::from_secs(1));
    assert_eq!(l.check("p", &b, "k").await.outcome, Outcome::Checked);
    server.signal("-STOP");
    let started = Instant::now();
    let d = l.check("p", &b, "k").await;
    let took = started.elapsed();
    server.signal("-CONT");
    assert_eq!(d.outcome, Outcome::StoreErrorDenied, "{d:?}");
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(1),
        "{took:?}"
    );
    assert_eq!(l.stats().errors(), 1);
    until_checked(&l, &b).await;
}

#[tokio::test]
async fn a_limiter_starts_while_redis_is_down() {
    let port = support::free_port();
    let l = GlobalLimiter::new(
        &cfg(&format!("redis://127.0.0.1:{port}")),
        FailureMode::FailOpen,
    )
    .unwrap();
    let d = l
        .check("p", &bucket(1, 1, Duration::from_secs(1)), "k")
        .await;
    assert!(d.allowed);
    assert_eq!(d.outcome, Outcome::StoreErrorAllowed);
    assert_eq!(l.stats().errors(), 1);
}

#[tokio::test]
async fn noscript_after_script_flush_is_handled() {
    let server = RedisServer::start();
    let mut redis = admin(&server).await;
    let l = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap();
    let b = bucket(3, 1, Duration::from_secs(60));
    assert!(l.check("p", &b, "k").await.allowed);
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis)
        .await
        .unwrap();
    let d = l.check("p", &b, "k").await;
    assert_eq!(d.outcome, Outcome::Checked, "{d:?}");
    assert!(d.allowed);
    assert_eq!(d.remaining, 1, "the bucket's state survived the flush");
    assert!(l.check("p", &b, "k").await.allowed);
    assert!(!l.check("p", &b, "k").await.allowed);
    // The script ran by its SHA (EVALSHA) and was loaded again after the flush.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis)
        .await
        .unwrap();
    let calls = |name: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(calls("evalsha") >= 4, "{stats}");
    assert!(calls("script|load") >= 1, "{stats}");
}

#[tokio::test]
async fn hostile_keys_do_not_collide_or_inject() {
    let server = RedisServer::start();
    let mut redis = admin(&server).await;
    let l = GlobalLimiter::new(&cfg(&server.url()), FailureMode::FailClosed).unwrap();
    let b = bucket(1, 1, Duration::from_secs(60));
    let long = "k".repeat(64 * 1024);
    let keys = [
        "",
        " ",
        "a b",
        "a",
        "b",
        "a:b",
        ":",
        "::",
        "*",
        "?",
        "{a}",
        "a\r\nSET injected 1\r\n",
        "ünïcödé",
        "🙂",
        "A",
        long.as_str(),
    ];
    for key in keys {
        assert!(
            l.check("p", &b, key).await.allowed,
            "first request of {key:.20?}"
        );
    }
    for key in keys {
        assert!(
            !l.check("p", &b, key).await.allowed,
            "second request of {key:.20?}"
        );
    }
    // Policy and key parts cannot run into each other.
    assert!(
        l.check("p:a", &b, "b").await.allowed,
        "p:a + b is not p + a:b"
    );
    assert!(l.check("p", &b, "p:a").await.allowed);

    let stored: Vec<String> = redis.keys("*").await.unwrap();
    assert_eq!(stored.len(), keys.len() + 2, "{stored:?}");
    for k in &stored {
        let (head, hash) = k.rsplit_once(':').unwrap();
        assert!(
            head == format!("{DEFAULT_KEY_PREFIX}:p")
                || head == format!("{DEFAULT_KEY_PREFIX}:p%3Aa"),
            "{k}"
        );
        assert!(
            hash.len() == 64 && hash.bytes().all(|c| c.is_ascii_hexdigit()),
            "{k}"
        );
    }
    let injected: bool = redis.exists("injected").await.unwrap();
    assert!(!injected);
}

#[tokio::test]
async fn key_prefixes_separate_gateways() {
    let server = RedisServer::start();
    let mut a = cfg(&server.url());
    a.key_prefix = Some("gw-a".into());
    let mut other = cfg(&server.url());
    other.key_prefix = Some("gw-b".into());
    let a = GlobalLimiter::new(&a, FailureMode::FailClosed).unwrap();
    let other = GlobalLimiter::new(&other, FailureMode::FailClosed).unwrap();
    let b = bucket(1, 1, Duration::from_secs(60));
    assert!(a.check("p", &b, "k").await.allowed);
    assert!(other.check("p", &b, "k").await.allowed);
    assert!(!a.check("p", &b, "k").await.allowed);
    assert!(a.key_for("p", "k").starts_with("gw-a:p:"));
}

// Buckets of amounts (`amount.lua`).

fn amount_limiter(url: &str, mode: FailureMode) -> GlobalLimiter {
    let cfg = RedisConfig {
        url: url.to_owned(),
        timeout: Some(netkit::Duration(Duration::from_millis(300))),
        key_prefix: None,
    };
    GlobalLimiter::new(&cfg, mode).unwrap()
}

#[tokio::test]
async fn two_replicas_take_estimates_and_settle_real_usage() {
    let server = RedisServer::start();
    let a = amount_limiter(&server.url(), FailureMode::FailClosed);
    let b = amount_limiter(&server.url(), FailureMode::FailClosed);
    let bucket = AmountBucket {
        max: 1000,
        per_fill: 100,
        interval: Duration::from_secs(60),
    };
    async fn take_from(l: &GlobalLimiter, bucket: AmountBucket, n: u64) -> AmountDecision {
        l.take_amount("route/0", "alice", &bucket, n, FailureMode::FailClosed)
            .await
    }
    let take = |l, n| take_from(l, bucket, n);
    // 300 estimated by a, then 900 really used: 600 more charged (balance 100).
    assert_eq!(take(&a, 300).await, AmountDecision::Taken);
    a.charge_amount("route/0", "alice", &bucket, 600).await;
    // b sees the same balance: 150 does not fit in 100; one fill (60s) makes 200.
    match take(&b, 150).await {
        AmountDecision::Wait(w) => {
            assert!(
                w > Duration::from_secs(58) && w <= Duration::from_secs(60),
                "{w:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // 100 fits exactly; used only 40: 60 given back.
    assert_eq!(take(&b, 100).await, AmountDecision::Taken);
    b.charge_amount("route/0", "alice", &bucket, -60).await;
    assert_eq!(take(&a, 60).await, AmountDecision::Taken);
    assert!(matches!(take(&a, 1).await, AmountDecision::Wait(_)));
    // An estimate over the size: allowed only on a full bucket, leaving a debt.
    assert_eq!(
        a.take_amount("route/0", "bob", &bucket, 2500, FailureMode::FailClosed)
            .await,
        AmountDecision::Taken
    );
    match a
        .take_amount("route/0", "bob", &bucket, 1, FailureMode::FailClosed)
        .await
    {
        // -1500 needs 1501: 16 fills.
        AmountDecision::Wait(w) => assert!(w > Duration::from_secs(15 * 60), "{w:?}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn failure_mode_decides_when_redis_is_gone() {
    let server = RedisServer::start();
    let url = server.url();
    drop(server);
    let bucket = AmountBucket {
        max: 10,
        per_fill: 1,
        interval: Duration::from_secs(1),
    };
    let open = amount_limiter(&url, FailureMode::FailOpen);
    assert_eq!(
        open.take_amount("r", "k", &bucket, 1, FailureMode::FailOpen)
            .await,
        AmountDecision::StoreErrorAllowed
    );
    assert_eq!(
        open.take_amount("r", "k", &bucket, 1, FailureMode::FailClosed)
            .await,
        AmountDecision::StoreErrorDenied
    );
    assert!(open.stats().errors() >= 2);
}
