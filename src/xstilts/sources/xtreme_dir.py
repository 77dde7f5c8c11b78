"""The `xtreme_dir` source: a folder as google-research/xtreme's scripts/download_data.sh leaves it.

The catalog spec gives a `format` and, per split of ours, a file (or file stem) relative to the
folder, with `{lang}` (and `{code}`, from `codes`) filled in. The caller adds `root`, the folder.

    tsv_pair     xnli/, pawsx/: `{split}-{lang}.tsv`, rows sentence1<TAB>sentence2<TAB>label, no header
                 (written by csv.writer, so read by csv.reader)
    conll        udpos/, panx/: `{split}-{lang}.tsv`, token<TAB>tag per line, blank line between sentences
    squad_json   squad/, xquad/, mlqa/, tydiqa/: SQuAD v1.1 JSON (data[].paragraphs[].qas[])
    jsonl        xcopa/, siqa/: one JSON object per line
    bucc         bucc2018/: stem `{lang}-en.{split}` + `.{lang}`, `.en` (id<TAB>sentence) and `.gold`
                 (source id<TAB>English id)
    tatoeba      tatoeba/: stem `{lang}-en` + `.{lang}` and `.en`, line i translating line i

XTREME's download script keeps test labels back for its leaderboard: test tsv files have no
label column, test CoNLL files no tags, XQuAD/MLQA test and TyDiQA dev answers are blanked,
XCOPA test labels are all set to 0, `{l}-en.test.gold` is deleted and Tatoeba's English side is
sorted. Reading such a file for a split that needs labels fails with a message saying so.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .convert import convert
from .errors import DataSourceError, MissingDataError

STRIPPED = ("XTREME's download script (google-research/xtreme scripts/download_data.sh) removes test labels, "
            "which XTREME only scores through its leaderboard. Use a split that keeps them (dev), the hub "
            "source (google/xtreme keeps gold labels), or a `local` copy with labels.")

DEFAULT_FIELDS = {
    "tsv_pair": {"text_a": "sentence1", "text_b": "sentence2", "label": "label"},
    "conll": {"tokens": "tokens", "tags": "tags"},
    "squad_json": {"id": "id", "context": "context", "question": "question", "answers": "answers"},
}


def read(info, *, split: str, lang: str, spec: dict) -> list[dict]:
    fmt = spec.get("format")
    if fmt in ("mewslix", "lareqa"):
        raise NotImplementedError(
            f"task '{info.name}': reading {fmt} from the XTREME folder is not implemented. Its retrieval set is "
            f"not a list of parallel pairs (Mewsli-X: mentions against a candidate entity set; LaReQA: questions "
            f"against every answer sentence of XQuAD-R), so it needs its own retrieval schema and the mAP@20 scorer.")
    files = spec.get("files", {})
    if split not in files:
        raise DataSourceError(f"task '{info.name}': the xtreme_dir source has no '{split}' split "
                              f"(it has: {', '.join(files) or 'none'})")
    if not spec.get("root"):
        raise DataSourceError(f"task '{info.name}': no XTREME folder given (config key data.xtreme_dir)")
    values = {"lang": lang, "code": spec.get("codes", {}).get(lang, lang), "split": split}
    target = Path(spec["root"]) / files[split].format(**values)
    hint = f"\n{spec['hint']}" if spec.get("hint") else ""
    if fmt == "bucc":
        return _bucc(target, lang, hint)
    if fmt == "tatoeba":
        raw = Path(spec["root"]) / spec["raw_files"].format(**values) if spec.get("raw_files") else None
        return _tatoeba(target, lang, raw, hint)
    readers = {"tsv_pair": _tsv_pair, "conll": _conll, "squad_json": _squad_json, "jsonl": _jsonl}
    if fmt not in readers:
        raise DataSourceError(f"task '{info.name}': unknown xtreme_dir format '{fmt}'")
    rows = readers[fmt](_existing(target, hint), spec)
    merged = {**spec, "fields": {**DEFAULT_FIELDS.get(fmt, {}), **spec.get("fields", {})}}
    return convert(info.type, rows, spec=merged, labels=info.labels)


def files_read(spec: dict, split: str, lang: str) -> list[Path]:
    """The files `read` needs for one split and language (without the optional LASER originals)."""
    if spec.get("format") in ("mewslix", "lareqa") or split not in spec.get("files", {}):
        return []
    values = {"lang": lang, "code": spec.get("codes", {}).get(lang, lang), "split": split}
    target = Path(spec.get("root", ".")) / spec["files"][split].format(**values)
    suffixes = {"bucc": (lang, "en", "gold"), "tatoeba": (lang, "en")}.get(spec["format"])
    return [target.with_name(f"{target.name}.{s}") for s in suffixes] if suffixes else [target]


def _existing(path: Path, hint: str = "") -> Path:
    if not path.is_file():
        raise MissingDataError(f"expected file {path} is missing (the XTREME folder is laid out by "
                               f"google-research/xtreme scripts/download_data.sh){hint}")
    return path


def _tsv_pair(path: Path, spec: dict) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line_number, cells in enumerate(csv.reader(f, delimiter="\t"), 1):
            if len(cells) == 2:
                raise DataSourceError(f"{path}:{line_number}: two columns and no label. {STRIPPED}")
            if len(cells) != 3:
                raise DataSourceError(f"{path}:{line_number}: expected sentence1<TAB>sentence2<TAB>label, "
                                      f"got {len(cells)} column(s)")
            rows.append({"sentence1": cells[0], "sentence2": cells[1], "label": cells[2]})
    return rows


def _conll(path: Path, spec: dict) -> list[dict]:
    rows, tokens, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    rows.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
                continue
            cells = line.split("\t")
            if len(cells) == 1:
                raise DataSourceError(f"{path}:{line_number}: a token without a tag. {STRIPPED}")
            if len(cells) != 2:
                raise DataSourceError(f"{path}:{line_number}: expected token<TAB>tag, got {len(cells)} columns")
            tokens.append(cells[0])
            tags.append(cells[1])
    if tokens:
        rows.append({"tokens": tokens, "tags": tags})
    return rows


def _squad_json(path: Path, spec: dict) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise DataSourceError(f"{path}: not SQuAD-format JSON (data[].paragraphs[].qas[]): {error}") from None
    rows = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows.append({"id": str(qa["id"]), "context": paragraph["context"], "question": qa["question"],
                             "answers": qa.get("answers", [])})
    answers = [a for row in rows for a in row["answers"]]
    if answers and all(a.get("text", "") == "" for a in answers):
        raise DataSourceError(f"{path}: every answer is blank. {STRIPPED}")
    return rows


def _jsonl(path: Path, spec: dict) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise DataSourceError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
    label = spec.get("fields", {}).get("label", "label")
    labels = [row.get(label) for row in rows]
    if len(labels) >= 10 and all(value == 0 for value in labels):
        raise DataSourceError(f"{path}: all {len(labels)} labels are 0, which is how XTREME blanks them. {STRIPPED}")
    return rows


def _id_lines(path: Path) -> list[tuple[str, str]]:
    lines = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            if "\t" not in line:
                raise DataSourceError(f"{path}:{line_number}: expected id<TAB>sentence")
            lines.append(tuple(line.split("\t", 1)))
    return lines


def _bucc(stem: Path, lang: str, hint: str) -> list[dict]:
    """BUCC mining set: gold pairs joined into one row sharing the source id, other lines one-sided."""
    source = _id_lines(_existing(stem.with_name(f"{stem.name}.{lang}"), hint))
    english = _id_lines(_existing(stem.with_name(f"{stem.name}.en"), hint))
    gold_path = stem.with_name(f"{stem.name}.gold")
    if not gold_path.is_file():
        extra = f" {STRIPPED}" if stem.name.endswith(".test") else ""
        _existing(gold_path, hint + extra)
    gold = _id_lines(gold_path)
    english_text = dict(english)
    source_text = dict(source)
    pair_of: dict[str, str] = {}
    paired_english: set[str] = set()
    for source_id, english_id in gold:
        if source_id in pair_of or english_id in paired_english:
            raise DataSourceError(f"{gold_path}: '{source_id}'/'{english_id}' is in more than one gold pair; the "
                                  "mining schema (a gold pair's sides share one id) needs one-to-one gold")
        for line_id, texts, side in ((source_id, source_text, lang), (english_id, english_text, "en")):
            if line_id not in texts:
                raise DataSourceError(f"{gold_path}: gold id '{line_id}' has no sentence in the .{side} file")
        pair_of[source_id] = english_id
        paired_english.add(english_id)
    rows = []
    for source_id, sentence in source:
        if source_id in pair_of:
            rows.append({"id": source_id, "src": sentence, "tgt": english_text[pair_of[source_id]]})
        else:
            rows.append({"id": source_id, "src": sentence, "tgt": None})
    rows += [{"id": english_id, "src": None, "tgt": sentence} for english_id, sentence in english
             if english_id not in paired_english]
    return rows


def _tatoeba(stem: Path, lang: str, raw_stem: Path | None, hint: str) -> list[dict]:
    """Tatoeba: line i of the `{lang}` file translates line i of the English file."""
    source_path, english_path = stem.with_name(f"{stem.name}.{lang}"), stem.with_name(f"{stem.name}.en")
    source = _lines(_existing(source_path, hint))
    english = _lines(_existing(english_path, hint))
    if len(english) > 2 and english == sorted(english) and source != sorted(source):
        raw = _laser_files(raw_stem) if raw_stem else None
        if raw and all(path.is_file() for path in raw):
            source, english = _lines(raw[0]), _lines(raw[1])
            source_path, english_path = raw
        else:
            expected = f" (or LASER's aligned originals {raw[0]} and {raw[1]})" if raw else ""
            raise DataSourceError(f"{english_path}: the English side is sorted, so line i no longer translates line i "
                                  f"of {source_path}: XTREME's download script sorts it to hide the gold alignment. "
                                  f"Provide aligned files{expected}, or use the hub source (google/xtreme tatoeba.*).")
    if len(source) != len(english):
        raise DataSourceError(f"{source_path} has {len(source)} lines but {english_path} has {len(english)}: "
                              "Tatoeba files must be line-aligned")
    return [{"id": str(i), "src": src, "tgt": tgt} for i, (src, tgt) in enumerate(zip(source, english))]


def _laser_files(raw_stem: Path) -> list[Path]:
    """LASER's originals: `tatoeba.{iso3}-eng.{iso3}` and `tatoeba.{iso3}-eng.eng`."""
    iso3 = raw_stem.name.split(".", 1)[1].split("-", 1)[0]
    return [raw_stem.with_name(f"{raw_stem.name}.{iso3}"), raw_stem.with_name(f"{raw_stem.name}.eng")]


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f.read().splitlines()]
