"""s1mmalign.loaders: dataset folders and Hub repositories in, training batches out."""
