"""Classification heads: per-modality features and presence masks in, logits out (see base.py)."""
