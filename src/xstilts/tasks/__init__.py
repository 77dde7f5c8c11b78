"""Task types. Each type owns its internal example schema, featurisation, head, loss,
decoding and scoring; a task is a catalog entry that names its type."""

from __future__ import annotations

from .base import TaskType
from .classification import Classification
from .multiple_choice import MultipleChoice
from .mlm import MaskedLM
from .retrieval import Retrieval
from .span_qa import SpanQA
from .tagging import Tagging

TASK_TYPES: dict[str, type[TaskType]] = {
    "classification": Classification,
    "multiple_choice": MultipleChoice,
    "tagging": Tagging,
    "span_qa": SpanQA,
    "retrieval": Retrieval,
    "mlm": MaskedLM,
}


def task_type(name: str) -> type[TaskType]:
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown task type '{name}' (known: {', '.join(TASK_TYPES)})") from None
