"""The course's machinery: exercises, their checks, and the grader.

exercises (the @exercise decorator; exercises/ generated from solutions/;
the exercise boxes of the book), book (glue, claim, verdict, Table: the
chapters' evidence), checks (the check decorator, its registry and helpers),
guard (the library's twin of an exercise kept out of the learner's way; whose
warning is whose), wild (inputs and networks from the wild: a nested,
torchvision-shaped network, tensors still attached), ch00, ch01, ... (each
chapter's checks), grade (`make grade`).
"""
