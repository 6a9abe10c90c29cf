//! `GET /v1/models`: the route answers it itself, listing what it can serve.

use bytes::Bytes;
use serde_json::json;

/// An OpenAI model list (`{"object":"list","data":[{"id","object":"model","created",
/// "owned_by"}]}`) of `models`, each owned by `owner` (the gateway's name for itself, or the
/// provider's). `created` is 0: the gateway does not know when a model was made.
pub fn models_list_body<'a>(models: impl IntoIterator<Item = &'a str>, owner: &str) -> Bytes {
    let data: Vec<_> = models
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_in_openai_shape() {
        let body = models_list_body(["fast", "claude-sonnet-4-5"], "switchboard");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "claude-sonnet-4-5");
        assert_eq!(v["data"][0]["object"], "model");
        assert_eq!(v["data"][0]["owned_by"], "switchboard");
        assert_eq!(v["data"][0]["created"], 0);
        let empty = models_list_body([], "x");
        let v: serde_json::Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(v, json!({"object": "list", "data": []}));
    }
}
