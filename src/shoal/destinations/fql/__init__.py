"""Segment's Filter Query Language (FQL) for destination filters and mapping triggers.

``parse(text)`` gives the condition tree (``shoal.destinations.conditions.Trigger``) that
the JSON form also gives; ``to_fql(tree)`` gives the text back. Errors are ``FQLError``
(a ``ValueError``) with the offset of the problem.

Grammar (``!`` binds tightest, then ``and``, then ``or``)::

    statement  := "all" | or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "!" unary | "(" or ")" | comparison
    comparison := operand [("=" | "!=" | "<" | "<=" | ">" | ">=" | "in") operand]
    operand    := path | fn "(" path ")" | contains "(" subject "," string ")"
                | match "(" subject "," string ")" | string | number
                | "true" | "false" | "null" | "[" [literal ("," literal)*] "]"
"""

from shoal.destinations.fql.lexer import FQLError
from shoal.destinations.fql.parser import ALL, parse
from shoal.destinations.fql.printer import Unprintable, fql_or_none, shown, to_fql

__all__ = ["ALL", "FQLError", "Unprintable", "fql_or_none", "parse", "shown", "to_fql"]
