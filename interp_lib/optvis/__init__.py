"""Feature visualization by optimization, organised as in Lucid's `optvis`.

objectives (what to maximise), param (how the image is represented),
transforms (transformation robustness), render (the optimization loop),
image_stats (judging the result).
"""
