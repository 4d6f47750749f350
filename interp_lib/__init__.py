"""interp_lib: the course's reference library, grouped like the course.

    interp_lib/
        organism/          the model organism's world
            data             the procedural data set of line drawings (ground truth included)
            drawing          signed-distance strokes, shared by data and stimuli
            stimuli          controlled probe images: curves, lines, circles
            models           the organisms' architecture (plain conv + ReLU stacks)
            train            the training recipe, in code
            generative       the learned prior: a VAE of the drawings
        optvis/            feature visualization by optimization (as Lucid's optvis)
            objectives       what to maximise: neuron, channel, direction, diversity, ...
            param            how the image is represented: pixels, Fourier, CPPN, a prior
            transforms       transformation robustness: jitter, scale, rotate
            render           the optimization loop
            image_stats      judging a visualization (high-frequency energy)
        course/            exercise machinery: the exercise decorator, checks, the grader
        hooks              activations and weights by readable layer names
        zoo                the shipped organisms (checksummed) and ImageNet models
        plotting           figures: image grids, feature maps, tuning curves
        dataset_examples   the real images that most excite a unit
        tuning             tuning curves and the curve-detector test
        attribution        saliency, integrated gradients, occlusion, Grad-CAM, ...
        circuits/          reading the weights between features
            kernels          the weights between adjacent layers; bands and rotations
            expanded         expanded weights through the layers in between
            curves           curve circuits: the tangent rule, hand-built detectors, composite units

Import modules by their own names (`from interp_lib.optvis import param`), with
one alias: `from interp_lib.optvis import objectives as obj`.
"""
