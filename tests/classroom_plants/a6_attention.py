"""Planted submissions of a6_attention (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # The causal mask aligned at the bottom-right corner (query i sees keys up to
    # i + S - L), not PyTorch's top-left: the same when L == S, so only the hidden tests
    # with L != S see it.
    "mistake": Plant(
        "attention_forward",
        "np.tril(np.ones((length, source), dtype=bool))",
        "np.tril(np.ones((length, source), dtype=bool), source - length)",
        ("test_attention_forward", "test_attention_backward"),
    ),
    "loop": Plant(
        "head_forward",
        "    out, attention_cache",
        LOOP + "    out, attention_cache",
        ("test_head",),
    ),
    "exception": Plant(
        "attention_backward",
        "    q, k, v, p, scale, softmax_cache = cache\n",
        RAISE,
        ("test_attention_backward", "test_head"),
    ),
}
