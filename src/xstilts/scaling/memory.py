"""A training job's memory per device, estimated from the encoder's config before any weight is
loaded: what AdamW training of an XLM-R-architecture encoder keeps alive at its peak.

- weights, gradients and AdamW's two moments, in float32 (bf16 autocast keeps float32 master
  weights; its bfloat16 copies of the weights, which autograd keeps for the backward pass, are
  added under bf16); divided by the shards where the states are sharded;
- the activations autograd saves for the backward pass, per layer (Korthikanti et al. 2022's
  count for a Transformer layer: 8 tensors of rows x length x hidden and 2 of rows x length x
  intermediate, 2 dropout masks of a byte per element, and where attention is materialised, the
  attention probabilities before and after dropout and the dropout's mask, heads x length^2 per
  row), plus the embeddings' output and the gradients in flight inside one layer during backward;
  with gradient checkpointing, each layer's input only, plus one layer recomputed;
- the optimizer step's temporaries (the update of the largest parameter, two of its size).

The peak is the states plus the larger of the activations and the step's temporaries. On a CPU
device the training loop's copy of the best weights (kept on the host) is in the same memory and
is added. tests/test_scaling_memory.py checks the estimate against the measured peak of this
project's own training loop on CPU for two model sizes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

FLOAT32 = 4
BFLOAT16 = 2
MASK = 1  # a dropout mask: a bool per element
GIB = 2 ** 30


@dataclass(frozen=True)
class Shape:
    """What the estimate needs of an encoder's config (transformers' BERT/XLM-R names)."""
    vocab: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    positions: int
    type_vocab: int = 1

    @classmethod
    def of(cls, config) -> "Shape":
        return cls(vocab=config.vocab_size, hidden=config.hidden_size, layers=config.num_hidden_layers,
                   heads=config.num_attention_heads, intermediate=config.intermediate_size,
                   positions=config.max_position_embeddings, type_vocab=getattr(config, "type_vocab_size", 1) or 1)

    def parameters(self) -> int:
        """The encoder's parameters (embeddings with their LayerNorm, every layer; no pooler: the
        task heads sit on the hidden states)."""
        h, i = self.hidden, self.intermediate
        embeddings = (self.vocab + self.positions + self.type_vocab) * h + 2 * h
        layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
        return embeddings + self.layers * layer

    def largest_parameter(self) -> int:
        return max(self.vocab * self.hidden, self.hidden * self.intermediate)

    def layer_parameters(self) -> int:
        return (self.parameters() - (self.vocab + self.positions + self.type_vocab + 2) * self.hidden) // self.layers


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes per device, by what holds them."""
    parameters: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    step_temporaries: int
    host_copy: int = 0  # the best weights, on the host: counted where the host is the device
    notes: tuple = field(default=())

    @property
    def states(self) -> int:
        return self.weights + self.gradients + self.optimizer

    @property
    def peak(self) -> int:
        return self.states + max(self.activations, self.step_temporaries) + self.host_copy

    def describe(self) -> str:
        parts = [("weights", self.weights), ("gradients", self.gradients), ("AdamW state", self.optimizer),
                 ("activations", self.activations)] + ([("best weights on the host", self.host_copy)]
                                                         if self.host_copy else [])
        listed = ", ".join(f"{name} {gib(value)}" for name, value in parts)
        return (f"{self.parameters / 1e6:,.1f}M parameters; estimated peak {gib(self.peak)} per device ({listed}"
                + (f"; {'; '.join(self.notes)}" if self.notes else "") + ")")


def gib(value: int) -> str:
    """Bytes as GiB, or as MiB below one GiB."""
    return f"{value / GIB:.2f} GiB" if value >= GIB else f"{value / 2 ** 20:.1f} MiB"


def layer_activations(shape: Shape, rows: int, length: int, dtype: int, attention_matrices: bool) -> int:
    """Bytes one Transformer layer saves for its backward pass at this micro-batch."""
    tokens = rows * length
    saved = dtype * (8 * tokens * shape.hidden + 2 * tokens * shape.intermediate) + 2 * MASK * tokens * shape.hidden
    if attention_matrices:
        scores = rows * shape.heads * length * length
        saved += 2 * dtype * scores + MASK * scores
    return saved


def gradients_in_flight(shape: Shape, rows: int, length: int, dtype: int, attention_matrices: bool) -> int:
    """Bytes of the gradients backward holds inside one layer at once: of its output and input, of
    the feed-forward block's two wide tensors, and of the attention probabilities where they exist."""
    tokens = rows * length
    held = dtype * (2 * tokens * shape.hidden + 2 * tokens * shape.intermediate)
    return held + (2 * dtype * rows * shape.heads * length * length if attention_matrices else 0)


