"""What each problem found, as numbers: one module per problem, each with one frozen dataclass and the
function that computes it (``problem1``, ``problem2``, ``problem3``); ``common`` holds what the MNIST
problems share (accuracies over seeds, searches, tuned networks, committees).

The chapters' prose and answer boxes, their tables and the index's headline table all read these
objects, so a number shown in two places is computed once. Nothing here formats text (that is
`hw7.report.formatting`) and nothing trains: the MNIST numbers come from the run store and the
searches (`hw7.report.frames`), Problem 1's from its stored sweeps (`hw7.rosenbrock.runs`). Each
function is cached for the life of the process (one render). May import: `hw7.report.frames`,
`hw7.results`, `hw7.rosenbrock`, `hw7.config`, `hw7.data`.
"""
