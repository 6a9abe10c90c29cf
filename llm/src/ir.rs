//! The intermediate representation every cross-format translation goes through: parse the
//! client's format into it, write the provider's format from it (and the reverse for
//! responses). It holds what both OpenAI chat and Anthropic Messages can express; what only
//! one of them has is named in the README's "lost in translation".

use serde_json::Value;

use crate::Usage;

/// A chat request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The provider's model name (already rewritten by the caller).
    pub model: String,
    /// System instructions, in order (OpenAI `system`/`developer` messages; Anthropic
    /// top-level `system`, string or text blocks).
    pub system: Vec<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Tool definitions.
    pub tools: Vec<Tool>,
    /// How the model may use tools.
    pub tool_choice: Option<ToolChoice>,
    /// `false`: at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    /// The output token limit.
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Streamed response asked.
    pub stream: bool,
    /// The end user's id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user (and tool results, which Anthropic sends as user content).
    User,
    /// The model.
    Assistant,
}

/// One turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The speaker.
    pub role: Role,
    /// Its content, in order.
    pub content: Vec<Part>,
}

/// A piece of content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image.
    Image(Image),
    /// A tool call made by the model.
    ToolUse {
        /// The call's id, echoed by its result.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object.
        input: Value,
    },
    /// A tool's result, sent back by the user.
    ToolResult {
        /// The id of the call.
        id: String,
        /// The result's text parts (and images, which OpenAI cannot carry there).
        content: Vec<Part>,
        /// The tool failed.
        is_error: bool,
    },
}

/// An image, by reference or inline.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// An `http(s)` URL.
    Url(String),
    /// Inline bytes, base64.
    Base64 {
        /// `image/png`, ...
        media_type: String,
        /// The base64 text.
        data: String,
    },
}

impl Image {
    /// From an OpenAI `image_url.url`: a `data:` URL becomes inline bytes.
    pub fn from_url(url: &str) -> Image {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((media_type, data)) = rest.split_once(";base64,") {
                return Image::Base64 {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                };
            }
        }
        Image::Url(url.to_string())
    }

    /// As an OpenAI `image_url.url` (inline bytes as a `data:` URL).
    pub fn to_url(&self) -> String {
        match self {
            Image::Url(url) => url.clone(),
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    pub schema: Value,
}

/// How the model may use tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Its choice.
    Auto,
    /// No tool.
    None,
    /// Some tool (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool.
    Tool(String),
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It was done (OpenAI `stop`, Anthropic `end_turn`).
    EndTurn,
    /// A stop sequence (OpenAI reports it as `stop` too).
    StopSequence,
    /// The token limit (`length`, `max_tokens`).
    MaxTokens,
    /// It called tools (`tool_calls`, `tool_use`).
    ToolUse,
    /// Content filtered or refused (`content_filter`, `refusal`).
    Refusal,
}

impl StopReason {
    /// From an OpenAI `finish_reason`; unknown values read as the end of the turn.
    pub fn from_openai(reason: &str) -> StopReason {
        match reason {
            "length" => StopReason::MaxTokens,
            "tool_calls" | "function_call" => StopReason::ToolUse,
            "content_filter" => StopReason::Refusal,
            _ => StopReason::EndTurn,
        }
    }

    /// From an Anthropic `stop_reason`; `pause_turn` reads as the end of the turn and
    /// `model_context_window_exceeded` as the token limit.
    pub fn from_anthropic(reason: &str) -> StopReason {
        match reason {
            "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
            "tool_use" => StopReason::ToolUse,
            "stop_sequence" => StopReason::StopSequence,
            "refusal" => StopReason::Refusal,
            _ => StopReason::EndTurn,
        }
    }

    /// As an OpenAI `finish_reason`.
    pub fn openai(self) -> &'static str {
        match self {
            StopReason::EndTurn | StopReason::StopSequence => "stop",
            StopReason::MaxTokens => "length",
            StopReason::ToolUse => "tool_calls",
            StopReason::Refusal => "content_filter",
        }
    }

    /// As an Anthropic `stop_reason`.
    pub fn anthropic(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::StopSequence => "stop_sequence",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ToolUse => "tool_use",
            StopReason::Refusal => "refusal",
        }
    }
}

/// A complete (non-streamed) reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The provider's response id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// Text and tool calls, in order.
    pub content: Vec<Part>,
    /// Why it stopped.
    pub stop: Option<StopReason>,
    /// Token counts.
    pub usage: Usage,
}

/// Seconds since the epoch, for OpenAI's `created`.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_both_ways() {
        for (openai, anthropic) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("content_filter", "refusal"),
        ] {
            assert_eq!(StopReason::from_openai(openai).anthropic(), anthropic);
            assert_eq!(StopReason::from_anthropic(anthropic).openai(), openai);
        }
        assert_eq!(StopReason::from_anthropic("stop_sequence").openai(), "stop");
        assert_eq!(StopReason::from_anthropic("pause_turn").openai(), "stop");
    }

    #[test]
    fn data_urls_become_inline_images() {
        let img = Image::from_url("data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            img,
            Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }
        );
        assert_eq!(img.to_url(), "data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            Image::from_url("https://x/y.png"),
            Image::Url("https://x/y.png".into())
        );
    }
}
