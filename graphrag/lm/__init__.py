"""Models: the sentence embedder and the causal LM (packages, loading, greedy decoding, vocabulary, LoRA adapters,
merging)."""
