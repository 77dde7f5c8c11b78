"""Robust training (Q-robust-int): ways to train a stage for robustness rather than for clean
accuracy alone. adversarial: embedding-space adversarial training (PGD, FreeLB) and R3F's
noise-and-KL regulariser as an option of any training stage, applied inside the training step.
smoothing: randomized smoothing's prediction, a vote over random copies of each input (its
training half is a recipe's augmented data, xstilts.config). adversarial_data: offline adversarial
augmentation, a training set plus a text attack's adversarial versions of a share of it, made once
against a given checkpoint."""
