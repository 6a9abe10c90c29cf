//! Lowering `ai` backends: every mistake at its key path, policies that cannot apply refused,
//! one backend (and its providers' state) shared by the routes that use it.

use super::*;
use crate::model::plan::Terminal;

fn config(ai: &str, route_policies: &str) -> String {
    format!(
        r#"binds:
- port: 0
  listeners:
  - name: l
    routes:
    - name: a
      matches: [{{ path: {{ prefix: /a }} }}]
      policies: {{ {route_policies} }}
      backends: [{{ backend: llm }}]
    - name: b
      matches: [{{ path: {{ prefix: /b }} }}]
      backends: [{{ backend: llm }}]
backends:
- name: llm
  ai:
{ai}"#
    )
}

const GOOD: &str = r#"    groups:
    - providers:
      - { name: local, openaiCompatible: { url: "http://127.0.0.1:8000/v1", model: smollm2 } }
    - providers:
      - { name: claude, anthropic: { model: claude-sonnet-4-5 }, policies: { backendAuth: { key: { header: x-api-key, value: k } } } }
    models:
    - { name: fast, provider: local }
    setAside: { default: 10s, max: 1m }
"#;

#[test]
fn a_good_backend_is_shared_by_its_routes() {
    let m = lowered(&config(GOOD, ""));
    let a = route_for(&m, "/a/v1/chat/completions");
    let b = route_for(&m, "/b/v1/chat/completions");
    let backend = |r: &crate::model::route::Route| match &r.backends[0].plan.terminal {
        Terminal::Ai(t) => t.backend.clone(),
        other => panic!("{other:?}"),
    };
    let (x, y) = (backend(&a), backend(&b));
    assert!(std::sync::Arc::ptr_eq(&x, &y));
    assert_eq!(x.groups.len(), 2);
    assert_eq!(x.groups[0][0].base_path, "/v1");
    assert!(x.groups[0][0].tls.is_none());
    assert_eq!(x.groups[1][0].tls.as_deref(), Some("api.anthropic.com"));
    assert_eq!(
        x.groups[1][0].upstream.authority.as_str(),
        "api.anthropic.com"
    );
    assert_eq!(x.set_aside.default, std::time::Duration::from_secs(10));
    assert_eq!(x.set_aside.max, std::time::Duration::from_secs(60));
}

#[test]
fn mistakes_are_reported_at_their_keys() {
    let ai = r#"    groups:
    - providers:
      - { name: Local, openaiCompatible: { model: x } }
      - { name: pool, inferencePool: {} }
      - { name: both, openai: {}, anthropic: {} }
      - { name: none }
      - { name: bad-url, openai: { url: "ftp://x/" } }
      - { name: dup, openai: {} }
      - { name: dup, openai: {} }
    - providers: []
    models:
    - { name: fast, provider: dupp }
"#;
    let errs = errors(&config(ai, ""));
    let p = "backends[0].ai.groups[0].providers";
    assert!(
        has_error(&errs, &format!("{p}[0].name"), "lowercase"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[0].openaiCompatible.url"), "needs url"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[1].inferencePool"), "needs a picker"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[2]"), "only one"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[3]"), "needs one of"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[4].openai.url"), "scheme"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}[6].name"), "duplicate"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "backends[0].ai.groups[1].providers", "at least one"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, "backends[0].ai.models[0].provider", "did you mean"),
        "{errs:#?}"
    );
}

#[test]
fn policies_that_cannot_apply_to_an_ai_backend_say_what_to_do() {
    let errs = errors(&config(
        GOOD,
        r#"retry: { attempts: 2 }, backendAuth: { key: k }, urlRewrite: { path: { prefix: / } }"#,
    ));
    let p = "binds[0].listeners[0].routes[0].policies";
    assert!(
        has_error(&errs, &format!("{p}.retry"), "fails over"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}.backendAuth"), "on the provider"),
        "{errs:#?}"
    );
    assert!(
        has_error(&errs, &format!("{p}.urlRewrite"), "provider's url"),
        "{errs:#?}"
    );
    // What does apply: timeouts, header modifiers, authentication, rate limits.
    lowered(&config(
        GOOD,
        r#"timeout: { request: 30s, backendRequest: 10s }, requestHeaderModifier: { set: { x-team: a } }, apiKeyAuth: { keys: [{ name: a, key: key-of-a-0123456789 }] }, localRateLimit: [{ maxTokens: 5, tokensPerFill: 5, fillInterval: 1s }], tokenRateLimit: { limits: [{ maxCost: 1.5, costPerFill: 1.5, fillInterval: 1h }], store: { redis: { url: "redis://127.0.0.1:6399" } } }"#,
    ));
}

#[test]
fn azure_openai_is_the_v1_api_under_the_resource() {
    let ai = r#"    groups:
    - providers:
      - { name: az, azureOpenai: { url: "https://res.openai.azure.com", model: my-deployment }, policies: { backendAuth: { key: { header: api-key, value: k } } } }
      - { name: az2, azureOpenai: { url: "https://res2.openai.azure.com/openai/v1/" } }
"#;
    let m = lowered(&config(ai, ""));
    let r = route_for(&m, "/a/v1/chat/completions");
    let Terminal::Ai(t) = &r.backends[0].plan.terminal else {
        panic!("not an ai terminal")
    };
    let az = &t.backend.groups[0][0];
    assert_eq!(az.base_path, "/openai/v1");
    assert_eq!(
        az.path_for("/v1/chat/completions"),
        "/openai/v1/chat/completions"
    );
    assert_eq!(az.tls.as_deref(), Some("res.openai.azure.com"));
    assert_eq!(az.model.as_deref(), Some("my-deployment"));
    assert_eq!(t.backend.groups[0][1].base_path, "/openai/v1");
    let errs = errors(&config(
        "    groups:\n    - providers:\n      - { name: az, azureOpenai: { model: d } }\n",
        "",
    ));
    assert!(
        has_error(
            &errs,
            "providers[0].azureOpenai.url",
            "RESOURCE.openai.azure.com"
        ),
        "{errs:#?}"
    );
}

