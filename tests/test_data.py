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


def test_ink_offset_is_the_centre_of_mass_from_the_centre():
    assert data.ink_offset(dot(10, 12)).tolist() == [[-1.5, -3.5]]  # (right, down) from (13.5, 13.5)
    assert data.ink_offset(torch.zeros(1, 1, 28, 28)).tolist() == [[0.0, 0.0]]  # no ink: no offset
    mnist_like = torch.zeros(1, 1, 28, 28)
    mnist_like[0, 0, 13:16, 13:16] = 1  # a blob centred on pixel (14, 14), as MNIST centres its digits
    torch.testing.assert_close(data.ink_offset(mnist_like), torch.tensor([[0.5, 0.5]], dtype=torch.float64))


def test_origin_turns_about_the_ink_and_brings_it_to_the_centre():
    blob = torch.zeros(1, 1, 28, 28)
    blob[0, 0, 4:9, 18:21] = 1  # an off-centre bar: its centre of mass at (row 6, col 19)
    origin = data.ink_offset(blob)
    for angle in (0.0, 37.0, 90.0, 200.0):
        turned = data.rotate(blob, angle, origin=origin)
        assert data.ink_offset(turned).abs().max() < 0.05, angle  # pixels, on a bar of 15 pixels
        torch.testing.assert_close(turned.sum(), blob.sum(), rtol=0.02, atol=0)  # nothing turned out of the frame
    # about its own centre of mass, a quarter turn makes the upright 5x3 bar a lying 3x5 one
    assert (data.rotate(blob, 90.0, origin=origin)[0, 0] > 0.5).nonzero().amax(0).tolist() == [14, 15]
    # the shift still moves the result, after the turn
    shifted = data.rotate(blob, 90.0, shift=torch.tensor([[3.0, -2.0]]), origin=origin)
    torch.testing.assert_close(data.ink_offset(shifted), torch.tensor([[3.0, -2.0]], dtype=torch.float64),
                               rtol=0, atol=0.05)


def test_centred_validation_has_its_ink_at_the_centre_at_every_angle():
    images = torch.zeros(50, 1, 28, 28)
    for i in range(50):
        images[i, 0, 5 + i % 9:12 + i % 9, 6 + i % 11:10 + i % 11] = 1
    offsets = data.ink_offset(data.rotated_validation(images, centre=True))
    assert offsets.abs().max() < 0.05
    assert data.ink_offset(data.rotated_validation(images)).abs().max() > 3  # about the frame's centre: not so
