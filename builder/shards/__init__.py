"""Writers: records -> WebDataset and Parquet shards, their index, and the dataset card."""
