"""Cross-lingual alignment of an encoder's sentence vectors (Q-align): how close each language's
sentences sit to their English translations, per hidden layer.

- vectors: every hidden state's mean-pooled sentence vectors from one forward pass, the retrieval
  benchmarks' own vectors of each layer bit for bit;
- measures: retrieval accuracy in both directions, the cosine margin of true pairs over the
  nearest wrong ones, and linear CKA, raw and after centring each language on its own mean;
- stage: one alignment job's computation, a checkpoint loaded once for every parallel set,
  language and layer.

Still to come (issue 10): the workflow rule over every checkpoint and seed, perturbed inputs,
the config keys, and the report's Q-align section.
"""
