"""LightningDataModules: one file per dataset, shared split/subset/hidden-class logic in `base`."""
