"""The plan language: steps (pydantic), typed filter/expression nodes and one visitor."""

from .nodes import (
    CREATED,
    FILTER_OPS,
    FUNCTIONS,
    is_operator_condition,
    is_step_ref,
    is_trivially_true,
)
from .steps import (
    AGGREGATE_FUNCTIONS,
    MAX_LIMIT,
    STORE_OPS,
    WRITE_OPS,
    Aggregate,
    Aggregation,
    Call,
    Delete,
    Filter,
    Find,
    Insert,
    Measure,
    Order,
    Plan,
    Step,
    StepTree,
    Update,
    generic_json_schema,
    is_finite_number,
    parse_plan,
)

__all__ = [
    "AGGREGATE_FUNCTIONS", "CREATED", "FILTER_OPS", "FUNCTIONS", "MAX_LIMIT", "STORE_OPS", "WRITE_OPS",
    "Aggregate", "Aggregation", "Call", "Delete", "Filter", "Find", "Insert", "Measure", "Order", "Plan", "Step",
    "StepTree", "Update", "generic_json_schema", "is_finite_number", "is_operator_condition", "is_step_ref",
    "is_trivially_true", "parse_plan",
]
