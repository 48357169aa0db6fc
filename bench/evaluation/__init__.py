"""The evaluation: natural-language requests on seeded stores, scored by result sets and store state.

``suites`` holds the cases (one module per schema), ``expect`` what a right answer is,
``state`` how a store is compared and searched for invented strings, ``harness`` the run.
"""
