"""Re-identifying patients from their chest X-ray alone (after Packhäuser et al. 2022).

Packhäuser K, Gündel S, Münster N, Syben C, Christlein V, Maier A. "Deep learning-based patient
re-identification is able to exploit the biometric nature of medical chest X-ray data."
Scientific Reports 12:14851 (2022), doi:10.1038/s41598-022-19045-3: a siamese ResNet-50 on
ChestX-ray14 verifies whether two X-rays show the same patient with AUC 0.994 and retrieves the
patient's other X-ray first in 99.6 % of queries.

- :mod:`.data`: X-rays with patient IDs (pediatric set; NIH sample when present).
- :mod:`.model`: a small embedding CNN and the contrastive loss.
- :mod:`.metrics`: verification AUC, precision@1/@5, hit@5; the pixel-correlation baseline.
- :mod:`.anonymise`: cropping borders and blurring corners, as an export might.
- :mod:`.experiment`: :class:`ReidSettings` and the cached stage :class:`ReidTraining`.
- :mod:`.lookup`: the most similar archive X-rays to one "anonymous" X-ray.
"""

from .anonymise import anonymise_images
from .data import HOW_TO_GET_IDS, ReidData, from_records, load_reid_data
from .experiment import ReidSettings, ReidTraining, load_model, split_patients
from .lookup import Lookup, lookup
from .metrics import (ReidMetrics, pixel_embeddings, retrieval_metrics, similarity_ranking,
                      verification_auc)
from .model import EmbeddingNet, augment, contrastive_loss

PACKHAEUSER_2022 = {
    "verification_auc": 0.994,
    "precision_at_1": 0.996,
    "citation": "Packhäuser K et al. Deep learning-based patient re-identification is able to "
                "exploit the biometric nature of medical chest X-ray data. Scientific Reports "
                "12:14851 (2022). doi:10.1038/s41598-022-19045-3",
}

__all__ = ["EmbeddingNet", "HOW_TO_GET_IDS", "Lookup", "PACKHAEUSER_2022", "ReidData",
           "ReidMetrics", "ReidSettings", "ReidTraining", "anonymise_images", "augment",
           "contrastive_loss", "from_records", "load_model", "load_reid_data", "lookup",
           "pixel_embeddings", "retrieval_metrics", "similarity_ranking", "split_patients",
           "verification_auc"]
