"""The one training loop of every stage (pre-training, intermediate, target).

Several tasks train together by examples-proportional sampling: each epoch's batches of all
tasks are shuffled into one stream. Batches are length-grouped and padded per batch. The
best dev checkpoint is kept; training stops early after `patience` evaluations without
improvement. Resumable state lives outside the declared outputs and is removed at the end.

Under a torch.distributed process group (one process per device, see runtime.py) the same loop
runs data-parallel: each rank takes its share of every epoch's batches, DDP averages the
gradients, rank 0 evaluates and every rank applies the same selection to its scores, so that all
ranks hold the same weights and the same state at every step. Without a process group nothing of
this runs and the loop is the single-device one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import random
import shutil
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .inference import autocast_for, evaluate_split, rows_of, to_device
from .io import atomic_path, write_jsonl
from .robust_training.adversarial import AdversarialTraining
from .scaling import sharding
from .tasks import TaskType
from .tasks.tensors import pad_to_length

GROUPING_FACTOR = 50  # length-sorted pools of this many batches, then shuffled
WORLD_SIZE_KEY = "data_parallel_ranks"  # in the fingerprint and summary of a data-parallel run
# The training-log line a resumed run adds where it resumed: {"resumed_at_step": N, "epoch": E,
# "position": P}, N the steps the saved state had done (it has no "loss" or "dev_score": curves skip it).
RESUMED_KEY = "resumed_at_step"


@dataclass(frozen=True)
class DevSet:
    """One dev split a task is selected on: its features and examples, and how it is scored."""

    features: dict[str, list]
    examples: list[dict]
    metric: str
    lang: str


@dataclass
class TrainTask:
    """One task of a stage: its type, training features, and what it is selected on: its English
    dev split, or (a target with `selection: multilingual`) `dev_sets`, whose scores are averaged."""

    name: str
    type: TaskType
    train: dict[str, list]
    dev_features: dict[str, list] | None = None
    dev_examples: list[dict] | None = None
    metric: str = "accuracy"
    settings: dict = field(default_factory=dict)
    dev_sets: dict[str, DevSet] = field(default_factory=dict)  # "bench/lang" -> the set, in place of English
    # Further draws of perturbed training data (recipes.<r>.augment draws), one per epoch in turn after
    # `train`; each holds the same examples in the same order.
    draws: list[dict[str, list]] = field(default_factory=list)

    def draw_of(self, epoch: int) -> int:
        """Which copy an epoch trains on: 0 (`train`), or with draws each in turn."""
        return epoch % (1 + len(self.draws))

    def train_for(self, epoch: int) -> dict[str, list]:
        """The training features of an epoch."""
        return [self.train, *self.draws][self.draw_of(epoch)]

    def selection_sets(self) -> dict[str, DevSet]:
        """The dev sets the task's selection score averages over (none: it is not selected on)."""
        if self.dev_sets:
            return self.dev_sets
        if self.dev_features is None:
            return {}
        return {"en": DevSet(self.dev_features, self.dev_examples, self.metric, "en")}


