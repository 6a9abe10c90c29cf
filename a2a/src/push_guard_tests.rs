use std::collections::HashMap;

use serde_json::json;

use super::*;

/// A resolver answering from a fixed table; unknown names fail like NXDOMAIN.
struct StaticResolver(HashMap<&'static str, Vec<IpAddr>>);

impl Resolve for StaticResolver {
    fn resolve<'a>(&'a self, host: &'a str, _port: u16) -> ResolveFuture<'a> {
        let answer = self
            .0
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"));
        Box::pin(async move { answer })
    }
}

/// A resolver that never answers.
struct HangingResolver;

impl Resolve for HangingResolver {
    fn resolve<'a>(&'a self, _: &'a str, _: u16) -> ResolveFuture<'a> {
        Box::pin(std::future::pending())
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn guard(config: PushGuardConfig) -> PushGuard {
    let table = HashMap::from([
        (
            "hooks.example.com",
            vec![ip("93.184.215.14"), ip("2606:2800:21f:cb07::1")],
        ),
        ("internal.example.com", vec![ip("10.0.0.5")]),
        // One public and one private address: the private one must still refuse it.
        (
            "mixed.example.com",
            vec![ip("93.184.215.14"), ip("192.168.1.10")],
        ),
        ("metadata.example.com", vec![ip("169.254.169.254")]),
        ("mapped.example.com", vec![ip("::ffff:127.0.0.1")]),
        ("relay.corp", vec![ip("10.20.0.7")]),
        ("empty.example.com", vec![]),
    ]);
    PushGuard::with_resolver(config, Arc::new(StaticResolver(table)))
}

#[tokio::test]
async fn public_https_webhook_passes_with_its_addresses() {
    let ok = guard(PushGuardConfig::default())
        .check_url("https://hooks.example.com/a2a?x=1")
        .await
        .unwrap();
    assert_eq!(ok.addrs.len(), 2);
    assert!(!ok.host_allow_listed);
}

#[tokio::test]
async fn every_resolved_address_is_checked() {
    let g = guard(PushGuardConfig::default());
    let err = g.check_url("https://mixed.example.com/").await.unwrap_err();
    assert_eq!(
        err,
        PushUrlError::Blocked {
            host: "mixed.example.com".into(),
            addr: ip("192.168.1.10"),
            range: BlockedRange::Private
        }
    );
    assert!(err.to_string().contains("private address"), "{err}");
    let err = g
        .check_url("https://internal.example.com/")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        PushUrlError::Blocked {
            range: BlockedRange::Private,
            ..
        }
    ));
    let err = g
        .check_url("https://metadata.example.com/")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        PushUrlError::Blocked {
            range: BlockedRange::CloudMetadata,
            ..
        }
    ));
    let err = g
        .check_url("https://mapped.example.com/")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        PushUrlError::Blocked {
            range: BlockedRange::Loopback,
            ..
        }
    ));
}