def training_memory(shape: Shape, *, rows: int, length: int, bf16: bool = False, gradient_checkpointing: bool = False,
                    shards: int = 1, replicas: int = 1, attention_matrices: bool = True, host_is_device: bool = False,
                    parameters: int | None = None) -> TrainingMemory:
    """The estimate for a micro-batch of `rows` sequences of `length` tokens. shards: ranks the states
    are sharded over (FSDP); replicas: ranks holding a whole copy each (DDP, whose gradient buckets are
    a second float32 copy of the gradients). attention_matrices:
    whether attention materialises its heads x length^2 probabilities (eager attention, or SDPA's
    math path, which CPU training with dropout takes; not the fused GPU kernels). parameters: the
    model's own count where it is loaded (heads included), else the encoder's from its shape."""
    parameters = parameters or shape.parameters()
    dtype = BFLOAT16 if bf16 else FLOAT32
    weights = FLOAT32 * parameters // shards + (BFLOAT16 * parameters if bf16 else 0)
    notes = [f"bf16 copies of the weights {gib(BFLOAT16 * parameters)}"] if bf16 else []
    if shards > 1:  # two layers gathered at once (the one computed and the one prefetched), with their gradients
        gathered = 2 * shape.layer_parameters() * 2 * FLOAT32
        weights += gathered
        notes.append(f"sharded {shards} ways, {gib(gathered)} of gathered layers")
    gradients = FLOAT32 * parameters // shards
    if replicas > 1 and shards == 1:  # DDP all-reduces from buckets of its own, beside the .grad tensors
        gradients += FLOAT32 * parameters
        notes.append(f"DDP's gradient buckets {gib(FLOAT32 * parameters)}")
    one_layer = layer_activations(shape, rows, length, dtype, attention_matrices)
    embeddings = rows * length * shape.hidden * (FLOAT32 + MASK)
    if gradient_checkpointing:  # the recomputed layer's tensors are freed as its gradients are made
        kept = shape.layers * rows * length * shape.hidden * dtype + one_layer
    else:
        kept = shape.layers * one_layer + gradients_in_flight(shape, rows, length, dtype, attention_matrices)
    activations = embeddings + kept
    return TrainingMemory(parameters=parameters, weights=weights, gradients=gradients,
                          optimizer=2 * FLOAT32 * parameters // shards, activations=activations,
                          step_temporaries=2 * FLOAT32 * shape.largest_parameter(),
                          host_copy=FLOAT32 * parameters if host_is_device else 0, notes=tuple(notes))


class DoesNotFit(RuntimeError):
    """A training job whose estimated peak exceeds its device's memory."""


def check_fits(estimate: TrainingMemory, device_bytes: int, *, what: str, rows: int, grad_accum: int,
               gpus: int, gradient_checkpointing: bool) -> None:
    """Fail before any step when the estimate exceeds the device, naming what would make it fit."""
    if estimate.peak <= device_bytes:
        return
    changes = []
    if rows > 1:
        changes.append(f"a smaller micro-batch (batch_size {rows} -> {max(1, rows // 2)} with grad_accum "
                       f"{grad_accum} -> {grad_accum * 2}: the same effective batch)")
    if not gradient_checkpointing:
        changes.append("gradient_checkpointing: true (activations of one layer input each)")
    changes.append(f"more GPUs with sharding (resources.gpus_per_job, now {gpus}, with resources.sharding fsdp or auto)")
    raise DoesNotFit(f"{what} does not fit its device: {estimate.describe()}, against {gib(device_bytes)} on the "
                     f"device. Change one of: " + "; ".join(changes))


def micro_batch_shape(features: dict[str, list], batch_size: int) -> tuple[int, int]:
    """(rows, length) of a task's largest micro-batch: multiple choice runs every choice of an example
    as a row; length-grouped batches put the longest rows together."""
    ids = features["input_ids"]
    if ids and ids[0] and isinstance(ids[0][0], list):  # multiple choice: a list of choices per example
        return batch_size * max(len(choices) for choices in ids), max(len(c) for choices in ids for c in choices)
    return batch_size, max(len(row) for row in ids)


def largest_micro_batch(effective: int, fits: Callable[[int], bool], *, ranks: int = 1) -> int:
    """The largest micro-batch that divides the effective batch into a number of micro-batches each of
    `ranks` devices takes an equal share of, and that `fits`; DoesNotFit when none does."""
    for rows in range(effective, 0, -1):
        if effective % rows == 0 and (effective // rows) % ranks == 0 and fits(rows):
            return rows
    raise DoesNotFit(f"micro_batch auto: no micro-batch of an effective batch of {effective} fits the device, "
                     "not even one row; turn gradient_checkpointing on or train on more GPUs with sharding")
