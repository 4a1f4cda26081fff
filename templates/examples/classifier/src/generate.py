"""Generate a synthetic two-class dataset as CSV shards in data/raw/."""
import os
import random


def read_params(path="params.yaml"):
    """A minimal reader for this project's two-level params.yaml."""
    params, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].rstrip()
            if not line:
                continue
            if not line.startswith(" "):
                section = params.setdefault(line.rstrip(":"), {})
            else:
                key, value = line.strip().split(":", 1)
                value = value.strip()
                section[key] = float(value) if "." in value else int(value)
    return params


def main():
    p = read_params()["generate"]
    rng = random.Random(p["seed"])
    os.makedirs("data/raw", exist_ok=True)
    for shard in range(p["shards"]):
        with open(f"data/raw/part-{shard:03d}.csv", "w") as f:
            f.write("x1,x2,label\n")
            for _ in range(p["rows_per_shard"]):
                label = rng.random() < 0.5
                cx, cy = (1.0, 1.0) if label else (-1.0, -0.5)
                f.write(f"{rng.gauss(cx, 1.1):.5f},{rng.gauss(cy, 1.1):.5f},{int(label)}\n")
    print(f"wrote {p['shards']} shards to data/raw/")


if __name__ == "__main__":
    main()
