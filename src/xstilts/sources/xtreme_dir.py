"""The `xtreme_dir` source: a folder as google-research/xtreme's scripts/download_data.sh leaves it.

The catalog spec gives a `format` and, per split of ours, a file (or file stem) relative to the
folder, with `{lang}` (and `{code}`, from `codes`) filled in, or such files by language with `*` for
the others. The caller adds `root`, the folder.

    tsv_pair     xnli/, pawsx/: `{split}-{lang}.tsv`, rows sentence1<TAB>sentence2<TAB>label, no header
                 (written by csv.writer, so read by csv.reader)
    conll        udpos/, panx/: `{split}-{lang}.tsv`, token<TAB>tag per line, blank line between sentences
    squad_json   squad/, xquad/, mlqa/, tydiqa/: SQuAD v1.1 JSON (data[].paragraphs[].qas[])
    jsonl        xcopa/, siqa/: one JSON object per line
    bucc         bucc2018/: stem `{lang}-en.{split}` + `.{lang}`, `.en` (id<TAB>sentence) and `.gold`
                 (source id<TAB>English id)
    tatoeba      tatoeba/: stem `{lang}-en` + `.{lang}` and `.en`, line i translating line i
    mewslix      mewslix/: `wikinews_mentions/{split}-{lang}.jsonl` (one WikiNews article per line:
                 `context` {language, text, sentence_spans} and `mentions` [{example_id, entity_id,
                 mention_span {start, end, text}}]) ranked against `candidates`,
                 candidate_set_entities.jsonl (~1M entities: entity_id, description, sentence_spans)
    lareqa       lareqa/xquad-r/: `{lang}.json`, SQuAD JSON whose paragraphs carry `sentence_breaks`;
                 a language's questions are ranked against the sentences of every `pool` language

Mewsli-X and LAReQA are ranking sets in the retrieval schema: a query is `{id, src, tgt: null,
relevant: [candidate ids]}`, a pool entry `{id, src: null, tgt}` (plus `context`, the paragraph, for
LAReQA's sentences). Each language's file holds its queries; the pool is read once, as the
pseudo-language `pool` of the split, and every language is ranked against it. Both follow XTREME-R's third_party/evaluate_retrieval.py, utils_mewslix.py and
utils_lareqa.py (google-research/xtreme) in what they read and how they build the texts.

XTREME's download script keeps test labels back for its leaderboard: test tsv files have no
label column, test CoNLL files no tags, XQuAD/MLQA test and TyDiQA dev answers are blanked,
XCOPA test labels are all set to 0, `{l}-en.test.gold` is deleted, Tatoeba's English side is
sorted and Mewsli-X test entity ids are blanked. Reading such a file for a split that needs labels
fails with a message saying so.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from ..config import RANKING_POOL
from ..io import read_jsonl
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


def _template(files: str | dict, lang: str) -> str:
    """A split's file: one template, or templates by language with `*` for the others (translate-train
    data: English's own file beside the translations')."""
    return files if isinstance(files, str) else files.get(lang, files["*"])


def read(info, *, split: str, lang: str, spec: dict) -> list[dict]:
    fmt = spec.get("format")
    files = spec.get("files", {})
    if split not in files:
        raise DataSourceError(f"task '{info.name}': the xtreme_dir source has no '{split}' split "
                              f"(it has: {', '.join(files) or 'none'})")
    if not spec.get("root"):
        raise DataSourceError(f"task '{info.name}': no XTREME folder given (config key data.xtreme_dir)")
    values = {"lang": lang, "code": spec.get("codes", {}).get(lang, lang), "split": split}
    target = Path(spec["root"]) / _template(files[split], lang).format(**values)
    hint = f"\n{spec['hint']}" if spec.get("hint") else ""
    if fmt == "bucc":
        return _bucc(target, lang, hint)
    if fmt == "tatoeba":
        raw = Path(spec["root"]) / spec["raw_files"].format(**values) if spec.get("raw_files") else None
        return _tatoeba(target, lang, raw, hint)
    if fmt == "mewslix":
        raw = Path(spec["root"]) / spec["raw_files"].format(**values) if spec.get("raw_files") else None
        return _mewslix(target, _candidates_file(info.name, spec), lang, raw, hint)
    if fmt == "lareqa":
        return _lareqa(_pool_files(info.name, spec, split), lang, hint)
    readers = {"tsv_pair": _tsv_pair, "conll": _conll, "squad_json": _squad_json, "jsonl": _jsonl}
    if fmt not in readers:
        raise DataSourceError(f"task '{info.name}': unknown xtreme_dir format '{fmt}'")
    rows = readers[fmt](_existing(target, hint), spec)
    merged = {**spec, "fields": {**DEFAULT_FIELDS.get(fmt, {}), **spec.get("fields", {})}}
    return convert(info.type, rows, spec=merged, labels=info.labels)


def files_read(spec: dict, split: str, lang: str) -> list[Path]:
    """The files `read` needs for one split and language (without the optional LASER or
    Mewsli-X originals)."""
    if split not in spec.get("files", {}):
        return []
    values = {"lang": lang, "code": spec.get("codes", {}).get(lang, lang), "split": split}
    target = Path(spec.get("root", ".")) / spec["files"][split].format(**values)
    if spec.get("format") == "mewslix":
        candidates = _candidates_file("mewslix", {"root": ".", **spec})
        return [candidates] if lang == RANKING_POOL else [target, candidates]
    if spec.get("format") == "lareqa":
        return list(_pool_files("lareqa", {"root": ".", **spec}, split).values())
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


# ---------------------------------------------------------------- ranking sets (XTREME-R)


def _pool_files(task: str, spec: dict, split: str) -> dict[str, Path]:
    """LAReQA: the file of each pool language (the pool is every language's sentences)."""
    if not spec.get("pool"):
        raise DataSourceError(f"task '{task}': the xtreme_dir spec names no `pool` (the languages whose "
                              "sentences make the candidate pool)")
    if not spec.get("root"):
        raise DataSourceError(f"task '{task}': no XTREME folder given (config key data.xtreme_dir)")
    template = spec["files"][split]
    return {lang: Path(spec["root"]) / template.format(lang=lang, code=spec.get("codes", {}).get(lang, lang),
                                                       split=split)
            for lang in spec["pool"]}


def _candidates_file(task: str, spec: dict) -> Path:
    if not spec.get("candidates"):
        raise DataSourceError(f"task '{task}': the xtreme_dir spec names no `candidates` file (Mewsli-X's "
                              "candidate_set_entities.jsonl)")
    return Path(spec["root"]) / spec["candidates"]


def _json_lines(path: Path) -> list[dict]:
    return read_jsonl(path, check=lambda row: None if isinstance(row, dict) else "expected a JSON object per line",
                      error=DataSourceError)


def _squad_data(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise DataSourceError(f"{path}: not SQuAD-format JSON (data[].paragraphs[].qas[]): {error}") from None


def _spans(value, where: str) -> list[tuple[int, int]]:
    """[[start, end], ..] (LAReQA) or [{start, end}, ..] (Mewsli-X) -> [(start, end), ..]."""
    try:
        return [(int(s["start"]), int(s["end"])) if isinstance(s, dict) else (int(s[0]), int(s[1])) for s in value]
    except (KeyError, IndexError, TypeError, ValueError):
        raise DataSourceError(f"{where}: sentence spans must be [start, end] pairs or {{start, end}} objects, "
                              f"got {str(value)[:80]}") from None


def _one_line(text: str) -> str:
    """Newlines and runs of spaces -> one space (XTREME-R flattens its texts to one line each)."""
    return " ".join(text.split())


# ---------------------------------------------------------------- LAReQA (XQuAD-R)


def _lareqa(pool_files: dict[str, Path], lang: str, hint: str) -> list[dict]:
    """Questions of `lang`, each relevant to the sentence holding its answer in every pool
    language, then every pool sentence. Ids follow XTREME-R's utils_lareqa.py: a sentence is
    `{lang}_{paragraph number}_{position}`, a question keeps its id, which is shared by its
    translations (that is how the answers in other languages are found)."""
    if lang not in pool_files and lang != RANKING_POOL:
        raise DataSourceError(f"LAReQA: language '{lang}' is not in the pool ({', '.join(pool_files)})")
    questions: dict[str, list[dict]] = {}
    answer_sentences: dict[str, list[str]] = defaultdict(list)  # question id -> relevant sentence ids
    pool: list[dict] = []
    for pool_lang, path in pool_files.items():
        found, sentences = _xquad_r(_existing(path, hint), pool_lang)
        questions[pool_lang] = found
        for question in found:
            answer_sentences[question["id"]] += question.pop("answer_sentences")
        pool += sentences
    if lang == RANKING_POOL:
        return pool
    return [{**q, "relevant": answer_sentences[q["id"]]} for q in questions[lang]]


def _xquad_r(path: Path, lang: str) -> tuple[list[dict], list[dict]]:
    """One XQuAD-R file: its questions (with the ids of their answer sentences) and the sentences
    of every paragraph that has a question. As in XTREME-R, a question whose answer starts in no
    sentence is skipped, and every sentence equal to the answer's sentence is relevant."""
    questions, sentences, seen = [], [], set()
    paragraphs = [p for article in _squad_data(path) for p in article.get("paragraphs", [])]
    for number, paragraph in enumerate(paragraphs, 1):
        where = f"{path}: paragraph {number}"
        if "sentence_breaks" not in paragraph:
            raise DataSourceError(f"{where} has no sentence_breaks: not an XQuAD-R file (LAReQA's XQuAD with "
                                  "sentence boundaries, github.com/google-research-datasets/lareqa)")
        context = paragraph.get("context")
        if not isinstance(context, str):
            raise DataSourceError(f"{where} has no context text")
        breaks = _spans(paragraph["sentence_breaks"], where)
        texts = [context[start:end] for start, end in breaks]
        ids = [f"{lang}_{number}_{position}" for position in range(len(breaks))]
        found = [_xquad_r_question(qa, context, breaks, texts, ids, where) for qa in paragraph.get("qas", [])]
        found = [q for q in found if q is not None]
        for question in found:
            if question["id"] in seen:
                raise DataSourceError(f"{path}: question id '{question['id']}' occurs twice")
            seen.add(question["id"])
        if found:
            sentences += [{"id": i, "src": None, "tgt": text, "context": context} for i, text in zip(ids, texts)]
        questions += found
    return questions, sentences


def _xquad_r_question(qa: dict, context: str, breaks, texts, ids, where: str) -> dict | None:
    answers = qa.get("answers", [])
    if len(answers) != 1:
        raise DataSourceError(f"{where}: question '{qa.get('id')}' has {len(answers)} answers; XQuAD-R has "
                              "exactly one per question")
    try:
        question_id, question, start = str(qa["id"]), qa["question"], int(answers[0]["answer_start"])
    except (KeyError, TypeError, ValueError):
        raise DataSourceError(f"{where}: question '{qa.get('id')}' lacks an id, its text or an integer "
                              "answer_start") from None
    holding = next((context[s:e] for s, e in breaks if s <= start < e), None)
    if holding is None:
        return None  # XTREME-R skips these too (a sentence-breaking error in the data)
    relevant = [i for i, text in zip(ids, texts) if text == holding]
    return {"id": question_id, "src": question, "tgt": None, "answer_sentences": relevant}


# ---------------------------------------------------------------- Mewsli-X


def _mewslix(mentions_path: Path, candidates_path: Path, lang: str, raw_path: Path | None,
             hint: str) -> list[dict]:
    """WikiNews mentions of `lang` as queries (gold: one entity); for `pool`, the entity pool."""
    pool = _entity_pool(_existing(candidates_path, hint))
    if lang == RANKING_POOL:
        return pool["rows"]
    documents = _json_lines(_existing(mentions_path, hint))
    queries = [q for document in documents for q in _mention_queries(document, mentions_path, lang)]
    blank = [q["id"] for q in queries if not q["relevant"][0]]
    if queries and len(blank) == len(queries):
        queries = _unblanked_queries(mentions_path, raw_path, lang, hint)
    elif blank:
        raise DataSourceError(f"{mentions_path}: mention '{blank[0]}' has no entity_id")
    for query in queries:
        if query["relevant"][0] not in pool["ids"]:
            raise DataSourceError(f"{mentions_path}: mention '{query['id']}' links to entity "
                                  f"'{query['relevant'][0]}', which is not in {candidates_path}")
    return queries


def _unblanked_queries(mentions_path: Path, raw_path: Path | None, lang: str, hint: str) -> list[dict]:
    """XTREME's preprocessing blanks test entity ids; the Mewsli-X release itself
    (get-mewsli-x.sh's wikinews_mentions-{split}.jsonl, all languages in one file) keeps them."""
    if raw_path is None or not raw_path.is_file():
        original = f" or keep the Mewsli-X release's {raw_path} beside it" if raw_path else ""
        raise DataSourceError(f"{mentions_path}: every entity_id is blank. {STRIPPED} For Mewsli-X you can "
                              f"also run google-research's get-mewsli-x.sh{original}.{hint}")
    documents = [d for d in _json_lines(raw_path) if d.get("context", {}).get("language") == lang]
    queries = [q for document in documents for q in _mention_queries(document, raw_path, lang)]
    if not queries or any(not q["relevant"][0] for q in queries):
        raise DataSourceError(f"{raw_path}: expected the labelled '{lang}' mentions of the Mewsli-X release")
    return queries


def _mention_queries(document: dict, path: Path, lang: str) -> list[dict]:
    try:
        context, mentions = document["context"], document["mentions"]
        text, language = context["text"], context["language"]
    except (KeyError, TypeError):
        raise DataSourceError(f"{path}: a line lacks context.text, context.language or mentions "
                              "(expected Mewsli-X's ContextualMentions)") from None
    doc = context.get("document_id", "?")
    if language != lang:
        raise DataSourceError(f"{path}: document '{doc}' is in '{language}', not '{lang}'")
    if not text:
        raise DataSourceError(f"{path}: document '{doc}' has no text; the released files hold none until "
                              "get-mewsli-x.sh fills it in from the WikiNews dumps")
    sentences = _spans(context.get("sentence_spans", []), f"{path}: document '{doc}'")
    return [_mention_row(text, sentences, mention, f"{path}: document '{doc}'") for mention in mentions]


def _mention_row(text: str, sentences: list[tuple[int, int]], mention: dict, where: str) -> dict:
    try:
        example_id, span = str(mention["example_id"]), mention["mention_span"]
        start, end, surface = int(span["start"]), int(span["end"]), span["text"]
    except (KeyError, TypeError, ValueError):
        raise DataSourceError(f"{where}: a mention lacks example_id or mention_span {{start, end, text}}") from None
    where = f"{where}, mention '{example_id}'"
    if text[start:end] != surface:
        raise DataSourceError(f"{where}: text[{start}:{end}] is {text[start:end]!r}, not the mention {surface!r}")
    holding = next(((s, e) for s, e in sentences if s <= start < e and s < end <= e), None)
    if holding is None:
        raise DataSourceError(f"{where} lies in no single sentence of its context's sentence_spans")
    query = _mention_query(text[holding[0]:start], surface, text[end:holding[1]])
    return {"id": example_id, "src": query, "tgt": None, "relevant": [str(mention.get("entity_id") or "").strip()]}


MARKED = re.compile(r"\{(.*?)\}")


def _mention_query(left: str, surface: str, right: str) -> str:
    """XTREME-R's baseline query: the mention, a colon, then the sentence holding it with the
    mention between braces (braces already in the sentence become parentheses), so that the
    mention survives truncation: `Smith: The verdict came for { Smith }, who ...`."""
    left, right = MARKED.sub(r"(\1)", left), MARKED.sub(r"(\1)", right)
    return _one_line(f"{surface}: {left} {{ {surface} }} {right}")


@lru_cache(maxsize=1)
def _entity_pool_cached(path: str, modified: int) -> dict:
    rows = []
    for line_number, entity in enumerate(_json_lines(Path(path)), 1):
        try:
            entity_id, description = str(entity["entity_id"]), entity["description"]
        except (KeyError, TypeError):
            raise DataSourceError(f"{path}: entity {line_number} lacks entity_id or description") from None
        rows.append({"id": entity_id, "src": None, "tgt": _entity_text(description, entity, path)})
    ids = {row["id"] for row in rows}
    if len(ids) != len(rows):
        raise DataSourceError(f"{path}: entity ids repeat; the pool needs one description per entity")
    return {"rows": rows, "ids": ids}


def _entity_pool(path: Path) -> dict:
    """The entity pool (~1M entities), read once per process: one prepare job writes every
    language, and each language's queries are checked against it."""
    return _entity_pool_cached(str(path), path.stat().st_mtime_ns)


def _entity_text(description: str, entity: dict, path: str) -> str:
    """The description's annotated sentences joined on one line (XTREME-R's baseline); the raw
    description where no sentences are annotated."""
    spans = _spans(entity.get("sentence_spans", []), f"{path}: entity '{entity['entity_id']}'")
    return _one_line(" ".join(description[s:e] for s, e in spans) if spans else description)
