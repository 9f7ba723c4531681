"""The book's numbers, tables and figures, read from the stored results (nothing here trains):
``frames`` (stored runs as pandas), ``findings`` (what each problem found, one module per problem),
``tables``, ``headline``, ``literature``, ``rosenbrock_figures`` and ``mnist_figures`` (in the shared
``style``), ``formatting`` (the one number format) and ``listings`` (code for the appendix).

May import everything below it: ``hw7.results``, ``hw7.engine.runs``, ``hw7.rosenbrock``,
``hw7.config`` and ``hw7.data``. Torch is imported only by the one figure that distorts digits.
"""
