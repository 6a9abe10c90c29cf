//! End-to-end: the petstore REST server on loopback, called through the generated tools.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use examples::petstore;
use openapi_tools::config::{Credential, OpenApiConfig};
use openapi_tools::toolset::OpenApiTools;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::{json, Map, Value};

fn spec(name: &str) -> std::path::PathBuf {
    petstore::spec_dir().join(name)
}

async fn tools_for(file: &str, tweak: impl FnOnce(&mut OpenApiConfig, SocketAddr)) -> OpenApiTools {
    let addr = petstore::spawn().await.expect("bind petstore");
    let mut cfg = OpenApiConfig::new(spec(file));
    cfg.base_url = Some(format!("http://{addr}"));
    tweak(&mut cfg, addr);
    OpenApiTools::load(cfg).expect("load spec")
}

async fn call(t: &OpenApiTools, name: &str, args: Value) -> CallToolResult {
    let args: Map<String, Value> = serde_json::from_value(args).expect("object");
    t.call(name, Some(args)).await.expect("tool exists")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok_json(r: &CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "unexpected error: {}", text(r));
    r.structured_content.clone().expect("structured content")
}

#[tokio::test]
async fn all_three_versions_load_with_valid_schemas() {
    for (file, expected) in [
        (
            "openapi-3.0.yaml",
            &[
                "listPets",
                "createPet",
                "getPet",
                "deletePet",
                "echoEverything",
                "uploadPhoto",
            ][..],
        ),
        (
            "openapi-3.1.yaml",
            &[
                "listPets",
                "createPet",
                "getPet",
                "postTree",
                "secureBearer",
            ][..],
        ),
        (
            "swagger-2.0.json",
            &[
                "listPets",
                "createPet",
                "getPet",
                "submitForm",
                "uploadPhoto",
                "secureBasic",
            ][..],
        ),
    ] {
        let t = OpenApiTools::load(OpenApiConfig::new(spec(file))).expect(file);
        let names: Vec<String> = t.tools().iter().map(|t| t.name.to_string()).collect();
        for e in expected {
            assert!(
                names.iter().any(|n| n == e),
                "{file}: {e} missing in {names:?}"
            );
        }
        for n in &names {
            t.check_schema(n)
                .unwrap_or_else(|e| panic!("{file} {n}: {e}"));
        }
        assert!(
            t.model().warnings.is_empty(),
            "{file}: {:?}",
            t.model().warnings
        );
    }
}

#[tokio::test]
async fn schema_layout_clashes_defs_and_annotations() {
    let t = OpenApiTools::load(OpenApiConfig::new(spec("openapi-3.0.yaml"))).unwrap();
    let echo = t.tool("echoEverything").unwrap();
    let props = echo
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap();
    // query `name` clashes with body property `name`: the parameter gets the location suffix.
    assert!(props.contains_key("name__query"), "{props:?}");
    assert!(props.contains_key("name"));
    assert!(
        props.contains_key("X-Trace")
            && props.contains_key("session")
            && props.contains_key("path")
    );
    // recursive Category stays a $ref into $defs
    let defs = echo.input_schema.get("$defs").unwrap();
    assert_eq!(
        defs["Category"]["properties"]["children"]["items"],
        json!({"$ref": "#/$defs/Category"})
    );
    // deprecated operations are left out by default, and reported
    assert!(t.tool("legacyThing").is_none());
    assert!(t.not_exposed().iter().any(|s| s.path == "/legacy/thing"));
    // outputSchema from the allOf-merged Pet; nullable enum became type array
    let get = t.tool("getPet").unwrap();
    let out = get.output_schema.clone().expect("output schema");
    assert_eq!(out["required"], json!(["name", "id"]));
    assert_eq!(out["properties"]["tag"]["type"], json!(["string", "null"]));
    assert_eq!(get.annotations.as_ref().unwrap().read_only_hint, Some(true));
    let del = t.tool("deletePet").unwrap();
    assert_eq!(
        del.annotations.as_ref().unwrap().destructive_hint,
        Some(true)
    );
}

#[tokio::test]
async fn selection_filters() {
    let mut cfg = OpenApiConfig::new(spec("openapi-3.0.yaml"));
    cfg.tools.include = vec!["*Pet*".into()];
    cfg.tools.exclude = vec!["deletePet".into()];
    cfg.tools.methods = vec!["get".into(), "post".into()];
    let t = OpenApiTools::load(cfg).unwrap();
    let mut names: Vec<String> = t.tools().iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["createPet", "getPet", "listPets"]);
    let mut cfg = OpenApiConfig::new(spec("openapi-3.0.yaml"));
    cfg.tools.tags = vec!["admin".into()];
    cfg.names.insert("deletePet".into(), "remove pet!".into());
    let t = OpenApiTools::load(cfg).unwrap();
    assert_eq!(
        t.tools()
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>(),
        vec!["remove_pet"]
    );
    let mut cfg = OpenApiConfig::new(spec("openapi-3.0.yaml"));
    cfg.tools.path_prefixes = vec!["/secure".into()];
    assert_eq!(OpenApiTools::load(cfg).unwrap().tools().len(), 6);
}

