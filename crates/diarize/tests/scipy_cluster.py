"""scipy's agglomerative clustering of the embeddings on stdin (JSON: {"embeddings": [[...]],
"thresholds": [...], "counts": [...]}), for crates/diarize/tests/cluster.rs: the centroid
linkage of the unit-length embeddings, fcluster at each threshold, and the groups left after
n - k merges for each count k. Labels are renumbered in order of first appearance.

Usage: scipy_cluster.py < INPUT.json
"""

import json
import sys

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage


def first_appearance(labels):
    seen = {}
    return [seen.setdefault(int(label), len(seen)) for label in labels]


def after_merges(dendrogram, n, steps):
    parent = list(range(2 * n))
    for step in range(steps):
        a, b = int(dendrogram[step, 0]), int(dendrogram[step, 1])
        parent[a] = n + step
        parent[b] = n + step

    def top(x):
        while parent[x] != x:
            x = parent[x]
        return x

    return first_appearance([top(i) for i in range(n)])


def main() -> None:
    request = json.load(sys.stdin)
    x = np.asarray(request["embeddings"], dtype=np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n = len(x)
    dendrogram = linkage(x, method="centroid", metric="euclidean")
    print(
        json.dumps(
            {
                "merges": dendrogram.tolist(),
                "cuts": [
                    first_appearance(fcluster(dendrogram, t, criterion="distance"))
                    for t in request["thresholds"]
                ],
                "fixed": [after_merges(dendrogram, n, n - k) for k in request["counts"]],
            }
        )
    )


if __name__ == "__main__":
    main()
