"""How much of each preset's error on the rotated test set is 6 against 9, for both sets of weights:

    .venv/bin/python experiments/six_nine.py [--data-root ../shared/data] [--weights upright] [MODEL ...]

A 9 is close to a 6 turned by 180 degrees, an angle every rotation group here contains, so an invariant network
can tell them apart only by the shape of the strokes. Uses the exported models (the same logits as the escnn
ones, faster) of the committed weights.
"""
import argparse

from zoo import data
from zoo.exported import load_exported
from zoo.metrics import predict
from zoo.registry import list_models, weights_folder

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--data-root", default="../shared/data")
p.add_argument("--weights", action="append", choices=["upright", "rotated"],
               help="weights tag, repeatable (default: both)")
p.add_argument("models", nargs="*", default=list_models(), metavar="MODEL")
args = p.parse_args()
images, labels = data.load_mnist(args.data_root, train=False)
rotated = data.rotate(images, data.rotated_test_angles(len(images)))
print("| weights | model | upright: errors | 6<->9 | rotated: errors | 6<->9 | share |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for tag in args.weights or ["upright", "rotated"]:
    for name in args.models:
        model = load_exported(weights_folder(name, tag))
        counts = []
        for x in (images, rotated):
            predicted = predict(model, x)
            wrong = predicted != labels
            six_nine = wrong & (((labels == 6) & (predicted == 9)) | ((labels == 9) & (predicted == 6)))
            counts += [int(wrong.sum()), int(six_nine.sum())]
        print(f"| {tag} | {name} | {counts[0]} | {counts[1]} | {counts[2]} | {counts[3]} | "
              f"{100 * counts[3] / max(counts[2], 1):.0f}% |", flush=True)
