"""How long the demo page takes from a new angle to updated results, as a person meets it in a browser.

    .venv/bin/python experiments/app_latency.py [--angles 24] [--screenshot figures/app.png]

Starts ``zoo app`` on a loopback port, opens it in headless Chromium (zoo.dev.browser), picks a digit,
then types each angle into the slider's box and waits until the prediction table shows that angle. Prints the
median and the slowest of those times, and the server-side time of the same update (no browser, no HTTP).
"""
import argparse
import statistics
import time

from zoo import app
from zoo.dev import browser


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--angles", type=int, default=24)
    p.add_argument("--example", default="7")
    p.add_argument("--screenshot", default=None, help="save the page after the last angle")
    args = p.parse_args()
    angles = [(37 * i + 5) % 360 for i in range(1, args.angles + 1)]  # a new angle each time, not in TURN's order
    with browser.serve() as url:
        driver = browser.chromium()
        try:
            driver.get(url)
            browser.wait_for(driver, browser.shown_predictions)
            browser.pick_example(driver, args.example)
            time.sleep(2)
            page = [browser.set_angle(driver, a) for a in angles]
            if args.screenshot:
                driver.save_screenshot(args.screenshot)
        finally:
            driver.quit()
    digit, label = app.example_digit(args.example)
    server = []
    for a in angles:
        start = time.perf_counter()
        app.predictions_html(app.at_angle(digit, a), a, label)
        app.preview(digit, a)
        server.append(time.perf_counter() - start)
    print(f"page, new angle -> updated table ({len(angles)} angles): median {statistics.median(page):.3f} s, "
          f"slowest {max(page):.3f} s")
    print(f"server-side update (5 presets, one image each): median {statistics.median(server) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
