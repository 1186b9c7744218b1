"""The one image transform of the protocol (``zoo.data.rotate``) and its training-only shift and scale."""
import torch

from zoo import data


def dot(row=10, col=12):
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, row, col] = 1
    return image


def where(image):
    return tuple((image[0, 0] > 0.5).nonzero()[0].tolist())


def test_rotation_turns_counter_clockwise_about_the_centre():
    # (row 10, col 12) sits 3.5 rows above and 1.5 columns left of the centre (13.5, 13.5):
    # a quarter turn counter-clockwise takes it 3.5 columns left and 1.5 rows below.
    assert where(data.rotate(dot(), 90.0)) == (15, 10)
    assert where(data.rotate(dot(), 360.0)) == (10, 12)


def test_shift_moves_the_rotated_image_by_whole_pixels():
    assert where(data.rotate(dot(), 0.0, shift=torch.tensor([[3.0, 2.0]]))) == (12, 15)  # 3 right, 2 down
    assert where(data.rotate(dot(), 90.0, shift=torch.tensor([[3.0, 2.0]]))) == (17, 13)  # after the turn


def test_scale_enlarges_about_the_centre():
    square = torch.zeros(1, 1, 28, 28)
    square[0, 0, 10:18, 10:18] = 1
    assert (data.rotate(square, 0.0, scale=torch.tensor([2.0])) > 0.5).sum() == 4 * 64
    assert (data.rotate(square, 0.0, scale=torch.tensor([0.5])) > 0.5).sum() == 64 / 4


def test_no_shift_and_unit_scale_change_nothing():
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    angles = data.fixed_angles(5, seed=3)
    plain = data.rotate(images, angles)
    jittered = data.rotate(images, angles, torch.zeros(5, 2, dtype=torch.float64), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(jittered, plain, rtol=0, atol=1e-6 * plain.abs().max().item())
