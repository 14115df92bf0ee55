"""Analysis tools: metrics, layer reconstructions, embeddings."""
