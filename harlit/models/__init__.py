"""Encoders, fusion head and the LightningModule that trains them."""
