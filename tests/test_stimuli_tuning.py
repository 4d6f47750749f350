import pytest
import torch
from torch import nn

from interp_lib.organism import stimuli
from interp_lib.tuning import curve_tuning, largest_gap


def ink_centroid(img):
    ink = img.mean(0)  # white on black
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    return (xs * ink).sum() / ink.sum() + 0.5, (ys * ink).sum() / ink.sum() + 0.5


@pytest.mark.parametrize("orientation,dx,dy", [(0, -1, 0), (90, 0, -1), (180, 1, 0), (270, 0, 1)])
def test_curve_bulges_towards_its_orientation(orientation, dx, dy):
    # The arc's midpoint is at the centre, so its ink lies behind the bulge.
    img = stimuli.curves(orientation, radius=10)[0]
    cx, cy = ink_centroid(img)
    assert img[:, 32, 32].mean() > 0.5  # the midpoint is drawn at the centre
    assert torch.sign(torch.round(cx - 32)) == dx or dx == 0
    assert torch.sign(torch.round(cy - 32)) == dy or dy == 0
    if dx:
        assert abs(cx - 32) > 2
    if dy:
        assert abs(cy - 32) > 2


def test_stimulus_batches_broadcast_and_colours_apply():
    x = stimuli.curves([0, 90, 180], radius=[6, 8, 10], fg=(1, 0, 0), bg=(0, 0, 1))
    assert x.shape == (3, 3, 64, 64)
    assert torch.allclose(x[:, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]).expand(3, 3))
    assert stimuli.lines([0, 45]).shape == (2, 3, 64, 64)
    assert stimuli.circles(10).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="three numbers"):
        stimuli.curves(0, fg=(1, 0))


class Template(nn.Module):
    """A unit that computes the ReLU of a dot product with one image."""

    def __init__(self, template):
        super().__init__()
        self.template = template - template.mean()
        self.unit = nn.ReLU()

    def forward(self, x):
        return self.unit((x * self.template).sum(dim=(1, 2, 3))[:, None, None, None])


def test_curve_tuning_finds_the_preferred_orientation_of_a_known_detector():
    model = Template(stimuli.curves(135, radius=11)[0])
    t = curve_tuning(model, "unit", radii=(8, 11, 14))
    assert t.responses.shape == (1, 16)
    assert float(t.preferred[0]) == 135.0
    assert float(t.peak_to_mean[0]) > 3
    assert t.tuned() == [0]


def test_a_blob_detector_is_not_curve_tuned():
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    blob = torch.exp(-((xs - 32) ** 2 + (ys - 32) ** 2) / 20).expand(3, 64, 64)
    t = curve_tuning(Template(blob), "unit", radii=(8, 11, 14))
    assert float(t.peak_to_mean[0]) < 1.5
    assert t.tuned() == []


def test_largest_gap():
    assert largest_gap([]) == 360
    assert largest_gap([0, 90, 180, 270]) == 90
    assert largest_gap([10, 350]) == 340
    assert largest_gap([0, 22.5, 45, 200]) == 160


def test_opposite_separates_curve_detectors_from_line_detectors():
    curve = curve_tuning(Template(stimuli.curves(90, radius=11)[0]), "unit", radii=(8, 11, 14))
    assert float(curve.opposite[0]) < 0.5
    line = curve_tuning(Template(stimuli.lines(0, length=14)[0]), "unit", radii=(8, 11, 14))
    # A horizontal line matches the tangent of curves facing up (270) and down (90) alike.
    assert float(line.opposite[0]) > 0.7
    assert curve.curve_detectors() == [0]
    assert line.curve_detectors() == []  # tuned, but a line excites it more than any curve
