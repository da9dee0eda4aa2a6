"""Tabular models: Causal Gen, Causal Variational Gen, CCGM on tables and the causal controllers."""
