"""The CPU side of semantic work: text chunking, cosine similarity, k-means and silhouette (numpy).

Everything here is synchronous and some of it is heavy: the semantic service calls it through
``asyncio.to_thread``. numpy is imported here, and this module is imported only when first needed, so
starting the backend never loads numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    Matrix = NDArray[np.float32]

# A sentence: from its first non-space character to terminal punctuation (with closing quotes or
# brackets) followed by whitespace, a blank line (a paragraph without punctuation), or the end.
SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)|(?=\n[ \t]*\n)|$)", re.S)
# Silhouette needs all pairwise distances; above this many points it is computed on a sample.
SILHOUETTE_SAMPLE = 2000


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of a text: ``text == source[start:end]``."""

    index: int
    text: str
    start: int
    end: int


# -- chunking --


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Start and end offsets of each sentence, trailing whitespace left out."""
    spans = []
    for match in SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def fixed_spans(text: str, size: int, overlap: int, offset: int = 0) -> list[tuple[int, int]]:
    """Windows of at most ``size`` characters; each next one starts ``overlap`` characters before the
    previous one ends. A window ends at the last whitespace in its second half where there is one, so
    words are not cut, as long as that still moves forward."""
    assert 0 <= overlap < size
    spans = []
    start, length = 0, len(text)
    while start < length:
        end = min(start + size, length)
        if end < length:
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut - start >= size // 2 and cut - start > overlap:
                end = cut
        spans.append((offset + start, offset + end))
        if end >= length:
            break
        start = end - overlap
    return spans


def group_sentences(
    text: str,
    spans: Sequence[tuple[int, int]],
    size: int,
    overlap: int,
    breaks: frozenset[int] = frozenset(),
) -> list[tuple[int, int]]:
    """Consecutive sentences joined into chunks of at most ``size`` characters.

    A chunk repeats the whole trailing sentences of the one before it that fit in ``overlap``
    characters. ``breaks`` are sentence indexes where a new chunk must start (semantic chunking). A
    sentence longer than ``size`` is cut into fixed-size windows on its own.
    """
    chunks: list[tuple[int, int]] = []
    first_new, first = 0, 0  # first sentence not in any chunk yet; first sentence of the next chunk
    count = len(spans)
    while first_new < count:
        start, end = spans[first_new]
        if end - start > size:
            chunks.extend(fixed_spans(text[start:end], size, overlap, offset=start))
            first_new += 1
            first = first_new
            continue
        while spans[first_new][1] - spans[first][0] > size:
            first += 1  # the repeated sentences and the new one must fit together
        last = first_new + 1
        while last < count and last not in breaks and spans[last][1] - spans[first][0] <= size:
            last += 1
        chunks.append((spans[first][0], spans[last - 1][1]))
        chunk_first, first_new, first = first, last, last
        # Repeat trailing sentences that fit in the overlap, never the whole chunk.
        while first - 1 > chunk_first and spans[last - 1][1] - spans[first - 1][0] <= overlap:
            first -= 1
    return chunks


def as_spans(text: str, offsets: Sequence[tuple[int, int]]) -> list[Span]:
    """Numbered spans with their text."""
    return [Span(index, text[start:end], start, end) for index, (start, end) in enumerate(offsets)]


# -- vectors --


def matrix(vectors: Sequence[Sequence[float]] | Matrix) -> Matrix:
    """Vectors as one float32 matrix (one row each)."""
    return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)


def normalized(rows: Matrix) -> Matrix:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


def cosine(a: Matrix, b: Matrix) -> Matrix:
    """Cosine similarity of every row of ``a`` with every row of ``b``."""
    return normalized(a) @ normalized(b).T


def adjacent_similarity(rows: Matrix) -> list[float]:
    """Cosine similarity of each row with the next one."""
    unit = normalized(rows)
    return [float(value) for value in np.einsum("ij,ij->i", unit[:-1], unit[1:])]


def top_k(unit_rows: Matrix, query: Matrix, k: int) -> tuple[list[int], list[float]]:
    """Brute force: the ``k`` rows most cosine-similar to ``query`` (rows already unit length)."""
    scores = unit_rows @ normalized(query.reshape(1, -1))[0]
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best])]
    return [int(i) for i in best], [float(scores[i]) for i in best]


# -- clustering --


@dataclass(frozen=True, slots=True)
class Clustering:
    """k-means' answer for one k."""

    k: int
    labels: list[int]
    centroids: Matrix
    inertia: float
    silhouette: float


