"""Tokenizer and model construction: the real Tekken tokenizer and tiny real-architecture models."""
