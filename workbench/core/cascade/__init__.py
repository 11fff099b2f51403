"""Cascade and router simulation on labelled evaluation data (see :mod:`.simulate`)."""
from workbench.core.cascade.evalset import (BadRow, EvalDataError, EvalSet, LoadReport, SIGNAL_COLUMNS, TierData,
                                            split_mask)
from workbench.core.cascade.signals import classify_query, describe_signals, get_signal, list_signals, register_signal
from workbench.core.cascade.simulate import Scored, Target, operating_point, report, score, simulate

simulate_cascade = simulate
from workbench.core.cascade.sweep import CascadeCosts, Prepared, TierPrice

__all__ = ["BadRow", "CascadeCosts", "EvalDataError", "EvalSet", "LoadReport", "Prepared", "SIGNAL_COLUMNS", "Scored",
           "Target", "TierData", "TierPrice", "classify_query", "operating_point", "describe_signals", "get_signal", "list_signals",
           "register_signal", "report", "score", "simulate", "simulate_cascade", "split_mask"]
