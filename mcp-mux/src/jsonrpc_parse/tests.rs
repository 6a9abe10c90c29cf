//! The fast parse against rmcp's on a corpus: for every input both accept with equal values
//! (serialized and `Debug`, which names the untagged member picked), or both reject with the
//! same error. Inputs marked fast must also take the fast path, so that the comparison tests it.

use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Serialize;

use super::{client_message, error, known_request, method_hint, response, server_message};

/// Both parses agree on `input` (panics naming the input otherwise).
fn agree<T: Serialize + std::fmt::Debug>(
    input: &[u8],
    ours: serde_json::Result<T>,
    rmcp: serde_json::Result<T>,
) {
    let shown = String::from_utf8_lossy(input);
    match (ours, rmcp) {
        (Ok(ours), Ok(rmcp)) => {
            let (ours_value, rmcp_value) =
                (serde_json::to_value(&ours), serde_json::to_value(&rmcp));
            assert_eq!(
                ours_value.map_err(|e| e.to_string()),
                rmcp_value.map_err(|e| e.to_string()),
                "values differ for {shown}"
            );
            assert_eq!(
                format!("{ours:?}"),
                format!("{rmcp:?}"),
                "variants differ for {shown}"
            );
        }
        (Err(ours), Err(rmcp)) => {
            assert_eq!(
                ours.to_string(),
                rmcp.to_string(),
                "errors differ for {shown}"
            );
        }
        (Ok(ours), Err(e)) => panic!("only ours accepts {shown}: {ours:?} (rmcp: {e})"),
        (Err(e), Ok(rmcp)) => panic!("only rmcp accepts {shown}: {rmcp:?} (ours: {e})"),
    }
}

fn fast_client(input: &[u8]) -> Option<ClientJsonRpcMessage> {
    method_hint(input).and_then(|method| known_request(method, input))
}

fn fast_server(input: &[u8]) -> Option<ServerJsonRpcMessage> {
    response(input).or_else(|| error(input))
}

fn check_client(input: &str, fast: bool) {
    let bytes = input.as_bytes();
    agree(
        bytes,
        client_message(bytes),
        serde_json::from_slice::<ClientJsonRpcMessage>(bytes),
    );
    assert_eq!(
        fast_client(bytes).is_some(),
        fast,
        "fast path taken or not for {input}"
    );
}

fn check_server(input: &str, fast: bool) {
    let bytes = input.as_bytes();
    agree(
        bytes,
        server_message(bytes),
        serde_json::from_slice::<ServerJsonRpcMessage>(bytes),
    );
    // What `direct.rs` parsed before: `from_str` on the SSE event's data.
    agree(
        bytes,
        server_message(bytes),
        serde_json::from_str::<ServerJsonRpcMessage>(input),
    );
    assert_eq!(
        fast_server(bytes).is_some(),
        fast,
        "fast path taken or not for {input}"
    );
}

/// Requests rmcp reads as the member for their method: all take the fast path.
const CLIENT_FAST: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":[1,2.5,-3,null,true]}}}"#,
    r#"{"jsonrpc":"2.0","id":"abc-1","method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"progressToken":"tok-1","x":{"y":1}}}}"#,
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"progressToken":42},"name":"a__b"}}"#,
    r#"{"method":"tools/call","params":{"name":"x","arguments":{"a":"\u00e9\"\\"}},"id":0,"jsonrpc":"2.0"}"#,
    r#"  {"jsonrpc" : "2.0", "id" : 3, "method" : "tools/call", "params" : {"name" : "x"} }  "#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","requestState":"s","inputResponses":{"k":{"a":1}}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","unknownParam":[1]},"extra":{"top":"level"}}"#,
    r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1,"a":2}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":null}}"#,
    r#"{"jsonrpc":"2.0","id":1,"params":{"name":"x","arguments":{"method":"tools/call"}},"method":"tools/call"}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"abc"}}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":null}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"progressToken":1}}}"#,
    // Optional params that do not fit are dropped (serde's flattened `Option`), not refused.
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":1}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"_meta":{"a":"b"},"other":1}}"#,
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true},"elicitation":{}},"clientInfo":{"name":"c","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"v"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"a":"b"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"prompts/list","params":{"cursor":"c"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/templates/list","params":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tasks/update","params":{"taskId":"t","inputResponses":{"k":{}}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tasks/cancel","params":{"taskId":"t"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"skills/list"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"skills/get","params":{"uri":"skill://a"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/directory/read","params":{"uri":"file:///d","cursor":"c"}}"#,
];

/// Everything else: parsed by rmcp (through the fallback), accepted or not.
const CLIENT_SLOW: &[&str] = &[
    // Other shapes and methods.
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"x"}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}}"#,
    r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":5,"result":{"action":"accept","content":{"a":1}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"no"}}"#,
    r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"vendor/thing","params":{"a":1}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"vendor/thing"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"info"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"a"}}"#,
    // A known method whose params do not fit: rmcp falls through to `CustomRequest`.
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","name":"y"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":5}"#,
    // The hint finds a `method` inside params first: the typed read fails, rmcp decides.
    r#"{"jsonrpc":"2.0","id":1,"params":{"method":"ping","name":"x"},"method":"tools/call"}"#,
    r#"{"jsonrpc":"2.0","id":1,"params":{"name":"x","arguments":{"method":"tools/list"}},"method":"tools/call"}"#,
    // An escaped method: no hint.
    r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"m\u0065thod":"tools/call","params":{"name":"x"}}"#,
    // Malformed.
    r#"{"id":1,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":2.0,"id":1,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":5,"params":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":null}"#,
    r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"tools/call","params":{"name":"x"}}"#,
    r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"error":{"code":1,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":null}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0"}"#,
    r#"{}"#,
    r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}} x"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x",}}"#,
    r#""method""#,
    r#""#,
    r#"   "#,
    r#"null"#,
    r#"{"method":"#,
    r#"{"method":"tools/call"#,
];

