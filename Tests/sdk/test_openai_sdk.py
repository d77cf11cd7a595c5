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
    assert ids == ["grok-code-fast-1", "grok-4.7-strict", "mock-echo"]


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
