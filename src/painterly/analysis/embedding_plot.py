"""Plots of re-encoding embeddings: a 2-D/3-D projection (PCA, t-SNE, UMAP) and distance curves.

* :func:`project` fits the projection on all sequences together (one shared map).
* :func:`plot_projection` draws it with matplotlib: one colour per source image, points
  joined in pass order, the start (pass 0) as a ringed dot, the last pass as a star, and
  pass numbers written at 0, 1, 2, 5, 10, 20, 50, ... and the last pass.
* :func:`projection_html` is the same plot as one self-contained HTML page (inline data and
  JavaScript on a canvas, no CDN, works offline): hover for image and pass, click a legend
  entry to hide a sequence, wheel to zoom, drag to pan (2-D) or rotate (3-D).
* :func:`plot_distances` draws, per image, the embedding norm, the distance between
  consecutive saved passes and the distance to pass 0, against the pass number.

scikit-learn (PCA, t-SNE) and matplotlib are the ``analysis`` extra, umap-learn is optional
there; each is imported only when used, with a one-line error naming the extra if missing.
"""

from __future__ import annotations

import importlib
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import PainterlyError
from ..io.image import atomic_write_bytes
from .embeddings import EmbeddingSequence, embedding_distances, stack_sequences

PROJECTIONS = ("pca", "tsne", "umap")
_PACKAGES = {"sklearn": "scikit-learn", "matplotlib": "matplotlib", "umap": "umap-learn"}
_MARKED = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


def require(module: str):
    """Import an optional analysis dependency, or raise a one-line error saying how to install it."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PainterlyError(f"this needs {_PACKAGES.get(top, top)}: pip install 'painterly[analysis]'") from None


# --------------------------------------------------------------------------- projection


def project(vectors: np.ndarray, method: str = "pca", dims: int = 2, seed: int = 0) -> np.ndarray:
    """N x D embeddings -> N x ``dims`` coordinates with PCA, t-SNE or UMAP (deterministic per seed)."""
    if method not in PROJECTIONS:
        raise PainterlyError(f"unknown projection {method!r}: use {', '.join(PROJECTIONS)}")
    if dims not in (2, 3):
        raise PainterlyError(f"a plot has 2 or 3 dimensions, not {dims}")
    vectors = np.asarray(vectors, dtype=np.float64)
    count = len(vectors)
    if count < 2 or (method != "pca" and count < 4):
        raise PainterlyError(f"{count} embedding(s) are too few for {method} (need at least {2 if method == 'pca' else 4})")
    if not np.isfinite(vectors).all():
        raise PainterlyError("the embeddings contain NaN or infinite values")
    if method == "pca":
        decomposition = require("sklearn.decomposition")
        components = min(dims, count, vectors.shape[1])
        points = decomposition.PCA(n_components=components, random_state=seed).fit_transform(vectors)
    elif method == "tsne":
        manifold = require("sklearn.manifold")
        perplexity = float(min(30.0, max(1.0, (count - 1) / 3.0)))
        points = manifold.TSNE(n_components=dims, perplexity=perplexity, init="pca", learning_rate="auto",
                               random_state=seed).fit_transform(vectors)
    else:
        umap = require("umap")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state", spectral init hints
            reducer = umap.UMAP(n_components=dims, n_neighbors=max(2, min(15, count - 1)), random_state=seed,
                                init="spectral" if count > dims + 2 else "random")
            points = reducer.fit_transform(vectors)
    points = np.asarray(points, dtype=np.float64)
    if points.shape[1] < dims:  # fewer samples or features than dimensions: pad with zeros
        points = np.pad(points, ((0, 0), (0, dims - points.shape[1])))
    return points


def marked_positions(passes: np.ndarray) -> list[int]:
    """Indices into ``passes`` to label: passes 0, 1, 2, 5, 10, 20, 50, ... and the last one."""
    wanted = set(_MARKED) | {int(passes[-1])}
    return [i for i, p in enumerate(passes) if int(p) in wanted]


def spaced_labels(positions: list[int], coords: np.ndarray, span: np.ndarray, gap: float = 0.03) -> list[int]:
    """The ``positions`` whose points are not within ``gap`` (a fraction of ``span``) of one kept earlier,
    so labels of a sequence at rest (e.g. 500, 1000, 2000 at one fixed point) do not overprint."""
    kept: list[int] = []
    for i in positions:
        if all(np.any(np.abs(coords[i] - coords[j]) > gap * span) for j in kept):
            kept.append(i)
    if positions and positions[-1] not in kept:  # the last pass is always named (it replaces the nearby one)
        near = [j for j in kept if not np.any(np.abs(coords[positions[-1]] - coords[j]) > gap * span)]
        kept = [j for j in kept if j not in near[-1:]] + [positions[-1]]
    return kept


def split_points(points: np.ndarray, sequences: Sequence[EmbeddingSequence]) -> list[np.ndarray]:
    """The rows of ``points`` (all sequences stacked) back per sequence."""
    bounds = np.cumsum([0] + [len(s.passes) for s in sequences])
    return [points[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def colours(count: int) -> list[str]:
    """Distinct hex colours (matplotlib's tab10, then tab20)."""
    base = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
            "#dbdb8d", "#9edae5"]
    return [base[i % len(base)] for i in range(count)]