#[tokio::test]
async fn parameters_in_every_location_and_server_variables() {
    // no baseUrl: the document's server with the `port` variable overridden
    let t = tools_for("openapi-3.0.yaml", |c, addr| {
        c.base_url = None;
        c.server_variables
            .insert("port".into(), addr.port().to_string());
    })
    .await;
    let r = call(
        &t,
        "echoEverything",
        json!({
            "path": "a b", "name__query": "q&x=1", "X-Trace": "t-1", "session": "s;1",
            "name": "body-name", "category": {"name": "c", "children": [{"name": "d"}]}
        }),
    )
    .await;
    let v = ok_json(&r);
    assert_eq!(v["path"], "/echo/a%20b");
    assert_eq!(v["query"], "name=q%26x%3D1");
    assert_eq!(v["headers"]["x-trace"], "t-1");
    assert_eq!(v["headers"]["cookie"], "session=s%3B1");
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"name": "body-name", "category": {"name": "c", "children": [{"name": "d"}]}})
    );
}

#[tokio::test]
async fn query_styles() {
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let v = ok_json(
        &call(
            &t,
            "listPets",
            json!({
                "tags": ["a", "b"], "ids": [1, 2], "filter": {"kind": "dog", "age": 3}, "limit": 5
            }),
        )
        .await,
    );
    let q = v["query"].as_str().unwrap();
    for part in [
        "tags=a&tags=b",
        "ids=1%2C2",
        "filter%5Bkind%5D=dog",
        "filter%5Bage%5D=3",
        "limit=5",
    ] {
        assert!(q.contains(part), "{part} not in {q}");
    }
    // Swagger 2.0 collectionFormat multi / csv
    let t = tools_for("swagger-2.0.json", |_, _| {}).await;
    let v = ok_json(&call(&t, "listPets", json!({"tags": ["x", "y"], "ids": [3, 4]})).await);
    let q = v["query"].as_str().unwrap();
    assert!(
        q.contains("tags=x&tags=y") && q.contains("ids=3%2C4"),
        "{q}"
    );
}

#[tokio::test]
async fn json_body_crud_and_error_statuses() {
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let created = ok_json(&call(&t, "createPet", json!({"name": "Nemo", "tag": "bird"})).await);
    assert_eq!(created["name"], "Nemo");
    let id = created["id"].as_u64().unwrap();
    let got = ok_json(&call(&t, "getPet", json!({"petId": id.to_string()})).await);
    assert_eq!(got["tag"], "bird");
    let del = call(&t, "deletePet", json!({"petId": id.to_string()})).await;
    assert_eq!(del.is_error, Some(false), "{}", text(&del));
    let missing = call(&t, "getPet", json!({"petId": id.to_string()})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text(&missing).contains("404") && text(&missing).contains("no pet"),
        "{}",
        text(&missing)
    );
    let fail = call(&t, "fail", json!({})).await;
    assert_eq!(fail.is_error, Some(true));
    assert!(text(&fail).contains("500") && text(&fail).contains("database on fire"));
}

#[tokio::test]
async fn form_multipart_octet_and_text_bodies() {
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let v = ok_json(
        &call(
            &t,
            "submitForm",
            json!({"title": "hi there", "tags": ["a", "b"]}),
        )
        .await,
    );
    assert_eq!(
        v["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form = v["body"].as_str().unwrap();
    assert!(
        form.contains("title=hi+there") && form.contains("tags=a&tags=b"),
        "{form}"
    );
    // "aGVsbG8=" is base64 for "hello"
    let v = ok_json(
        &call(
            &t,
            "uploadPhoto",
            json!({"caption": "me", "file": "aGVsbG8="}),
        )
        .await,
    );
    assert!(v["headers"]["content-type"]
        .as_str()
        .unwrap()
        .starts_with("multipart/form-data"));
    let body = v["body"].as_str().unwrap();
    assert!(body.contains("name=\"caption\"") && body.contains("me"));
    assert!(
        body.contains("name=\"file\"; filename=\"file\"") && body.contains("hello"),
        "{body}"
    );
    let v = ok_json(&call(&t, "putBlob", json!({"name": "b1", "body": "AAEC/w=="})).await);
    assert_eq!(v["bodyLength"], 4);
    assert_eq!(v["headers"]["content-type"], "application/octet-stream");
    let bad = call(&t, "putBlob", json!({"name": "b1", "body": "***"})).await;
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).contains("base64"));
    let v = ok_json(&call(&t, "postNote", json!({"body": "plain words"})).await);
    assert_eq!(v["body"], "plain words");
    assert_eq!(v["headers"]["content-type"], "text/plain");
    // Swagger 2.0 formData
    let t2 = tools_for("swagger-2.0.json", |_, _| {}).await;
    let v = ok_json(&call(&t2, "submitForm", json!({"title": "x", "count": 2})).await);
    assert_eq!(v["body"], "count=2&title=x");
    let v = ok_json(&call(&t2, "uploadPhoto", json!({"file": "aGVsbG8="})).await);
    assert!(v["body"].as_str().unwrap().contains("hello"));
}

