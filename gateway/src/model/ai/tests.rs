use std::sync::Arc;
use std::time::{Duration, Instant};

use llm::{ClientApi, ProviderApi};

use super::*;

fn provider(name: &str, kind: ProviderKind, weight: u32, model: Option<&str>) -> Arc<Provider> {
    Arc::new(Provider {
        name: name.into(),
        kind,
        upstream: Upstream::parse("127.0.0.1:1").unwrap(),
        tls: None,
        base_path: "/v1".into(),
        model: model.map(str::to_string),
        weight,
        auth: None,
        vertex: None,
        state: Arc::default(),
        pool: None,
    })
}

fn backend(groups: Vec<Vec<Arc<Provider>>>, models: Vec<ModelRule>) -> AiBackend {
    AiBackend {
        name: "llm".into(),
        groups,
        models,
        set_aside: SetAsidePolicy::default(),
        stream_idle: DEFAULT_STREAM_IDLE,
        pricing: Vec::new(),
    }
}

fn names(c: &[Candidate<'_>]) -> Vec<String> {
    c.iter().map(|c| c.provider.name.to_string()).collect()
}

fn first(n: u64) -> u64 {
    let _ = n;
    0
}

#[test]
fn globs() {
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "gpt-4"));
    assert!(glob_match("claude-*", "claude-sonnet-4-5"));
    assert!(!glob_match("claude-*", "gpt-claude-x"));
    assert!(glob_match("*-mini", "gpt-4.1-mini"));
    assert!(!glob_match("*-mini", "gpt-4.1-mini-2"));
    assert!(glob_match("a*b*c", "aXbYc"));
    assert!(!glob_match("a*b*c", "aXcYb"));
    assert!(glob_match("exact", "exact"));
    assert!(!glob_match("exact", "exact2"));
    // The prefix and suffix may not overlap.
    assert!(!glob_match("ab*ba", "aba"));
}

