"""Load generator for `e2llm serve` (bench/serve_bench.sh runs it): time to
first token for a question about a new document (encoding included) against
one about a stored document and one about a document the decoder read for an
earlier question (its state remembered: --read-cache-mb), then total generated tokens per second and
latency percentiles with 1, 4 and 8 concurrent streaming clients.
Standard library only. Prints a Markdown table.

    python3 serve_bench.py PORT DOCUMENT_FILE [--requests N] [--max-tokens N]
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def stream_chat(port, body):
    """POSTs a streamed chat completion; returns (ttft_s, total_s, usage)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    ttft, usage = None, None
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if "error" in chunk:
            raise RuntimeError(chunk["error"]["message"])
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and ttft is None:
            ttft = time.perf_counter() - start
        if chunk.get("usage"):
            usage = chunk["usage"]
    conn.close()
    total = time.perf_counter() - start
    return (ttft if ttft is not None else total), total, usage


def body(question, max_tokens, **where):
    return {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, **where}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("document")
    parser.add_argument("--requests", type=int, default=4, help="requests per client at each concurrency")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    text = open(args.document, encoding="utf-8").read()
    questions = ["What did the group decide?", "Who led the discussion?", "What was said about the budget?",
                 "What are the next steps?", "Summarize the meeting.", "What problems came up?",
                 "What did the marketing expert say?", "When is the next meeting?"]

    cold_ttft, cold_total, usage = stream_chat(args.port, body(questions[0], args.max_tokens, context=text))
    conn = http.client.HTTPConnection("127.0.0.1", args.port)
    conn.request("POST", "/v1/documents", json.dumps({"text": text}), {"Content-Type": "application/json"})
    doc = json.loads(conn.getresponse().read())
    # The same text with one more line is another document: stored, never read by the decoder.
    conn.request("POST", "/v1/documents", json.dumps({"text": text + "\n"}), {"Content-Type": "application/json"})
    unread = json.loads(conn.getresponse().read())
    first_ttft, first_total, _ = stream_chat(args.port, body(questions[1], args.max_tokens, documents=[unread["id"]]))
    # The cold question read this document already: these continue its decoder state (--read-cache-mb).
    warm = [stream_chat(args.port, body(questions[i % 8], args.max_tokens, documents=[doc["id"]])) for i in range(3)]
    warm_ttft = statistics.median(w[0] for w in warm)
    print(f"document: {doc['context_tokens']} encoder tokens, {doc['chunks']} chunks, {doc['soft_tokens']} soft tokens;"
          f" prompt {usage['prompt_tokens']} decoder positions\n")
    print("| question | time to first token | whole answer |")
    print("|---|---|---|")
    print(f"| new document (chunk + encode + prefill) | {cold_ttft:.2f} s | {cold_total:.2f} s |")
    print(f"| stored document, its first question (prefill of document and question) | {first_ttft:.2f} s |"
          f" {first_total:.2f} s |")
    print(f"| stored document read before (prefill of the question only; median of 3) | {warm_ttft:.2f} s |"
          f" {statistics.median(w[1] for w in warm):.2f} s |")
    print(f"\ntime to first token, new / stored / read before: {cold_ttft / first_ttft:.1f}x / "
          f"{cold_ttft / warm_ttft:.1f}x\n")

    print(f"| clients | requests | generated tokens | wall | tokens/s (all clients) | latency p50 | p95 | TTFT p50 |")
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for clients in (1, 4, 8):
        results, lock = [], threading.Lock()

        def client(c):
            for r in range(args.requests):
                q = questions[(c * args.requests + r) % len(questions)]
                out = stream_chat(args.port, body(q, args.max_tokens, documents=[doc["id"]]))
                with lock:
                    results.append(out)

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        tokens = sum(r[2]["completion_tokens"] for r in results)
        rate = tokens / wall
        base = base or rate
        totals = [r[1] for r in results]
        print(f"| {clients} | {len(results)} | {tokens} | {wall:.1f} s | {rate:.1f} ({rate / base:.1f}x) |"
              f" {percentile(totals, 50):.2f} s | {percentile(totals, 95):.2f} s |"
              f" {percentile([r[0] for r in results], 50):.2f} s |")


if __name__ == "__main__":
    main()