#[tokio::test]
async fn literal_addresses_in_all_spellings_are_refused() {
    let g = guard(PushGuardConfig::default());
    for (url, range) in [
        ("https://127.0.0.1/", BlockedRange::Loopback),
        ("https://2130706433/", BlockedRange::Loopback), // decimal 127.0.0.1
        ("https://0x7f.1/", BlockedRange::Loopback),
        ("https://[::1]/", BlockedRange::Loopback),
        ("https://[::ffff:10.1.2.3]/", BlockedRange::Private),
        (
            "https://[::ffff:169.254.169.254]/",
            BlockedRange::CloudMetadata,
        ),
        ("https://[64:ff9b::a9fe:a9fe]/", BlockedRange::CloudMetadata),
        ("https://[2002:c0a8:0101::1]/", BlockedRange::Private),
        ("https://[fd00:ec2::254]/", BlockedRange::CloudMetadata),
        ("https://[fd12::1]/", BlockedRange::Private),
        ("https://[fe80::1]/", BlockedRange::LinkLocal),
        ("https://[ff02::1]/", BlockedRange::Multicast),
        ("https://[::]/", BlockedRange::Unspecified),
        ("https://0.0.0.0/", BlockedRange::Unspecified),
        ("https://172.31.255.1/", BlockedRange::Private),
        ("https://169.254.10.1/", BlockedRange::LinkLocal),
        ("https://100.100.100.200/", BlockedRange::SharedCgnat),
        ("https://224.0.0.1/", BlockedRange::Multicast),
        ("https://255.255.255.255/", BlockedRange::Broadcast),
        ("https://250.1.1.1/", BlockedRange::Reserved),
    ] {
        match g.check_url(url).await {
            Err(PushUrlError::Blocked { range: got, .. }) => assert_eq!(got, range, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[test]
fn public_neighbours_of_blocked_ranges_are_allowed() {
    for addr in [
        "172.32.0.1",
        "172.15.255.255",
        "100.128.0.1",
        "100.63.255.255",
        "11.0.0.1",
        "192.169.0.1",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "2002:0808:0808::1",
    ] {
        assert_eq!(blocked_range(ip(addr)), None, "{addr}");
    }
}

#[tokio::test]
async fn scheme_rules() {
    let g = guard(PushGuardConfig::default());
    assert!(matches!(
        g.check_url("http://hooks.example.com/").await,
        Err(PushUrlError::HttpsRequired { .. })
    ));
    assert!(matches!(
        g.check_url("ftp://hooks.example.com/").await,
        Err(PushUrlError::Scheme { .. })
    ));
    assert!(matches!(
        g.check_url("not a url").await,
        Err(PushUrlError::Invalid { .. })
    ));
    let lax = guard(PushGuardConfig {
        require_https: false,
        ..Default::default()
    });
    assert!(lax.check_url("http://hooks.example.com/").await.is_ok());
    // Plain http does not skip the address checks.
    assert!(matches!(
        lax.check_url("http://127.0.0.1:8080/").await,
        Err(PushUrlError::Blocked { .. })
    ));
}

#[tokio::test]
async fn allow_lists_by_host_and_cidr() {
    let g = guard(PushGuardConfig {
        allow_hosts: vec!["*.svc.cluster.local".into(), "Relay.Corp".into()],
        allow_cidrs: vec!["10.0.0.0/24".parse().unwrap()],
        ..Default::default()
    });
    let ok = g.check_url("https://relay.corp/hook").await.unwrap();
    assert!(ok.host_allow_listed);
    assert!(
        g.check_url("https://hooks.svc.cluster.local/")
            .await
            .unwrap()
            .host_allow_listed
    );
    // The bare suffix is not covered by `*.`.
    assert!(g.check_url("https://svc.cluster.local/").await.is_err());
    assert!(g.check_url("https://evilsvc.cluster.local/").await.is_err());
    // CIDR allow-list applies per address.
    assert!(g.check_url("https://internal.example.com/").await.is_ok());
    assert!(g.check_url("https://10.0.0.200/").await.is_ok());
    assert!(g.check_url("https://10.0.1.1/").await.is_err());
}

#[tokio::test]
async fn resolution_failures_are_reported() {
    let g = guard(PushGuardConfig::default());
    assert!(matches!(
        g.check_url("https://nowhere.example.com/").await,
        Err(PushUrlError::Resolve { .. })
    ));
    assert!(matches!(
        g.check_url("https://empty.example.com/").await,
        Err(PushUrlError::NoAddress { .. })
    ));
    let slow = PushGuard::with_resolver(
        PushGuardConfig {
            resolve_timeout: Duration::from_millis(20),
            ..Default::default()
        },
        Arc::new(HangingResolver),
    );
    let err = slow
        .check_url("https://hooks.example.com/")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn configs_of_both_eras() {
    let g = guard(PushGuardConfig::default());
    let v1 = json!({"taskId": "t", "url": "https://hooks.example.com/1", "token": "secret",
                    "authentication": {"scheme": "Bearer", "credentials": "c"}});
    assert!(g.check_config(&v1).await.is_ok());
    let v03_set = json!({"taskId": "t", "pushNotificationConfig": {"url": "https://10.0.0.5/"}});
    assert!(matches!(
        g.check_config(&v03_set).await,
        Err(PushUrlError::Blocked { .. })
    ));
    let err = g.check_config(&json!({"taskId": "t"})).await.unwrap_err();
    assert_eq!(err, PushUrlError::MissingUrl);
    assert!(!format!("{err} {v1}").is_empty());
}

#[tokio::test]
async fn system_resolver_resolves_localhost_and_refuses_it() {
    // Touches only the local resolver (hosts file); no network traffic.
    let g = PushGuard::new(PushGuardConfig::default());
    let err = g.check_url("https://localhost/").await.unwrap_err();
    assert!(
        matches!(
            err,
            PushUrlError::Blocked {
                range: BlockedRange::Loopback,
                ..
            }
        ),
        "{err}"
    );
}
