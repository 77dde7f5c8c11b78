"""Robust training (Q-robust-int): ways to train a stage for robustness rather than for clean
accuracy alone. adversarial: embedding-space adversarial training (PGD, FreeLB) as an option of
any training stage, applied inside the training step."""
