"""Cross-lingual alignment of an encoder's sentence vectors (Q-align): how close each language's
sentences sit to their English translations, per hidden layer.

- vectors: every hidden state's mean-pooled sentence vectors from one forward pass, the retrieval
  benchmarks' own vectors of each layer bit for bit;
- measures: retrieval accuracy in both directions, the cosine margin of true pairs over the
  nearest wrong ones, and linear CKA, raw and after centring each language on its own mean;
- translated: a translated test set (XNLI, PAWS-X, XQuAD) as a parallel set, each sentence paired
  with its English original by example id;
- stage: one alignment job's computation (rules/align.smk), a checkpoint loaded once for every
  parallel set, condition and language, writing the measures and the per-sentence retrieval hits
  the report's Q-align section (xstilts.report.alignment) resamples.
"""
