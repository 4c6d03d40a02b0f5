"""Indexing: loaders (files -> Documents), the pipeline (chunk, extract, resolve, write, embed), batch extraction,
communities."""
