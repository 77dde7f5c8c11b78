"""What the benchmark scripts share: synthetic data, a tokenizer, a random-init XLM-R of a
given shape, timing helpers and the output format (a plain-text table, then one JSON line).

Nothing here downloads anything: the tokenizer is trained on the embedded benchmark's
corpora and the model is built from a config with random weights.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

# Benchmarks run from a checkout: make `import xstilts` work without an install.
SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Shapes of the models the paper uses (xlm-roberta-base / -large) and the demo's tiny one.
# Base and large keep XLM-R's 250,002-entry vocabulary so that the embedding matrix (most of
# base's parameters) costs what it costs in the real model; the token ids the small trained
# tokenizer emits simply use the first rows of it.
SIZES = {
    "demo": dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=4, intermediate_size=192, vocab_size=None),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 vocab_size=250002),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  vocab_size=250002),
}
SEED = 7  # the demo config's data seed
NLI_LABELS = ["entailment", "neutral", "contradiction"]


def demo_tokenizer(vocab_size: int = 2000, lines_per_language: int = 1000, model_max_length: int = 512):
    """An XLM-R-style tokenizer trained as the demo's pretrain stage trains it (smaller corpus)."""
    from xstilts import synthetic
    from xstilts.tokenizer_training import train_tokenizer

    texts = [ex["text"] for lang in synthetic.LANGUAGES
             for ex in synthetic.generate("corpus", split="train", lang=lang, n=lines_per_language, seed=SEED,
                                          stream="corpus")]
    return train_tokenizer(texts, vocab_size, model_max_length)


def nli_examples(n: int, *, lengths: str, seq_len: int, tokenizer, split: str = "train") -> list[dict]:
    """n English NLI examples of the embedded benchmark (classification: text_a, text_b, label).

    lengths: "natural": as generated (15-40 tokens); "full": premises extended with further
    sentences until every pair fills `seq_len` tokens after truncation (no padding anywhere,
    so dynamic padding cannot make the two sides of a comparison do different work);
    "mixed": premises extended by a random number of sentences, so lengths spread from ~20 to
    `seq_len` as in real corpora (where sorting by length pays).
    """
    from xstilts import synthetic

    examples = synthetic.generate("nli", split=split, lang="en", n=n, seed=SEED, stream="mnli")
    if lengths == "natural":
        return examples
    if lengths not in ("full", "mixed"):
        raise ValueError(f"lengths must be natural, full or mixed, not {lengths!r}")
    fillers = [ex["text_a"] for ex in examples]
    # Words are split on whitespace before sub-words, so a concatenation's length is the sum of its parts'.
    filler_tokens = [len(ids) for ids in tokenizer(fillers, add_special_tokens=False)["input_ids"]]
    pair_tokens = [len(ids) for ids in tokenizer(fillers, [ex["text_b"] for ex in examples])["input_ids"]]
    rng = random.Random(SEED)
    out = []
    for i, ex in enumerate(examples):
        premise = ex["text_a"]
        if lengths == "full":
            j, length = i, pair_tokens[i]
            while length < seq_len:  # extend until the pair reaches seq_len (truncation cuts the rest)
                j += 1
                premise += " " + fillers[j % len(fillers)]
                length += filler_tokens[j % len(fillers)]
        else:
            extra = rng.randint(0, max(0, seq_len // 8))
            premise = " ".join([premise] + [fillers[(i + k + 1) % len(fillers)] for k in range(extra)])
        out.append({**ex, "text_a": premise})
    return out


def model_config(size: str, vocab_size: int, pad_id: int, max_positions: int):
    from transformers import XLMRobertaConfig

    shape = dict(SIZES[size])
    shape["vocab_size"] = shape["vocab_size"] or vocab_size
    return XLMRobertaConfig(**shape, max_position_embeddings=max(514, max_positions + 2), pad_token_id=pad_id,
                            bos_token_id=0, eos_token_id=2, type_vocab_size=1)


def build_classifier(config, labels: list[str], seed: int):
    """The model our stages train: MultiTaskModel(encoder, {"nli": classification head}), random init,
    SDPA attention, float32 master weights (as modeling.load_encoder gives)."""
    import torch
    from transformers import XLMRobertaModel

    from xstilts.modeling import MultiTaskModel, head_dropout
    from xstilts.tasks import task_type

    torch.manual_seed(seed)
    config._attn_implementation = "sdpa"
    encoder = XLMRobertaModel(config, add_pooling_layer=False)
    kind = task_type("classification")(labels)
    head = kind.make_head(config.hidden_size, head_dropout(encoder))
    return MultiTaskModel(encoder, {"nli": head}, {"nli": kind}), kind


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, parameters outside the embedding tables)."""
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name
                     and "LayerNorm" not in name)
    return total, total - embeddings


def resolve_device(name: str):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is visible")
    return torch.device(name)


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    def __init__(self, device=None):
        self.device = device

    def __enter__(self):
        if self.device is not None:
            synchronize(self.device)
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        return self

    def __exit__(self, *exc):
        if self.device is not None:
            synchronize(self.device)
        self.seconds = time.perf_counter() - self.start
        # CPU time of this process (all its threads): less sensitive than wall time to other
        # jobs on a shared machine, but it excludes GPU time and counts spin-waiting threads.
        self.cpu_seconds = time.process_time() - self.cpu_start


def alternating(variants: list[str], reps: int) -> list[tuple[int, str]]:
    """(rep, variant) in an order that alternates and reverses each repetition (ABBA...), so slow
    drift of a shared machine's load hits every variant alike."""
    order = []
    for rep in range(reps):
        names = variants if rep % 2 == 0 else list(reversed(variants))
        order += [(rep, name) for name in names]
    return order


def median(values):
    return statistics.median(values) if values else float("nan")


def ratios(a: list[float], b: list[float]) -> list[float]:
    """Per-repetition ratios a/b (same repetition = same machine conditions)."""
    return [x / y for x, y in zip(a, b)]


def environment(device=None) -> dict:
    """Versions and machine facts; torch's only where the script already imported it."""
    info = {"python": platform.python_version(), "cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        import torch
        import transformers

        info.update(torch=torch.__version__, transformers=transformers.__version__,
                    torch_threads=torch.get_num_threads())
    try:
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def emit_json(name: str, payload: dict) -> None:
    """The machine-readable result: one line, last on stdout."""
    print(json.dumps({"benchmark": name, **payload}, sort_keys=True, default=str))


def add_common_args(parser, *, reps: int = 3) -> None:
    parser.add_argument("--reps", type=int, default=reps, help="timed repetitions per variant (median reported)")
    parser.add_argument("--corpus-lines", type=int, default=1000,
                        help="synthetic corpus lines per language the tokenizer is trained on")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def apply_threads(threads: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
