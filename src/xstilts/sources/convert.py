"""Rows as a source stores them -> examples in the internal schema of a task type.

The hub and the XTREME folder both hand over plain dict rows; the catalog's `fields` say where
each internal key comes from. A field entry is a column name (dotted for nested columns,
`choices.text`) or, when it contains `{`, a template over the row (`"{premise} What was the
{question}?"`). Everything that names a dataset's columns lives in the catalog, not here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .errors import DataSourceError

# Label values that mean "no gold label" (SNLI's -1, HellaSwag's and CommonsenseQA's empty test labels).
NO_LABEL = (None, "", -1, "-1")

DEFAULT_FIELDS = {
    "classification": {"id": None, "text_a": "text_a", "text_b": "text_b", "label": "label"},
    "multiple_choice": {"id": None, "context": "context", "choices": "choices", "label": "label"},
    "tagging": {"id": None, "tokens": "tokens", "tags": "tags"},
    "span_qa": {"id": "id", "context": "context", "question": "question", "answers": "answers"},
    "retrieval": {"id": None, "src": "src", "tgt": "tgt"},
    "mlm": {"id": None, "text": "text"},
}


class ExampleError(DataSourceError):
    """A converted or supplied example that does not fit its task type's schema."""


def value(row: dict, entry: str | None) -> Any:
    """A column (dotted path for nested columns) or a template over the row's columns."""
    if entry is None:
        return None
    if "{" in entry:
        return entry.format_map(row)
    current: Any = row
    for part in entry.split("."):
        if not isinstance(current, dict) or part not in current:
            raise KeyError(f"the row has no column '{entry}' (it has: {', '.join(sorted(row))})")
        current = current[part]
    return current


def class_names(feature) -> list[str] | None:
    """ClassLabel names of a (possibly list-wrapped) datasets feature, or None."""
    while feature is not None and hasattr(feature, "feature"):
        feature = feature.feature
    return list(feature.names) if feature is not None and hasattr(feature, "names") else None


def convert(task_type: str, rows: Iterable[dict], *, spec: dict, labels: list[str] | None,
            features: dict | None = None, id_prefix: str = "") -> list[dict]:
    """Convert rows with the catalog spec's field mapping; rows without a gold label are dropped."""
    fields = {**DEFAULT_FIELDS[task_type], **spec.get("fields", {})}
    features = features or {}
    make = _CONVERTERS[task_type](fields, spec, labels, features)
    examples = []
    for index, row in enumerate(rows):
        raw_id = value(row, fields["id"]) if fields.get("id") else index
        example = make(row)
        if example is None:
            continue
        examples.append({"id": f"{id_prefix}{raw_id}", **example})
    return examples


# ---------------------------------------------------------------- per task type


def _classification(fields, spec, labels, features) -> Callable[[dict], dict | None]:
    to_label = _label_mapper(fields["label"], spec, labels, features)

    def make(row):
        label = to_label(row)
        if label is None:
            return None
        example = {"text_a": value(row, fields["text_a"])}
        if fields.get("text_b") and (fields["text_b"] in row or "{" in fields["text_b"]):
            example["text_b"] = value(row, fields["text_b"])
        example["label"] = label
        return example

    return make


def _label_mapper(column: str, spec: dict, labels: list[str] | None, features: dict):
    """Hub labels -> our label strings: ints index the catalog's label list (in the hub's order,
    which `label_names` pins), strings map through `label_map` or are ours already."""
    labels = list(labels or [])
    label_map = {str(k): v for k, v in spec.get("label_map", {}).items()}
    hub_names = class_names(features.get(column))
    expected = spec.get("label_names")
    if hub_names is not None and expected is not None and list(expected) != hub_names:
        raise ExampleError(f"the dataset's label names {hub_names} differ from the catalog's label_names {expected}: "
                           "the hub changed the label order; update the catalog")
    drop = set(NO_LABEL) | {str(v) for v in spec.get("drop_labels", [])}

    def to_label(row):
        raw = value(row, column)
        if raw in drop or str(raw) in drop:
            return None
        if isinstance(raw, str) and raw in labels:
            return raw
        if str(raw) in label_map:
            return label_map[str(raw)]
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            if int(raw) < len(labels):
                return labels[int(raw)]
        raise ExampleError(f"label {raw!r} is not one of the catalog's labels {labels} and has no label_map entry")

    return to_label


