"""How much of each preset's error on the rotated test set is 6 against 9, for both sets of weights:

    .venv/bin/python experiments/six_nine.py [--data-root ../shared/data] [--weights upright] [MODEL ...]
    .venv/bin/python experiments/six_nine.py --centred c8_mnist so2_mnist [CHECKPOINT_FOLDER ...]
    .venv/bin/python experiments/six_nine.py --validation --centred c8_mnist so2_mnist [CHECKPOINT_FOLDER ...]

A 9 is close to a 6 turned by 180 degrees, an angle every rotation group here contains, so an invariant network
can tell them apart only by the shape of the strokes. Uses the exported models (the same logits as the escnn
ones, faster) of the committed weights, or of checkpoint folders named on the command line.

``--centred`` adds the rotated test set with each digit turned about its own ink's centre of mass, brought to
the frame's centre (``zoo.data.rotate``'s ``origin``): where ``zoo.create_transform`` puts a picture's. MNIST
leaves the centre of mass half a pixel right of and below the centre; turned about the frame's centre, a digit
carries that offset turned with it, a hint of which way is down that the centred set takes away.
``--validation``: the 5,000 held-out training digits at their fixed validation angles instead of the test set
(what ``zoo train`` validates on; ``--centred`` then what ``zoo train --centre`` validates on).
"""
import argparse
from pathlib import Path

from zoo import data
from zoo.exported import load_exported
from zoo.metrics import predict
from zoo.registry import list_models, weights_folder

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--data-root", default="../shared/data")
p.add_argument("--weights", action="append", choices=["upright", "rotated"],
               help="weights tag, repeatable (default: both)")
p.add_argument("--centred", action="store_true", help="also the rotated set with each digit turned about its own ink")
p.add_argument("--validation", action="store_true", help="the validation split instead of the test set")
p.add_argument("models", nargs="*", default=list_models(), metavar="MODEL",
               help="presets, or checkpoint folders (evaluated once, whatever --weights says)")
args = p.parse_args()
if args.validation:
    images, labels = data.load_mnist(args.data_root, train=True)
    _, val = data.train_val_split()
    images, labels = images[val], labels[val]

    def turned(centre: bool):
        return data.rotated_validation(images, centre)
else:
    images, labels = data.load_mnist(args.data_root, train=False)
    angles = data.rotated_test_angles(len(images))

    def turned(centre: bool):
        return data.rotate(images, angles, origin=data.ink_offset(images) if centre else None)
sets = {"upright": images, "rotated": turned(False)} | ({"centred": turned(True)} if args.centred else {})
print("| weights | model | " + " | ".join(f"{s}: errors | 6<->9" for s in sets) + " | share (rotated) |")
print("| --- | --- | " + " | ".join("---: | ---:" for _ in sets) + " | ---: |")
folders = [m for m in args.models if Path(m).is_dir()]
runs = [(tag, name, weights_folder(name, tag)) for tag in args.weights or ["upright", "rotated"]
        for name in args.models if name not in folders] + [("(folder)", f, Path(f)) for f in folders]
for tag, name, folder in runs:
    model = load_exported(folder)
    counts = []
    for x in sets.values():
        predicted = predict(model, x)
        wrong = predicted != labels
        six_nine = wrong & (((labels == 6) & (predicted == 9)) | ((labels == 9) & (predicted == 6)))
        counts += [int(wrong.sum()), int(six_nine.sum())]
    print(f"| {tag} | {name} | " + " | ".join(map(str, counts)) + f" | {100 * counts[3] / max(counts[2], 1):.0f}% |",
          flush=True)
