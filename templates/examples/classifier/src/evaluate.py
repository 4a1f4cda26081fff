"""Evaluate models/model.json on data/raw/ and write eval/metrics.json."""
import json
import math
import os

from train import load


def main():
    with open("models/model.json") as f:
        model = json.load(f)
    rows = load()
    correct, loss = 0, 0.0
    for x1, x2, y in rows:
        z = model["bias"] + model["weights"][0] * x1 + model["weights"][1] * x2
        prob = min(max(1.0 / (1.0 + math.exp(-z)), 1e-12), 1 - 1e-12)
        correct += int((prob >= 0.5) == bool(y))
        loss -= y * math.log(prob) + (1 - y) * math.log(1 - prob)
    metrics = {"accuracy": round(correct / len(rows), 4), "loss": round(loss / len(rows), 4)}
    os.makedirs("eval", exist_ok=True)
    with open("eval/metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"metrics: {metrics}")


if __name__ == "__main__":
    main()