#[test]
fn client_messages_parse_as_rmcp_parses_them() {
    for input in CLIENT_FAST {
        check_client(input, true);
    }
    for input in CLIENT_SLOW {
        check_client(input, false);
    }
}

#[test]
fn client_bytes_that_are_not_utf8_parse_as_rmcp_parses_them() {
    let mut input =
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"#.to_vec();
    input.extend_from_slice(&[0xff, 0xfe]);
    input.extend_from_slice(br#""}}"#);
    agree(
        &input,
        client_message(&input),
        serde_json::from_slice::<ClientJsonRpcMessage>(&input),
    );
    assert!(client_message(&input).is_err());
}

/// The cases a careless fast path gets wrong, spelled out.
#[test]
fn client_fast_path_keeps_rmcp_choices() {
    // Both `method` and `result`: rmcp recognises no shape.
    let both = r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#;
    assert!(client_message(both.as_bytes()).is_err());
    // Params that do not fit `tools/call`: rmcp takes it as a custom request.
    let custom = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#;
    let parsed = format!("{:?}", client_message(custom.as_bytes()));
    assert!(parsed.contains("CustomRequest"), "{parsed}");
    // `_meta` goes to the request's extensions, and comes back when serialized.
    let meta = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"t"}}}"#;
    let value = client_message(meta.as_bytes()).map(|m| serde_json::to_value(m).ok());
    let token = value
        .ok()
        .flatten()
        .and_then(|v| v.pointer("/params/_meta/progressToken").cloned());
    assert_eq!(token, Some(serde_json::json!("t")));
}

/// serde_json stops at 128 levels; rmcp's buffer counts them from the top of the message, and so
/// must the fast path (values it skips are not counted).
#[test]
fn nesting_limits_match_rmcp() {
    for depth in 120..132 {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let client = [
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{nested}}}}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","other":{nested}}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x"}},"extra":{nested}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","id":{nested},"method":"ping"}}"#),
        ];
        for input in &client {
            let bytes = input.as_bytes();
            agree(
                bytes,
                client_message(bytes),
                serde_json::from_slice::<ClientJsonRpcMessage>(bytes),
            );
        }
        let server = [
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"content":[],"structuredContent":{{"a":{nested}}}}}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{}},"extra":{nested}}}"#),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":1,"message":"m","data":{nested}}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":1,"message":"m","unknown":{nested}}}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","error":{{"code":1,"message":"m"}},"extra":{nested}}}"#),
        ];
        for input in &server {
            let bytes = input.as_bytes();
            agree(
                bytes,
                server_message(bytes),
                serde_json::from_slice::<ServerJsonRpcMessage>(bytes),
            );
        }
    }
}

