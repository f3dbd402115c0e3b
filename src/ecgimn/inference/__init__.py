"""Inference: checkpoints, the fast engine and batched prediction."""
