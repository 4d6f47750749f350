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
            objective_algebra
                             what an objective is: the Objective class, its arithmetic, @objective
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
        attribution/       which parts of the input (or which units) made the network decide
            gradient_methods saliency, input x gradient, integrated gradients, SmoothGrad
            perturbation     occlusion
            layer_methods    Grad-CAM, channel attribution
            sanity_check     the cascading randomization test
        circuits/          reading the weights between features
            kernels          the weights between adjacent layers; bands and rotations
            expanded         expanded weights through the layers in between
            curves           curve circuits: the tangent rule, hand-built detectors, composite units
        similarity/        comparing representations: do networks learn the same features?
            cka              CKA: linear, RBF, debiased
            cca              CCA, SVCCA, PWCCA; every layer against every layer
            unit_matching    unit against unit, against a random-init control
            stitching        model stitching through a trained 1x1 convolution
        probes/            what a layer encodes, and whether the network uses it
            linear           the ground truth, control tasks, linear probes layer by layer
            concepts         concept activation vectors and TCAV
            removal          removing directions (INLP, amnesic probing); directions against units

Import modules by their own names (`from interp_lib.optvis import param`), with
one alias: `from interp_lib.optvis import objectives as obj`.
"""
