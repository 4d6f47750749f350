"""The course's machinery: exercises, their checks, and the grader.

exercises (the @exercise decorator; exercises/ generated from solutions/;
the exercise boxes of the book), checks (the check decorator and helpers),
ch00, ch01, ... (each chapter's checks), grade (`make grade`).
"""
