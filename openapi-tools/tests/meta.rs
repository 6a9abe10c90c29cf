//! Meta-tool mode end to end: the petstore REST server on loopback, reached only through
//! `search_operations`, `describe_operation` and `call_operation` over an rmcp transport.

use std::sync::Arc;

use examples::petstore;
use openapi_tools::config::{OpenApiConfig, ToolMode};
use openapi_tools::meta::{MetaTools, CALL, DESCRIBE, SEARCH};
use openapi_tools::server::OpenApiServer;
use openapi_tools::toolset::OpenApiTools;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::ServiceExt;
use serde_json::{json, Value};

async fn tools(tweak: impl FnOnce(&mut OpenApiConfig)) -> Arc<OpenApiTools> {
    let addr = petstore::spawn().await.expect("bind petstore");
    let mut cfg = OpenApiConfig::new(petstore::spec_dir().join("openapi-3.0.yaml"));
    cfg.base_url = Some(format!("http://{addr}"));
    cfg.mode = ToolMode::Meta;
    tweak(&mut cfg);
    Arc::new(OpenApiTools::load(cfg).expect("load spec"))
}

async fn serve(t: Arc<OpenApiTools>) -> RunningService<RoleClient, ()> {
    let server = OpenApiServer::new(t);
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client handshake")
}

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> CallToolResult {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = Some(serde_json::from_value(args).expect("object"));
    client.call_tool(p).await.expect("call")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn names(r: &CallToolResult) -> Vec<String> {
    assert_eq!(r.is_error, Some(false), "{}", text(r));
    r.structured_content.as_ref().expect("structured")["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn lists_three_tools_and_searches() {
    let client = serve(tools(|_| {}).await).await;
    let listed = client.list_all_tools().await.expect("list");
    let mut listed: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
    listed.sort();
    assert_eq!(listed, [CALL, DESCRIBE, SEARCH]);

    // words from the summary and the name, camelCase split: uploadPhoto ranks first
    let r = call(&client, SEARCH, json!({"query": "upload a photo"})).await;
    assert_eq!(names(&r).first().map(String::as_str), Some("uploadPhoto"));
    // "pet" matches several; limit bounds the list but total counts them all
    let r = call(&client, SEARCH, json!({"query": "pet", "limit": 2})).await;
    assert_eq!(names(&r).len(), 2);
    let total = r.structured_content.as_ref().expect("structured")["total"]
        .as_u64()
        .unwrap_or(0);
    assert!(total >= 4, "total {total}");
    // tag filter: only deletePet carries `admin`
    let r = call(&client, SEARCH, json!({"query": "pet", "tag": "admin"})).await;
    assert_eq!(names(&r), ["deletePet"]);
    // each result says how to call it
    let r = call(&client, SEARCH, json!({"query": "get pet"})).await;
    let first = &r.structured_content.as_ref().expect("structured")["results"][0];
    assert_eq!(first["name"], "getPet");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/pets/{petId}");
    assert_eq!(first["summary"], "Get a pet");
    // bad arguments are tool errors naming the field
    let r = call(
        &client,
        SEARCH,
        json!({"query": "x", "limit": 500, "bogus": 1}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("bogus"), "{}", text(&r));
    let r = call(&client, SEARCH, json!({"query": "x", "limit": 500})).await;
    assert!(text(&r).contains("limit"), "{}", text(&r));
    // a name that is none of the three is a protocol error, as in per-operation mode
    let err = client.call_tool(CallToolRequestParams::new("getPet")).await;
    assert!(err.is_err());
    let _ = client.cancel().await;
}

#[tokio::test]
async fn describe_gives_the_same_schema_as_the_per_operation_tool() {
    let t = tools(|_| {}).await;
    let client = serve(t.clone()).await;
    let r = call(&client, DESCRIBE, json!({"name": "echoEverything"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    let d = r.structured_content.expect("structured");
    let own = t.tool("echoEverything").expect("tool");
    assert_eq!(d["inputSchema"], Value::Object((*own.input_schema).clone()));
    // with the recursive $defs carried along
    assert_eq!(
        d["inputSchema"]["$defs"]["Category"]["properties"]["children"]["items"],
        json!({"$ref": "#/$defs/Category"})
    );
    assert_eq!(d["method"], "POST");
    let r = call(&client, DESCRIBE, json!({"name": "getPet"})).await;
    let d = r.structured_content.expect("structured");
    assert_eq!(d["inputSchema"]["required"], json!(["petId"]));
    assert_eq!(
        d["outputSchema"]["properties"]["tag"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(d["annotations"]["readOnlyHint"], true);
    // unknown: an error result with close matches
    let r = call(&client, DESCRIBE, json!({"name": "getPets"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("getPet"), "{}", text(&r));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn call_runs_the_operation_with_the_same_validation() {
    let client = serve(tools(|_| {}).await).await;
    let r = call(
        &client,
        CALL,
        json!({"name": "getPet", "arguments": {"petId": "2"}}),
    )
    .await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));
    assert_eq!(r.structured_content.expect("structured")["name"], "Tom");
    // POST with a body, then read it back
    let r = call(
        &client,
        CALL,
        json!({"name": "createPet", "arguments": {"name": "Kit", "tag": "cat"}}),
    )
    .await;
    let id = r.structured_content.expect("structured")["id"].clone();
    let r = call(
        &client,
        CALL,
        json!({"name": "getPet", "arguments": {"petId": id.to_string()}}),
    )
    .await;
    assert_eq!(r.structured_content.expect("structured")["name"], "Kit");
    // invalid inner arguments: listed field by field, nothing sent
    let r = call(
        &client,
        CALL,
        json!({"name": "listPets", "arguments": {"limit": 0, "bogus": 1}}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let msg = text(&r);
    assert!(
        msg.contains("no request was sent") && msg.contains("limit:") && msg.contains("bogus"),
        "{msg}"
    );
    // required path parameter missing
    let r = call(&client, CALL, json!({"name": "getPet"})).await;
    assert!(text(&r).contains("petId"), "{}", text(&r));
    // upstream errors come back as they do for the per-operation tool
    let r = call(&client, CALL, json!({"name": "fail", "arguments": {}})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("500"), "{}", text(&r));
    // arguments must be an object
    let r = call(&client, CALL, json!({"name": "getPet", "arguments": [1]})).await;
    assert_eq!(r.is_error, Some(true));
    let _ = client.cancel().await;
}

#[tokio::test]
async fn selection_bounds_search_describe_and_call() {
    let t = tools(|c| c.tools.exclude = vec!["deletePet".into()]).await;
    let meta = MetaTools::new(t.clone());
    let (hits, _) = meta.search("delete pet", None, 50);
    assert!(hits.iter().all(|h| h.name != "deletePet"), "{hits:?}");
    let client = serve(t).await;
    let r = call(&client, DESCRIBE, json!({"name": "deletePet"})).await;
    assert_eq!(r.is_error, Some(true));
    let r = call(
        &client,
        CALL,
        json!({"name": "deletePet", "arguments": {"petId": "1"}}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("no operation is named"), "{}", text(&r));
    // the pet is still there
    let r = call(
        &client,
        CALL,
        json!({"name": "getPet", "arguments": {"petId": "1"}}),
    )
    .await;
    assert_eq!(r.structured_content.expect("structured")["name"], "Rex");
    let _ = client.cancel().await;
}

#[tokio::test]
async fn empty_query_lists_in_document_order() {
    let t = tools(|_| {}).await;
    let meta = MetaTools::new(t.clone());
    let (hits, total) = meta.search("", None, 3);
    assert_eq!(total, t.len());
    let first: Vec<&str> = t.names().take(3).collect();
    let got: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(got, first);
}
