"""Give a compact AdaIN model the statistics of built-in styles added to painterly after it was trained.

The model's weights and the styles it knows stay as they are; each new style's painting (from
../shared/data/styles, never copied) is encoded at the size the model's training used.

    python scripts/add_builtin_styles_to_compact.py [MODEL] [--styles ../shared/data/styles]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from painterly.train.adain_compact import add_builtin_styles

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "src" / "painterly" / "data" / "models" /
                                                       "adain_compact.safetensors"))
    parser.add_argument("--styles", default=str(ROOT.parent / "shared" / "data" / "styles"))
    args = parser.parse_args()
    added = add_builtin_styles(args.model, args.styles)
    print(f"{args.model}: added {', '.join(added)}" if added else f"{args.model}: knows every built-in style already")


if __name__ == "__main__":
    main()
