"""toyinterp: reproducible mechanistic-interpretability studies of toy models (see the README)."""
import warnings

# tqdm.auto (imported by TransformerLens and its dependencies) warns "IProgress not found" inside a Jupyter
# kernel without ipywidgets; our bars are text bars (toyinterp.progress), so the warning only litters the
# chapters' executed notebooks.
warnings.filterwarnings("ignore", message="IProgress not found")