/// Answers a target sends: responses and errors take the fast path.
const SERVER_FAST: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#,
    r#"{"jsonrpc":"2.0","id":"s-1","result":{"content":[{"type":"text","text":"hi","annotations":{"priority":0.5}}],"structuredContent":{"a":[1,2]}}}"#,
    r#"{"result":{"content":[{"type":"image","data":"aGk=","mimeType":"image/png"}]},"id":1,"jsonrpc":"2.0"}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true,"_meta":{"a":1}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"resultType":"complete"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":null}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"_meta":{"k":"v"},"resultType":"complete"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"\u0063ontent":[{"type":"text","text":"escaped key"}]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"_meta":{"k":1}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"resource_link","uri":"file:///a","name":"a"}],"structuredContent":[1,"two",{"3":null}]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"extra":1}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"task":{"taskId":"t","status":"working"}}}"#,
    // An elicitation's answer that also has `isError`: rmcp picks `ElicitResult` (earlier).
    r#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept","isError":true}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","inputSchema":{"type":"object"}}],"nextCursor":"n"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"resources":[]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"anything":["else"]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]},"extra":true}"#,
    r#"{"jsonrpc":"2.0","id":1.0,"result":{}}"#,
    // Any JSON is a result: `CustomResult` holds a `Value`.
    r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":[1]}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":"done"}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"error\":1}"}]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}"#,
    r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"bad","data":{"detail":[1]}}}"#,
    r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"}}"#,
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":null,"extra":{}}}"#,
    r#"{"error":{"message":"m","code":1},"jsonrpc":"2.0","extra":[]}"#,
];

const SERVER_SLOW: &[&str] = &[
    // Notifications and requests on a response stream.
    r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1,"total":2}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"result"}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
    r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":9,"method":"elicitation/create","params":{"message":"m","requestedSchema":{"type":"object","properties":{}}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1,"message":"\"result\""}}"#,
    r#"{"jsonrpc":"2.0","method":"vendor/x","params":{"result":1,"error":2}}"#,
    // Members of a tool result that `CallToolResult` refuses: rmcp decides what they are.
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"resultType":"input_required"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":"text"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"content":[]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"nope"}]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{"isError":"yes"}}"#,
    // Malformed.
    r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","error":{"code":1,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","result":{}}"#,
    r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1.5,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":[1],"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{},"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":1,"id":1,"result":{}}"#,
    r#"{"jsonrpc":"1.0","id":1,"result":{}}"#,
    r#"{"id":1,"result":{}}"#,
    r#"{"id":1,"error":{"code":1,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":4294967296,"message":"m"}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":1}}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":"boom"}"#,
    r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"},"error":{"code":2,"message":"n"}}"#,
    r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{}} trailing"#,
    r#"{"jsonrpc":"2.0","id":1,"result":{}"#,
    r#""#,
    r#"{}"#,
    r#""result""#,
    r#""error""#,
];

#[test]
fn server_messages_parse_as_rmcp_parses_them() {
    for input in SERVER_FAST {
        check_server(input, true);
    }
    for input in SERVER_SLOW {
        check_server(input, false);
    }
}

/// What `is_call_tool_result` relies on: no member of rmcp's untagged `ServerResult` before
/// `CallToolResult` accepts an object made only of `CallToolResult`'s members, so whenever
/// `CallToolResult` reads one, it is the member rmcp picks. Tried with every combination of
/// those members and several kinds of `structuredContent`; an rmcp upgrade that adds or changes
/// a member so that it takes such objects fails here.
#[test]
fn no_member_before_call_tool_result_takes_its_members() {
    use rmcp::model::{CallToolResult, ServerResult};
    use serde_json::{json, Map, Value};

    let structured = [
        json!({"a": 1}),
        json!([1, 2]),
        json!("s"),
        json!(3),
        json!(true),
        Value::Null,
    ];
    let mut tried = 0;
    for mask in 0u32..32 {
        for value in &structured {
            let mut object = Map::new();
            let mut put = |bit: u32, key: &str, v: Value| {
                if mask & (1 << bit) != 0 {
                    object.insert(key.to_owned(), v);
                }
            };
            put(0, "content", json!([{"type": "text", "text": "x"}]));
            put(1, "structuredContent", value.clone());
            put(2, "isError", json!(false));
            put(3, "_meta", json!({"k": "v"}));
            put(4, "resultType", json!("complete"));
            let object = Value::Object(object);
            if serde_json::from_value::<CallToolResult>(object.clone()).is_err() {
                continue;
            }
            tried += 1;
            let picked = serde_json::from_value::<ServerResult>(object.clone());
            assert!(
                matches!(picked, Ok(ServerResult::CallToolResult(_))),
                "rmcp reads {object} as {picked:?}, not as a CallToolResult"
            );
        }
    }
    assert!(tried > 100, "only {tried} objects tried");
}

