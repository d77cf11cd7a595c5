"""The official openai SDK, unchanged, against a running Switchyard (see run.sh)."""
import os

import openai
import pytest

URL = os.environ["SWITCHYARD_URL"] + "/v1"
KEY = os.environ["SWITCHYARD_MASTER_KEY"]


@pytest.fixture
def client():
    return openai.OpenAI(base_url=URL, api_key=KEY, max_retries=0)


def test_normal_call(client):
    reply = client.chat.completions.create(
        model="grok-code-fast-1",
        messages=[{"role": "user", "content": "hello sdk"}],
        presence_penalty=0.5,  # grok-4.3 rejects it; drop_params removes it
    )
    assert reply.choices[0].message.content == "You said: hello sdk"
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0


def test_streamed_call_assembles_from_chunks(client):
    stream = client.chat.completions.create(
        model="grok-code-fast-1",
        messages=[{"role": "user", "content": "stream to the sdk"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, reasoning, usage = "", "", None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
    assert text == "You said: stream to the sdk"
    assert reasoning
    assert usage is not None and usage.prompt_tokens > 0


def test_reasoning_effort_is_mapped_to_one_the_model_takes(client):
    # grok-4.3 takes none/low/medium/high: "minimal" goes as "low" instead of failing upstream.
    reply = client.chat.completions.create(
        model="grok-code-fast-1", messages=[{"role": "user", "content": "effort"}], reasoning_effort="minimal"
    )
    assert reply.model == "grok-4.3"
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0


def test_models_list(client):
    ids = [model.id for model in client.models.list()]
    assert ids == ["grok-code-fast-1", "grok-4.7-strict", "mock-echo", "chat-only"]


def test_unknown_model_raises_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "model_not_found"


def test_rejected_parameter_raises_bad_request(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="grok-4.7-strict", messages=[{"role": "user", "content": "x"}], presence_penalty=1
        )
    assert raised.value.param == "presence_penalty"


def test_wrong_key_raises_authentication_error():
    client = openai.OpenAI(base_url=URL, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "x"}])


def test_upstream_rate_limit_raises_rate_limit_error(client):
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="grok-code-fast-1", messages=[{"role": "user", "content": "FAULT:429"}])


def test_upstream_failure_raises_internal_server_error(client):
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="grok-code-fast-1", messages=[{"role": "user", "content": "FAULT:500"}])


def test_truncated_stream_raises_api_error(client):
    stream = client.chat.completions.create(
        model="grok-code-fast-1", messages=[{"role": "user", "content": "FAULT:abrupt"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


# The Responses API (`/v1/responses`): grok-code-fast-1 is an xai/ deployment, relayed natively (the mock speaks
# xAI's Responses API); chat-only is an openai/ one, translated to Chat Completions and back.
UPSTREAMS = ["grok-code-fast-1", "chat-only"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_responses_create(client, model):
    response = client.responses.create(model=model, input="hello responses", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == "You said: hello responses"
    assert response.id.startswith("resp_")
    assert response.usage.input_tokens > 0
    assert [item.type for item in response.output] == ["reasoning", "message"]


@pytest.mark.parametrize("model", UPSTREAMS)
def test_responses_stream(client, model):
    events = []
    with client.responses.stream(model=model, input="stream responses") as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_response()
    assert events[0] == "response.created"
    assert "response.output_text.delta" in events
    assert events[-1] == "response.completed"
    assert final.output_text == "You said: stream responses"
    assert final.usage.total_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_responses_function_tool_round_trip(client, model):
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    first = client.responses.create(model=model, input="Paris", tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert calls[0].arguments == '{"city":"Paris"}'
    follow_up = [
        {"role": "user", "content": "Paris"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"},
    ]
    second = client.responses.create(model=model, input=follow_up, tools=tools)
    assert second.output_text == "Tool said: sunny, 21 C"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_responses_structured_output(client, model):
    response = client.responses.create(
        model=model,
        input="give me json",
        text={"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}},
    )
    assert response.status == "completed"
    assert response.text.format.type == "json_schema"


@pytest.mark.parametrize("model", UPSTREAMS)
def test_responses_unknown_previous_response_is_not_found(client, model):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=model, input="again", previous_response_id="resp_nope")


def test_responses_server_side_tools_need_a_native_upstream(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="chat-only", input="search", tools=[{"type": "web_search"}])
    assert raised.value.param == "tools[0]"


def test_responses_previous_response_id_continues_a_translated_conversation(client):
    first = client.responses.create(model="chat-only", input="My name is Ada.")
    second = client.responses.create(model="chat-only", previous_response_id=first.id, input="What is my name?")
    assert second.output_text == "You said: What is my name?"
    items = client.responses.input_items.list(second.id)
    texts = [part.text for item in items.data if item.type == "message" for part in item.content]
    assert texts[0] == "My name is Ada." and texts[-1] == "What is my name?"
    assert "You said: My name is Ada." in texts
    assert client.responses.retrieve(first.id).output_text == "You said: My name is Ada."
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_responses_previous_response_id_continues_a_native_conversation(client):
    # xAI keeps the conversation; the proxy sends the follow-up, the retrieval and the deletion to the deployment
    # (and key) that made it.
    first = client.responses.create(model="grok-code-fast-1", input="My name is Ada.")
    second = client.responses.create(model="grok-code-fast-1", previous_response_id=first.id, input="What is my name?")
    assert second.status == "completed" and second.output_text == "You said: What is my name?"
    assert client.responses.retrieve(first.id).output_text == "You said: My name is Ada."
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
