//! Turns an agent card's skills into MCP tools, and a tool call's arguments back into what an
//! A2A message needs.
//!
//! A2A has no per-skill endpoint: every skill is reached by sending a message to the agent. A
//! tool per skill still helps the model choose (the description says what the skill does and
//! shows its examples), and the skill id travels in the message metadata as a hint. All tools
//! share one input shape: the text to send, plus `contextId` / `taskId` so the model can go on
//! with a conversation or answer a task that is waiting for input (`input-required`).

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};

use super::card::{AgentCardInfo, Skill};

/// Longest tool name common clients and LLM APIs accept (`^[A-Za-z0-9_-]{1,64}$`).
pub const MAX_NAME: usize = 64;
/// The one tool of an agent whose card lists no skills.
pub const SEND_MESSAGE: &str = "send_message";
/// Longest tool description (skill texts are the agent's, and can be long).
const MAX_DESCRIPTION: usize = 4000;

/// The tools of one agent and the skill behind each name.
#[derive(Debug, Clone, Default)]
pub struct ToolSet {
    tools: Vec<Tool>,
    /// tool name → skill id (`None`: the [`SEND_MESSAGE`] tool).
    skills: HashMap<String, Option<String>>,
}

impl ToolSet {
    /// One tool per skill (card order), or [`SEND_MESSAGE`] when there are none.
    pub fn from_card(card: &AgentCardInfo) -> ToolSet {
        let mut set = ToolSet::default();
        if card.skills.is_empty() {
            let description = clip(format!(
                "Sends a message to the A2A agent \"{}\"{} and returns its reply.\n\n{}",
                card.name,
                if card.description.trim().is_empty() {
                    String::new()
                } else {
                    format!(" ({})", card.description.trim())
                },
                CONTINUE_HINT
            ));
            set.push(SEND_MESSAGE.to_owned(), None, &card.name, description);
            return set;
        }
        let mut used = std::collections::HashSet::new();
        for skill in &card.skills {
            let name = unique_name(&skill.id, &mut used);
            let description = skill_description(skill, card);
            set.push(name, Some(skill.id.clone()), &skill.name, description);
        }
        set
    }

    fn push(&mut self, name: String, skill: Option<String>, title: &str, description: String) {
        let annotations = ToolAnnotations::new().read_only(false).open_world(true);
        let tool = Tool::new(name.clone(), description, input_schema())
            .with_title(title.to_owned())
            .with_annotations(annotations);
        self.tools.push(tool);
        self.skills.insert(name, skill);
    }

    /// The tools, in card order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The tool called `name`.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// `Some(skill id)` for a known tool (`Some(None)` for [`SEND_MESSAGE`]), `None` for an
    /// unknown name.
    pub fn skill_of(&self, name: &str) -> Option<Option<&str>> {
        self.skills.get(name).map(Option::as_deref)
    }

    /// The tool names, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_ref()).collect()
    }
}

const CONTINUE_HINT: &str = "To continue the same conversation, pass the contextId of a \
previous result. When the agent asks for more input (the result says so and gives a taskId), \
call again with that taskId and contextId and your answer as message.";

fn skill_description(skill: &Skill, card: &AgentCardInfo) -> String {
    let mut d = String::new();
    let name = skill.name.trim();
    let desc = skill.description.trim();
    match (name.is_empty(), desc.is_empty()) {
        (false, false) => d.push_str(&format!("{name}: {desc}")),
        (false, true) => d.push_str(name),
        (true, false) => d.push_str(desc),
        (true, true) => d.push_str(&skill.id),
    }
    let examples: Vec<String> = skill
        .examples
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .take(5)
        .map(|e| format!("\"{e}\""))
        .collect();
    if !examples.is_empty() {
        d.push_str(&format!("\nExamples: {}", examples.join("; ")));
    }
    d.push_str(&format!(
        "\n\nSends your message to the A2A agent \"{}\" (skill \"{}\") and returns its reply. {}",
        card.name, skill.id, CONTINUE_HINT
    ));
    clip(d)
}

/// Cuts `s` to [`MAX_DESCRIPTION`] bytes on a character boundary.
fn clip(mut s: String) -> String {
    if s.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// The input schema shared by every tool of an agent.
pub fn input_schema() -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "description": "The text to send to the agent."
            },
            "contextId": {
                "type": "string",
                "description": "Continue an earlier conversation with this agent: the contextId \
                                of a previous result."
            },
            "taskId": {
                "type": "string",
                "description": "Answer a task that is waiting for input (input-required): the \
                                taskId of that result."
            }
        },
        "required": ["message"]
    });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// `skill.id` made a valid tool name: characters outside `[A-Za-z0-9_-]` become `_`, and a
/// name that is too long or already taken is cut and given a stable hash of the id, so the
/// same card always gives the same names.
pub fn unique_name(id: &str, used: &mut std::collections::HashSet<String>) -> String {
    let mut name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        name = "skill".to_owned();
    }
    if name.len() > MAX_NAME || used.contains(&name) {
        let mut salt = 0u32;
        loop {
            let hash = fnv1a(&format!("{id}\u{0}{salt}"));
            let suffix = format!("_{:08x}", hash as u32);
            let keep = MAX_NAME - suffix.len();
            let cut: String = name.chars().take(keep).collect();
            let candidate = format!("{cut}{suffix}");
            if !used.contains(&candidate) {
                name = candidate;
                break;
            }
            salt += 1;
        }
    }
    used.insert(name.clone());
    name
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The arguments of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallArgs {
    pub message: String,
    pub context_id: Option<String>,
    pub task_id: Option<String>,
}

