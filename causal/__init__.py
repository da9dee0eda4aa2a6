"""Causal semantics without neural-network training: graphs, SCMs, data, metrics, queries."""

from causal.data import Column, DataError, MissingRows, Schema, drop_missing, load_table, mark_missing, read_table, validate_table
from causal.graph import CPDAG, CausalGraph, GraphError, Independence
from causal.interventions import Intervention, InterventionError, parse_do, shift
from causal.queries import ConditionalSample, DrawPool, EvidenceError, Mechanisms, NotFiniteError, QueryMixin, draw_pool
from causal.scm import SCM, Mechanism, NotIdentifiableError

__all__ = [
    "CausalGraph", "CPDAG", "GraphError", "Independence",
    "Column", "Schema", "DataError", "load_table", "read_table", "validate_table",
    "drop_missing", "mark_missing", "MissingRows",
    "Intervention", "InterventionError", "parse_do", "shift",
    "Mechanisms", "QueryMixin", "ConditionalSample", "EvidenceError", "NotFiniteError", "DrawPool", "draw_pool",
    "SCM", "Mechanism", "NotIdentifiableError",
]
