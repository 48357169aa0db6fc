"""A GraphQL gateway whose one resolver is a language model.

The stages of a request each have a room: ``sdl`` (the contract), ``planner`` (the model's
plan), ``plan`` and ``validation`` (its shape and its fit to the contract), ``policy``,
``executor`` and ``store`` (running it), ``selection`` (nested fields) and ``server``
(GraphQL over HTTP).
"""

__version__ = "0.1.0"
