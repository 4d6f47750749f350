"""Probes and concept directions: what a layer encodes, and whether the network uses it.

A **linear probe** is a linear classifier (or regression) trained to read a
property of the input from a layer's activations (Alain and Bengio 2016). Its
held-out score says the property is *decodable* there, nothing more. Three
controls make the number mean something:

- a **control task** (Hewitt and Liang 2019): the same probe on labels given at
  random but consistently per *type* of drawing (`shape_types`: a class at a
  size and an orientation, which recurs between training and test images in
  other colours, places and stroke widths). Selectivity = real score minus
  control score: how much of the score is the property, not memorised types;
- the same layer of an **untrained** network of the same architecture;
- the **pixels** themselves, as layer zero (`PIXELS`).

Probe features are each channel's **spatial mean**, (N, C, H, W) -> (N, C). A
probe's weights are then a direction in the layer's channel space, the space
units live in, so it can be compared with units (`unit_cosines`) and removed
at every position (`project_out`); and w . mean(a) is the mean over positions
of w . a, so removing w at every position takes from the probe exactly what
it read. It is also what the organisms' own `gap` hands to the classifier. The
price: where in the image something is, is mostly lost.

A **concept activation vector** (CAV, Kim et al. 2018) is the normal of a
linear classifier that separates a concept's activations from random images';
TCAV asks how often moving a layer along it raises a class logit, and whether
that share differs from CAVs of random-versus-random splits (`concept_cavs`,
`tcav`). Decodable is not used: `inlp` (Ravfogel et al. 2020) finds the
directions a property is read along, and `amnesic_effect` (Elazar et al. 2021)
removes them inside the network and measures what its accuracy loses, against
removing as many random directions.

The probes are scikit-learn's: `LogisticRegression` (multinomial, L-BFGS)
and `RidgeCV`, behind a `LayerScaler`, regularization chosen by
cross-validation on the training images only. A hand-written probe would need
a learning rate, a number of epochs and its own test of convergence, each a
place for a result to differ for reasons that have nothing to do with the
layer; scikit-learn's solvers converge to the optimum of a convex loss and
warn when they do not, `RidgeCV` picks its penalty by exact leave-one-out, and
the pipeline keeps the scaler from seeing test data.

The package: `linear` (ground truth, control tasks, probes), `concepts` (CAVs and
TCAV), `removal` (INLP, amnesic probing, probe directions against units).
"""

from interp_lib.probes.concepts import *  # noqa: F403
from interp_lib.probes.linear import *  # noqa: F403
from interp_lib.probes.removal import *  # noqa: F403
