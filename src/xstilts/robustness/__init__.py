"""Robustness: perturbations of benchmark inputs, attacks, and what they cost a model.

`noise` holds the kinds that need neither a model nor a dictionary (`char_noise`,
`word_noise`); `codeswitch` replaces words by dictionary translations (MUSE files, or the
generator's lexicon in the demo); `examples` applies a noise kind to an example of any task
type while keeping its label, tags, answers and marked words true; `mixed` builds mixed-language
pairs from parallel test sets; `local` reads challenge sets from files; `perturbed_sets` is the
perturb stage; `drops` compares recipes on what they lose under a perturbation, with intervals
that hold example and seed noise. `pgd` is embedding-space PGD against any task head and
`attacked_split` a language's split under it; `word_attack` the gradient-guided word substitutions
(hotflip, codeswitch_attack); `attacks` the one entry point the evaluate stage calls for any kind.
"""
