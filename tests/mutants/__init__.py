"""Plausible wrong answers to each exercise, one module per chapter.

Each module has MUTANTS: exercise name -> list of (description, wrong function).
tests/test_grading.py checks that each one fails its exercise's check.
"""