#[test]
fn api_paths_join_the_base_path() {
    let mut p = Arc::try_unwrap(provider("p", ProviderKind::OpenAi, 1, None)).unwrap();
    assert_eq!(p.path_for("/v1/chat/completions"), "/v1/chat/completions");
    p.base_path = String::new();
    assert_eq!(p.path_for("/v1/messages"), "/v1/messages");
    p.base_path = "/openai".into();
    assert_eq!(p.path_for("/v1/embeddings"), "/openai/v1/embeddings");
    // Only a whole `/v1` segment joins: Gemini's `/v1beta` stays.
    p.base_path = "/v1".into();
    assert_eq!(
        p.path_for("/v1beta/models/gemini-2.5-flash:generateContent"),
        "/v1/v1beta/models/gemini-2.5-flash:generateContent"
    );
    p.base_path = String::new();
    assert_eq!(
        p.path_for("/v1beta/models/gemini-2.5-flash:generateContent"),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        p.path_for("/model/us.anthropic.claude-v1%3A0/converse-stream"),
        "/model/us.anthropic.claude-v1%3A0/converse-stream"
    );
    // Vertex AI: the project, location and model are in the path.
    p.kind = ProviderKind::Vertex;
    p.vertex = Some(VertexPlace {
        project: "proj-1".into(),
        location: "us-central1".into(),
    });
    assert_eq!(
        p.request_path("/v1beta/models/x:generateContent", "gemini-2.5-pro", true),
        "/v1/projects/proj-1/locations/us-central1/publishers/google/models/\
         gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
}

#[test]
fn gemini_and_bedrock_serve_chat_and_responses_clients_only() {
    for kind in [
        ProviderKind::Gemini,
        ProviderKind::Vertex,
        ProviderKind::Bedrock,
    ] {
        let want = if kind == ProviderKind::Bedrock {
            ProviderApi::BedrockConverse
        } else {
            ProviderApi::Gemini
        };
        assert_eq!(kind.api_for(ClientApi::OpenAiChat), Some(want));
        assert_eq!(kind.api_for(ClientApi::AnthropicMessages), Some(want));
        assert_eq!(kind.api_for(ClientApi::OpenAiResponses), Some(want));
        for no in [ClientApi::OpenAiEmbeddings, ClientApi::AnthropicCountTokens] {
            assert_eq!(kind.api_for(no), None, "{kind:?} {no:?}");
        }
    }
    for kind in [ProviderKind::Anthropic, ProviderKind::VertexAnthropic] {
        assert_eq!(
            kind.api_for(ClientApi::OpenAiResponses),
            Some(ProviderApi::AnthropicMessages)
        );
    }
    assert_eq!(ProviderKind::Gemini.system(), "gcp.gemini");
    assert_eq!(ProviderKind::Vertex.system(), "gcp.vertex_ai");
    assert_eq!(ProviderKind::Bedrock.system(), "aws.bedrock");
}

#[test]
fn groups_in_order_and_apis_that_can_serve() {
    let local = provider("local", ProviderKind::OpenAi, 1, Some("smollm2"));
    let claude = provider("claude", ProviderKind::Anthropic, 1, None);
    let b = backend(vec![vec![local.clone()], vec![claude.clone()]], vec![]);
    let now = Instant::now();
    let c = b
        .candidates(
            ClientApi::OpenAiChat,
            Some("x"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["local", "claude"]);
    assert_eq!(c[0].api, ProviderApi::OpenAiChat);
    assert_eq!(c[0].model, Some("smollm2"));
    assert_eq!(c[1].api, ProviderApi::AnthropicMessages);
    assert_eq!(c[1].model, None);
    // Embeddings: only the OpenAI one.
    let c = b
        .candidates(
            ClientApi::OpenAiEmbeddings,
            Some("x"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["local"]);
    // count_tokens: only Anthropic.
    let only_openai = backend(vec![vec![local]], vec![]);
    assert_eq!(
        only_openai
            .candidates(
                ClientApi::AnthropicCountTokens,
                None,
                &http::HeaderMap::new(),
                now,
                &mut first
            )
            .unwrap_err(),
        NoCandidate::NoApi {
            client: ClientApi::AnthropicCountTokens
        }
    );
}

#[test]
fn set_aside_providers_are_skipped_until_their_time_is_up() {
    let a = provider("a", ProviderKind::OpenAi, 1, None);
    let b = provider("b", ProviderKind::OpenAi, 1, None);
    let be = backend(vec![vec![a.clone()], vec![b.clone()]], vec![]);
    let now = Instant::now();
    a.state
        .set_aside(now, Duration::from_secs(10), Failure::RateLimited);
    let c = be
        .candidates(
            ClientApi::OpenAiChat,
            None,
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["b"]);
    b.state
        .set_aside(now, Duration::from_secs(3), Failure::Unavailable);
    match be.candidates(
        ClientApi::OpenAiChat,
        None,
        &http::HeaderMap::new(),
        now,
        &mut first,
    ) {
        Err(NoCandidate::SetAside {
            retry_after,
            failure,
        }) => {
            assert!(retry_after <= Duration::from_secs(3), "{retry_after:?}");
            assert!(
                retry_after >= Duration::from_millis(2900),
                "{retry_after:?}"
            );
            assert_eq!(failure, Failure::Unavailable);
        }
        other => panic!("{other:?}"),
    }
    // Only rate limits: the client is told so.
    b.state.restore();
    b.state
        .set_aside(now, Duration::from_secs(3), Failure::RateLimited);
    assert!(matches!(
        be.candidates(
            ClientApi::OpenAiChat,
            None,
            &http::HeaderMap::new(),
            now,
            &mut first
        ),
        Err(NoCandidate::SetAside {
            failure: Failure::RateLimited,
            ..
        })
    ));
    // Time passes.
    let later = now + Duration::from_secs(11);
    let c = be
        .candidates(
            ClientApi::OpenAiChat,
            None,
            &http::HeaderMap::new(),
            later,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["a", "b"]);
}

#[test]
fn models_map_names_and_list_failover_per_name() {
    let local = provider("local", ProviderKind::OpenAi, 1, Some("smollm2"));
    let openai = provider("openai", ProviderKind::OpenAi, 0, Some("gpt-4.1-mini"));
    let claude = provider("claude", ProviderKind::Anthropic, 1, None);
    let rule = |pattern: &str, p: &Arc<Provider>, model: Option<&str>| ModelRule {
        pattern: pattern.into(),
        provider: p.clone(),
        model: model.map(str::to_string),
        headers: Vec::new(),
    };
    let b = backend(
        vec![vec![local.clone(), openai.clone()], vec![claude.clone()]],
        vec![
            rule("fast", &local, None),
            rule("fast", &openai, None),
            rule("claude-*", &claude, None),
            rule("big", &claude, Some("claude-opus-4")),
        ],
    );
    let now = Instant::now();
    let c = b
        .candidates(
            ClientApi::OpenAiChat,
            Some("fast"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    let mut got = names(&c);
    got.sort();
    assert_eq!(
        got,
        ["local", "openai"],
        "weight 0 is served through models"
    );
    let c = b
        .candidates(
            ClientApi::OpenAiChat,
            Some("claude-haiku"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["claude"]);
    assert_eq!(c[0].model, None, "the client's name goes on");
    let c = b
        .candidates(
            ClientApi::AnthropicMessages,
            Some("big"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(c[0].model, Some("claude-opus-4"));
    assert_eq!(
        b.candidates(
            ClientApi::OpenAiChat,
            Some("gpt-5"),
            &http::HeaderMap::new(),
            now,
            &mut first
        )
        .unwrap_err(),
        NoCandidate::UnknownModel {
            model: "gpt-5".into()
        }
    );
    // Without models, weight 0 is never chosen.
    let open = backend(vec![vec![local, openai]], vec![]);
    let c = open
        .candidates(
            ClientApi::OpenAiChat,
            Some("x"),
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["local"]);
}

#[test]
fn the_less_loaded_of_two_goes_first_and_weights_share_the_draws() {
    let a = provider("a", ProviderKind::OpenAi, 1, None);
    let b = provider("b", ProviderKind::OpenAi, 3, None);
    let be = backend(vec![vec![a.clone(), b.clone()]], vec![]);
    let now = Instant::now();
    // Equal load: the first draw wins; draws follow the weights (1 : 3).
    let mut firsts = [0u32; 2];
    let mut seq = 0u64;
    for _ in 0..400 {
        let mut pick = |n: u64| {
            seq = seq
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seq >> 33) % n
        };
        let c = be
            .candidates(
                ClientApi::OpenAiChat,
                None,
                &http::HeaderMap::new(),
                now,
                &mut pick,
            )
            .unwrap();
        assert_eq!(c.len(), 2);
        firsts[usize::from(&*c[0].provider.name == "b")] += 1;
    }
    // b's score is a third of a's (weight 3), so b goes first whenever it is drawn at all,
    // which is every time: two distinct draws from two providers take both.
    assert_eq!(firsts, [0, 400]);
    // Load on b (many requests in flight) sends a first.
    let guards: Vec<_> = (0..10).map(|_| b.state.start()).collect();
    let c = be
        .candidates(
            ClientApi::OpenAiChat,
            None,
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["a", "b"]);
    drop(guards);
    let c = be
        .candidates(
            ClientApi::OpenAiChat,
            None,
            &http::HeaderMap::new(),
            now,
            &mut first,
        )
        .unwrap();
    assert_eq!(names(&c), ["b", "a"]);
}

#[test]
fn header_conditions_pick_the_entry() {
    let local = provider("local", ProviderKind::OpenAi, 1, None);
    let claude = provider("claude", ProviderKind::Anthropic, 1, None);
    let premium = ModelRule {
        pattern: "*".into(),
        provider: claude.clone(),
        model: Some("claude-opus-4".into()),
        headers: vec![(
            http::HeaderName::from_static("x-tier"),
            http::HeaderValue::from_static("premium"),
        )],
    };
    let rest = ModelRule {
        pattern: "*".into(),
        provider: local.clone(),
        model: None,
        headers: Vec::new(),
    };
    let b = backend(vec![vec![local], vec![claude]], vec![premium, rest]);
    let now = Instant::now();
    let mut h = http::HeaderMap::new();
    let c = b
        .candidates(ClientApi::OpenAiChat, Some("m"), &h, now, &mut first)
        .unwrap();
    assert_eq!(
        names(&c),
        ["local"],
        "the premium entry is not a failover of the other"
    );
    h.insert("x-tier", http::HeaderValue::from_static("premium"));
    let c = b
        .candidates(ClientApi::OpenAiChat, Some("m"), &h, now, &mut first)
        .unwrap();
    assert_eq!(names(&c), ["claude"]);
    assert_eq!(c[0].model, Some("claude-opus-4"));
}