def _squared_distances(rows: Matrix, centres: Matrix) -> Matrix:
    distances = (rows * rows).sum(1)[:, None] - 2 * rows @ centres.T + (centres * centres).sum(1)[None, :]
    return np.maximum(distances, 0)


def kmeans(rows: Matrix, k: int, *, seed: int = 0, max_iter: int = 100, n_init: int = 4) -> Clustering:
    """Lloyd's k-means with k-means++ starts; the best of ``n_init`` runs by inertia."""
    rng = np.random.default_rng(seed)
    data = rows.astype(np.float64)
    best: tuple[float, NDArray[np.int64], NDArray[np.float64]] | None = None
    for _ in range(n_init):
        centres = _plus_plus(data, k, rng)
        labels = np.zeros(len(data), dtype=np.int64)
        for iteration in range(max_iter):
            distances = _squared_distances(data, centres)
            new_labels = distances.argmin(1)
            if iteration and np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for cluster in range(k):
                members = data[labels == cluster]
                # An emptied cluster restarts at the point farthest from its centre.
                centres[cluster] = members.mean(0) if len(members) else data[distances.min(1).argmax()]
        inertia = float(_squared_distances(data, centres)[np.arange(len(data)), labels].sum())
        if best is None or inertia < best[0]:
            best = (inertia, labels, centres)
    assert best is not None
    inertia, labels, centres = best
    return Clustering(
        k=k,
        labels=[int(label) for label in labels],
        centroids=centres.astype(np.float32),
        inertia=inertia,
        silhouette=silhouette(rows, labels, seed=seed),
    )


def _plus_plus(data: NDArray[np.float64], k: int, rng: np.random.Generator) -> NDArray[np.float64]:
    centres = [data[rng.integers(len(data))]]
    for _ in range(1, k):
        distances = _squared_distances(data, np.asarray(centres)).min(1)
        total = distances.sum()
        pick = rng.choice(len(data), p=distances / total) if total > 0 else rng.integers(len(data))
        centres.append(data[pick])
    return np.asarray(centres, dtype=np.float64)


def silhouette(rows: Matrix, labels: Sequence[int] | NDArray[np.int64], *, seed: int = 0) -> float:
    """Mean silhouette coefficient (Euclidean), on a random sample above ``SILHOUETTE_SAMPLE`` points.

    1 means tight, well separated clusters; about 0, overlapping ones. With one cluster it is 0.
    """
    labels_array = np.asarray(labels)
    data = rows.astype(np.float64)
    if len(set(labels_array.tolist())) < 2:
        return 0.0
    if len(data) > SILHOUETTE_SAMPLE:
        pick = np.random.default_rng(seed).choice(len(data), SILHOUETTE_SAMPLE, replace=False)
        data, labels_array = data[pick], labels_array[pick]
    distances = np.sqrt(_squared_distances(data, data))
    clusters = np.unique(labels_array)
    # Mean distance from each point to each cluster (its own cluster without itself).
    sums = np.stack([distances[:, labels_array == c].sum(1) for c in clusters], axis=1)
    sizes = np.array([(labels_array == c).sum() for c in clusters], dtype=np.float64)
    own = np.searchsorted(clusters, labels_array)
    own_size = sizes[own] - 1
    a = np.where(own_size > 0, sums[np.arange(len(data)), own] / np.maximum(own_size, 1), 0.0)
    means = sums / sizes[None, :]
    means[np.arange(len(data)), own] = np.inf
    b = means.min(1)
    scores = np.where(own_size > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(scores.mean())


def best_k(rows: Matrix, k_min: int, k_max: int, *, seed: int = 0) -> tuple[Clustering, list[Clustering]]:
    """Cluster for every k in the range; the one with the highest silhouette, and all of them."""
    tried = [kmeans(rows, k, seed=seed) for k in range(k_min, min(k_max, len(rows) - 1) + 1)]
    return max(tried, key=lambda clustering: clustering.silhouette), tried
