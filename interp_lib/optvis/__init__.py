"""Feature visualization by optimization, organised as in Lucid's `optvis`.

objectives (what to maximise), objective_algebra (what an objective is: the
Objective class, its arithmetic and the @objective decorator, used through
objectives), param (how the image is represented), transforms (transformation
robustness), render (the optimization loop), image_stats (judging the result).
"""
