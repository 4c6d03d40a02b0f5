"""Answering: the answer writers (extractive, LM reader), the prompt, evidence selection, abstention and reply
decoding."""
