"""Robustness: perturbations of benchmark inputs (and, later, attacks and their metrics).

`noise` holds the kinds that need neither a model nor a dictionary (`char_noise`,
`word_noise`); `codeswitch` replaces words by dictionary translations (MUSE files, or the
generator's lexicon in the demo); `examples` applies a noise kind to an example of any task
type while keeping its label, tags and answers true; `drops` compares recipes on what they lose
under a perturbation, with intervals that hold example and seed noise.
"""
