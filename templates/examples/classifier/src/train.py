"""Fit logistic regression on data/raw/ by batch gradient descent."""
import glob
import json
import math
import os

from generate import read_params


def load():
    rows = []
    for path in sorted(glob.glob("data/raw/*.csv")):
        with open(path) as f:
            next(f)
            for line in f:
                x1, x2, label = line.strip().split(",")
                rows.append((float(x1), float(x2), int(label)))
    return rows


def main():
    p = read_params()["train"]
    rows = load()
    w = [0.0, 0.0, 0.0]
    history = []
    for epoch in range(p["epochs"]):
        grad = [0.0, 0.0, 0.0]
        loss = 0.0
        for x1, x2, y in rows:
            z = w[0] + w[1] * x1 + w[2] * x2
            prob = min(max(1.0 / (1.0 + math.exp(-z)), 1e-12), 1 - 1e-12)
            loss -= y * math.log(prob) + (1 - y) * math.log(1 - prob)
            err = prob - y
            grad[0] += err
            grad[1] += err * x1
            grad[2] += err * x2
        w = [wi - p["lr"] * g / len(rows) for wi, g in zip(w, grad)]
        history.append((epoch, loss / len(rows)))
    os.makedirs("eval", exist_ok=True)
    with open("eval/train_loss.csv", "w") as f:
        f.write("epoch,loss\n")
        for epoch, loss in history:
            f.write(f"{epoch},{loss:.6f}\n")
    os.makedirs("models", exist_ok=True)
    with open("models/model.json", "w") as f:
        json.dump({"bias": w[0], "weights": w[1:]}, f, indent=2)
    print(f"trained on {len(rows)} rows: weights {w}")


if __name__ == "__main__":
    main()
