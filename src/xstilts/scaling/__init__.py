"""Scaling (Q-scale): what training a model of a given size needs. memory: the estimate of a training
job's memory per device (weights, gradients, optimizer state, activations at the configured micro-batch
and length), printed before training and checked against the device, so that a job that cannot fit
fails before its first step with the numbers and what to change."""