def _multiple_choice(fields, spec, labels, features):
    style = spec.get("label_style", "index")

    def make(row):
        raw = value(row, fields["label"])
        if raw in NO_LABEL:
            return None
        choices = fields["choices"]
        options = list(value(row, choices)) if isinstance(choices, str) else [value(row, c) for c in choices]
        if spec.get("label_position_in"):
            label = list(value(row, spec["label_position_in"])).index(raw)
        elif style == "letter":
            label = "ABCDEFGHIJ".index(str(raw).strip().upper())
        else:
            label = int(raw) - (1 if style == "one_based" else 0)
        return {"context": value(row, fields["context"]), "choices": options, "label": label}

    return make


def _tagging(fields, spec, labels, features):
    names = class_names(features.get(fields["tags"])) or spec.get("tag_names")

    def make(row):
        tags = list(value(row, fields["tags"]))
        if any(isinstance(tag, int) for tag in tags):
            if not names:
                raise ExampleError(f"tags are integers but neither the dataset nor the catalog (tag_names) names them")
            tags = [names[tag] for tag in tags]
        return {"tokens": list(value(row, fields["tokens"])), "tags": tags}

    return make


def _span_qa(fields, spec, labels, features):
    def make(row):
        return {"context": value(row, fields["context"]), "question": value(row, fields["question"]),
                "answers": answers_dict(value(row, fields["answers"]))}

    return make


def answers_dict(answers) -> dict:
    """SQuAD answers as {text: [..], answer_start: [..]}, from the hub's columnar form or JSON's list of dicts."""
    if isinstance(answers, dict):
        return {"text": [str(t) for t in answers["text"]], "answer_start": [int(s) for s in answers["answer_start"]]}
    return {"text": [str(a["text"]) for a in answers], "answer_start": [int(a["answer_start"]) for a in answers]}


def _retrieval(fields, spec, labels, features):
    def side(row, key):
        text = value(row, fields[key]) if fields.get(key) else None
        return text.strip() if isinstance(text, str) else text

    def make(row):
        return {"src": side(row, "src"), "tgt": side(row, "tgt")}

    return make


def _mlm(fields, spec, labels, features):
    return lambda row: {"text": value(row, fields["text"])}


_CONVERTERS = {"classification": _classification, "multiple_choice": _multiple_choice, "tagging": _tagging,
               "span_qa": _span_qa, "retrieval": _retrieval, "mlm": _mlm}


# ---------------------------------------------------------------- schema checks


def check_example(task_type: str, example: Any, labels: list[str] | None = None) -> str | None:
    """What is wrong with one internal example, or None when it fits the task type's schema."""
    if not isinstance(example, dict):
        return "not a JSON object"
    required = {"classification": ("id", "text_a", "label"), "multiple_choice": ("id", "context", "choices", "label"),
                "tagging": ("id", "tokens", "tags"), "span_qa": ("id", "context", "question", "answers"),
                "retrieval": ("id", "src", "tgt"), "mlm": ("text",)}[task_type]
    missing = [key for key in required if key not in example]
    if missing:
        return f"missing key(s) {missing} (a {task_type} example needs {list(required)})"
    if task_type == "classification":
        if labels and str(example["label"]) not in labels:
            return f"label {example['label']!r} is not one of {labels}"
        if not isinstance(example["text_a"], str) or not isinstance(example.get("text_b", ""), (str, type(None))):
            return "text_a/text_b must be strings"
    elif task_type == "multiple_choice":
        choices = example["choices"]
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            return "choices must be a list of at least two strings"
        if not isinstance(example["label"], int) or not 0 <= example["label"] < len(choices):
            return f"label must be an integer index into choices, got {example['label']!r}"
    elif task_type == "tagging":
        tokens, tags = example["tokens"], example["tags"]
        if not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
            return "tokens and tags must be lists of equal length"
        if not tokens:
            return "tokens is empty"
    elif task_type == "span_qa":
        answers = example["answers"]
        if (not isinstance(answers, dict) or not isinstance(answers.get("text"), list)
                or not isinstance(answers.get("answer_start"), list) or len(answers["text"]) != len(answers["answer_start"])):
            return "answers must be {text: [..], answer_start: [..]} with lists of equal length"
    elif task_type == "retrieval":
        if example["src"] is None and example["tgt"] is None:
            return "src and tgt are both null"
        return _ranking_problem(example)
    return None


def _ranking_problem(example: dict) -> str | None:
    """Ranking sets (Mewsli-X, LAReQA): a query line carries `relevant`, the ids of its
    relevant candidate lines; a candidate line may carry `context` (its paragraph)."""
    if "relevant" in example:
        relevant = example["relevant"]
        if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
            return "relevant must be a list of candidate ids (strings)"
        if example["src"] is None:
            return "a line with relevant candidates is a query and needs src (the query text)"
    if example.get("context") is not None and not isinstance(example["context"], str):
        return "context must be a string"
    return None