/// The `ai` terminal's backend of route `a`.
fn ai_backend_of(m: &Model) -> std::sync::Arc<crate::model::ai::AiBackend> {
    let r = route_for(m, "/a/v1/chat/completions");
    let Terminal::Ai(t) = &r.backends[0].plan.terminal else {
        panic!("not an ai terminal")
    };
    t.backend.clone()
}

#[test]
fn gemini_vertex_and_bedrock_take_their_default_urls() {
    use crate::model::ai::{ProviderKind, VertexPlace};
    let ai = r#"    groups:
    - providers:
      - { name: gem, gemini: { model: gemini-2.5-flash }, policies: { backendAuth: { key: { header: x-goog-api-key, value: k } } } }
      - { name: vx, vertex: { project: proj-1, location: europe-west4, model: gemini-2.5-pro } }
      - { name: vxg, vertex: { project: proj-1, location: global } }
      - { name: br, bedrock: { region: eu-west-3, model: "anthropic.claude-3-haiku-20240307-v1:0" }, policies: { backendAuth: { aws: { accessKeyId: AKID, secretAccessKey: SECRET } } } }
      - { name: local-gem, gemini: { url: "http://127.0.0.1:9/" } }
"#;
    let b = ai_backend_of(&lowered(&config(ai, "")));
    let p = &b.groups[0];
    assert_eq!(p[0].kind, ProviderKind::Gemini);
    assert_eq!(
        p[0].upstream.authority.as_str(),
        "generativelanguage.googleapis.com"
    );
    assert_eq!(
        p[0].tls.as_deref(),
        Some("generativelanguage.googleapis.com")
    );
    assert_eq!(p[0].model.as_deref(), Some("gemini-2.5-flash"));
    assert_eq!(
        p[0].request_path(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "gemini-2.5-flash",
            false
        ),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(p[1].kind, ProviderKind::Vertex);
    assert_eq!(
        p[1].upstream.authority.as_str(),
        "europe-west4-aiplatform.googleapis.com"
    );
    assert_eq!(
        p[1].vertex,
        Some(VertexPlace {
            project: "proj-1".into(),
            location: "europe-west4".into()
        })
    );
    assert_eq!(
        p[1].request_path("/ignored", "gemini-2.5-pro", false),
        "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(
        p[2].upstream.authority.as_str(),
        "aiplatform.googleapis.com"
    );
    assert_eq!(p[3].kind, ProviderKind::Bedrock);
    assert_eq!(
        p[3].upstream.authority.as_str(),
        "bedrock-runtime.eu-west-3.amazonaws.com"
    );
    assert_eq!(p[4].upstream.authority.as_str(), "127.0.0.1:9");
    assert_eq!(p[4].base_path, "");
    assert!(p[4].tls.is_none());
    // The Bedrock signature: service bedrock, the provider's region.
    let Some(crate::model::policy::UpstreamAuth::Credential(signer)) = &p[3].auth else {
        panic!("no aws signer: {:?}", p[3].auth.is_some())
    };
    let uri: http::Uri =
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
            .parse()
            .unwrap();
    let mut headers = http::HeaderMap::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(signer.authorize(backend_auth::Outgoing {
        method: &http::Method::POST,
        uri: &uri,
        headers: &mut headers,
        body: Some(b"{}"),
    }))
    .unwrap();
    let auth = headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-3/bedrock/aws4_request"), "{auth}");
}

#[test]
fn gemini_vertex_and_bedrock_mistakes_are_reported_at_their_keys() {
    let ai = r#"    groups:
    - providers:
      - { name: a, vertex: { project: Proj_1, location: us-central1 } }
      - { name: b, bedrock: { region: "US East" } }
      - { name: c, bedrock: { region: us-east-1 }, policies: { backendAuth: { aws: { region: eu-west-1, accessKeyId: A, secretAccessKey: S } } } }
      - { name: d, bedrock: { region: us-east-1 }, policies: { backendAuth: { aws: { service: s3, accessKeyId: A, secretAccessKey: S } } } }
      - { name: e, gemini: { url: "ftp://x" } }
      - { name: f, gemini: {}, bedrock: { region: us-east-1 } }
"#;
    let errs = errors(&config(ai, ""));
    let p = "backends[0].ai.groups[0].providers";
    for (at, says) in [
        ("[0].vertex.project", "lowercase"),
        ("[1].bedrock.region", "AWS region"),
        ("[2].policies.backendAuth.aws.region", "provider's region"),
        ("[3].policies.backendAuth.aws.service", "bedrock"),
        ("[4].gemini.url", "scheme"),
        ("[5]", "only one"),
    ] {
        assert!(
            has_error(&errs, &format!("{p}{at}"), says),
            "{at}: {errs:#?}"
        );
    }
    // Unknown keys are refused when the file is read.
    use crate::config::ai::{BedrockProvider, GeminiProvider, VertexProvider};
    assert!(serde_json::from_str::<GeminiProvider>(r#"{"modle":"x"}"#).is_err());
    assert!(serde_json::from_str::<VertexProvider>(
        r#"{"project":"p","location":"l","region":"x"}"#
    )
    .is_err());
    assert!(serde_json::from_str::<BedrockProvider>(r#"{"model":"m"}"#).is_err());
}
