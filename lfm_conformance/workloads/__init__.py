"""What the suite sends to a server, or computes beside it, declared as data: hostile requests and
bounded load (`robustness`), lm-eval accuracy through its own OpenAI backends (`accuracy`), vLLM's
benchmark protocol and knobs (`benchmarks`), transformers reference logprobs (`reference`).
They take an endpoint URL, never start a server. May import `data` only."""
