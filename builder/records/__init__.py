"""Records in and out of the builder: manifests (JSON Lines with image paths) and the rejects report."""
