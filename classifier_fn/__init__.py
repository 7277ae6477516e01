"""The classifier function: MinIO webhook in, labelled production object and outcome record out."""