# --------------------------------------------------------------------------- static plots


def _figure(width: float, height: float):
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path: str | Path, dpi: int = 100) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def plot_projection(points: np.ndarray, sequences: Sequence[EmbeddingSequence], path: str | Path,
                    title: str = "", axis_label: str = "") -> Path:
    """The projected sequences as a PNG (module docstring); 2-D or 3-D by ``points``' columns."""
    dims = points.shape[1]
    figure = _figure(8.0, 7.0)
    axes = figure.add_subplot(projection="3d" if dims == 3 else None)
    span = np.ptp(points, axis=0) + 1e-12
    for sequence, coords, colour in zip(sequences, split_points(points, sequences), colours(len(sequences))):
        columns = [coords[:, k] for k in range(dims)]
        axes.plot(*columns, "-", color=colour, linewidth=0.8, alpha=0.55)
        axes.scatter(*columns, s=10, color=colour, alpha=0.8, label=sequence.label)
        axes.scatter(*[c[:1] for c in columns], s=90, facecolors="white", edgecolors=colour, linewidths=2.0,
                     zorder=3)
        axes.scatter(*[c[-1:] for c in columns], s=160, marker="*", color=colour, edgecolors="black",
                     linewidths=0.6, zorder=3)
        for i in spaced_labels(marked_positions(sequence.passes), coords, span):
            axes.text(*[c[i] for c in columns], f" {int(sequence.passes[i])}", fontsize=7, color=colour)
    axes.set_title(title or "re-encoding embeddings")
    names = [f"{axis_label} {k + 1}".strip() for k in range(dims)]
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    if dims == 3:
        axes.set_zlabel(names[2])
    axes.legend(loc="best", fontsize=8, title="image (o start, * last; numbers = pass)", title_fontsize=8)
    return _save_figure(figure, path)


def plot_distances(sequences: Sequence[EmbeddingSequence], path: str | Path, title: str = "") -> Path:
    """Norm, consecutive distance and distance to pass 0 of each sequence, against the pass, as a PNG."""
    figure = _figure(13.0, 4.0)
    panels = [("norm", "embedding norm |e_p|"), ("step", "distance to previous saved pass"),
              ("first", "distance to pass 0 |e_p - e_0|")]
    last = max(int(s.passes[-1]) for s in sequences)
    for k, (key, label) in enumerate(panels):
        axes = figure.add_subplot(1, 3, k + 1)
        for sequence, colour in zip(sequences, colours(len(sequences))):
            values = embedding_distances(sequence.vectors)[key]
            axes.plot(sequence.passes, values, "-", color=colour, linewidth=1.0, label=sequence.label,
                      marker="." if len(values) <= 60 else None, markersize=3)
        if last >= 100:
            axes.set_xscale("symlog", linthresh=10)
        axes.set_xlabel("pass")
        axes.set_title(label, fontsize=10)
        axes.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    return _save_figure(figure, path)