/// Reads and checks the arguments; the error is the text of an `invalid_params` error.
/// Unknown keys are ignored (models add stray ones); an empty `contextId`/`taskId` or `null`
/// counts as absent.
pub fn parse_args(args: Option<&JsonObject>) -> Result<CallArgs, String> {
    let empty = JsonObject::new();
    let args = args.unwrap_or(&empty);
    let message = match args.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "argument `message` must be a string, got {}",
                type_name(other)
            ))
        }
        None => return Err("missing required argument `message` (the text to send)".to_owned()),
    };
    let optional = |key: &str| -> Result<Option<String>, String> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(format!(
                "argument `{key}` must be a string, got {}",
                type_name(other)
            )),
        }
    };
    Ok(CallArgs {
        message,
        context_id: optional("contextId")?,
        task_id: optional("taskId")?,
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use url::Url;

    use super::*;
    use crate::method::Dialect;

    fn card(skills: Vec<Skill>) -> AgentCardInfo {
        let u = Url::parse("http://a/").unwrap();
        AgentCardInfo {
            name: "Travel".into(),
            description: "books trips".into(),
            endpoint: u.clone(),
            dialect: Dialect::V1,
            tenant: None,
            streaming: false,
            skills,
            card_url: u,
        }
    }

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_sanitised_unique_and_stable() {
        let mut used = HashSet::new();
        assert_eq!(unique_name("book-flight", &mut used), "book-flight");
        assert_eq!(unique_name("book.hotel v2", &mut used), "book_hotel_v2");
        let dup = unique_name("book_hotel_v2", &mut used);
        assert!(dup.starts_with("book_hotel_v2_") && valid(&dup), "{dup}");
        assert_eq!(unique_name("", &mut used), "skill");
        assert_eq!(unique_name("é", &mut used), "_");
        let long = "x".repeat(100);
        let a = unique_name(&long, &mut used);
        assert!(valid(&a) && a.len() == MAX_NAME, "{a}");
        let mut again = HashSet::new();
        assert_eq!(unique_name(&long, &mut again), a, "stable across runs");
        let b = unique_name(&long, &mut used);
        assert_ne!(a, b, "a second identical long id still gets its own name");
        assert!(valid(&b));
    }

    #[test]
    fn one_tool_per_skill_with_description_examples_and_annotations() {
        let set = ToolSet::from_card(&card(vec![
            Skill {
                id: "flights".into(),
                name: "Flights".into(),
                description: "Finds flights".into(),
                tags: vec![],
                examples: vec!["Paris to Rome on May 1".into(), " ".into()],
            },
            Skill {
                id: "hotels/search".into(),
                ..Skill::default()
            },
        ]));
        assert_eq!(set.names(), ["flights", "hotels_search"]);
        assert_eq!(set.skill_of("hotels_search"), Some(Some("hotels/search")));
        assert_eq!(set.skill_of("nope"), None);
        let t = set.tool("flights").unwrap();
        let d = t.description.as_deref().unwrap();
        assert!(
            d.starts_with("Flights: Finds flights\nExamples: \"Paris to Rome on May 1\""),
            "{d}"
        );
        assert!(d.contains("contextId") && d.contains("taskId"), "{d}");
        assert_eq!(t.title.as_deref(), Some("Flights"));
        let a = t.annotations.as_ref().unwrap();
        assert_eq!(a.read_only_hint, Some(false));
        assert_eq!(a.open_world_hint, Some(true));
        assert_eq!(t.input_schema["required"], json!(["message"]));
        assert_eq!(t.input_schema["properties"]["taskId"]["type"], "string");
    }

    #[test]
    fn no_skills_gives_send_message() {
        let set = ToolSet::from_card(&card(vec![]));
        assert_eq!(set.names(), [SEND_MESSAGE]);
        assert_eq!(set.skill_of(SEND_MESSAGE), Some(None));
        let d = set.tools()[0].description.as_deref().unwrap();
        assert!(d.contains("\"Travel\" (books trips)"), "{d}");
    }

    #[test]
    fn long_descriptions_are_clipped_on_char_boundaries() {
        let set = ToolSet::from_card(&card(vec![Skill {
            id: "s".into(),
            name: "S".into(),
            description: "é".repeat(5000),
            ..Skill::default()
        }]));
        let d = set.tools()[0].description.as_deref().unwrap();
        assert!(d.len() <= MAX_DESCRIPTION && d.ends_with("..."));
    }

    #[test]
    fn args_are_checked() {
        let obj = |v: Value| v.as_object().cloned().unwrap();
        let ok = parse_args(Some(&obj(
            json!({"message": "hi", "contextId": " c1 ", "taskId": "", "extra": 1}),
        )))
        .unwrap();
        assert_eq!(
            ok,
            CallArgs {
                message: "hi".into(),
                context_id: Some("c1".into()),
                task_id: None
            }
        );
        assert!(parse_args(None)
            .unwrap_err()
            .contains("missing required argument `message`"));
        assert!(parse_args(Some(&obj(json!({"message": 3}))))
            .unwrap_err()
            .contains("must be a string, got a number"));
        assert!(
            parse_args(Some(&obj(json!({"message": "x", "taskId": ["t"]}))))
                .unwrap_err()
                .contains("`taskId` must be a string")
        );
        assert_eq!(
            parse_args(Some(&obj(json!({"message": "x", "contextId": null}))))
                .unwrap()
                .context_id,
            None
        );
    }
}
