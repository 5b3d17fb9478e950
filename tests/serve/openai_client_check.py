"""The official `openai` Python client against a running `e2llm serve`.

Run by tests/unit/test_serve_cli.cpp (the OpenAiClient test) with the Python
of the virtualenv that scripts/test.sh fills from PyPI:
    python openai_client_check.py BASE_URL API_KEY DOCUMENT_ID
Exits non-zero with a message on the first mismatch.
"""
import sys

import openai


def main() -> None:
    base_url, api_key, document = sys.argv[1:4]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=120)
    model = client.models.list().data[0].id
    documents = {"documents": [document]}
    messages = [{"role": "user", "content": "what is the price"}]

    chat = client.chat.completions.create(
        model=model, messages=messages, max_tokens=10, temperature=0, extra_body=documents)
    answer = chat.choices[0].message.content
    assert isinstance(answer, str), chat
    assert chat.choices[0].finish_reason in ("stop", "length"), chat
    usage = chat.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage

    joined, ids, final_usage = "", set(), None
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=10, temperature=0, stream=True,
        stream_options={"include_usage": True}, extra_body=documents)
    for chunk in stream:
        ids.add(chunk.id)
        if chunk.choices:
            joined += chunk.choices[0].delta.content or ""
        elif chunk.usage:
            final_usage = chunk.usage
    assert joined == answer, (joined, answer)
    assert len(ids) == 1, ids
    assert final_usage is not None and final_usage.total_tokens == usage.total_tokens, (final_usage, usage)

    completion = client.completions.create(
        model=model, prompt="who approved the budget", max_tokens=6, temperature=0, extra_body=documents)
    text = completion.choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=model, prompt="who approved the budget", max_tokens=6, temperature=0, stream=True,
        extra_body=documents) if c.choices)
    assert streamed == text, (streamed, text)

    try:
        openai.OpenAI(base_url=base_url + "/v1", api_key="wrong-key", max_retries=0).models.list()
        sys.exit("a wrong API key was accepted")
    except openai.AuthenticationError:
        pass
    try:
        client.chat.completions.create(model=model, messages=messages, extra_body={"documents": ["doc-" + "0" * 32]})
        sys.exit("an unknown document was accepted")
    except openai.NotFoundError:
        pass
    print("openai client: ok (chat, chat stream, completions, completions stream, wrong key, unknown document)")


if __name__ == "__main__":
    main()