# --------------------------------------------------------------------------- interactive HTML

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:12px;color:#222}
#wrap{display:flex;gap:16px;align-items:flex-start}
canvas{border:1px solid #ccc;cursor:grab}
#legend div{cursor:pointer;margin:2px 0;user-select:none}
#legend span{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border-radius:2px}
#legend .off{opacity:.35}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:3px 6px;display:none}
</style></head><body>
<h3>__TITLE__</h3>
<p>__HELP__</p>
<div id="wrap"><canvas id="plot" width="820" height="720"></canvas><div id="legend"></div></div>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
(function(){
const D=JSON.parse(document.getElementById('data').textContent);
const cv=document.getElementById('plot'),cx=cv.getContext('2d'),tip=document.getElementById('tip');
const dims=D.dims,seqs=D.sequences,hidden=new Set();
let all=[];seqs.forEach(s=>s.points.forEach(p=>all.push(p)));
const ctr=[0,1,2].slice(0,dims).map(k=>{let lo=Infinity,hi=-Infinity;all.forEach(p=>{lo=Math.min(lo,p[k]);hi=Math.max(hi,p[k]);});return [(lo+hi)/2,(hi-lo)/2||1];});
const rad=Math.max(...ctr.map(c=>c[1]));
let yaw=0.6,pitch=0.4,zoom=1,pan=[0,0],drag=null,screen=[];
function proj(p){
  let x=(p[0]-ctr[0][0])/rad,y=(p[1]-ctr[1][0])/rad,z=dims==3?(p[2]-ctr[2][0])/rad:0;
  if(dims==3){const c=Math.cos(yaw),s=Math.sin(yaw);[x,z]=[c*x+s*z,-s*x+c*z];
    const c2=Math.cos(pitch),s2=Math.sin(pitch);[y,z]=[c2*y-s2*z,s2*y+c2*z];}
  const sc=0.42*Math.min(cv.width,cv.height)*zoom/(dims==3?1.2:1);
  return [cv.width/2+pan[0]+x*sc,cv.height/2+pan[1]-y*sc];
}
function draw(){
  cx.clearRect(0,0,cv.width,cv.height);screen=[];
  seqs.forEach((s,i)=>{if(hidden.has(i))return;
    const q=s.points.map(proj);cx.strokeStyle=s.color;cx.globalAlpha=.5;cx.lineWidth=1;cx.beginPath();
    q.forEach((p,j)=>j?cx.lineTo(p[0],p[1]):cx.moveTo(p[0],p[1]));cx.stroke();cx.globalAlpha=.85;
    q.forEach((p,j)=>{cx.fillStyle=s.color;cx.beginPath();cx.arc(p[0],p[1],j==0?6:(j==q.length-1?5:2.5),0,7);
      if(j==0){cx.fillStyle='#fff';cx.fill();cx.strokeStyle=s.color;cx.lineWidth=2;cx.stroke();cx.lineWidth=1;}
      else cx.fill();screen.push([p[0],p[1],i,j]);});
    cx.globalAlpha=1;cx.fillStyle=s.color;cx.font='10px sans-serif';
    s.marked.forEach(j=>cx.fillText(String(s.passes[j]),q[j][0]+5,q[j][1]-5));});
}
const lg=document.getElementById('legend');
seqs.forEach((s,i)=>{const d=document.createElement('div');d.innerHTML='<span style="background:'+s.color+'"></span>';
  d.appendChild(document.createTextNode(s.label+' ('+s.passes.length+')'));
  d.onclick=()=>{hidden.has(i)?hidden.delete(i):hidden.add(i);d.className=hidden.has(i)?'off':'';draw();};lg.appendChild(d);});
cv.onmousedown=e=>{drag=[e.clientX,e.clientY];cv.style.cursor='grabbing';};
window.onmouseup=()=>{drag=null;cv.style.cursor='grab';};
cv.onmousemove=e=>{
  if(drag){const dx=e.clientX-drag[0],dy=e.clientY-drag[1];drag=[e.clientX,e.clientY];
    if(dims==3){yaw+=dx*0.01;pitch+=dy*0.01;}else{pan[0]+=dx;pan[1]+=dy;}draw();return;}
  const r=cv.getBoundingClientRect(),mx=e.clientX-r.left,my=e.clientY-r.top;let best=null,bd=64;
  screen.forEach(p=>{const d=(p[0]-mx)**2+(p[1]-my)**2;if(d<bd){bd=d;best=p;}});
  if(best){const s=seqs[best[2]];tip.style.display='block';tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';
    tip.textContent=s.label+' - pass '+s.passes[best[3]];}else tip.style.display='none';};
cv.onmouseleave=()=>{tip.style.display='none';};
cv.onwheel=e=>{e.preventDefault();zoom*=e.deltaY<0?1.15:1/1.15;draw();};
draw();
})();
</script></body></html>
"""


def projection_html(points: np.ndarray, sequences: Sequence[EmbeddingSequence], title: str = "") -> str:
    """A self-contained interactive page of the projection (no network access needed)."""
    dims = points.shape[1]
    data = {"dims": dims, "sequences": [
        {"label": s.label, "color": colour, "passes": [int(p) for p in s.passes],
         "points": np.round(coords, 5).tolist(), "marked": marked_positions(s.passes)}
        for s, coords, colour in zip(sequences, split_points(points, sequences), colours(len(sequences)))]}
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    help_text = ("Hover a point for its image and pass; click a legend entry to hide it; wheel to zoom; drag to "
                 + ("rotate." if dims == 3 else "pan.") + " Ringed dot: pass 0; larger dot: last pass.")
    title = _escape(title or "re-encoding embeddings")
    return _HTML.replace("__TITLE__", title).replace("__HELP__", _escape(help_text)).replace("__DATA__", text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_projection_html(points: np.ndarray, sequences: Sequence[EmbeddingSequence], path: str | Path,
                          title: str = "") -> Path:
    return atomic_write_bytes(path, projection_html(points, sequences, title).encode("utf-8"))


def subsample(sequences: Sequence[EmbeddingSequence], max_points: int | None) -> list[EmbeddingSequence]:
    """At most ``max_points`` points in all, evenly spaced in each sequence, first and last kept."""
    total = sum(len(s.passes) for s in sequences)
    if max_points is None or total <= max_points:
        return list(sequences)
    per = max(2, max_points // len(sequences))
    out = []
    for s in sequences:
        keep = np.unique(np.linspace(0, len(s.passes) - 1, min(per, len(s.passes))).round().astype(int))
        out.append(EmbeddingSequence(s.label, s.passes[keep], s.vectors[keep]))
    return out


def plot_embeddings(sequences: Sequence[EmbeddingSequence], path: str | Path, method: str = "pca", dims: int = 2,
                    seed: int = 0, title: str = "") -> tuple[Path, Path]:
    """Project all sequences and write ``path`` (PNG) and the HTML page beside it (same name, .html)."""
    vectors, _, _ = stack_sequences(sequences)
    points = project(vectors, method, dims, seed)
    axis = {"pca": "PC", "tsne": "t-SNE", "umap": "UMAP"}[method]
    title = title or f"re-encoding embeddings ({axis}, {len(sequences)} image(s), {len(vectors)} points)"
    png = plot_projection(points, sequences, path, title, axis)
    html = write_projection_html(points, sequences, Path(path).with_suffix(".html"), title)
    return png, html


__all__ = ["PROJECTIONS", "project", "plot_projection", "plot_distances", "projection_html", "write_projection_html",
           "plot_embeddings", "marked_positions", "spaced_labels", "subsample", "require"]
