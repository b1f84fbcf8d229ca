"""The second model for Chinese: character 1-3-gram TF-IDF with logistic regression.

``safety_train --compare-zh`` measures it against the CJK-extended MiniLM and the mean of
both on COLD (see ``safety/data/model/compare_zh.json``) and writes the weight with the best
validation accuracy to ``config.json`` (``zh_ngram_weight``; it chose 1.0, the n-gram model
alone). Tier 2 scores a Chinese text's ``unsafe`` with that mix; the MiniLM still gives the
categories. Fitting uses scikit-learn; scoring re-implements the same transform with
numpy from ``zh_ngram.npz`` (vocabulary, idf, coefficients; no pickle).
"""

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

FILE = "zh_ngram.npz"
NGRAMS = (1, 3)
_WHITESPACE = re.compile(r"\s\s+")


def fit(
    texts: list[str],
    labels: list[int],
    *,
    weights: list[float] | None = None,
    max_features: int = 150_000,
):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        analyzer="char",
        ngram_range=NGRAMS,
        min_df=2 if len(texts) >= 50 else 1,  # tiny sets (tests) keep every n-gram
        sublinear_tf=True,
        max_features=max_features,
    )
    x = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=4.0, max_iter=2000).fit(x, labels, sample_weight=weights)
    return vectorizer, model


def save(vectorizer, model, directory: Path) -> Path:
    vocab = sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])
    path = directory / FILE
    np.savez_compressed(
        path,
        ngrams=np.array([g for g, _i in vocab]),
        idf=vectorizer.idf_.astype(np.float32),
        coef=model.coef_[0].astype(np.float32),
        intercept=np.array([model.intercept_[0]], dtype=np.float32),
    )
    return path


class NgramModel:
    def __init__(self, path: Path) -> None:
        data = np.load(path, allow_pickle=False)
        self.index = {g: i for i, g in enumerate(data["ngrams"].tolist())}
        # idf * coef folds the two per-feature factors into one weight
        self.idf = data["idf"].astype(np.float64)
        self.coef = data["coef"].astype(np.float64)
        self.intercept = float(data["intercept"][0])

    def probability(self, text: str) -> float:
        text = _WHITESPACE.sub(" ", text.lower())
        counts: Counter[int] = Counter()
        for n in range(NGRAMS[0], NGRAMS[1] + 1):
            for start in range(len(text) - n + 1):
                i = self.index.get(text[start : start + n])
                if i is not None:
                    counts[i] += 1
        if not counts:
            return 1 / (1 + math.exp(-self.intercept))
        ids = np.fromiter(counts.keys(), dtype=np.int64)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))
        weights = tf * self.idf[ids]
        weights /= np.linalg.norm(weights)
        z = float(weights @ self.coef[ids]) + self.intercept
        return 1 / (1 + math.exp(-z))


def load(directory: Path) -> NgramModel | None:
    path = directory / FILE
    return NgramModel(path) if path.exists() else None