#[test]
fn tool_results_are_read_as_call_tool_results_directly() {
    use super::is_call_tool_result;
    assert!(is_call_tool_result(SERVER_FAST[0].as_bytes()));
    assert!(is_call_tool_result(
        br#"{"result":{"_meta":{},"structuredContent":{"content":1}},"id":1,"jsonrpc":"2.0"}"#
    ));
    for other in [
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"_meta":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"extra":1}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":[{"content":[]}]}"#,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"content"}}"#,
    ] {
        assert!(!is_call_tool_result(other.as_bytes()), "{other}");
    }
}

#[test]
fn method_hint_reads_only_plain_strings() {
    assert_eq!(method_hint(br#"{"method" :  "a/b""#), Some("a/b"));
    assert_eq!(method_hint(br#"{"method":"a\"b"}"#), None);
    assert_eq!(method_hint(br#"{"method":5}"#), None);
    assert_eq!(method_hint(br#"{"method":"#), None);
    assert_eq!(method_hint(br#"{"method""#), None);
    assert_eq!(method_hint(b""), None);
}

/// A small deterministic generator for the bounded fuzz below (no dependency, same inputs on
/// every run, so a failure names an input that can be replayed).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes a mutation inserts: JSON's structural characters, digits, escapes, a non-UTF-8 byte.
const FUZZ_BYTES: &[u8] = b"{}[]\":,. -+0123456789eEtrufalsn\\/u\x00\xff";
/// Fragments a mutation inserts whole: members the fast paths key on.
const FUZZ_FRAGMENTS: &[&str] = &[
    r#""jsonrpc":"2.0","#,
    r#""id":1,"#,
    r#""id":null,"#,
    r#""method":"tools/call","#,
    r#""params":{"name":"x"},"#,
    r#""result":{},"#,
    r#""error":{"code":1,"message":"m"},"#,
    r#""_meta":{"progressToken":1},"#,
    r#""arguments":{"a":[1,{"b":"\u00e9"}]},"#,
    r#""content":[{"type":"text","text":"t"}],"#,
    r#""isError":true,"#,
];

/// One random edit of `input`: a byte replaced, bytes removed, a span repeated, or a byte or
/// fragment inserted.
fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let at = rng.below(out.len() + 1);
    match rng.below(5) {
        0 if !out.is_empty() => {
            let i = rng.below(out.len());
            out[i] = FUZZ_BYTES[rng.below(FUZZ_BYTES.len())];
        }
        1 if !out.is_empty() => {
            let end = (at + 1 + rng.below(8)).min(out.len());
            out.drain(at.min(end)..end);
        }
        2 if !out.is_empty() => {
            let end = (at + 1 + rng.below(24)).min(out.len());
            let span = out[at.min(end)..end].to_vec();
            out.splice(at.min(end)..at.min(end), span);
        }
        3 => out.insert(at, FUZZ_BYTES[rng.below(FUZZ_BYTES.len())]),
        _ => {
            let f = FUZZ_FRAGMENTS[rng.below(FUZZ_FRAGMENTS.len())].as_bytes();
            out.splice(at..at, f.iter().copied());
        }
    }
    out
}

/// Bounded differential fuzz of the JSON-RPC framing that faces the network: every corpus
/// message, mutated up to three times, 20,000 inputs per direction, parses with the fast path
/// exactly as rmcp parses it (same value and variant, or the same error), and never panics.
#[test]
fn mutated_messages_parse_as_rmcp_parses_them() {
    let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
    let client: Vec<&str> = CLIENT_FAST.iter().chain(CLIENT_SLOW).copied().collect();
    let server: Vec<&str> = SERVER_FAST.iter().chain(SERVER_SLOW).copied().collect();
    let mut fast_taken = 0;
    for _ in 0..20_000 {
        let seed = client[rng.below(client.len())].as_bytes();
        let mut input = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            input = mutate(&mut rng, &input);
        }
        fast_taken += usize::from(fast_client(&input).is_some());
        agree(
            &input,
            client_message(&input),
            serde_json::from_slice::<ClientJsonRpcMessage>(&input),
        );
    }
    for _ in 0..20_000 {
        let seed = server[rng.below(server.len())].as_bytes();
        let mut input = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            input = mutate(&mut rng, &input);
        }
        fast_taken += usize::from(fast_server(&input).is_some());
        agree(
            &input,
            server_message(&input),
            serde_json::from_slice::<ServerJsonRpcMessage>(&input),
        );
    }
    // The mutations must keep exercising the fast paths, or the comparison tests only rmcp.
    assert!(fast_taken > 500, "fast path taken only {fast_taken} times");
}
