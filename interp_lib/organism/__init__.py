"""The model organism's world: its data, its probe stimuli, its networks and their training.

data (the procedural data set), drawing (strokes from distance functions),
stimuli (controlled probes), models (the architecture), train (the recipe),
generative (a VAE of the drawings, the learned prior of chapter 2).
"""
