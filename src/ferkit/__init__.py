"""ferkit: facial expression recognition (train, evaluate, recognise 7 expressions).

    import ferkit
    rec = ferkit.load()                 # the bundled int8 model; or "fp32", "best_model.pth"
    faces = rec.predict("photo.jpg")    # [Face(box, probs, score)], left to right
"""

__version__ = "0.1.0"

from .errors import FerkitError  # noqa: E402
from .io.results import Face, Result  # noqa: E402
from .recognition.recognizer import Recognizer, load  # noqa: E402

__all__ = ["Face", "FerkitError", "Recognizer", "Result", "__version__", "load"]