def task_scores(per_set: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each task's selection score: the mean of its dev sets' scores."""
    return {task: sum(sets.values()) / len(sets) for task, sets in per_set.items()}


def set_determinism(seed: int, device: torch.device) -> None:
    """Seeded everywhere; deterministic kernels on CPU only (the design's promise), and without
    the NaN-filling of fresh tensors that deterministic mode adds (about 3% of a CPU step)."""
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False


def length_grouped_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length inside pools, cut into batches, shuffle the batches: little padding,
    random order."""
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    pool = batch_size * GROUPING_FACTOR
    batches = []
    for start in range(0, len(indices), pool):
        chunk = sorted(indices[start : start + pool], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def epoch_schedule(tasks: list[TrainTask], batch_size: int, seed: int, epoch: int) -> list[tuple[int, list[int]]]:
    """(task index, row indices) for every batch of one epoch, all tasks interleaved."""
    rng = random.Random(f"{seed}-{epoch}")
    schedule = [(t, batch) for t, task in enumerate(tasks)
                for batch in length_grouped_batches(task.type.lengths(task.train_for(epoch)), batch_size, rng)]
    rng.shuffle(schedule)
    return schedule


def length_bucket(length: int, longest: int) -> int:
    """The length a batch whose longest row has `length` tokens is padded to when the training step is
    compiled: the next of 16, 24, 32, 48, 64, 96, ... (powers of two and 1.5 times them), at most the
    task's `longest` row. A compiled model then meets a handful of shapes (a dozen up to 512 tokens),
    not one per batch, and a batch is at most half as long again as its longest row."""
    bucket = 16
    while bucket < length:
        bucket = bucket * 3 // 2 if bucket & (bucket - 1) == 0 else bucket * 4 // 3
    return min(bucket, longest)


def batch_seed(seed: int, rank: int, epoch: int, position: int) -> int:
    """A 63-bit seed for the random draws of one batch, from its place in the run."""
    digest = hashlib.sha256(f"{seed}-{rank}-{epoch}-{position}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def data_parallel_world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a torch.distributed process group is up."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0, or without a process group: the one process that writes outputs and logs."""
    return data_parallel_world()[0] == 0


def made_on_rank_zero(make):
    """make() on rank 0, its result sent to every rank: for what must be the same on all ranks but
    comes from a process that need not be deterministic (a trained tokenizer)."""
    rank, world_size = data_parallel_world()
    if world_size == 1:
        return make()
    shared = [make() if rank == 0 else None]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def shard_schedule(schedule: list, rank: int, world_size: int) -> list:
    """Rank `rank`'s share of an epoch's batches: every world_size-th batch from position `rank`.

    Micro-step m of rank r is batch m * world_size + r, so the batches of one optimizer step across
    all ranks are those of the same step of a single-device run. The list wraps around to a multiple
    of world_size: every rank must take the same number of steps (a rank with one batch more would
    wait forever for the others in DDP's all-reduce), and no batch is dropped; at most
    world_size - 1 batches of an epoch are seen twice."""
    if world_size == 1:
        return schedule
    per_rank = math.ceil(len(schedule) / world_size)
    return [schedule[(rank + k * world_size) % len(schedule)] for k in range(per_rank)]


def local_grad_accum(grad_accum: int, world_size: int) -> int:
    """Micro-batches per optimizer step on each device: batch_size is per device and the effective
    batch batch_size * grad_accum is the protocol's, so world_size devices accumulate
    grad_accum / world_size each."""
    if grad_accum % world_size:
        raise ValueError(
            f"grad_accum {grad_accum} is not divisible by the {world_size} devices of this data-parallel job: "
            f"the effective batch (batch_size * grad_accum) must stay that of one device, so each device "
            f"accumulates grad_accum / {world_size} batches; set training.grad_accum to a multiple of "
            f"{world_size}, or resources.gpus_per_job (times nodes_per_job) to a divisor of {grad_accum}")
    return grad_accum // world_size


def linear_schedule(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))
    return factor


def make_optimizer(model: torch.nn.Module, hp: dict, device: torch.device) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=hp["lr"], fused=device.type == "cuda" or None)


def fingerprint(hp: dict, seed: int, tasks: list[TrainTask], inputs: str) -> str:
    """What saved state must match to be resumed: settings, data sizes, and the identity of the
    inputs and code (a retrained encoder or changed library must not resume stale weights)."""
    described = {"hp": hp, "seed": seed, "tasks": [(t.name, len(t.train["input_ids"])) for t in tasks],
                 "inputs": inputs}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def inputs_identity(paths, code: str = "") -> str:
    """Path, size and modification time of each input, plus the stage's code hash."""
    stats = [(str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in sorted(map(str, paths))]
    return json.dumps({"code": code, "files": stats})


def no_buffer_sync_per_forward(ddp_class) -> dict:
    """DDP's option to skip re-sending buffers before every forward (one collective a micro-step):
    the encoders' buffers are constant position and token-type ids. Newer torch renamed it."""
    if "forward_sync_buffers" in inspect.signature(ddp_class.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


class Trainer:
    def __init__(self, model, tasks: list[TrainTask], hp: dict, *, seed: int, device: torch.device,
                 pad_id: int, state_dir: str | Path, eval_batch_size: int = 64, progress: bool = True,
                 inputs: str = ""):
        self.model, self.tasks, self.hp, self.seed = model, tasks, hp, seed
        self.device, self.pad_id, self.eval_batch_size = device, pad_id, eval_batch_size
        self.state_dir = Path(state_dir)
        self._rows = {}  # (task index, epoch's draw) -> the rows batches are collated from
        self._longest = {}  # task index -> its longest row (length buckets of a compiled step)
        self.rank, self.world_size = data_parallel_world()
        self.progress = progress and self.rank == 0
        # Per device: this rank's batches of an epoch, and its micro-batches per optimizer step.
        self.accum = local_grad_accum(hp["grad_accum"], self.world_size)
        all_batches = sum(math.ceil(len(t.train["input_ids"]) / hp["batch_size"]) for t in tasks)
        self.batches_per_epoch = math.ceil(all_batches / self.world_size)
        self.total_steps = hp["max_steps"] or max(1, math.ceil(self.batches_per_epoch * hp["epochs"] / self.accum))
        self.bf16 = bool(hp["bf16"]) and device.type == "cuda"
        self.adversarial = AdversarialTraining.from_config(hp.get("adversarial"))
        # resources.sharding fsdp: the weights, gradients and optimizer state sharded over the ranks
        self.sharded = hp.get("sharding") == "fsdp" and self.world_size > 1
        # Sharded with several heads, every head takes part in every step's gradients (at weight zero);
        # a head no rank used in a step then gets no gradient again, as in unsharded training.
        self.heads_apart = self.sharded and len(tasks) > 1
        if self.sharded and self.adversarial is not None:
            raise ValueError("adversarial training (training.adversarial) does not run sharded yet: set "
                             "resources.sharding to none for this recipe, or train it on one GPU")
        # A saved position is a position in this rank's share: state resumes only with as many ranks.
        described_hp = hp if self.world_size == 1 else {**hp, WORLD_SIZE_KEY: self.world_size}
        self.fingerprint = fingerprint(described_hp, seed, tasks, inputs)

    # ---- selection ---------------------------------------------------------------------
    def shared_dev_set_scores(self) -> dict[str, dict[str, float]]:
        """Dev scores, the same on every rank: rank 0 evaluates (all ranks hold the same weights)
        and broadcasts them; the others wait. Every rank then makes the same selection and stop
        decision from the same numbers, so no rank goes on alone into a collective."""
        if self.world_size == 1:
            return self.dev_set_scores()
        # Sharded, every rank runs the forward passes: each gathers its share of every layer.
        shared = [self.dev_set_scores() if self.rank == 0 or self.sharded else None]
        torch.distributed.broadcast_object_list(shared, src=0)
        return shared[0]

    def dev_set_scores(self) -> dict[str, dict[str, float]]:
        """Per task selected on dev, the score of each of its dev sets (English; or, under
        `selection: multilingual`, one per benchmark and language)."""
        return {task.name: {key: evaluate_split(self.model, task.name, task.type, dev.features, dev.examples,
                                                metric=dev.metric, lang=dev.lang, settings=task.settings,
                                                pad_id=self.pad_id, batch_size=self.eval_batch_size, device=self.device,
                                                bf16=self.bf16)[1]["score"]
                            for key, dev in task.selection_sets().items()}
                for task in self.tasks if task.selection_sets()}

    def dev_scores(self) -> dict[str, float]:
        """Per task selected on dev: its score, the mean over its dev sets."""
        return task_scores(self.dev_set_scores())

    # ---- resumable state ---------------------------------------------------------------
    def resumable_state(self, s: dict, optimizer, scheduler, running_loss: torch.Tensor) -> dict:
        """Everything a resumed run needs; a collective under data parallelism (every rank's RNG,
        and the loss summed so far in the current log interval, over all ranks). Sharded, every rank
        first writes its shards of the weights, optimizer state and best weights to a folder of their
        own, which the state names."""
        common = {"scheduler": scheduler.state_dict(), "torch_rng": self.rng_state(),
                  "running_loss": self.summed_across_ranks(running_loss).item()}
        if not self.sharded:
            return {**s, "model": self.model.state_dict(), "optimizer": optimizer.state_dict(), **common}
        folder = f"{sharding.SHARDED_STATE_PREFIX}{s['step']:09d}"
        sharding.save_state(self.model, optimizer, s["best_state"], self.state_dir / folder)
        return {**s, "best_state": None, "has_best": s["best_state"] is not None, "shards": folder, **common}

    def rng_state(self):
        """The torch RNG: this process's, or (data-parallel) a list of every rank's, since each rank
        draws its own dropout and masks."""
        if self.world_size == 1:
            return torch.get_rng_state()
        states = [None] * self.world_size
        torch.distributed.all_gather_object(states, torch.get_rng_state())
        return states

    def restore_rng(self, saved) -> None:
        torch.set_rng_state(saved[self.rank] if isinstance(saved, list) else saved)

    def save_state(self, state: dict) -> None:
        if self.rank != 0:  # the ranks' states are the same; one writes it
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.state_dir / "state.pt") as tmp:
            torch.save(state, tmp)
        if self.sharded:  # the state names its shards' folder: the others are earlier saves
            sharding.remove_other_folders(self.state_dir, self.state_dir / state["shards"])

    def load_state(self) -> dict | None:
        """The saved state to resume, or None: none saved, saved by other settings or inputs (the
        fingerprint differs), or unreadable. An unreadable file (cut short by a full disk or a copy)
        is removed with a warning and training starts from step 0: it holds nothing to recover."""
        path = self.state_dir / "state.pt"
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict):
                raise TypeError(f"a {type(state).__name__}, not the state dictionary")
        except Exception as error:  # truncated zip, bad pickle, or a file that is not a state
            if self.rank == 0:
                warnings.warn(f"resumable state {path} is truncated or corrupt ({type(error).__name__}: "
                              f"{str(error)[:200]}); deleting it and training from step 0", stacklevel=2)
                path.unlink(missing_ok=True)
            return None
        if state.get("fingerprint") != self.fingerprint:
            if self.rank == 0:
                print(f"[xstilts] resumable state {path} is from other settings or inputs; training from step 0",
                      file=sys.stderr)
            return None
        if self.sharded and not (self.state_dir / state["shards"] / ".metadata").exists():
            if self.rank == 0:
                warnings.warn(f"resumable state {path} names shards {state['shards']} that are missing or "
                              "incomplete; training from step 0", stacklevel=2)
            return None
        return state

    def restore(self, resumed: dict, optimizer, scheduler) -> None:
        """Weights, optimizer, scheduler and RNG from a saved state (a collective when sharded)."""
        if self.sharded:
            best = sharding.load_state(self.model, optimizer, self.state_dir / resumed.pop("shards"),
                                       has_best=resumed.pop("has_best"))
            resumed["best_state"] = best
        else:
            self.model.load_state_dict(resumed.pop("model"))
            optimizer.load_state_dict(resumed.pop("optimizer"))
        scheduler.load_state_dict(resumed.pop("scheduler"))
        self.restore_rng(resumed.pop("torch_rng"))

    def batches(self, schedule: list[tuple[int, list[int]]], start: int, epoch: int):
        """Collated batches of `schedule` from position `start`: in `num_workers` background
        processes when set, into pinned memory on GPU, so the device never waits for the host.
        A task type that draws at random while collating (MLM masks) draws from a generator seeded
        by the batch's place (seed, rank, epoch, position), not from whichever process collates
        it: the masks do not depend on `num_workers`, and a resumed run draws the same ones."""
        def collate(item):
            position, (task_index, indices) = item
            rows = [self.rows(task_index, epoch)[i] for i in indices]
            kind = self.tasks[task_index].type
            if not kind.draws_when_collating:
                batch = kind.collate(rows, self.pad_id)
            else:
                generator = torch.Generator().manual_seed(batch_seed(self.seed, self.rank, epoch, position))
                batch = kind.collate(rows, self.pad_id, generator=generator)
            if self.hp["compile"]:  # a few padded lengths, not one compiled graph per batch length
                longest = self.longest_row(task_index)
                batch = pad_to_length(batch, length_bucket(batch["input_ids"].shape[-1], longest), self.pad_id)
            return task_index, batch

        # An own generator: a DataLoader otherwise draws its worker seed from the global RNG, which
        # would shift dropout, and a resumed run would diverge.
        return torch.utils.data.DataLoader(list(enumerate(schedule))[start:], batch_size=None, shuffle=False,
                                           collate_fn=collate, num_workers=self.hp["num_workers"],
                                           pin_memory=self.device.type == "cuda",
                                           generator=torch.Generator().manual_seed(self.seed + self.rank))

    def longest_row(self, task_index: int) -> int:
        """The task's longest row of every draw, in tokens (a choice's, for multiple choice)."""
        if task_index not in self._longest:
            task = self.tasks[task_index]
            self._longest[task_index] = max(max(task.type.lengths(features)) for features in [task.train, *task.draws])
        return self._longest[task_index]

    def rows(self, task_index: int, epoch: int) -> list[dict]:
        task = self.tasks[task_index]
        draw = task.draw_of(epoch)
        if (task_index, draw) not in self._rows:
            self._rows[(task_index, draw)] = rows_of(task.train_for(epoch))
        return self._rows[(task_index, draw)]

    # ---- data parallelism --------------------------------------------------------------
    def enable_gradient_checkpointing(self) -> None:
        if self.world_size == 1:
            self.model.encoder.gradient_checkpointing_enable()
            return
        # Reentrant checkpointing runs the forward again inside the backward, where DDP would see
        # parameters become ready twice; the non-reentrant kind is DDP's supported one.
        self.model.encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def data_parallel(self) -> torch.nn.Module:
        """The model as the training step calls it: itself (one rank, or sharded in place by FSDP before
        the optimizer was made), or wrapped in DDP, which averages the gradients across ranks in the
        backward of every synchronised micro-step."""
        if self.world_size == 1 or self.sharded:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            # A batch runs one task's head, so with several tasks the other heads get no gradient
            # in a step and DDP must look for them (one walk of the autograd graph per synchronised
            # micro-step). Zero-loss dummy terms instead would give those heads zero gradients,
            # which AdamW treats as a step (weight decay, moments), unlike the single-device run.
            # One task uses every parameter, and skips the walk.
            find_unused_parameters=len(self.tasks) > 1,
            **no_buffer_sync_per_forward(DistributedDataParallel),
        )

    def gradient_sync(self, wrapped: torch.nn.Module, syncs: bool):
        """DDP's no_sync on accumulation micro-steps: gradients add up locally and are all-reduced
        once, in the backward of the step's last micro-batch."""
        if self.world_size == 1 or syncs:
            return nullcontext()
        if self.sharded:
            return sharding.gradient_sync(self.model, syncs)
        return wrapped.no_sync()

    def heads_own_parameters(self) -> list[list[torch.nn.Parameter]]:
        """Per task, its head's parameters that are not the encoder's (an MLM head's tied embeddings are):
        taken once the model is sharded, which replaces every parameter."""
        encoder = {id(p) for p in self.model.encoder.parameters()}
        heads = self.model.heads
        return [[p for p in heads[t.name].parameters() if id(p) not in encoder] if t.name in heads else []
                for t in self.tasks]

    def drop_unused_head_gradients(self, step_tasks: torch.Tensor, own: list[list[torch.nn.Parameter]]) -> None:
        """The gradients of the heads of tasks that no rank ran in this step, which took part at weight
        zero, removed: AdamW then leaves those heads alone (no decay, no moment update), as unsharded.
        `own`: heads_own_parameters (a head's parameters shared with the encoder keep their gradients)."""
        used = step_tasks.clone()
        torch.distributed.all_reduce(used)
        for parameters, ran in zip(own, used.tolist()):
            if not ran:
                for param in parameters:
                    param.grad = None

    def summed_across_ranks(self, value: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return value
        total = value.clone()
        torch.distributed.all_reduce(total)
        return total

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> dict:
        hp = self.hp
        set_determinism(self.seed + self.rank, self.device)  # ranks draw different dropout and masks
        self.model.to(self.device).train()
        if hp["gradient_checkpointing"] and hasattr(self.model.encoder, "gradient_checkpointing_enable"):
            self.enable_gradient_checkpointing()
        if self.sharded:  # before the optimizer, which then holds this rank's shards
            sharding.shard(self.model, bf16=self.bf16)
        own_head_parameters = self.heads_own_parameters() if self.heads_apart else []
        optimizer = make_optimizer(self.model, hp, self.device)
        warmup = int(hp["warmup_ratio"] * self.total_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(warmup, self.total_steps))

        s = {"step": 0, "epoch": 0, "position": 0, "best_score": -math.inf, "best_step": 0,
             "best_state": None, "evals_since_best": 0, "log": [], "fingerprint": self.fingerprint}
        running_loss = torch.zeros((), device=self.device)
        resumed = self.load_state()
        if resumed:
            self.restore(resumed, optimizer, scheduler)
            # The loss of the interrupted log interval, summed over the ranks: rank 0 carries it.
            saved_loss = resumed.pop("running_loss", 0.0)
            if self.rank == 0:
                running_loss += saved_loss
            s = resumed
            s["log"].append({RESUMED_KEY: s["step"], "epoch": s["epoch"], "position": s["position"]})
            if self.rank == 0:
                print(f"[xstilts] resumed from saved state {self.state_dir / 'state.pt'} at step {s['step']} "
                      f"of {self.total_steps} (epoch {s['epoch']}, batch {s['position']})", file=sys.stderr)
        # After loading: every rank has read the saved state before DDP's first collective, so rank
        # 0 cannot overwrite it under a rank that is still reading.
        wrapped = self.data_parallel()
        forward = compiled(wrapped, heads=len(self.tasks)) if hp["compile"] else wrapped

        bar = tqdm(total=self.total_steps, initial=s["step"], disable=not self.progress, desc="train", mininterval=2)
        micro, stopped, started = 0, False, time.perf_counter()
        step_tasks = torch.zeros(len(self.tasks), dtype=torch.int64, device=self.device)  # tasks run in the step
        while s["step"] < self.total_steps and not stopped:
            # The same full schedule on every rank (seeded by seed and epoch), then each rank's share.
            schedule = shard_schedule(epoch_schedule(self.tasks, hp["batch_size"], self.seed, s["epoch"]),
                                      self.rank, self.world_size)
            for position, (task_index, batch) in enumerate(self.batches(schedule, s["position"], s["epoch"]), s["position"]):
                task = self.tasks[task_index]
                batch = to_device(batch, self.device)
                micro += 1
                syncs = micro % self.accum == 0
                if self.heads_apart:
                    step_tasks[task_index] = 1
                if self.adversarial is None:
                    with self.gradient_sync(wrapped, syncs):
                        with autocast_for(self.device, self.bf16):
                            loss, _ = (forward(task.name, batch, every_head=True) if self.heads_apart
                                       else forward(task.name, batch))
                        (loss / self.accum).backward()
                else:
                    loss = self.adversarial.micro_batch(
                        forward, self.model, task.name, batch, accum=self.accum,
                        sync=lambda last: self.gradient_sync(wrapped, syncs and last),
                        autocast=lambda: autocast_for(self.device, self.bf16), draw=(self.seed, s["step"]))
                running_loss += loss.detach()
                if not syncs:
                    continue
                if self.heads_apart:
                    self.drop_unused_head_gradients(step_tasks, own_head_parameters)
                step_tasks.zero_()
                if hp["max_grad_norm"]:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), hp["max_grad_norm"])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                s["step"] += 1
                s["position"] = position + 1
                bar.update(1)
                if s["step"] % hp["log_every"] == 0:
                    # The only host-device sync of the step loop, once per log interval. Summed over
                    # the ranks, log_every * grad_accum micro-batches in all, as on one device.
                    mean_loss = self.summed_across_ranks(running_loss).item() / (hp["log_every"] * hp["grad_accum"])
                    running_loss.zero_()
                    s["log"].append({"step": s["step"], "epoch": s["epoch"] + position / len(schedule),
                                     "loss": mean_loss, "lr": scheduler.get_last_lr()[0]})
                    bar.set_postfix(loss=f"{mean_loss:.3f}")
                last = s["step"] >= self.total_steps
                if s["step"] % hp["eval_every"] == 0 or last:
                    stopped = self.evaluate_and_select(s) or last
                if s["step"] % hp["save_every"] == 0 and not stopped:
                    self.save_state(self.resumable_state(s, optimizer, scheduler, running_loss))
                if stopped:
                    break
            else:
                s["epoch"] += 1
                s["position"] = 0
        bar.close()
        # Steps since the last loss line, counted from the step (a resumed run's micro-batch count
        # starts at its resumption); the loop ends after an optimizer step, so whole steps.
        pending = s["step"] % hp["log_every"]
        if pending:
            mean_loss = self.summed_across_ranks(running_loss).item() / (pending * hp["grad_accum"])
            s["log"].append({"step": s["step"], "epoch": s["epoch"], "loss": mean_loss,
                             "lr": scheduler.get_last_lr()[0]})
        if s["best_state"] is not None:
            self.model.load_state_dict(s["best_state"])
        elapsed = time.perf_counter() - started
        return {"steps": s["step"], "total_steps": self.total_steps, "best_step": s["best_step"],
                "best_dev_score": None if s["best_score"] == -math.inf else s["best_score"],
                "early_stopped": s["step"] < self.total_steps, "seconds": round(elapsed, 2),
                "hyperparameters": hp, "seed": self.seed, "tasks": [t.name for t in self.tasks],
                **({WORLD_SIZE_KEY: self.world_size} if self.world_size > 1 else {}), "log": s["log"]}

    def evaluate_and_select(self, s: dict) -> bool:
        """Dev evaluation; keeps the best weights. True when patience has run out."""
        per_set = self.shared_dev_set_scores()
        if not per_set:
            return False
        scores = task_scores(per_set)
        score = sum(scores.values()) / len(scores)
        line = {"step": s["step"], "dev_score": score, "dev": scores}
        several = {task: sets for task, sets in per_set.items() if len(sets) > 1}
        s["log"].append({**line, "dev_sets": several} if several else line)
        if score > s["best_score"]:
            # Sharded, each rank keeps its own shard of the best weights, where they are.
            best = (sharding.best_copy(self.model) if self.sharded else
                    {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()})
            s.update(best_score=score, best_step=s["step"], evals_since_best=0, best_state=best)
        else:
            s["evals_since_best"] += 1
        return s["evals_since_best"] >= self.hp["patience"]

    def clear_state(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)


def compiled(model: torch.nn.Module, *, heads: int) -> torch.nn.Module:
    """The model compiled for static shapes (the length buckets make them few): one graph per head,
    bucket and batch size (an epoch's last batch may be smaller). Dynamo's default limit of 8 graphs
    per function would send the rest back to eager mode without a word, so it is raised to what the
    buckets need."""
    needed = heads * 2 * 16
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the limit's name in newer and older torch
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), needed))
    return torch.compile(model, dynamic=False)


def write_log(path: str | Path, summary: dict) -> None:
    write_jsonl(path, summary["log"])
