//! Input rounds of a 2026-07-28 target for a 2025-era client.
//!
//! A modern target asks for input (elicitation, sampling, roots) by answering a call with
//! `{"resultType": "input_required", "inputRequests": …, "requestState": …}` and expecting the
//! call again with the answers. A 2025-era client cannot read that result, but it can be
//! asked directly, on the call's stream, as a 2025 server would ask it. So the gateway asks
//! it each question, sends the call again with `inputResponses` and the target's
//! `requestState`, and repeats until the target completes (at most [`MAX_ROUNDS`]). A
//! 2026-07-28 client gets the `input_required` result itself.

#![allow(deprecated)] // Sampling and roots are deprecated by 2026-07-28 but still relayed.

use rmcp::model::{
    ClientRequest, ErrorData, InputRequest, InputRequiredResult, InputResponses, ServerRequest,
    ServerResult,
};

use crate::core::context::CallContext;
use crate::upstream::client::{ask_client, Ability};
use crate::upstream::{Retry, Upstream};

/// Most input rounds of one call before the gateway gives up on the target.
pub(super) const MAX_ROUNDS: usize = 8;

/// Whether the client of `ctx` needs the gateway to do a modern target's input rounds.
pub(super) fn client_is_legacy(ctx: &CallContext) -> bool {
    ctx.protocol_version.has_initialize()
}

/// Completes `result`, the answer of `up` to `request` (sent by a 2025-era client), doing the
/// target's input rounds with the client.
pub(super) async fn complete(
    up: &Upstream,
    mut request: ClientRequest,
    method: &'static str,
    mut result: ServerResult,
    ctx: &CallContext,
) -> Result<ServerResult, ErrorData> {
    for _ in 0..MAX_ROUNDS {
        let ServerResult::InputRequiredResult(asked) = result else {
            return Ok(result);
        };
        let InputRequiredResult {
            input_requests,
            request_state,
            ..
        } = asked;
        let responses = answers(up, input_requests.unwrap_or_default(), ctx).await?;
        set_round(&mut request, responses, request_state);
        result = up
            .request(
                request.clone(),
                method,
                Some(&ctx.upstream()),
                Retry::IfUnsent,
            )
            .await?;
    }
    Err(ErrorData::internal_error(
        format!(
            "target {:?} still asked for input after {MAX_ROUNDS} rounds; the gateway gave up",
            up.name()
        ),
        None,
    ))
}

/// Asks the client each of the target's questions; the answers by the target's keys.
async fn answers(
    up: &Upstream,
    questions: rmcp::model::InputRequests,
    ctx: &CallContext,
) -> Result<InputResponses, ErrorData> {
    let Some(asker) = ctx.upstream().asker() else {
        return Err(ErrorData::internal_error(
            format!(
                "target {:?} asked for input and this call has no client to ask",
                up.name()
            ),
            None,
        ));
    };
    let mut responses = InputResponses::new();
    for (key, question) in questions {
        let request = match question {
            InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
            InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
            InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
            _ => ServerRequest::CustomRequest(rmcp::model::CustomRequest::new("unknown", None)),
        };
        let Some(ability) = Ability::of(&request) else {
            return Err(ErrorData::internal_error(
                format!("target {:?} asked for input of an unknown kind", up.name()),
                None,
            ));
        };
        let answer =
            ask_client(up.name(), &asker, ability, request, std::future::pending()).await?;
        let value = serde_json::to_value(&answer).map_err(|e| {
            ErrorData::internal_error(format!("the client's answer is not JSON: {e}"), None)
        })?;
        responses.insert(key, value);
    }
    Ok(responses)
}

/// Puts a round's answers and the target's state into the request sent again.
fn set_round(request: &mut ClientRequest, responses: InputResponses, state: Option<String>) {
    let (slot_responses, slot_state) = match request {
        ClientRequest::CallToolRequest(r) => {
            (&mut r.params.input_responses, &mut r.params.request_state)
        }
        ClientRequest::GetPromptRequest(r) => {
            (&mut r.params.input_responses, &mut r.params.request_state)
        }
        ClientRequest::ReadResourceRequest(r) => {
            (&mut r.params.input_responses, &mut r.params.request_state)
        }
        _ => return,
    };
    *slot_responses = Some(responses);
    *slot_state = state;
}