fn creds(pairs: &[(&str, Credential)]) -> BTreeMap<String, Credential> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn auth_schemes() {
    let t = tools_for("openapi-3.0.yaml", |c, _| {
        c.credentials = creds(&[
            (
                "apiKeyHeader",
                Credential::ApiKey {
                    api_key: petstore::API_KEY.into(),
                },
            ),
            (
                "apiKeyQuery",
                Credential::ApiKey {
                    api_key: petstore::API_KEY.into(),
                },
            ),
            (
                "apiKeyCookie",
                Credential::ApiKey {
                    api_key: petstore::API_KEY.into(),
                },
            ),
            (
                "bearer",
                Credential::Bearer {
                    token: petstore::BEARER.into(),
                },
            ),
            (
                "basic",
                Credential::Basic {
                    username: petstore::BASIC_USER.into(),
                    password: petstore::BASIC_PASSWORD.into(),
                },
            ),
            (
                "oauth",
                Credential::OAuth2 {
                    client_id: petstore::OAUTH_CLIENT.into(),
                    client_secret: petstore::OAUTH_SECRET.into(),
                    scopes: vec![],
                    token_url: None,
                },
            ),
        ]);
    })
    .await;
    for tool in [
        "secureHeader",
        "secureQuery",
        "secureCookie",
        "secureBearer",
        "secureBasic",
        "secureOauth",
        "secureOauth",
    ] {
        let r = call(&t, tool, json!({})).await;
        assert_eq!(ok_json(&r)["ok"], true, "{tool}");
    }
    // credentials never show up as tool parameters
    let secure = t.tool("secureHeader").unwrap();
    let schema = &secure.input_schema;
    assert_eq!(schema.get("properties"), Some(&json!({})));
    // without credentials the API's 401 reaches the model as a tool error
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let r = call(&t, "secureBearer", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("401"));
    // wrong OAuth client: token endpoint failure is reported
    let t = tools_for("openapi-3.0.yaml", |c, _| {
        c.credentials = creds(&[(
            "oauth",
            Credential::OAuth2 {
                client_id: "x".into(),
                client_secret: "y".into(),
                scopes: vec![],
                token_url: None,
            },
        )]);
    })
    .await;
    let r = call(&t, "secureOauth", json!({})).await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("OAuth2"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn validation_failures_list_each_field_and_send_nothing() {
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let r = call(
        &t,
        "listPets",
        json!({"limit": 0, "tags": "notarray", "bogus": 1}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let msg = text(&r);
    assert!(msg.contains("no request was sent"), "{msg}");
    assert!(
        msg.contains("limit:") && msg.contains("tags:") && msg.contains("bogus"),
        "{msg}"
    );
    let r = call(&t, "createPet", json!({"tag": "fish"})).await;
    let msg = text(&r);
    assert!(msg.contains("name") && msg.contains("tag:"), "{msg}");
    assert!(t.call("noSuchTool", None).await.is_none());
}

#[tokio::test]
async fn path_traversal_is_neutralised() {
    let t = tools_for("openapi-3.0.yaml", |_, _| {}).await;
    let v = ok_json(&call(&t, "echoEverything", json!({"path": "../../pets"})).await);
    assert_eq!(v["path"], "/echo/..%2F..%2Fpets");
    let v = ok_json(&call(&t, "echoEverything", json!({"path": "x?y=1#z"})).await);
    assert_eq!(v["path"], "/echo/x%3Fy%3D1%23z");
    assert_eq!(v["query"], "");
    for bad in ["..", "."] {
        let r = call(&t, "getPet", json!({"petId": bad})).await;
        assert_eq!(r.is_error, Some(true), "{bad}");
        assert!(text(&r).contains("no request was sent"), "{}", text(&r));
    }
    let r = call(
        &t,
        "echoEverything",
        json!({"path": "a", "X-Trace": "a\r\nX-Evil: 1"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
}

#[tokio::test]
async fn binary_responses_and_timeouts() {
    let t = tools_for("openapi-3.0.yaml", |c, _| c.timeout = Some("300ms".into())).await;
    let r = call(&t, "getImage", json!({})).await;
    assert!(matches!(&r.content[0], ContentBlock::Image(i) if i.mime_type == "image/png"));
    let r = call(&t, "getOctets", json!({})).await;
    match &r.content[0] {
        ContentBlock::Resource(res) => match &res.resource {
            ResourceContents::BlobResourceContents {
                blob, mime_type, ..
            } => {
                assert_eq!(blob, "AAEC/w==");
                assert_eq!(mime_type.as_deref(), Some("application/octet-stream"));
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let r = call(&t, "slow", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("timed out"), "{}", text(&r));
    // connection refused: a network error becomes a tool error with the cause
    let mut cfg = OpenApiConfig::new(spec("openapi-3.0.yaml"));
    cfg.base_url = Some("http://127.0.0.1:9".into());
    let t = OpenApiTools::load(cfg).unwrap();
    let r = call(&t, "listPets", json!({})).await;
    assert!(
        r.is_error == Some(true) && text(&r).contains("could not connect"),
        "{}",
        text(&r)
    );
}

#[tokio::test]
async fn openapi_31_features_and_file_refs() {
    let t = tools_for("openapi-3.1.yaml", |c, _| {
        c.credentials = creds(&[(
            "bearer",
            Credential::Bearer {
                token: petstore::BEARER.into(),
            },
        )]);
    })
    .await;
    let create = t.tool("createPet").unwrap();
    let props = create.input_schema.get("properties").unwrap();
    assert_eq!(props["kind"], json!({"const": "pet"}));
    assert_eq!(props["tag"]["type"], json!(["string", "null"]));
    let created = ok_json(&call(&t, "createPet", json!({"name": "Kit", "tag": null})).await);
    assert_eq!(created["name"], "Kit");
    let r = call(&t, "listPets", json!({"limit": 0})).await;
    assert!(
        text(&r).contains("limit"),
        "exclusiveMinimum enforced: {}",
        text(&r)
    );
    let v = ok_json(
        &call(
            &t,
            "postTree",
            json!({"value": "a", "children": [{"value": "b"}]}),
        )
        .await,
    );
    assert_eq!(v["path"], "/echo/tree");
    let r = call(&t, "postTree", json!({"children": [{"value": 1}]})).await;
    assert_eq!(r.is_error, Some(true), "recursive schema validated");
    assert_eq!(
        ok_json(&call(&t, "secureBearer", json!({})).await)["ok"],
        true
    );
}

#[tokio::test]
async fn swagger_20_calls() {
    let t = tools_for("swagger-2.0.json", |c, _| {
        c.credentials = creds(&[
            (
                "apiKeyHeader",
                Credential::ApiKey {
                    api_key: petstore::API_KEY.into(),
                },
            ),
            (
                "basic",
                Credential::Basic {
                    username: petstore::BASIC_USER.into(),
                    password: petstore::BASIC_PASSWORD.into(),
                },
            ),
        ]);
    })
    .await;
    let created = ok_json(&call(&t, "createPet", json!({"name": "Old", "tag": null})).await);
    assert_eq!(created["name"], "Old");
    let got = ok_json(&call(&t, "getPet", json!({"petId": "1"})).await);
    assert_eq!(got["name"], "Rex");
    assert_eq!(
        ok_json(&call(&t, "secureHeader", json!({})).await)["ok"],
        true
    );
    assert_eq!(
        ok_json(&call(&t, "secureBasic", json!({})).await)["ok"],
        true
    );
}

#[tokio::test]
async fn served_through_rmcp_over_a_duplex_transport() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::ServiceExt;
    let t = Arc::new(tools_for("openapi-3.0.yaml", |_, _| {}).await);
    let server = openapi_tools::server::OpenApiServer::new(t);
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("client handshake");
    let tools = client.list_all_tools().await.expect("list");
    assert!(tools.iter().any(|t| t.name == "getPet"));
    let mut params = CallToolRequestParams::new("getPet");
    params.arguments = Some(serde_json::from_value(json!({"petId": "2"})).unwrap());
    let r = client.call_tool(params).await.expect("call");
    assert_eq!(r.structured_content.unwrap()["name"], "Tom");
    let err = client.call_tool(CallToolRequestParams::new("nope")).await;
    assert!(err.is_err(), "unknown tool is a protocol error");
    let _ = client.cancel().await;
}
