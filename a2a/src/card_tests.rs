use serde_json::json;

use super::*;

const PUBLIC: &str = "https://gw.example.com/agents/travel";
const UPSTREAM: &str = "http://127.0.0.1:9999/";

/// The 1.0 card of the a2a-sdk echo agent in a2a.md §11.1, plus a gRPC interface, a tenant and
/// a vendor field.
fn card_v1() -> Value {
    json!({
        "name": "Echo", "description": "echo", "version": "1.0.0",
        "supportedInterfaces": [
            {"url": "http://127.0.0.1:9999/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:9999/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0", "tenant": "t1"},
            {"url": "127.0.0.1:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:9999/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
        ],
        "capabilities": {"streaming": true, "extendedAgentCard": true},
        "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
        "provider": {"url": "https://example.com", "organization": "Ex"},
        "skills": [{"id": "echo", "name": "Echo", "description": "e", "tags": ["echo"]}],
        "x-vendor": {"keep": [1, 2, 3]}
    })
}

/// A 0.3 card (types.ts at v0.3.0): primary `url` repeated in `additionalInterfaces`.
fn card_v03() -> Value {
    json!({
        "protocolVersion": "0.3.0", "name": "Travel", "description": "books trips",
        "url": "http://127.0.0.1:9999/", "preferredTransport": "JSONRPC",
        "additionalInterfaces": [
            {"url": "http://127.0.0.1:9999/", "transport": "JSONRPC"},
            {"url": "http://127.0.0.1:9999/v1", "transport": "HTTP+JSON"},
            {"url": "127.0.0.1:50051", "transport": "GRPC"}
        ],
        "version": "2.1", "capabilities": {"streaming": true, "stateTransitionHistory": true},
        "supportsAuthenticatedExtendedCard": true,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "security": [{"bearer": []}],
        "defaultInputModes": ["text"], "defaultOutputModes": ["text"], "skills": []
    })
}

/// The hybrid card a2a-sdk 1.3.0 serves (a2a.md §3.3).
fn card_hybrid() -> Value {
    json!({
        "name": "Echo", "description": "echo", "version": "1.0.0",
        "supportedInterfaces": [
            {"url": "http://127.0.0.1:9999/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:9999/a2a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
            {"url": "http://127.0.0.1:9999/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
        ],
        "url": "http://127.0.0.1:9999/a2a/jsonrpc", "preferredTransport": "JSONRPC", "protocolVersion": "0.3",
        "capabilities": {"streaming": true}, "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"], "skills": []
    })
}

fn opts() -> RewriteOptions {
    RewriteOptions::new(PUBLIC, UPSTREAM).unwrap()
}

fn rewrite(card: &Value, opts: &RewriteOptions) -> (Value, RewriteReport) {
    let out = rewrite_card(&serde_json::to_vec(card).unwrap(), opts).unwrap();
    (serde_json::from_slice(&out.body).unwrap(), out.report)
}

/// No URL in the output may still name the upstream: any such URL bypasses the gateway.
fn assert_no_upstream_left(card: &Value) {
    let text = card.to_string();
    assert!(
        !text.contains("127.0.0.1:9999"),
        "upstream URL left: {text}"
    );
    assert!(!text.contains("50051"), "gRPC interface left: {text}");
}

#[test]
fn v1_card_interfaces_point_at_gateway_and_grpc_is_dropped() {
    let (card, report) = rewrite(&card_v1(), &opts());
    assert_eq!(report.dialect, Some(CardDialect::V1));
    let ifaces = card["supportedInterfaces"].as_array().unwrap();
    assert_eq!(ifaces.len(), 3);
    assert_eq!(ifaces[0]["url"], format!("{PUBLIC}/a2a/jsonrpc"));
    assert_eq!(ifaces[1]["url"], format!("{PUBLIC}/a2a/rest"));
    assert_eq!(ifaces[1]["tenant"], "t1");
    assert_eq!(ifaces[2]["protocolVersion"], "0.3");
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(report.dropped[0].field, "/supportedInterfaces/2/url");
    assert_eq!(
        report.dropped[0].reason,
        DropReason::UnproxiedBinding("GRPC".into())
    );
    assert_eq!(report.rewritten.len(), 3);
    assert!(report.rewritten.iter().all(|r| !r.foreign_origin));
    assert_no_upstream_left(&card);
    // Unknown and untouched fields survive.
    assert_eq!(card["x-vendor"], json!({"keep": [1, 2, 3]}));
    assert_eq!(card["provider"]["url"], "https://example.com");
    assert!(card.get("url").is_none(), "no 0.3 url invented");
}

#[test]
fn v03_card_url_and_additional_interfaces_are_rewritten() {
    let (card, report) = rewrite(&card_v03(), &opts());
    assert_eq!(report.dialect, Some(CardDialect::V03));
    assert_eq!(card["url"], format!("{PUBLIC}/"));
    assert_eq!(card["preferredTransport"], "JSONRPC");
    let extra = card["additionalInterfaces"].as_array().unwrap();
    assert_eq!(extra.len(), 2);
    assert_eq!(extra[1]["url"], format!("{PUBLIC}/v1"));
    assert_eq!(extra[1]["transport"], "HTTP+JSON");
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(report.dropped[0].binding, "GRPC");
    assert!(report.promoted.is_none());
    assert_no_upstream_left(&card);
    assert_eq!(card["security"], json!([{"bearer": []}]));
    assert_eq!(card["supportsAuthenticatedExtendedCard"], true);
}

#[test]
fn hybrid_card_rewrites_both_sets() {
    let (card, report) = rewrite(&card_hybrid(), &opts());
    assert_eq!(report.dialect, Some(CardDialect::Hybrid));
    assert_eq!(card["url"], format!("{PUBLIC}/a2a/jsonrpc"));
    assert_eq!(card["protocolVersion"], "0.3");
    assert_eq!(
        card["supportedInterfaces"][1]["url"],
        format!("{PUBLIC}/a2a/rest")
    );
    assert_eq!(report.rewritten.len(), 4);
    assert!(report.dropped.is_empty());
    assert_no_upstream_left(&card);
}

#[test]
fn grpc_preferred_transport_promotes_first_kept_interface() {
    let mut card = card_v03();
    card["url"] = json!("127.0.0.1:50051");
    card["preferredTransport"] = json!("GRPC");
    card["additionalInterfaces"] = json!([
        {"url": "127.0.0.1:50051", "transport": "GRPC"},
        {"url": "http://127.0.0.1:9999/v1", "transport": "HTTP+JSON"}
    ]);
    let (card, report) = rewrite(&card, &opts());
    assert_eq!(card["url"], format!("{PUBLIC}/v1"));
    assert_eq!(card["preferredTransport"], "HTTP+JSON");
    assert_eq!(report.promoted.as_deref(), Some(&*format!("{PUBLIC}/v1")));
    assert_eq!(report.dropped.len(), 2);
    assert_no_upstream_left(&card);
}

#[test]
fn card_with_only_grpc_is_an_error() {
    let card = json!({"name": "g", "supportedInterfaces": [
        {"url": "agent:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"}]});
    let err = rewrite_card(card.to_string().as_bytes(), &opts()).unwrap_err();
    assert!(matches!(err, CardError::NoProxiedInterface { .. }), "{err}");
    assert!(err.to_string().contains("GRPC"), "{err}");
}

#[test]
fn custom_binding_uri_is_dropped() {
    let mut card = card_v1();
    card["supportedInterfaces"][0]["protocolBinding"] = json!("https://example.com/bindings/slim");
    let (_, report) = rewrite(&card, &opts());
    assert!(report
        .dropped
        .iter()
        .any(|d| d.binding == "https://example.com/bindings/slim"));
}

#[test]
fn configured_bindings_are_matched_case_insensitively() {
    let mut card = card_v1();
    card["supportedInterfaces"][0]["protocolBinding"] = json!("jsonrpc");
    let (card, report) = rewrite(&card, &opts());
    assert_eq!(report.dropped.len(), 1, "only gRPC dropped");
    assert_eq!(
        card["supportedInterfaces"][0]["url"],
        format!("{PUBLIC}/a2a/jsonrpc")
    );
}

#[test]
fn signatures_are_stripped_by_default() {
    let mut card = card_v1();
    card["signatures"] = json!([{"protected": "eyJhbGciOiJFUzI1NiJ9", "signature": "abc"}]);
    let (card, report) = rewrite(&card, &opts());
    assert!(card.get("signatures").is_none());
    assert_eq!(report.signatures, SignatureAction::Stripped { count: 1 });
}

#[test]
fn signed_card_passes_unmodified_when_asked() {
    let mut card = card_v1();
    card["signatures"] = json!([{"protected": "p", "signature": "s"}]);
    let bytes = serde_json::to_vec(&card).unwrap();
    let mut o = opts();
    o.signed_cards = SignedCards::PassUnmodified;
    let out = rewrite_card(&bytes, &o).unwrap();
    assert_eq!(out.body, bytes);
    assert_eq!(out.report.signatures, SignatureAction::PassedUnmodified);
    assert!(out.report.rewritten.is_empty());
}

#[test]
fn unsigned_card_is_rewritten_even_under_pass_unmodified() {
    let mut o = opts();
    o.signed_cards = SignedCards::PassUnmodified;
    let (card, report) = rewrite(&card_v1(), &o);
    assert_eq!(report.signatures, SignatureAction::Unsigned);
    assert_no_upstream_left(&card);
}

#[test]
fn upstream_base_path_is_removed_segment_aware() {
    let o = RewriteOptions::new(PUBLIC, "http://agent:9999/agents/x/").unwrap();
    let card = json!({"supportedInterfaces": [
        {"url": "http://agent:9999/agents/x/rpc", "protocolBinding": "JSONRPC"},
        {"url": "http://agent:9999/agents/x", "protocolBinding": "JSONRPC"},
        {"url": "http://agent:9999/agents/xy/rpc", "protocolBinding": "JSONRPC"},
        {"url": "http://agent:9999/other", "protocolBinding": "HTTP+JSON"}
    ]});
    let (card, report) = rewrite(&card, &o);
    let ifaces = card["supportedInterfaces"].as_array().unwrap();
    assert_eq!(ifaces.len(), 2);
    assert_eq!(ifaces[0]["url"], format!("{PUBLIC}/rpc"));
    assert_eq!(ifaces[1]["url"], PUBLIC);
    assert_eq!(report.dropped.len(), 2);
    assert!(report
        .dropped
        .iter()
        .all(|d| d.reason == DropReason::OutsideUpstreamBase));
}

#[test]
fn foreign_origin_is_rewritten_and_flagged_query_kept() {
    let card = json!({"url": "http://localhost:8000/rpc/?v=1"});
    let (card, report) = rewrite(&card, &opts());
    assert_eq!(card["url"], format!("{PUBLIC}/rpc/?v=1"));
    assert!(report.rewritten[0].foreign_origin);
}

#[test]
fn root_public_base_does_not_double_slashes() {
    let o = RewriteOptions::new("https://gw.example.com/", UPSTREAM).unwrap();
    let (card, _) = rewrite(&card_hybrid(), &o);
    assert_eq!(card["url"], "https://gw.example.com/a2a/jsonrpc");
}

#[test]
fn malformed_cards_are_errors_not_panics() {
    let o = opts();
    assert!(matches!(
        rewrite_card(b"{not json", &o),
        Err(CardError::InvalidJson(_))
    ));
    assert!(matches!(
        rewrite_card(b"[1,2]", &o),
        Err(CardError::NotAnObject)
    ));
    assert!(matches!(
        rewrite_card(b"{\"name\":\"x\"}", &o),
        Err(CardError::NoInterfaces)
    ));
    assert!(matches!(
        rewrite_card(b"{\"supportedInterfaces\":{}}", &o),
        Err(CardError::WrongType { .. })
    ));
    assert!(matches!(
        rewrite_card(b"{\"supportedInterfaces\":[1]}", &o),
        Err(CardError::WrongType { .. })
    ));
    assert!(matches!(
        rewrite_card(b"{\"url\":5}", &o),
        Err(CardError::WrongType { .. })
    ));
}

#[test]
fn interface_with_unparseable_url_is_dropped() {
    let card = json!({"supportedInterfaces": [
        {"url": "http://[::1", "protocolBinding": "JSONRPC"},
        {"url": "http://127.0.0.1:9999/a", "protocolBinding": "JSONRPC"}
    ]});
    let (_, report) = rewrite(&card, &opts());
    assert!(matches!(
        report.dropped[0].reason,
        DropReason::InvalidUrl(_)
    ));
}

#[test]
fn extended_card_in_jsonrpc_envelope_is_rewritten() {
    let envelope = json!({"jsonrpc": "2.0", "id": 7, "result": card_hybrid()});
    let out = rewrite_card_jsonrpc_response(envelope.to_string().as_bytes(), &opts()).unwrap();
    let v: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(v["id"], 7);
    assert_eq!(v["result"]["url"], format!("{PUBLIC}/a2a/jsonrpc"));
    assert_no_upstream_left(&v);

    let err = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32007, "message": "no"}});
    let bytes = err.to_string().into_bytes();
    let out = rewrite_card_jsonrpc_response(&bytes, &opts()).unwrap();
    assert_eq!(out.body, bytes);
    assert!(matches!(
        rewrite_card_jsonrpc_response(b"{\"id\":1}", &opts()),
        Err(CardError::NotAJsonRpcResponse)
    ));
}

#[test]
fn bad_options_are_errors() {
    assert!(matches!(
        RewriteOptions::new("ftp://x", UPSTREAM),
        Err(CardError::PublicUrl(_))
    ));
    assert!(matches!(
        RewriteOptions::new(PUBLIC, "::"),
        Err(CardError::UpstreamBase { .. })
    ));
}
